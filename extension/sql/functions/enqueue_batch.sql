-- enqueue_batch(queue_name, payloads, delay_seconds, priorities, group_keys, dedupe_keys, run_at, dedupe_seconds)
--   Adds one message per payload in one statement, all or nothing, visible
--   after delay_seconds or at run_at (not both). Each payload is checked as
--   enqueue() checks it; errors name the first bad one, counting from 1
--   (payloads[3]). priorities, group_keys and dedupe_keys, when given, run
--   parallel to payloads (same length): each message's priority (not NULL),
--   group key and dedupe key (NULL: none), as enqueue() takes them. A payload
--   whose dedupe key an unfinished message holds adds nothing and gets that
--   message's id; payloads of one key in the batch make one message (the
--   first's), and the others get its id. The keys are taken and locked in
--   key order, dedupe keys first, so batches never deadlock each other.
--
--   Returns  SETOF bigint: the ids, in the order of the payloads
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (delay,
--            run_at with a delay, priorities, dedupe_seconds, an array of
--            another length), PQ005 (payloads, group_keys, dedupe_keys),
--            PQ006 (more than max_batch_size())
--   Reads    pgqrs_queues
--   Writes   pgqrs_messages, or pgqrs_delayed with a delay; pgqrs_groups
--            with group keys; pgqrs_dedupe_keys with dedupe keys; the
--            queue's position with priorities above 0
--   Roles    producer, admin
CREATE FUNCTION @extschema@.enqueue_batch(
    queue_name text,
    payloads jsonb[],
    delay_seconds integer DEFAULT 0,
    priorities integer[] DEFAULT NULL,
    group_keys text[] DEFAULT NULL,
    dedupe_keys text[] DEFAULT NULL,
    run_at timestamptz DEFAULT NULL,
    dedupe_seconds integer DEFAULT 0)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_vt timestamptz;
    v_queue @extschema@.pgqrs_queues;
    v_queue_id bigint;
    v_null_at integer;
    v_big record;
    v_bad record;
    v_ids bigint[];  -- per payload, the new message's id (NULL: it makes none, for its dedupe key)
    v_out bigint[];  -- per payload, the id returned
    v_make boolean[];  -- per payload, with dedupe keys: whether it makes a message
    v_key text;
    v_holder bigint;
    v_taken text[];  -- the dedupe keys this batch took
    v_held_keys text[];  -- the dedupe keys held already, by the messages v_holders
    v_holders bigint[];
    v_in_line boolean[];  -- per payload, with group keys: whether it takes a place now
    v_ready boolean;
    v_first_rank bigint;
