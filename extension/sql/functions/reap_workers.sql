-- reap_workers(stale_after_seconds, queue_name)
--   Marks the queue's active workers whose last heartbeat is older than
--   stale_after_seconds as dead, and makes their messages visible at once.
--   With queue_name NULL, the workers of every queue, which takes the admin's
--   rights. A worker whose dequeue is in flight is alive and is left for the
--   next reap (see _worker_lock_class()).
--
--   Returns  bigint: how many messages it released
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004
--            (stale_after_seconds below 5), 42501 (every queue without the
--            admin's rights)
--   Reads    pgqrs_queues, pgqrs_workers
--   Writes   pgqrs_workers, pgqrs_messages, the queue's position
--   Roles    consumer, admin
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
