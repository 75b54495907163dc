-- metrics_all()
--   Every queue's row of queue_metrics, by name.
--
--   Returns  SETOF queue_metrics
--   Errors   none
--   Reads    pgqrs_queues, pgqrs_messages, pgqrs_delayed, pgqrs_archive
--   Writes   nothing
--   Roles    producer, consumer, admin
CREATE FUNCTION @extschema@.metrics_all()
RETURNS SETOF @extschema@.queue_metrics
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
    SELECT qm.* FROM @extschema@.queue_metrics qm ORDER BY qm.queue_name;
$$;
COMMENT ON FUNCTION @extschema@.metrics_all() IS
    'every queue''s row of queue_metrics, ordered by name';
