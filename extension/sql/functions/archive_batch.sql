-- archive_batch(queue_name, msg_ids, worker_id)
--   Moves many messages to the archive: with a worker_id, only those leased to
--   that worker.
--
--   Returns  SETOF bigint: the ids moved
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (NULL or
--            multi-dimensional ids), PQ006 (too many ids)
--   Reads    pgqrs_queues
--   Writes   pgqrs_messages, pgqrs_delayed, pgqrs_archive
--   Roles    consumer, admin
CREATE FUNCTION @extschema@.archive_batch(
    queue_name text,
    msg_ids bigint[],
    worker_id bigint DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
BEGIN
    PERFORM @extschema@._check_ids('msg_ids', archive_batch.msg_ids);
    RETURN QUERY
    SELECT * FROM @extschema@._move_to_archive(
        (@extschema@._queue(archive_batch.queue_name)).id, archive_batch.msg_ids, archive_batch.worker_id, false);
END
$$;
COMMENT ON FUNCTION @extschema@.archive_batch(text, bigint[], bigint) IS
    'move many messages to the archive; returns the ids actually moved';
