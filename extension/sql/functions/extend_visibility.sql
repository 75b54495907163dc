-- extend_visibility(queue_name, msg_id, seconds, worker_id)
--   Sets the message's visibility time to now + seconds: a longer lease for a
--   slow job, or a new delay for a waiting message; with a worker_id, only
--   while it is leased to that worker.
--
--   Returns  timestamptz: the new vt, or NULL when the message is not there
--            (or not leased to worker_id), or -infinity when it was cancelled
--            (cancel()) while leased: the lease is not extended, and whatever
--            ends it ends the message cancelled
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (seconds)
--   Reads    pgqrs_queues, pgqrs_cancels
--   Writes   pgqrs_messages, pgqrs_delayed
--   Roles    consumer, admin
CREATE FUNCTION @extschema@.extend_visibility(
    queue_name text,
    msg_id bigint,
    seconds integer,
    worker_id bigint DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
DECLARE
    v_queue_id bigint;
    v_vt timestamptz;
BEGIN
    PERFORM @extschema@._check_seconds('seconds', extend_visibility.seconds);
    v_queue_id := (@extschema@._queue(extend_visibility.queue_name)).id;
    -- A lease whose message was cancelled is not extended: -infinity tells its holder.
    IF EXISTS (SELECT FROM @extschema@.pgqrs_cancels c
               WHERE c.queue_id = v_queue_id AND c.msg_id = extend_visibility.msg_id) THEN
        RETURN CASE WHEN EXISTS (SELECT FROM @extschema@.pgqrs_messages m
                                 WHERE m.queue_id = v_queue_id AND m.id = extend_visibility.msg_id
                                   AND (extend_visibility.worker_id IS NULL OR m.worker_id = extend_visibility.worker_id))
                    THEN '-infinity'::timestamptz END;
    END IF;
    UPDATE @extschema@.pgqrs_messages m
    SET vt = clock_timestamp() + extend_visibility.seconds * interval '1 second'
    WHERE m.queue_id = v_queue_id
      AND m.id = extend_visibility.msg_id
      AND (extend_visibility.worker_id IS NULL OR m.worker_id = extend_visibility.worker_id)
    RETURNING m.vt INTO v_vt;
    IF v_vt IS NULL AND extend_visibility.worker_id IS NULL THEN
        UPDATE @extschema@.pgqrs_delayed d
        SET vt = clock_timestamp() + extend_visibility.seconds * interval '1 second'
        WHERE d.queue_id = v_queue_id AND d.id = extend_visibility.msg_id
        RETURNING d.vt INTO v_vt;
    END IF;
    RETURN v_vt;
END
$$;
COMMENT ON FUNCTION @extschema@.extend_visibility(text, bigint, integer, bigint) IS
    'set a message''s visibility to now + seconds; returns the new vt, NULL if not there (or not leased to worker_id)';
