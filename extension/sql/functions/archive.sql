-- archive(queue_name, msg_id, worker_id)
--   Moves a processed message to pgqrs_archive, stamping archived_at and the
--   processing duration: with a worker_id, only while it is leased to that
--   worker.
--
--   Returns  boolean: whether it moved
--   Errors   PQ001 (no such queue), PQ003 (invalid name)
--   Reads    pgqrs_queues
--   Writes   pgqrs_messages, pgqrs_delayed, pgqrs_archive
--   Roles    consumer, admin
CREATE FUNCTION @extschema@.archive(
    queue_name text,
    msg_id bigint,
    worker_id bigint DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
BEGIN
    RETURN EXISTS (
        SELECT FROM @extschema@._move_to_archive(
            (@extschema@._queue(archive.queue_name)).id, ARRAY[archive.msg_id], archive.worker_id, false));
END
$$;
COMMENT ON FUNCTION @extschema@.archive(text, bigint, bigint) IS
    'move a processed message to the archive; false if it is not there (or not leased to worker_id)';
