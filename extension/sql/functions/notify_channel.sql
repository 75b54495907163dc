-- notify_channel(queue_name)
--   The channel to LISTEN on for the queue's notifications. It names the
--   schema by oid and the queue by id: short, and unique in the database
--   whatever the names.
--
--   Returns  text
--   Errors   PQ001 (no such queue), PQ003 (invalid name)
--   Reads    pgqrs_queues
--   Writes   nothing
--   Roles    producer, consumer, admin
CREATE FUNCTION @extschema@.notify_channel(queue_name text)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN @extschema@._notify_channel((@extschema@._queue(notify_channel.queue_name)).id);
END
$$;
COMMENT ON FUNCTION @extschema@.notify_channel(text) IS
    'the channel to LISTEN on for a queue''s enqueue notifications';
