-- alter_queue(queue_name, max_attempts, notify, max_payload_bytes)
--   Changes the settings create_queue takes, by the same names; a NULL
--   argument leaves its setting as it is. max_attempts => 0 removes the
--   delivery limit.
--
--   Returns  nothing
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (a setting
--            below 1)
--   Reads    pgqrs_queues
--   Writes   pgqrs_queues
--   Roles    admin
CREATE FUNCTION @extschema@.alter_queue(
    queue_name text,
    max_attempts integer DEFAULT NULL,
    notify boolean DEFAULT NULL,
    max_payload_bytes integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    PERFORM @extschema@._check_queue_settings(nullif(alter_queue.max_attempts, 0), alter_queue.max_payload_bytes);
    UPDATE @extschema@.pgqrs_queues q
    SET max_attempts = CASE alter_queue.max_attempts WHEN 0 THEN NULL
                            ELSE coalesce(alter_queue.max_attempts, q.max_attempts) END,
        notify = coalesce(alter_queue.notify, q.notify),
        max_payload_bytes = coalesce(alter_queue.max_payload_bytes, q.max_payload_bytes)
    WHERE q.id = (@extschema@._queue(alter_queue.queue_name)).id;
END
$$;
COMMENT ON FUNCTION @extschema@.alter_queue(text, integer, boolean, integer) IS
    'change a queue''s settings (NULL: unchanged; max_attempts => 0: no delivery limit)';
