-- purge_dead_letters(queue_name, msg_ids)
--   Deletes the queue's dead letters: all, or those with these ids (ids that
--   are not dead letters of the queue are left alone). The rest of the
--   archive stays (purge_archive() deletes that).
--
--   Returns  SETOF bigint: the ids deleted
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (msg_ids
--            not one-dimensional), PQ006 (too many msg_ids)
--   Reads    pgqrs_queues
--   Writes   pgqrs_archive
--   Roles    admin
CREATE FUNCTION @extschema@.purge_dead_letters(
    queue_name text,
    msg_ids bigint[] DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_queue_id bigint;
BEGIN
    IF purge_dead_letters.msg_ids IS NOT NULL THEN
        PERFORM @extschema@._check_ids('msg_ids', purge_dead_letters.msg_ids);
    END IF;
    v_queue_id := (@extschema@._queue(purge_dead_letters.queue_name)).id;
    RETURN QUERY
    DELETE FROM @extschema@.pgqrs_archive a  -- the partial index of dead letters
    WHERE a.queue_id = v_queue_id
      AND a.dead_lettered
      AND (purge_dead_letters.msg_ids IS NULL OR a.id = ANY (purge_dead_letters.msg_ids))
    RETURNING a.id;
END
$$;
COMMENT ON FUNCTION @extschema@.purge_dead_letters(text, bigint[]) IS
    'delete a queue''s dead letters (all, or the given ids); returns the ids deleted';
