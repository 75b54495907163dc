-- enqueue(queue_name, payload, delay_seconds, priority, group_key, dedupe_key, run_at, dedupe_seconds)
--   Adds one message, visible after delay_seconds by the server clock, or at
--   run_at (not both). The payload is any JSON value but null, of at most the
--   queue's max_payload_bytes. A higher priority is delivered first (-32768 to
--   32767; FIFO by id within one). Messages with a group_key are delivered in
--   id order, at most the queue's group_concurrency of them at once: one that
--   finds its key's places taken waits (locking the key until this
--   transaction ends, so the key's ids follow commit order). With a
--   dedupe_key that an unfinished message of the queue holds (ready, delayed,
--   leased, waiting for a retry or for its group key), adds nothing and
--   returns that message's id; the key is free again once the message is
--   archived, deleted, dead-lettered or cancelled, or dedupe_seconds after it
--   is archived or deleted. Concurrent enqueues of one key wait for each
--   other and make one message (see _take_dedupe_key()). The hottest
--   function: it does what _queue_for_enqueue() does inline, and tests its
--   arguments in one expression, since each call costs microseconds
--   (measured: 5 to 10% of a single enqueue).
--
--   Returns  bigint: the message's id (the holder's, for a dedupe key taken)
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (delay,
--            run_at with a delay, priority, dedupe_seconds), PQ005 (NULL,
--            JSON null or too large a payload; a group key or dedupe key of 0
--            or over 255 characters)
--   Reads    pgqrs_queues
--   Writes   pgqrs_messages, or pgqrs_delayed with a delay; pgqrs_groups
--            with a group key; pgqrs_dedupe_keys with a dedupe key; the
--            queue's position with a priority above 0
--   Roles    producer, admin
CREATE FUNCTION @extschema@.enqueue(
    queue_name text,
    payload jsonb,
    delay_seconds integer DEFAULT 0,
    priority integer DEFAULT 0,
    group_key text DEFAULT NULL,
    dedupe_key text DEFAULT NULL,
    run_at timestamptz DEFAULT NULL,
    dedupe_seconds integer DEFAULT 0)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_vt timestamptz;
    v_queue_id bigint;
    v_notify boolean;
    v_max_payload_bytes integer;
    v_group_concurrency integer;
    v_in_line boolean;  -- false: waits for its key (rank NULL)
    v_id bigint;
    v_holder bigint;  -- the message that holds the dedupe key
    v_rank bigint;
