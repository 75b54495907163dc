-- Reading one queue's messages and archive, for operators and tools: nothing
-- is leased or changed. An unknown queue raises PQ001, so "no such queue" and
-- "no such message" are told apart in one call.

-- queue_messages(queue_name, qty)
--   Up to qty unfinished messages of the queue (ready, leased or delayed),
--   oldest id first, with their state. Returns SETOF messages (the view's
--   rows). Errors: PQ001, PQ003, PQ004/PQ006 (qty). Reads pgqrs_messages,
--   pgqrs_delayed. Roles: admin.
CREATE FUNCTION @extschema@.queue_messages(
    queue_name text,
    qty integer DEFAULT 100)
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
    RETURN QUERY
    SELECT m.* FROM @extschema@.messages m
    WHERE m.queue_id = v_queue_id
    ORDER BY m.id
    LIMIT queue_messages.qty;
END
$$;
COMMENT ON FUNCTION @extschema@.queue_messages(text, integer) IS
    'up to qty unfinished messages of a queue, oldest first, with their state (nothing is leased)';

-- queue_message(queue_name, msg_id)
--   The unfinished message with that id, with its state: one row, or none.
--   Errors: PQ001, PQ003. Reads pgqrs_messages, pgqrs_delayed. Roles: admin.
CREATE FUNCTION @extschema@.queue_message(
    queue_name text,
    msg_id bigint)
RETURNS SETOF @extschema@.messages
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN QUERY
    SELECT m.* FROM @extschema@.messages m
    WHERE m.queue_id = (@extschema@._queue(queue_message.queue_name)).id
      AND m.id = queue_message.msg_id;
END
$$;
COMMENT ON FUNCTION @extschema@.queue_message(text, bigint) IS
    'the unfinished message of a queue with that id, with its state: one row or none (nothing is leased)';

-- archived_messages(queue_name, qty)
--   Up to qty archived messages of the queue (dead letters too), oldest id
--   first. Errors: PQ001, PQ003, PQ004/PQ006 (qty). Reads pgqrs_archive.
--   Roles: admin.
CREATE FUNCTION @extschema@.archived_messages(
    queue_name text,
    qty integer DEFAULT 100)
RETURNS SETOF @extschema@.pgqrs_archive
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_queue_id bigint;
BEGIN
    PERFORM @extschema@._check_count('qty', archived_messages.qty);
    v_queue_id := (@extschema@._queue(archived_messages.queue_name)).id;
    RETURN QUERY
    SELECT a.* FROM @extschema@.pgqrs_archive a
    WHERE a.queue_id = v_queue_id
    ORDER BY a.id
    LIMIT archived_messages.qty;
END
$$;
COMMENT ON FUNCTION @extschema@.archived_messages(text, integer) IS
    'up to qty archived messages of a queue (dead letters too), oldest first';

-- archived_message(queue_name, msg_id)
--   The archived message with that id: one row, or none. Errors: PQ001,
--   PQ003. Reads pgqrs_archive. Roles: admin.
CREATE FUNCTION @extschema@.archived_message(
    queue_name text,
    msg_id bigint)
RETURNS SETOF @extschema@.pgqrs_archive
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN QUERY
    SELECT a.* FROM @extschema@.pgqrs_archive a
    WHERE a.queue_id = (@extschema@._queue(archived_message.queue_name)).id
      AND a.id = archived_message.msg_id;
END
$$;
COMMENT ON FUNCTION @extschema@.archived_message(text, bigint) IS
    'the archived message of a queue with that id: one row or none';
