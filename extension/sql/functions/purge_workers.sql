-- purge_workers(older_than_seconds)
--   Deletes the rows of workers stopped or reaped more than
--   older_than_seconds ago.
--
--   Returns  bigint: how many it deleted
--   Errors   PQ004 (older_than_seconds)
--   Reads    pgqrs_workers
--   Writes   pgqrs_workers
--   Roles    admin
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
