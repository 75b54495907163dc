-- archived_message(queue_name, msg_id)
--   The archived message with that id.
--
--   Returns  SETOF pgqrs_archive: one row, or none
--   Errors   PQ001 (no such queue), PQ003 (invalid name)
--   Reads    pgqrs_queues, pgqrs_archive
--   Writes   nothing
--   Roles    admin
CREATE FUNCTION @extschema@.archived_message(
    queue_name text,
    msg_id bigint)
RETURNS SETOF @extschema@.pgqrs_archive
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN QUERY
    SELECT a.* FROM @extschema@.pgqrs_archive a
    WHERE a.queue_id = (@extschema@._queue(archived_message.queue_name)).id
      AND a.id = archived_message.msg_id;
END
$$;
COMMENT ON FUNCTION @extschema@.archived_message(text, bigint) IS
    'the archived message of a queue with that id: one row or none';
