-- pause_queue(queue_name)
--   Stops deliveries: dequeue() returns nothing from a paused queue (a long
--   poll waits as on an empty one), while enqueues, acknowledgements of
--   messages already leased, and lease expiry go on as before. For deploys and
--   incidents.
--
--   Returns  nothing
--   Errors   PQ001 (no such queue), PQ003 (invalid name)
--   Reads    pgqrs_queues
--   Writes   pgqrs_queues
--   Roles    admin
CREATE FUNCTION @extschema@.pause_queue(queue_name text)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
    UPDATE @extschema@.pgqrs_queues q
    SET paused = true
    WHERE q.id = (@extschema@._queue(pause_queue.queue_name)).id;
$$;
COMMENT ON FUNCTION @extschema@.pause_queue(text) IS
    'stop deliveries from a queue until resume_queue (enqueues still accepted)';
