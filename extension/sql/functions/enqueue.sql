-- enqueue(queue_name, payload, delay_seconds, priority, group_key)
--   Adds one message, visible after delay_seconds by the server clock. The
--   payload is any JSON value but null, of at most the queue's
--   max_payload_bytes. A higher priority is delivered first (-32768 to 32767;
--   FIFO by id within one). Messages with a group_key are delivered in id
--   order, at most the queue's group_concurrency of them at once: one that
--   finds its key's places taken waits (locking the key until this
--   transaction ends, so the key's ids follow commit order). The hottest
--   function: it does what _queue_for_enqueue() does inline, and tests its
--   arguments in one expression, since each call costs microseconds
--   (measured: 5 to 10% of a single enqueue).
--
--   Returns  bigint: the message's id
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (delay,
--            priority), PQ005 (NULL, JSON null or too large a payload; a
--            group key of 0 or over 255 characters)
--   Reads    pgqrs_queues
--   Writes   pgqrs_messages, or pgqrs_delayed with a delay; pgqrs_groups
--            with a group key; the queue's position with a priority above 0
--   Roles    producer, admin
CREATE FUNCTION @extschema@.enqueue(
    queue_name text,
    payload jsonb,
    delay_seconds integer DEFAULT 0,
    priority integer DEFAULT 0,
    group_key text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_queue_id bigint;
    v_notify boolean;
    v_max_payload_bytes integer;
    v_group_concurrency integer;
    v_in_line boolean;  -- false: waits for its key (rank NULL)
    v_id bigint;
    v_rank bigint;
BEGIN
    IF enqueue.payload IS NULL OR jsonb_typeof(enqueue.payload) = 'null'
       OR enqueue.delay_seconds IS NULL OR enqueue.delay_seconds < 0
       OR enqueue.priority IS NULL OR enqueue.priority NOT BETWEEN -32768 AND 32767
       OR enqueue.group_key = '' OR length(enqueue.group_key) > 255 THEN
        IF enqueue.payload IS NULL THEN
            RAISE EXCEPTION 'payload must not be NULL' USING ERRCODE = 'PQ005';
        ELSIF jsonb_typeof(enqueue.payload) = 'null' THEN
            RAISE EXCEPTION 'payload must not be JSON null' USING ERRCODE = 'PQ005';
        END IF;
        PERFORM @extschema@._check_seconds('delay_seconds', enqueue.delay_seconds);
        PERFORM @extschema@._check_message_options(NULL, enqueue.priority, enqueue.group_key);
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

    v_in_line := enqueue.group_key IS NULL
                 OR @extschema@._admit(v_queue_id, v_group_concurrency, enqueue.group_key, 1) = 1;
    -- Drawn after the key's lock, so that a key's ids follow the order its messages come in.
    v_id := nextval('@extschema@.pgqrs_messages_id_seq'::regclass);
    IF v_in_line THEN
        v_rank := @extschema@._rank(enqueue.priority, v_id);
        IF enqueue.priority > 0 THEN  -- ahead of the position: dequeues must look there
            PERFORM @extschema@._lower_position(v_queue_id, v_rank);
        END IF;
    END IF;
    IF enqueue.delay_seconds = 0 THEN
        IF v_notify AND v_rank IS NOT NULL THEN
            PERFORM pg_catalog.pg_notify(@extschema@._notify_channel(v_queue_id), '');
        END IF;
        INSERT INTO @extschema@.pgqrs_messages (id, queue_id, payload, enqueued_at, vt, priority, group_key, rank)
        VALUES (v_id, v_queue_id, enqueue.payload, v_now, v_now, enqueue.priority, enqueue.group_key, v_rank);
    ELSE
        INSERT INTO @extschema@.pgqrs_delayed (id, queue_id, payload, enqueued_at, vt, priority, group_key, rank)
        VALUES (v_id, v_queue_id, enqueue.payload, v_now, v_now + enqueue.delay_seconds * interval '1 second',
                enqueue.priority, enqueue.group_key, v_rank);
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION @extschema@.enqueue(text, jsonb, integer, integer, text) IS
    'add one message to a queue, visible after delay_seconds, with a priority and a group key; returns its id';
