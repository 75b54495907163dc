-- unbind_topic(pattern, queue_name)
--   Removes a binding made by bind_topic().
--
--   Returns  boolean: whether there was one
--   Errors   PQ001 (no such queue), PQ003 (invalid queue name)
--   Reads    pgqrs_queues
--   Writes   pgqrs_topic_bindings
--   Roles    admin
CREATE FUNCTION @extschema@.unbind_topic(
    pattern text,
    queue_name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    DELETE FROM @extschema@.pgqrs_topic_bindings b
    WHERE b.pattern = unbind_topic.pattern
      AND b.queue_id = (@extschema@._queue(unbind_topic.queue_name)).id;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION @extschema@.unbind_topic(text, text) IS
    'remove a topic binding; whether there was one';
