-- metrics(queue_name)
--   The queue's row of queue_metrics.
--
--   Returns  queue_metrics
--   Errors   PQ001 (no such queue), PQ003 (invalid name)
--   Reads    pgqrs_queues, pgqrs_messages, pgqrs_delayed, pgqrs_archive
--   Writes   nothing
--   Roles    producer, consumer, admin
CREATE FUNCTION @extschema@.metrics(queue_name text)
RETURNS @extschema@.queue_metrics
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_row @extschema@.queue_metrics;
BEGIN
    PERFORM @extschema@._queue(metrics.queue_name);
    SELECT qm.* INTO v_row FROM @extschema@.queue_metrics qm WHERE qm.queue_name = metrics.queue_name;
    RETURN v_row;
END
$$;
COMMENT ON FUNCTION @extschema@.metrics(text) IS
    'one queue''s row of queue_metrics';
