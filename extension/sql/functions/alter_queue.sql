-- alter_queue(queue_name, max_attempts, notify, max_payload_bytes, group_concurrency, rate_limit)
--   Changes the settings create_queue takes, by the same names; a NULL
--   argument leaves its setting as it is. max_attempts => 0 removes the
--   delivery limit, rate_limit => 0 the rate limit (a new rate starts with a
--   full bucket). A higher group_concurrency lets waiting messages of each
--   key in at once; a lower one holds the keys' next messages back until
--   fewer are in flight.
--
--   Returns  nothing
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (a setting
--            out of range)
--   Reads    pgqrs_queues
--   Writes   pgqrs_queues, pgqrs_groups, pgqrs_messages, pgqrs_delayed, the
--            queue's token sequence
--   Roles    admin
CREATE FUNCTION @extschema@.alter_queue(
    queue_name text,
    max_attempts integer DEFAULT NULL,
    notify boolean DEFAULT NULL,
    max_payload_bytes integer DEFAULT NULL,
    group_concurrency integer DEFAULT NULL,
    rate_limit double precision DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_old @extschema@.pgqrs_queues;
    v_new @extschema@.pgqrs_queues;
BEGIN
    PERFORM @extschema@._check_queue_settings(nullif(alter_queue.max_attempts, 0), alter_queue.max_payload_bytes,
                                              alter_queue.group_concurrency, nullif(alter_queue.rate_limit, 0));
    SELECT q.* INTO v_old FROM @extschema@.pgqrs_queues q
    WHERE q.id = (@extschema@._queue(alter_queue.queue_name)).id
    FOR UPDATE;
    UPDATE @extschema@.pgqrs_queues q
    SET max_attempts = CASE alter_queue.max_attempts WHEN 0 THEN NULL
                            ELSE coalesce(alter_queue.max_attempts, q.max_attempts) END,
        notify = coalesce(alter_queue.notify, q.notify),
        max_payload_bytes = coalesce(alter_queue.max_payload_bytes, q.max_payload_bytes),
        group_concurrency = coalesce(alter_queue.group_concurrency, q.group_concurrency),
        rate_limit = CASE alter_queue.rate_limit WHEN 0 THEN NULL
                          ELSE coalesce(alter_queue.rate_limit, q.rate_limit) END
    WHERE q.id = v_old.id
    RETURNING q.* INTO v_new;
    IF v_new.rate_limit IS DISTINCT FROM v_old.rate_limit THEN
        PERFORM @extschema@._set_rate_limit(v_new.id, v_new.rate_limit);
    END IF;
    IF v_new.group_concurrency > v_old.group_concurrency THEN  -- room for the keys' waiting messages
        PERFORM @extschema@._refill_groups(v_new.id,
            ARRAY(SELECT g.group_key FROM @extschema@.pgqrs_groups g WHERE g.queue_id = v_new.id), true);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.alter_queue(text, integer, boolean, integer, integer, double precision) IS
    'change a queue''s settings (NULL: unchanged; max_attempts => 0, rate_limit => 0: no limit)';