BEGIN
    IF enqueue.payload IS NULL OR jsonb_typeof(enqueue.payload) = 'null'
       OR enqueue.delay_seconds IS NULL OR enqueue.delay_seconds < 0
       OR enqueue.run_at IS NOT NULL
       OR enqueue.priority IS NULL OR enqueue.priority NOT BETWEEN -32768 AND 32767
       OR enqueue.group_key = '' OR length(enqueue.group_key) > 255
       OR enqueue.dedupe_key = '' OR length(enqueue.dedupe_key) > 255
       OR enqueue.dedupe_seconds IS NULL OR enqueue.dedupe_seconds < 0 THEN
        IF enqueue.payload IS NULL THEN
            RAISE EXCEPTION 'payload must not be NULL' USING ERRCODE = 'PQ005';
        ELSIF jsonb_typeof(enqueue.payload) = 'null' THEN
            RAISE EXCEPTION 'payload must not be JSON null' USING ERRCODE = 'PQ005';
        END IF;
        v_vt := @extschema@._visible_at(v_now, enqueue.delay_seconds, enqueue.run_at);
        PERFORM @extschema@._check_seconds('dedupe_seconds', enqueue.dedupe_seconds);
        PERFORM @extschema@._check_message_options(NULL, enqueue.priority, enqueue.group_key, enqueue.dedupe_key);
    ELSE
        v_vt := v_now + enqueue.delay_seconds * interval '1 second';
    END IF;
    -- As _queue_for_enqueue(): the lookup under the shared name lock, and the notification.
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(
        @extschema@._queue_lock_class(), pg_catalog.hashtext(enqueue.queue_name));
    SELECT q.id, q.notify, q.max_payload_bytes, q.group_concurrency
    INTO v_queue_id, v_notify, v_max_payload_bytes, v_group_concurrency
    FROM @extschema@.pgqrs_queues q WHERE q.queue_name = enqueue.queue_name;
    IF NOT FOUND THEN
        PERFORM @extschema@._queue(enqueue.queue_name);  -- raises the error
    END IF;
    IF pg_column_size(enqueue.payload) > v_max_payload_bytes THEN
        PERFORM @extschema@._payload_too_large(enqueue.queue_name, v_max_payload_bytes, 'payload',
                                              pg_column_size(enqueue.payload));
    END IF;

    IF enqueue.dedupe_key IS NOT NULL THEN  -- before the group key: a duplicate takes no place
        IF enqueue.group_key IS NULL THEN
            v_id := nextval('@extschema@.pgqrs_messages_id_seq'::regclass);
        END IF;
        -- A new key, here (measured: 6% of such an enqueue is the call); a taken one, in _take_dedupe_key().
        INSERT INTO @extschema@.pgqrs_dedupe_keys (queue_id, dedupe_key, msg_id, hold_seconds)
        VALUES (v_queue_id, enqueue.dedupe_key, v_id, enqueue.dedupe_seconds)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            v_holder := @extschema@._take_dedupe_key(v_queue_id, enqueue.dedupe_key, enqueue.dedupe_seconds, v_id);
            IF v_holder IS NOT NULL THEN
                RETURN v_holder;
            END IF;
        END IF;
    END IF;
    IF enqueue.group_key IS NOT NULL THEN
        v_in_line := @extschema@._admit(v_queue_id, v_group_concurrency, enqueue.group_key, 1) = 1;
        -- Drawn after the key's lock, so that a key's ids follow the order its messages come in.
        v_id := nextval('@extschema@.pgqrs_messages_id_seq'::regclass);
        IF enqueue.dedupe_key IS NOT NULL THEN
            UPDATE @extschema@.pgqrs_dedupe_keys d SET msg_id = v_id
            WHERE d.queue_id = v_queue_id AND d.dedupe_key = enqueue.dedupe_key;
        END IF;
    ELSE
        v_in_line := true;
        v_id := coalesce(v_id, nextval('@extschema@.pgqrs_messages_id_seq'::regclass));
    END IF;
    IF v_in_line THEN
        v_rank := @extschema@._rank(enqueue.priority, v_id);
        IF enqueue.priority > 0 THEN  -- ahead of the position: dequeues must look there
            PERFORM @extschema@._lower_position(v_queue_id, v_rank);
        END IF;
    END IF;
    IF v_vt <= v_now THEN
        IF v_notify AND v_rank IS NOT NULL THEN
            PERFORM pg_catalog.pg_notify(@extschema@._notify_channel(v_queue_id), '');
        END IF;
        INSERT INTO @extschema@.pgqrs_messages (id, queue_id, payload, enqueued_at, vt, priority, group_key, rank, dedupe_key)
        VALUES (v_id, v_queue_id, enqueue.payload, v_now, v_now, enqueue.priority, enqueue.group_key, v_rank,
                enqueue.dedupe_key);
    ELSE
        INSERT INTO @extschema@.pgqrs_delayed (id, queue_id, payload, enqueued_at, vt, priority, group_key, rank, dedupe_key)
        VALUES (v_id, v_queue_id, enqueue.payload, v_now, v_vt, enqueue.priority, enqueue.group_key, v_rank,
                enqueue.dedupe_key);
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION @extschema@.enqueue(text, jsonb, integer, integer, text, text, timestamptz, integer) IS
    'add one message to a queue, visible after delay_seconds or at run_at, with a priority, a group key and a dedupe key; returns its id (or the id of the unfinished message that holds the dedupe key)';
