-- enqueue_batch(queue_name, payloads, delay_seconds, priorities, group_keys)
--   Adds one message per payload in one statement, all or nothing. Each
--   payload is checked as enqueue() checks it; errors name the first bad one,
--   counting from 1 (payloads[3]). priorities and group_keys, when given, run
--   parallel to payloads (same length): each message's priority (not NULL)
--   and group key (NULL: none), as enqueue() takes them. The keys are locked
--   in key order, so batches never deadlock each other.
--
--   Returns  SETOF bigint: the ids, in the order of the payloads
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (delay,
--            priorities, an array of another length), PQ005 (payloads,
--            group_keys), PQ006 (more than max_batch_size())
--   Reads    pgqrs_queues
--   Writes   pgqrs_messages, or pgqrs_delayed with a delay; pgqrs_groups
--            with group keys; the queue's position with priorities above 0
--   Roles    producer, admin
CREATE FUNCTION @extschema@.enqueue_batch(
    queue_name text,
    payloads jsonb[],
    delay_seconds integer DEFAULT 0,
    priorities integer[] DEFAULT NULL,
    group_keys text[] DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_queue @extschema@.pgqrs_queues;
    v_queue_id bigint;
    v_null_at integer;
    v_big record;
    v_bad record;
    v_ids bigint[];
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
    PERFORM @extschema@._check_seconds('delay_seconds', enqueue_batch.delay_seconds);
    PERFORM @extschema@._check_parallel('priorities', enqueue_batch.priorities, enqueue_batch.payloads);
    PERFORM @extschema@._check_parallel('group_keys', enqueue_batch.group_keys, enqueue_batch.payloads);
    IF enqueue_batch.priorities IS NOT NULL OR enqueue_batch.group_keys IS NOT NULL THEN
        SELECT i.n, i.priority, i.group_key INTO v_bad
        FROM unnest(coalesce(enqueue_batch.priorities, '{}'), coalesce(enqueue_batch.group_keys, '{}'))
             WITH ORDINALITY AS i (priority, group_key, n)
        WHERE (enqueue_batch.priorities IS NOT NULL AND (i.priority IS NULL OR i.priority NOT BETWEEN -32768 AND 32767))
           OR i.group_key = '' OR length(i.group_key) > 255
        ORDER BY i.n
        LIMIT 1;
        IF FOUND THEN
            PERFORM @extschema@._check_message_options(v_bad.n,
                CASE WHEN enqueue_batch.priorities IS NULL THEN 0 ELSE v_bad.priority END, v_bad.group_key);
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

    IF enqueue_batch.group_keys IS NOT NULL THEN
        v_in_line := @extschema@._admit_batch(v_queue_id, v_queue.group_concurrency, enqueue_batch.group_keys);
    END IF;
    -- Drawn after the keys' locks, in the payloads' order.
    v_ids := ARRAY(SELECT nextval('@extschema@.pgqrs_messages_id_seq'::regclass)
                   FROM generate_series(1, cardinality(enqueue_batch.payloads)));

    IF enqueue_batch.delay_seconds = 0 THEN
        INSERT INTO @extschema@.pgqrs_messages (id, queue_id, payload, enqueued_at, vt, priority, group_key, rank)
        SELECT i.id, v_queue_id, i.payload, v_now, v_now, coalesce(i.priority, 0), i.group_key,
               CASE WHEN i.in_line IS NOT FALSE THEN @extschema@._rank(coalesce(i.priority, 0), i.id) END
        FROM unnest(v_ids, enqueue_batch.payloads, enqueue_batch.priorities, enqueue_batch.group_keys, v_in_line)
             AS i (id, payload, priority, group_key, in_line);
    ELSE
        INSERT INTO @extschema@.pgqrs_delayed (id, queue_id, payload, enqueued_at, vt, priority, group_key, rank)
        SELECT i.id, v_queue_id, i.payload, v_now, v_now + enqueue_batch.delay_seconds * interval '1 second',
               coalesce(i.priority, 0), i.group_key,
               CASE WHEN i.in_line IS NOT FALSE THEN @extschema@._rank(coalesce(i.priority, 0), i.id) END
        FROM unnest(v_ids, enqueue_batch.payloads, enqueue_batch.priorities, enqueue_batch.group_keys, v_in_line)
             AS i (id, payload, priority, group_key, in_line);
    END IF;

    v_ready := enqueue_batch.delay_seconds = 0 AND cardinality(v_ids) > 0
               AND (v_in_line IS NULL OR true = ANY (v_in_line));
    IF v_queue.notify AND v_ready THEN
        PERFORM pg_catalog.pg_notify(@extschema@._notify_channel(v_queue_id), '');
    END IF;
    IF v_ready AND enqueue_batch.priorities IS NOT NULL THEN  -- ahead of the position: dequeues must look there
        SELECT min(@extschema@._rank(i.priority, i.id)) INTO v_first_rank
        FROM unnest(v_ids, enqueue_batch.priorities, v_in_line) AS i (id, priority, in_line)
        WHERE i.priority > 0 AND i.in_line IS NOT FALSE;
        PERFORM @extschema@._lower_position(v_queue_id, v_first_rank);
    END IF;
    RETURN QUERY SELECT unnest(v_ids);
END
$$;
COMMENT ON FUNCTION @extschema@.enqueue_batch(text, jsonb[], integer, integer[], text[]) IS
    'add many messages in one statement, all or nothing, with priorities and group keys; returns their ids in input order';
