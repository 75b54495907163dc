-- message_status(queue_name, msg_id)
--   Where a message is in its life, by primary key in each table: ready,
--   delayed (enqueued with a delay, waiting for a retry or for its group key), in_flight
--   (leased), done (archived or completed), dead (dead-lettered), cancelled,
--   or unknown (deleted, purged or never enqueued). read_ct is its number of
--   deliveries, result what complete() stored, finished_at when it was
--   archived; cancel_requested: a cancel is pending while it is in flight.
--
--   Returns  message_state: (state, read_ct, result, finished_at,
--            cancel_requested)
--   Errors   PQ001 (no such queue), PQ003 (invalid name)
--   Reads    pgqrs_queues, pgqrs_messages, pgqrs_delayed, pgqrs_archive,
--            pgqrs_cancels
--   Writes   nothing
--   Roles    producer, consumer, admin
CREATE FUNCTION @extschema@.message_status(
    queue_name text,
    msg_id bigint)
RETURNS @extschema@.message_state
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
DECLARE
    v_queue_id bigint := (@extschema@._queue(message_status.queue_name)).id;
    v_status @extschema@.message_state;
BEGIN
    SELECT CASE WHEN m.rank IS NULL THEN 'delayed'  -- waiting for its group key
                WHEN m.vt <= clock_timestamp() THEN 'ready'
                WHEN m.dequeued_at IS NOT NULL THEN 'in_flight'
                ELSE 'delayed' END,
           m.read_ct, NULL, NULL,
           EXISTS (SELECT FROM @extschema@.pgqrs_cancels c WHERE c.queue_id = v_queue_id AND c.msg_id = m.id)
    INTO v_status
    FROM @extschema@.pgqrs_messages m
    WHERE m.queue_id = v_queue_id AND m.id = message_status.msg_id;
    IF FOUND THEN
        RETURN v_status;
    END IF;
    SELECT 'delayed', d.read_ct, NULL, NULL, false INTO v_status  -- only a leased message has a cancel pending
    FROM @extschema@.pgqrs_delayed d
    WHERE d.queue_id = v_queue_id AND d.id = message_status.msg_id;
    IF FOUND THEN
        RETURN v_status;
    END IF;
    SELECT CASE WHEN a.cancelled THEN 'cancelled' WHEN a.dead_lettered THEN 'dead' ELSE 'done' END,
           a.read_ct, a.result, a.archived_at, false
    INTO v_status
    FROM @extschema@.pgqrs_archive a
    WHERE a.queue_id = v_queue_id AND a.id = message_status.msg_id;
    IF FOUND THEN
        RETURN v_status;
    END IF;
    RETURN ROW('unknown', NULL, NULL, NULL, false)::@extschema@.message_state;
END
$$;
COMMENT ON FUNCTION @extschema@.message_status(text, bigint) IS
    'a message''s state (ready, delayed, in_flight, done, dead, cancelled, unknown), read_ct, result and finished_at';
