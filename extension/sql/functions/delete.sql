-- delete(queue_name, msg_id, worker_id)
--   Removes a processed message: with a worker_id, only while it is leased to
--   that worker. A message of a group key that held a place gives it to the
--   key's next one. The queue's id is looked up once, without raising, for
--   the hot path; _queue() runs only to tell an unknown queue from a message
--   that is not there.
--
--   Returns  boolean: whether it was there (and leased to worker_id)
--   Errors   PQ001 (no such queue), PQ003 (invalid name)
--   Reads    pgqrs_queues
--   Writes   pgqrs_messages, pgqrs_delayed, pgqrs_groups, pgqrs_dedupe_keys; pgqrs_archive and pgqrs_cancels
--            for a message whose cancel is pending (it ends cancelled)
--   Roles    consumer, admin
CREATE FUNCTION @extschema@.delete(
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
-- DELETE is a reserved word, so the arguments cannot be qualified with the
-- function's name: they win over columns here, and columns are qualified.
#variable_conflict use_variable
DECLARE
    v_queue_id bigint := (SELECT q.id FROM @extschema@.pgqrs_queues q WHERE q.queue_name = queue_name);
    v_gone record;  -- what its group key needs to know
BEGIN
    -- A message whose cancel is pending ends in the archive as cancelled instead.
    IF EXISTS (SELECT FROM @extschema@.pgqrs_cancels c WHERE c.queue_id = v_queue_id AND c.msg_id = msg_id) THEN
        RETURN EXISTS (SELECT FROM @extschema@._move_to_archive(v_queue_id, ARRAY[msg_id], worker_id, false));
    END IF;
    DELETE FROM @extschema@.pgqrs_messages m
    WHERE m.queue_id = v_queue_id
      AND m.id = msg_id
      AND (worker_id IS NULL OR m.worker_id = worker_id)
    RETURNING m.group_key, m.rank, m.dedupe_key INTO v_gone;
    IF NOT FOUND AND worker_id IS NULL THEN
        DELETE FROM @extschema@.pgqrs_delayed d
        WHERE d.queue_id = v_queue_id AND d.id = msg_id
        RETURNING d.group_key, d.rank, d.dedupe_key INTO v_gone;
    END IF;
    IF FOUND THEN
        IF v_gone.group_key IS NOT NULL AND v_gone.rank IS NOT NULL THEN  -- it held a place
            PERFORM @extschema@._refill_groups(v_queue_id, ARRAY[v_gone.group_key]);
        END IF;
        IF v_gone.dedupe_key IS NOT NULL THEN
            PERFORM @extschema@._free_dedupe_keys(v_queue_id, ARRAY[msg_id], ARRAY[v_gone.dedupe_key], ARRAY[true]);
        END IF;
        RETURN true;
    END IF;
    PERFORM @extschema@._queue(queue_name);  -- raises for an unknown queue
    RETURN false;
END
$$;
COMMENT ON FUNCTION @extschema@.delete(text, bigint, bigint) IS
    'delete a processed message; false if it is not there (or not leased to worker_id)';
