-- purge_archive(queue_name, older_than_seconds, include_dead_letters)
--   Deletes the queue's archived messages: all, or those archived more than
--   older_than_seconds ago. Dead letters are kept unless
--   include_dead_letters. Also forgets the queue's dedupe keys whose hold
--   (dedupe_seconds) is over, which no enqueue of the key took again.
--
--   Returns  bigint: how many it deleted
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004
--            (older_than_seconds)
--   Reads    pgqrs_queues
--   Writes   pgqrs_archive, pgqrs_dedupe_keys
--   Roles    admin
CREATE FUNCTION @extschema@.purge_archive(
    queue_name text,
    older_than_seconds integer DEFAULT NULL,
    include_dead_letters boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_queue_id bigint;
    v_cutoff timestamptz := 'infinity';
    v_count bigint;
BEGIN
    IF purge_archive.older_than_seconds IS NOT NULL THEN
        PERFORM @extschema@._check_seconds('older_than_seconds', purge_archive.older_than_seconds);
        v_cutoff := clock_timestamp() - purge_archive.older_than_seconds * interval '1 second';
    END IF;
    v_queue_id := (@extschema@._queue(purge_archive.queue_name)).id;
    DELETE FROM @extschema@.pgqrs_archive a
    WHERE a.queue_id = v_queue_id
      AND a.archived_at < v_cutoff
      AND (NOT a.dead_lettered OR coalesce(purge_archive.include_dead_letters, false));
    GET DIAGNOSTICS v_count = ROW_COUNT;
    DELETE FROM @extschema@.pgqrs_dedupe_keys k
    WHERE k.queue_id = v_queue_id AND k.free_at <= clock_timestamp();
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION @extschema@.purge_archive(text, integer, boolean) IS
    'delete a queue''s archived messages, all or older than older_than_seconds (dead letters only if asked); returns how many';
