-- set_queue_notify(queue_name, notify)
--   Turns the queue's enqueue notifications on or off.
--
--   Returns  nothing
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (NULL notify)
--   Reads    pgqrs_queues
--   Writes   pgqrs_queues
--   Roles    admin
CREATE FUNCTION @extschema@.set_queue_notify(queue_name text, notify boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF set_queue_notify.notify IS NULL THEN
        RAISE EXCEPTION 'notify must be true or false, not NULL' USING ERRCODE = 'PQ004';
    END IF;
    UPDATE @extschema@.pgqrs_queues q
    SET notify = set_queue_notify.notify
    WHERE q.id = (@extschema@._queue(set_queue_notify.queue_name)).id;
END
$$;
COMMENT ON FUNCTION @extschema@.set_queue_notify(text, boolean) IS
    'turn a queue''s enqueue notifications on or off';
