-- stop_worker(worker_id)
--   Marks an active worker stopped and makes what it still held visible
--   again. The login role that registered it may, and so may a role with the
--   consumer's rights. Waits for the worker's dequeues in flight (see
--   _worker_lock_class()), so that it gives back their leases too.
--
--   Returns  bigint: how many messages it released (0 for a worker that was
--            not active)
--   Errors   PQ004 (NULL worker_id), PQ008 (unknown, or another role's without
--            the consumer's rights)
--   Reads    pgqrs_workers
--   Writes   pgqrs_workers, pgqrs_messages, the queue's position
--   Roles    producer, consumer, admin
CREATE FUNCTION @extschema@.stop_worker(worker_id bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_worker @extschema@.pgqrs_workers;
BEGIN
    IF stop_worker.worker_id IS NULL THEN
        RAISE EXCEPTION 'worker_id must not be NULL' USING ERRCODE = 'PQ004';
    END IF;
    SELECT w.* INTO v_worker FROM @extschema@.pgqrs_workers w WHERE w.id = stop_worker.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % does not exist', stop_worker.worker_id USING ERRCODE = 'PQ008';
    END IF;
    IF v_worker.registered_by IS DISTINCT FROM session_user::text
       AND NOT @extschema@._session_may('@extschema@.dequeue(text, integer, integer, bigint, integer)') THEN
        RAISE EXCEPTION 'worker % was registered by another role', stop_worker.worker_id
            USING ERRCODE = 'PQ008',
                  HINT = 'Stopping another role''s worker takes the consumer''s rights.';
    END IF;

    PERFORM pg_advisory_xact_lock(@extschema@._worker_lock_class(), (stop_worker.worker_id % 2147483648)::integer);
    -- From here on each statement sees the leases its dequeues committed.
    UPDATE @extschema@.pgqrs_workers w
    SET status = 'stopped', stopped_at = clock_timestamp()
    WHERE w.id = stop_worker.worker_id AND w.status = 'active';
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    RETURN @extschema@._release_worker_messages(v_worker.queue_id, ARRAY[stop_worker.worker_id]);
END
$$;
COMMENT ON FUNCTION @extschema@.stop_worker(bigint) IS
    'mark a worker stopped and make the messages it held visible again; returns how many';
