-- Workers: the processes that consume (or produce). A worker heartbeats while
-- it lives; one that stops, or is reaped after its heartbeats stop, gives back
-- every message it held, and its late acknowledgements are refused.

-- _release_worker_messages(queue_id, worker_ids)
--   Makes every message held by these workers visible at once (a lease that
--   already ran out keeps its vt) and clears their worker_id, so the workers'
--   late calls are fenced off. Returns how many messages it released.
CREATE FUNCTION @extschema@._release_worker_messages(p_queue_id bigint, p_worker_ids bigint[])
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_count bigint;
BEGIN
    UPDATE @extschema@.pgqrs_messages m
    SET vt = LEAST(m.vt, v_now),
        dequeued_at = NULL,
        worker_id = NULL
    WHERE m.queue_id = p_queue_id
      AND m.worker_id = ANY (p_worker_ids);
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;

-- register_worker(queue_name, hostname, port)
--   Registers an active worker for the queue. Returns its id. Writes
--   pgqrs_workers.
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
    IF register_worker.port NOT BETWEEN 0 AND 65535 THEN
        RAISE EXCEPTION 'port must be between 0 and 65535, got %', register_worker.port
            USING ERRCODE = 'PQ004';
    END IF;
    INSERT INTO @extschema@.pgqrs_workers AS w (queue_id, hostname, port, started_at, heartbeat_at)
    VALUES ((@extschema@._queue(register_worker.queue_name)).id,
            register_worker.hostname, register_worker.port, v_now, v_now)
    RETURNING w.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION @extschema@.register_worker(text, text, integer) IS
    'register a worker process for a queue; returns its id';

-- heartbeat(worker_id)
--   Records that the worker is alive. A worker that was stopped or reaped gets
--   PQ009 and must register again; an unknown one gets PQ008.
CREATE FUNCTION @extschema@.heartbeat(worker_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    UPDATE @extschema@.pgqrs_workers w
    SET heartbeat_at = clock_timestamp()
    WHERE w.id = heartbeat.worker_id AND w.status = 'active';
    IF NOT FOUND THEN
        PERFORM @extschema@._check_worker(heartbeat.worker_id, NULL);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.heartbeat(bigint) IS
    'record that a worker is alive (PQ009 if it was stopped or reaped)';

-- stop_worker(worker_id)
--   Marks an active worker stopped and makes what it still held visible
--   again. Returns how many messages it released (0 for a worker that was
--   not active). Writes pgqrs_workers and pgqrs_messages.
CREATE FUNCTION @extschema@.stop_worker(worker_id bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_queue_id bigint;
BEGIN
    UPDATE @extschema@.pgqrs_workers w
    SET status = 'stopped', stopped_at = clock_timestamp()
    WHERE w.id = stop_worker.worker_id AND w.status = 'active'
    RETURNING w.queue_id INTO v_queue_id;
    IF NOT FOUND THEN
        IF NOT EXISTS (SELECT FROM @extschema@.pgqrs_workers w WHERE w.id = stop_worker.worker_id) THEN
            RAISE EXCEPTION 'worker % does not exist', stop_worker.worker_id USING ERRCODE = 'PQ008';
        END IF;
        RETURN 0;
    END IF;
    RETURN @extschema@._release_worker_messages(v_queue_id, ARRAY[stop_worker.worker_id]);
END
$$;
COMMENT ON FUNCTION @extschema@.stop_worker(bigint) IS
    'mark a worker stopped and make the messages it held visible again; returns how many';

-- reap_workers(stale_after_seconds)
--   Marks active workers whose last heartbeat is older than
--   stale_after_seconds as dead, and makes their messages visible at once.
--   Returns how many messages it released. Writes pgqrs_workers and
--   pgqrs_messages.
CREATE FUNCTION @extschema@.reap_workers(stale_after_seconds integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_dead record;
    v_released bigint := 0;
BEGIN
    PERFORM @extschema@._check_seconds('stale_after_seconds', reap_workers.stale_after_seconds);
    FOR v_dead IN
        WITH reaped AS (
            UPDATE @extschema@.pgqrs_workers w
            SET status = 'dead', stopped_at = v_now
            WHERE w.status = 'active'
              AND w.heartbeat_at < v_now - reap_workers.stale_after_seconds * interval '1 second'
            RETURNING w.id, w.queue_id
        )
        SELECT r.queue_id, array_agg(r.id) AS worker_ids FROM reaped r GROUP BY r.queue_id
    LOOP
        v_released := v_released
            + @extschema@._release_worker_messages(v_dead.queue_id, v_dead.worker_ids);
    END LOOP;
    RETURN v_released;
END
$$;
COMMENT ON FUNCTION @extschema@.reap_workers(integer) IS
    'mark workers without a heartbeat for stale_after_seconds dead and release their messages; returns how many';

-- purge_workers(older_than_seconds)
--   Deletes the rows of workers stopped or reaped more than
--   older_than_seconds ago. Returns how many. Writes pgqrs_workers.
CREATE FUNCTION @extschema@.purge_workers(older_than_seconds integer DEFAULT 86400)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_count bigint;
BEGIN
    PERFORM @extschema@._check_seconds('older_than_seconds', purge_workers.older_than_seconds);
    DELETE FROM @extschema@.pgqrs_workers w
    WHERE w.status <> 'active'
      AND w.stopped_at < clock_timestamp() - purge_workers.older_than_seconds * interval '1 second';
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION @extschema@.purge_workers(integer) IS
    'delete stopped and dead workers older than older_than_seconds; returns how many';
