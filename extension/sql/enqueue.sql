-- Producing.

-- _queue_for_enqueue(queue_name, ready)
--   The queue to write to, looked up under the shared name lock (see
--   _queue_lock_class()), so a concurrent drop_queue() either waits for this
--   transaction or has already removed the queue (PQ001). When ready messages
--   are coming and the queue asks for it, sends the notification: one per
--   call, and PostgreSQL delivers it at commit, once per transaction.
CREATE FUNCTION @extschema@._queue_for_enqueue(p_queue_name text, p_ready boolean)
RETURNS @extschema@.pgqrs_queues
LANGUAGE plpgsql
AS $$
DECLARE
    v_queue @extschema@.pgqrs_queues;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(
        @extschema@._queue_lock_class(), pg_catalog.hashtext(p_queue_name));
    SELECT q.* INTO v_queue
    FROM @extschema@.pgqrs_queues q WHERE q.queue_name = p_queue_name;
    IF NOT FOUND THEN
        PERFORM @extschema@._queue(p_queue_name);  -- raises the error
    END IF;
    IF v_queue.notify AND p_ready THEN
        PERFORM pg_catalog.pg_notify(@extschema@._notify_channel(v_queue.id), '');
    END IF;
    RETURN v_queue;
END
$$;
COMMENT ON FUNCTION @extschema@._queue_for_enqueue(text, boolean) IS
    'internal: the queue to write to, under its shared lock';

-- _payload_too_large(queue_name, max_payload_bytes, argument, size)
--   Raises PQ005 for a payload over the queue's max_payload_bytes.
CREATE FUNCTION @extschema@._payload_too_large(
    p_queue_name text, p_max_payload_bytes integer, p_argument text, p_size integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    RAISE EXCEPTION '% is % bytes, more than max_payload_bytes (%) of queue "%"',
            p_argument, p_size, p_max_payload_bytes, p_queue_name
        USING ERRCODE = 'PQ005',
              HINT = 'Store large data elsewhere and enqueue a reference, or raise the limit with alter_queue().';
END
$$;
COMMENT ON FUNCTION @extschema@._payload_too_large(text, integer, text, integer) IS
    'internal: raises PQ005 for a payload over max_payload_bytes';

-- enqueue(queue_name, payload, delay_seconds)
--   Adds one message, visible after delay_seconds by the server clock.
--   Returns its id. The payload is any JSON value but null (PQ005), of at
--   most the queue's max_payload_bytes (PQ005). Writes pgqrs_messages, or
--   pgqrs_delayed with a delay.
--   The hottest function: it does what _queue_for_enqueue() does inline, and
--   tests its arguments in one expression, since each call costs
--   microseconds (measured: 5 to 10% of a single enqueue).
CREATE FUNCTION @extschema@.enqueue(
    queue_name text,
    payload jsonb,
    delay_seconds integer DEFAULT 0)
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
    v_id bigint;
BEGIN
    IF enqueue.payload IS NULL OR jsonb_typeof(enqueue.payload) = 'null'
       OR enqueue.delay_seconds IS NULL OR enqueue.delay_seconds < 0 THEN
        IF enqueue.payload IS NULL THEN
            RAISE EXCEPTION 'payload must not be NULL' USING ERRCODE = 'PQ005';
        ELSIF jsonb_typeof(enqueue.payload) = 'null' THEN
            RAISE EXCEPTION 'payload must not be JSON null' USING ERRCODE = 'PQ005';
        END IF;
        PERFORM @extschema@._check_seconds('delay_seconds', enqueue.delay_seconds);
    END IF;
    -- As _queue_for_enqueue(): the lookup under the shared name lock, and the notification.
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(
        @extschema@._queue_lock_class(), pg_catalog.hashtext(enqueue.queue_name));
    SELECT q.id, q.notify, q.max_payload_bytes INTO v_queue_id, v_notify, v_max_payload_bytes
    FROM @extschema@.pgqrs_queues q WHERE q.queue_name = enqueue.queue_name;
    IF NOT FOUND THEN
        PERFORM @extschema@._queue(enqueue.queue_name);  -- raises the error
    END IF;
    IF pg_column_size(enqueue.payload) > v_max_payload_bytes THEN
        PERFORM @extschema@._payload_too_large(enqueue.queue_name, v_max_payload_bytes, 'payload',
                                              pg_column_size(enqueue.payload));
    END IF;

    IF enqueue.delay_seconds = 0 THEN
        IF v_notify THEN
            PERFORM pg_catalog.pg_notify(@extschema@._notify_channel(v_queue_id), '');
        END IF;
        INSERT INTO @extschema@.pgqrs_messages AS m (queue_id, payload, enqueued_at, vt)
        VALUES (v_queue_id, enqueue.payload, v_now, v_now)
        RETURNING m.id INTO v_id;
    ELSE
        INSERT INTO @extschema@.pgqrs_delayed AS d (queue_id, payload, enqueued_at, vt)
        VALUES (v_queue_id, enqueue.payload, v_now, v_now + enqueue.delay_seconds * interval '1 second')
        RETURNING d.id INTO v_id;
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION @extschema@.enqueue(text, jsonb, integer) IS
    'add one message to a queue, visible after delay_seconds; returns its id';

-- enqueue_batch(queue_name, payloads, delay_seconds)
--   Adds one message per payload in one statement, all or nothing. Returns
--   the ids in the order of the payloads. Each payload is checked as
--   enqueue() checks it; errors name the first bad one, counting from 1.
--   Writes pgqrs_messages, or pgqrs_delayed with a delay.
CREATE FUNCTION @extschema@.enqueue_batch(
    queue_name text,
    payloads jsonb[],
    delay_seconds integer DEFAULT 0)
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
    v_queue := @extschema@._queue_for_enqueue(enqueue_batch.queue_name,
        enqueue_batch.delay_seconds = 0 AND cardinality(enqueue_batch.payloads) > 0);
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

    -- Ids are drawn after the sort, so they follow the payloads' order.
    IF enqueue_batch.delay_seconds = 0 THEN
        RETURN QUERY
        INSERT INTO @extschema@.pgqrs_messages AS m (queue_id, payload, enqueued_at, vt)
        SELECT v_queue_id, p.payload, v_now, v_now
        FROM unnest(enqueue_batch.payloads) WITH ORDINALITY AS p (payload, position)
        ORDER BY p.position
        RETURNING m.id;
    ELSE
        RETURN QUERY
        INSERT INTO @extschema@.pgqrs_delayed AS d (queue_id, payload, enqueued_at, vt)
        SELECT v_queue_id, p.payload, v_now, v_now + enqueue_batch.delay_seconds * interval '1 second'
        FROM unnest(enqueue_batch.payloads) WITH ORDINALITY AS p (payload, position)
        ORDER BY p.position
        RETURNING d.id;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.enqueue_batch(text, jsonb[], integer) IS
    'add many messages in one statement, all or nothing; returns their ids in input order';
