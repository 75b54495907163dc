-- queue_message(queue_name, msg_id)
--   The unfinished message with that id, with its state; nothing is leased.
--
--   Returns  SETOF messages: one row, or none
--   Errors   PQ001 (no such queue), PQ003 (invalid name)
--   Reads    pgqrs_queues, pgqrs_messages, pgqrs_delayed
--   Writes   nothing
--   Roles    admin
CREATE FUNCTION @extschema@.queue_message(
    queue_name text,
    msg_id bigint)
RETURNS SETOF @extschema@.messages
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN QUERY
    SELECT m.* FROM @extschema@.messages m
    WHERE m.queue_id = (@extschema@._queue(queue_message.queue_name)).id
      AND m.id = queue_message.msg_id;
END
$$;
COMMENT ON FUNCTION @extschema@.queue_message(text, bigint) IS
    'the unfinished message of a queue with that id, with its state: one row or none (nothing is leased)';
