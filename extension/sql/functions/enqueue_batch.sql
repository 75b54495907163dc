-- enqueue_batch(queue_name, payloads, delay_seconds)
--   Adds one message per payload in one statement, all or nothing. Each
--   payload is checked as enqueue() checks it; errors name the first bad one,
--   counting from 1 (payloads[3]).
--
--   Returns  SETOF bigint: the ids, in the order of the payloads
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (delay), PQ005
--            (payloads), PQ006 (more than max_batch_size())
--   Reads    pgqrs_queues
--   Writes   pgqrs_messages, or pgqrs_delayed with a delay
--   Roles    producer, admin
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
