-- heartbeat(worker_id)
--   Records that the worker is alive; only from the login role that
--   registered it. A worker that was stopped or reaped must register again.
--
--   Returns  nothing
--   Errors   PQ004 (NULL worker_id), PQ008 (unknown, or another role's), PQ009
--            (stopped or reaped)
--   Reads    pgqrs_workers
--   Writes   pgqrs_workers
--   Roles    producer, consumer, admin
CREATE FUNCTION @extschema@.heartbeat(worker_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    UPDATE @extschema@.pgqrs_workers w
    SET heartbeat_at = clock_timestamp()
    WHERE w.id = heartbeat.worker_id AND w.status = 'active'
      AND (w.registered_by = session_user OR w.registered_by IS NULL);
    IF NOT FOUND THEN
        PERFORM @extschema@._check_worker(heartbeat.worker_id, NULL);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.heartbeat(bigint) IS
    'record that a worker is alive (PQ009 if it was stopped or reaped)';
