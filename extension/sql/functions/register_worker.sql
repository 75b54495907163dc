-- register_worker(queue_name, hostname, port)
--   Registers an active worker for the queue, owned by this session's login
--   role: only that role heartbeats and leases as it. hostname: 1 to 255
--   characters; port: 0 to 65535, or NULL.
--
--   Returns  bigint: the worker's id
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (hostname,
--            port)
--   Reads    pgqrs_queues
--   Writes   pgqrs_workers
--   Roles    producer, consumer, admin
CREATE FUNCTION @extschema@.register_worker(
    queue_name text,
    hostname text,
    port integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_id bigint;
BEGIN
    IF register_worker.hostname IS NULL OR register_worker.hostname = '' THEN
        RAISE EXCEPTION 'hostname must not be empty' USING ERRCODE = 'PQ004';
    END IF;
    IF length(register_worker.hostname) > 255 THEN
        RAISE EXCEPTION 'hostname must have at most 255 characters, got % ("%")',
                length(register_worker.hostname), @extschema@._shown(register_worker.hostname)
            USING ERRCODE = 'PQ004';
    END IF;
    IF register_worker.port NOT BETWEEN 0 AND 65535 THEN
        RAISE EXCEPTION 'port must be between 0 and 65535, got %', register_worker.port
            USING ERRCODE = 'PQ004';
    END IF;
    INSERT INTO @extschema@.pgqrs_workers AS w (queue_id, hostname, port, started_at, heartbeat_at, registered_by)
    VALUES ((@extschema@._queue(register_worker.queue_name)).id,
            register_worker.hostname, register_worker.port, v_now, v_now, session_user)
    RETURNING w.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION @extschema@.register_worker(text, text, integer) IS
    'register a worker process for a queue, owned by this login role; returns its id';