BEGIN
    IF enqueue_batch.payloads IS NULL THEN
        RAISE EXCEPTION 'payloads must not be NULL' USING ERRCODE = 'PQ005';
    END IF;
    IF array_ndims(enqueue_batch.payloads) > 1 THEN
        RAISE EXCEPTION 'payloads must be a one-dimensional array' USING ERRCODE = 'PQ005';
    END IF;
    IF cardinality(enqueue_batch.payloads) > @extschema@.max_batch_size() THEN
        RAISE EXCEPTION 'payloads has % elements, more than the maximum of %',
                cardinality(enqueue_batch.payloads), @extschema@.max_batch_size()
            USING ERRCODE = 'PQ006', HINT = 'Split the work into several calls.';
    END IF;
    v_null_at := array_position(enqueue_batch.payloads, NULL);
    IF v_null_at IS NOT NULL THEN
        RAISE EXCEPTION 'payloads[%] is NULL', v_null_at USING ERRCODE = 'PQ005';
    END IF;
    v_null_at := array_position(enqueue_batch.payloads, 'null'::jsonb);
    IF v_null_at IS NOT NULL THEN
        RAISE EXCEPTION 'payloads[%] is JSON null', v_null_at USING ERRCODE = 'PQ005';
    END IF;
    v_vt := @extschema@._visible_at(v_now, enqueue_batch.delay_seconds, enqueue_batch.run_at);
    PERFORM @extschema@._check_seconds('dedupe_seconds', enqueue_batch.dedupe_seconds);
    PERFORM @extschema@._check_parallel('priorities', enqueue_batch.priorities, enqueue_batch.payloads);
    PERFORM @extschema@._check_parallel('group_keys', enqueue_batch.group_keys, enqueue_batch.payloads);
    PERFORM @extschema@._check_parallel('dedupe_keys', enqueue_batch.dedupe_keys, enqueue_batch.payloads);
    IF enqueue_batch.priorities IS NOT NULL OR enqueue_batch.group_keys IS NOT NULL
       OR enqueue_batch.dedupe_keys IS NOT NULL THEN
        SELECT i.n, i.priority, i.group_key, i.dedupe_key INTO v_bad
        FROM unnest(coalesce(enqueue_batch.priorities, '{}'), coalesce(enqueue_batch.group_keys, '{}'),
                    coalesce(enqueue_batch.dedupe_keys, '{}'))
             WITH ORDINALITY AS i (priority, group_key, dedupe_key, n)
        WHERE (enqueue_batch.priorities IS NOT NULL AND (i.priority IS NULL OR i.priority NOT BETWEEN -32768 AND 32767))
           OR i.group_key = '' OR length(i.group_key) > 255
           OR i.dedupe_key = '' OR length(i.dedupe_key) > 255
        ORDER BY i.n
        LIMIT 1;
        IF FOUND THEN
            PERFORM @extschema@._check_message_options(v_bad.n,
                CASE WHEN enqueue_batch.priorities IS NULL THEN 0 ELSE v_bad.priority END,
                v_bad.group_key, v_bad.dedupe_key);
        END IF;
    END IF;
    v_queue := @extschema@._queue_for_enqueue(enqueue_batch.queue_name, false);
    v_queue_id := v_queue.id;
    -- No payload is larger than the whole array: most batches need no look at each one.
    IF pg_column_size(enqueue_batch.payloads) > v_queue.max_payload_bytes THEN
        SELECT p.position, pg_column_size(p.payload) AS size INTO v_big
        FROM unnest(enqueue_batch.payloads) WITH ORDINALITY AS p (payload, position)
        WHERE pg_column_size(p.payload) > v_queue.max_payload_bytes
        ORDER BY p.position
        LIMIT 1;
        IF FOUND THEN
            PERFORM @extschema@._payload_too_large(v_queue.queue_name, v_queue.max_payload_bytes,
                                                  format('payloads[%s]', v_big.position), v_big.size);
        END IF;
    END IF;

    IF enqueue_batch.dedupe_keys IS NOT NULL THEN  -- before the group keys: a duplicate takes no place
        FOR v_key IN
            SELECT DISTINCT k FROM unnest(enqueue_batch.dedupe_keys) k WHERE k IS NOT NULL ORDER BY k
        LOOP
            -- The message's id is set below, once drawn after the group keys' locks.
            v_holder := @extschema@._take_dedupe_key(v_queue_id, v_key, enqueue_batch.dedupe_seconds, NULL);
            IF v_holder IS NULL THEN
                v_taken := v_taken || v_key;
            ELSE
                v_held_keys := v_held_keys || v_key;
                v_holders := v_holders || v_holder;
            END IF;
        END LOOP;
        -- A message for each payload without a key, and for the first of each key taken.
        v_make := ARRAY(
            SELECT i.k IS NULL OR (i.k = ANY (coalesce(v_taken, '{}')) AND i.n = min(i.n) OVER (PARTITION BY i.k))
            FROM unnest(enqueue_batch.dedupe_keys) WITH ORDINALITY AS i (k, n)
            ORDER BY i.n);
    END IF;
    IF enqueue_batch.group_keys IS NOT NULL THEN
        v_in_line := @extschema@._admit_batch(v_queue_id, v_queue.group_concurrency,
            ARRAY(SELECT CASE WHEN i.make IS NOT FALSE THEN i.group_key END
                  FROM unnest(enqueue_batch.group_keys, v_make) WITH ORDINALITY AS i (group_key, make, n)
                  ORDER BY i.n));
    END IF;
    -- Drawn after the keys' locks, in the payloads' order.
    v_ids := ARRAY(SELECT CASE WHEN v_make[n] IS NOT FALSE THEN nextval('@extschema@.pgqrs_messages_id_seq'::regclass) END
                   FROM generate_series(1, cardinality(enqueue_batch.payloads)) n ORDER BY n);
    v_out := v_ids;
    IF enqueue_batch.dedupe_keys IS NOT NULL THEN
        UPDATE @extschema@.pgqrs_dedupe_keys d SET msg_id = i.id
        FROM unnest(v_ids, enqueue_batch.dedupe_keys) AS i (id, dedupe_key)
        WHERE d.queue_id = v_queue_id AND d.dedupe_key = i.dedupe_key AND i.id IS NOT NULL;
        -- A payload that made none gets the id of its key's first payload, or of the holder.
        v_out := ARRAY(
            SELECT coalesce(i.id, first_value(i.id) OVER (PARTITION BY i.k ORDER BY i.n),
                            v_holders[array_position(v_held_keys, i.k)])
            FROM unnest(v_ids, enqueue_batch.dedupe_keys) WITH ORDINALITY AS i (id, k, n)
            ORDER BY i.n);
    END IF;

    IF v_vt <= v_now THEN
        INSERT INTO @extschema@.pgqrs_messages (id, queue_id, payload, enqueued_at, vt, priority, group_key, rank, dedupe_key)
        SELECT i.id, v_queue_id, i.payload, v_now, v_now, coalesce(i.priority, 0), i.group_key,
               CASE WHEN i.in_line IS NOT FALSE THEN @extschema@._rank(coalesce(i.priority, 0), i.id) END,
               i.dedupe_key
        FROM unnest(v_ids, enqueue_batch.payloads, enqueue_batch.priorities, enqueue_batch.group_keys, v_in_line,
                    enqueue_batch.dedupe_keys)
             AS i (id, payload, priority, group_key, in_line, dedupe_key)
        WHERE i.id IS NOT NULL;
    ELSE
        INSERT INTO @extschema@.pgqrs_delayed (id, queue_id, payload, enqueued_at, vt, priority, group_key, rank, dedupe_key)
        SELECT i.id, v_queue_id, i.payload, v_now, v_vt, coalesce(i.priority, 0), i.group_key,
               CASE WHEN i.in_line IS NOT FALSE THEN @extschema@._rank(coalesce(i.priority, 0), i.id) END,
               i.dedupe_key
        FROM unnest(v_ids, enqueue_batch.payloads, enqueue_batch.priorities, enqueue_batch.group_keys, v_in_line,
                    enqueue_batch.dedupe_keys)
             AS i (id, payload, priority, group_key, in_line, dedupe_key)
        WHERE i.id IS NOT NULL;
    END IF;

    v_ready := v_vt <= v_now
               AND EXISTS (SELECT FROM unnest(v_ids, v_in_line) AS i (id, in_line)
                           WHERE i.id IS NOT NULL AND i.in_line IS NOT FALSE);
    IF v_queue.notify AND v_ready THEN
        PERFORM pg_catalog.pg_notify(@extschema@._notify_channel(v_queue_id), '');
    END IF;
    IF v_ready AND enqueue_batch.priorities IS NOT NULL THEN  -- ahead of the position: dequeues must look there
        SELECT min(@extschema@._rank(i.priority, i.id)) INTO v_first_rank
        FROM unnest(v_ids, enqueue_batch.priorities, v_in_line) AS i (id, priority, in_line)
        WHERE i.priority > 0 AND i.in_line IS NOT FALSE AND i.id IS NOT NULL;
        PERFORM @extschema@._lower_position(v_queue_id, v_first_rank);
    END IF;
    RETURN QUERY SELECT unnest(v_out);
END
$$;
COMMENT ON FUNCTION @extschema@.enqueue_batch(text, jsonb[], integer, integer[], text[], text[], timestamptz, integer) IS
    'add many messages in one statement, all or nothing, with priorities, group keys and dedupe keys; returns their ids in input order';
