-- queue_messages(queue_name, qty, newest_first)
--   Up to qty unfinished messages of the queue (ready, leased or delayed),
--   oldest id first (where the leased ones are), or with newest_first the
--   most recently enqueued first, with their state; nothing is leased.
--
--   Returns  SETOF messages (the view's rows)
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (qty below 1),
--            PQ006 (qty above max_batch_size())
--   Reads    pgqrs_queues, pgqrs_messages, pgqrs_delayed
--   Writes   nothing
--   Roles    admin
CREATE FUNCTION @extschema@.queue_messages(
    queue_name text,
    qty integer DEFAULT 100,
    newest_first boolean DEFAULT false)
RETURNS SETOF @extschema@.messages
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_queue_id bigint;
BEGIN
    PERFORM @extschema@._check_count('qty', queue_messages.qty);
    v_queue_id := (@extschema@._queue(queue_messages.queue_name)).id;
    -- Two statements, so that each reads the index in its own direction.
    IF coalesce(queue_messages.newest_first, false) THEN
        RETURN QUERY
        SELECT m.* FROM @extschema@.messages m
        WHERE m.queue_id = v_queue_id
        ORDER BY m.id DESC
        LIMIT queue_messages.qty;
    ELSE
        RETURN QUERY
        SELECT m.* FROM @extschema@.messages m
        WHERE m.queue_id = v_queue_id
        ORDER BY m.id
        LIMIT queue_messages.qty;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.queue_messages(text, integer, boolean) IS
    'up to qty unfinished messages of a queue, oldest (or newest) first, with their state (nothing is leased)';
