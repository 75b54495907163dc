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
COMMENT ON FUNCTION @extschema@._release_worker_messages(bigint, bigint[]) IS
    'internal: makes the messages held by workers visible again';

-- _session_may(function)
--   Whether this session's login role may run the function: how the functions
--   below, which run as their owner, tell a consumer or an admin from a
--   producer (the groups are told apart by what they may run, see grants.sql).
CREATE FUNCTION @extschema@._session_may(p_function regprocedure)
RETURNS boolean
LANGUAGE sql STABLE
AS $$ SELECT pg_catalog.has_function_privilege(session_user, p_function, 'EXECUTE') $$;
COMMENT ON FUNCTION @extschema@._session_may(regprocedure) IS
    'internal: whether the session''s login role may run a function';

-- register_worker(queue_name, hostname, port)
--   Registers an active worker for the queue, owned by this session's login
--   role: only that role heartbeats and leases as it. hostname: 1 to 255
--   characters; port: 0 to 65535, or NULL. Returns its id. Writes
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

-- heartbeat(worker_id)
--   Records that the worker is alive; only from the login role that
--   registered it (PQ008). A worker that was stopped or reaped gets PQ009 and
--   must register again; an unknown one gets PQ008.
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

-- stop_worker(worker_id)
--   Marks an active worker stopped and makes what it still held visible
--   again. The login role that registered it may, and so may a role with the
--   consumer's rights (PQ008 otherwise). Waits for the worker's dequeues in
--   flight (see _worker_lock_class()), so that it gives back their leases
--   too. Returns how many messages it released (0 for a worker that was not
--   active). Writes pgqrs_workers and pgqrs_messages.
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

-- reap_workers(stale_after_seconds, queue_name)
--   Marks the queue's active workers whose last heartbeat is older than
--   stale_after_seconds (at least 5, PQ004) as dead, and makes their messages
--   visible at once. With queue_name NULL, the workers of every queue, which
--   takes the admin's rights (42501 otherwise). A worker whose dequeue is in
--   flight is alive and is left for the next reap (see
--   _worker_lock_class()). Returns how many messages it released. Writes
--   pgqrs_workers and pgqrs_messages.
CREATE FUNCTION @extschema@.reap_workers(stale_after_seconds integer, queue_name text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_queue_id bigint;
    v_dead record;
    v_released bigint := 0;
BEGIN
    PERFORM @extschema@._check_seconds('stale_after_seconds', reap_workers.stale_after_seconds);
    IF reap_workers.stale_after_seconds < 5 THEN
        RAISE EXCEPTION 'stale_after_seconds must be at least 5, got %', reap_workers.stale_after_seconds
            USING ERRCODE = 'PQ004',
                  HINT = 'Stop a worker that is alive with stop_worker().';
    END IF;
    IF reap_workers.queue_name IS NOT NULL THEN
        v_queue_id := (@extschema@._queue(reap_workers.queue_name)).id;
    ELSIF NOT @extschema@._session_may('@extschema@.purge_workers(integer)') THEN
        RAISE EXCEPTION 'reaping the workers of every queue takes the admin''s rights'
            USING ERRCODE = '42501',
                  HINT = 'Pass queue_name to reap one queue''s workers.';
    END IF;
    FOR v_dead IN
        WITH stale AS MATERIALIZED (
            SELECT w.id
            FROM @extschema@.pgqrs_workers w
            WHERE w.status = 'active'
              AND w.heartbeat_at < v_now - reap_workers.stale_after_seconds * interval '1 second'
              AND (v_queue_id IS NULL OR w.queue_id = v_queue_id)
            ORDER BY w.id
        ), idle AS MATERIALIZED (  -- each lock tried once, for stale workers only
            SELECT s.id FROM stale s
            WHERE pg_try_advisory_xact_lock(@extschema@._worker_lock_class(), (s.id % 2147483648)::integer)
        ), reaped AS (
            UPDATE @extschema@.pgqrs_workers w
            SET status = 'dead', stopped_at = v_now
            WHERE w.id IN (SELECT i.id FROM idle i)
              AND w.status = 'active'  -- rechecked on a row changed meanwhile: a late heartbeat saves it
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
COMMENT ON FUNCTION @extschema@.reap_workers(integer, text) IS
    'mark a queue''s (or, for admins, every queue''s) workers without a heartbeat for stale_after_seconds dead and release their messages; returns how many';

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
