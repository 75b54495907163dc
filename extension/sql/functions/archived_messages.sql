-- archived_messages(queue_name, qty)
--   Up to qty archived messages of the queue (dead letters too), oldest id
--   first.
--
--   Returns  SETOF pgqrs_archive
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (qty below 1),
--            PQ006 (qty above max_batch_size())
--   Reads    pgqrs_queues, pgqrs_archive
--   Writes   nothing
--   Roles    admin
CREATE FUNCTION @extschema@.archived_messages(
    queue_name text,
    qty integer DEFAULT 100)
RETURNS SETOF @extschema@.pgqrs_archive
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_queue_id bigint;
BEGIN
    PERFORM @extschema@._check_count('qty', archived_messages.qty);
    v_queue_id := (@extschema@._queue(archived_messages.queue_name)).id;
    RETURN QUERY
    SELECT a.* FROM @extschema@.pgqrs_archive a
    WHERE a.queue_id = v_queue_id
    ORDER BY a.id
    LIMIT archived_messages.qty;
END
$$;
COMMENT ON FUNCTION @extschema@.archived_messages(text, integer) IS
    'up to qty archived messages of a queue (dead letters too), oldest first';
