-- resume_queue(queue_name)
--   Delivers again from a paused queue, and wakes its listening workers when
--   the queue sends notifications.
--
--   Returns  nothing
--   Errors   PQ001 (no such queue), PQ003 (invalid name)
--   Reads    pgqrs_queues
--   Writes   pgqrs_queues
--   Roles    admin
CREATE FUNCTION @extschema@.resume_queue(queue_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_queue @extschema@.pgqrs_queues;
BEGIN
    v_queue := @extschema@._queue(resume_queue.queue_name);
    UPDATE @extschema@.pgqrs_queues q SET paused = false WHERE q.id = v_queue.id;
    IF v_queue.paused AND v_queue.notify THEN
        PERFORM pg_catalog.pg_notify(@extschema@._notify_channel(v_queue.id), '');
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.resume_queue(text) IS
    'deliver again from a paused queue';
