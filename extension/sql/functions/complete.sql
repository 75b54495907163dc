-- complete(queue_name, msg_id, result, worker_id)
--   Moves a processed message to pgqrs_archive with its result, as
--   archive() does: with a worker_id, only while it is leased to that
--   worker. The result is any JSON value (NULL: none) of at most the queue's
--   max_payload_bytes; message_status() and wait_for() return it. A message
--   whose cancel is pending ends cancelled instead, without the result.
--
--   Returns  boolean: whether it moved
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ005 (result too
--            large)
--   Reads    pgqrs_queues
--   Writes   pgqrs_messages, pgqrs_delayed, pgqrs_archive, pgqrs_cancels
--   Roles    consumer, admin
CREATE FUNCTION @extschema@.complete(
    queue_name text,
    msg_id bigint,
    result jsonb DEFAULT NULL,
    worker_id bigint DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
DECLARE
    v_queue @extschema@.pgqrs_queues := @extschema@._queue(complete.queue_name);
BEGIN
    IF pg_column_size(complete.result) > v_queue.max_payload_bytes THEN
        PERFORM @extschema@._payload_too_large(v_queue.queue_name, v_queue.max_payload_bytes, 'result',
                                              pg_column_size(complete.result));
    END IF;
    RETURN EXISTS (
        SELECT FROM @extschema@._move_to_archive(
            v_queue.id, ARRAY[complete.msg_id], complete.worker_id, false, complete.result));
END
$$;
COMMENT ON FUNCTION @extschema@.complete(text, bigint, jsonb, bigint) IS
    'move a processed message to the archive with its result; false if it is not there (or not leased to worker_id)';
