-- dead_letters(queue_name, qty)
--   The queue's dead letters, oldest first, at most qty of them.
--
--   Returns  SETOF pgqrs_archive
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (qty below 1),
--            PQ006 (qty above max_batch_size())
--   Reads    pgqrs_queues, pgqrs_archive
--   Writes   nothing
--   Roles    admin
CREATE FUNCTION @extschema@.dead_letters(
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
    PERFORM @extschema@._check_count('qty', dead_letters.qty);
    v_queue_id := (@extschema@._queue(dead_letters.queue_name)).id;
    RETURN QUERY
    SELECT a.*
    FROM @extschema@.pgqrs_archive a
    WHERE a.queue_id = v_queue_id AND a.dead_lettered
    ORDER BY a.id
    LIMIT dead_letters.qty;
END
$$;
COMMENT ON FUNCTION @extschema@.dead_letters(text, integer) IS
    'list a queue''s dead letters, oldest first';
