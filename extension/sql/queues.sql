-- Queue lifecycle.

-- create_queue(queue_name, max_attempts, if_not_exists, notify, max_payload_bytes)
--   Creates a queue and returns its id. An existing name raises PQ002, or with
--   if_not_exists returns the existing queue's id (its settings unchanged).
--   max_attempts: deliveries after which a message is dead-lettered (NULL: no
--   limit). notify: every enqueue of ready messages sends one notification on
--   notify_channel(queue_name), so listening workers wake up at once.
--   max_payload_bytes: the largest payload an enqueue accepts, as stored
--   (pg_column_size of the jsonb value; default 1 MiB).
--   Writes pgqrs_queues.
CREATE FUNCTION @extschema@.create_queue(
    queue_name text,
    max_attempts integer DEFAULT NULL,
    if_not_exists boolean DEFAULT false,
    notify boolean DEFAULT false,
    max_payload_bytes integer DEFAULT 1048576)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_id bigint;
BEGIN
    PERFORM @extschema@._check_queue_name(create_queue.queue_name);
    PERFORM @extschema@._check_queue_settings(create_queue.max_attempts, create_queue.max_payload_bytes);

    -- ON CONFLICT waits for a concurrent create of the same name to finish.
    INSERT INTO @extschema@.pgqrs_queues AS q (queue_name, max_attempts, notify, max_payload_bytes)
    VALUES (create_queue.queue_name, create_queue.max_attempts, coalesce(create_queue.notify, false),
            coalesce(create_queue.max_payload_bytes, 1048576))
    ON CONFLICT ON CONSTRAINT pgqrs_queues_queue_name_key DO NOTHING
    RETURNING q.id INTO v_id;
    IF v_id IS NOT NULL THEN
        RETURN v_id;
    END IF;

    IF NOT coalesce(create_queue.if_not_exists, false) THEN
        RAISE EXCEPTION 'queue "%" already exists', create_queue.queue_name
            USING ERRCODE = 'PQ002',
                  HINT = 'Pass if_not_exists => true to reuse it.';
    END IF;
    RETURN (@extschema@._queue(create_queue.queue_name)).id;
END
$$;
COMMENT ON FUNCTION @extschema@.create_queue(text, integer, boolean, boolean, integer) IS
    'create a queue; returns its id (PQ002 if it exists, unless if_not_exists)';

-- _check_queue_settings(max_attempts, max_payload_bytes)
--   The settings create_queue and alter_queue take: at least 1 each (PQ004).
CREATE FUNCTION @extschema@._check_queue_settings(p_max_attempts integer, p_max_payload_bytes integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF p_max_attempts < 1 THEN
        RAISE EXCEPTION 'max_attempts must be at least 1 (or NULL for no limit), got %', p_max_attempts
            USING ERRCODE = 'PQ004';
    END IF;
    IF p_max_payload_bytes < 1 THEN
        RAISE EXCEPTION 'max_payload_bytes must be at least 1, got %', p_max_payload_bytes
            USING ERRCODE = 'PQ004';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_queue_settings(integer, integer) IS
    'internal: raises PQ004 for bad queue settings';

-- alter_queue(queue_name, max_attempts, notify, max_payload_bytes)
--   Changes the settings create_queue takes, by the same names; a NULL
--   argument leaves its setting as it is. max_attempts => 0 removes the
--   delivery limit. Returns nothing. Writes pgqrs_queues.
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

-- set_queue_notify(queue_name, notify)
--   Turns the queue's enqueue notifications on or off. Writes pgqrs_queues.
CREATE FUNCTION @extschema@.set_queue_notify(queue_name text, notify boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF set_queue_notify.notify IS NULL THEN
        RAISE EXCEPTION 'notify must be true or false, not NULL' USING ERRCODE = 'PQ004';
    END IF;
    UPDATE @extschema@.pgqrs_queues q
    SET notify = set_queue_notify.notify
    WHERE q.id = (@extschema@._queue(set_queue_notify.queue_name)).id;
END
$$;
COMMENT ON FUNCTION @extschema@.set_queue_notify(text, boolean) IS
    'turn a queue''s enqueue notifications on or off';

-- pause_queue(queue_name)
--   Stops deliveries: dequeue() returns nothing from a paused queue (a long
--   poll waits as on an empty one), while enqueues, acknowledgements of
--   messages already leased, and lease expiry go on as before. For deploys and
--   incidents. Writes pgqrs_queues.
CREATE FUNCTION @extschema@.pause_queue(queue_name text)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
    UPDATE @extschema@.pgqrs_queues q
    SET paused = true
    WHERE q.id = (@extschema@._queue(pause_queue.queue_name)).id;
$$;
COMMENT ON FUNCTION @extschema@.pause_queue(text) IS
    'stop deliveries from a queue until resume_queue (enqueues still accepted)';

-- resume_queue(queue_name)
--   Delivers again from a paused queue, and wakes its listening workers when
--   the queue sends notifications. Writes pgqrs_queues.
CREATE FUNCTION @extschema@.resume_queue(queue_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_queue @extschema@.pgqrs_queues;
BEGIN
    v_queue := @extschema@._queue(resume_queue.queue_name);
    UPDATE @extschema@.pgqrs_queues q SET paused = false WHERE q.id = v_queue.id;
    IF v_queue.paused AND v_queue.notify THEN
        PERFORM pg_catalog.pg_notify(@extschema@._notify_channel(v_queue.id), '');
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.resume_queue(text) IS
    'deliver again from a paused queue';

-- notify_channel(queue_name)
--   The channel to LISTEN on for the queue's notifications. It names the
--   schema by oid and the queue by id: short, and unique in the database
--   whatever the names.
CREATE FUNCTION @extschema@.notify_channel(queue_name text)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN @extschema@._notify_channel((@extschema@._queue(notify_channel.queue_name)).id);
END
$$;
COMMENT ON FUNCTION @extschema@.notify_channel(text) IS
    'the channel to LISTEN on for a queue''s enqueue notifications';

-- drop_queue(queue_name, force, if_exists)
--   Removes a queue. Without force it refuses (PQ007) while the queue holds
--   messages, archived messages or active workers; with force it deletes them
--   too. An unknown queue raises PQ001, or with if_exists returns false.
--   Writes every table.
CREATE FUNCTION @extschema@.drop_queue(
    queue_name text,
    force boolean DEFAULT false,
    if_exists boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_queue @extschema@.pgqrs_queues;
    v_messages bigint;
    v_archived bigint;
    v_workers bigint;
BEGIN
    IF drop_queue.queue_name IS NULL THEN
        PERFORM @extschema@._check_queue_name(NULL);  -- if_exists does not excuse a NULL name
    END IF;
    -- Waits for enqueues and moves in flight and keeps new ones out (see _queue_lock_class()).
    PERFORM pg_advisory_xact_lock(@extschema@._queue_lock_class(), hashtext(drop_queue.queue_name));
    SELECT q.* INTO v_queue
    FROM @extschema@.pgqrs_queues q
    WHERE q.queue_name = drop_queue.queue_name
    FOR UPDATE;
    IF NOT FOUND THEN
        IF coalesce(drop_queue.if_exists, false) THEN
            RETURN false;
        END IF;
        PERFORM @extschema@._queue(drop_queue.queue_name);
    END IF;

    IF NOT coalesce(drop_queue.force, false) THEN
        SELECT (SELECT count(*) FROM @extschema@.pgqrs_messages m WHERE m.queue_id = v_queue.id)
             + (SELECT count(*) FROM @extschema@.pgqrs_delayed d WHERE d.queue_id = v_queue.id)
        INTO v_messages;
        SELECT count(*) INTO v_archived FROM @extschema@.pgqrs_archive a WHERE a.queue_id = v_queue.id;
        SELECT count(*) INTO v_workers FROM @extschema@.pgqrs_workers w
        WHERE w.queue_id = v_queue.id AND w.status = 'active';
        IF v_messages + v_archived + v_workers > 0 THEN
            RAISE EXCEPTION 'queue "%" is not empty', v_queue.queue_name
                USING ERRCODE = 'PQ007',
                      DETAIL = format('It holds %s messages, %s archived messages and %s active workers.',
                                      v_messages, v_archived, v_workers),
                      HINT = 'Pass force => true to drop it with everything it holds.';
        END IF;
    END IF;

    DELETE FROM @extschema@.pgqrs_messages m WHERE m.queue_id = v_queue.id;
    DELETE FROM @extschema@.pgqrs_delayed d WHERE d.queue_id = v_queue.id;
    DELETE FROM @extschema@.pgqrs_archive a WHERE a.queue_id = v_queue.id;
    DELETE FROM @extschema@.pgqrs_workers w WHERE w.queue_id = v_queue.id;
    DELETE FROM @extschema@.pgqrs_queues q WHERE q.id = v_queue.id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.drop_queue(text, boolean, boolean) IS
    'remove a queue; refuses (PQ007) while it holds messages, archive or active workers, unless force';

-- purge_queue(queue_name)
--   Deletes every message of the queue, ready, leased or delayed (not the
--   archive). Returns how many. Waits, as drop_queue does, for enqueues and
--   for moves between tables in flight (due delayed messages, replayed dead
--   letters), so that no message is missed on its way. Writes pgqrs_messages
--   and pgqrs_delayed.
CREATE FUNCTION @extschema@.purge_queue(queue_name text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_queue @extschema@.pgqrs_queues := @extschema@._queue(purge_queue.queue_name);
    v_ready bigint;
    v_delayed bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(@extschema@._queue_lock_class(), hashtext(v_queue.queue_name));
    -- The deletes below start after the lock, so they see every move that committed before it.
    DELETE FROM @extschema@.pgqrs_messages m WHERE m.queue_id = v_queue.id;
    GET DIAGNOSTICS v_ready = ROW_COUNT;
    DELETE FROM @extschema@.pgqrs_delayed d WHERE d.queue_id = v_queue.id;
    GET DIAGNOSTICS v_delayed = ROW_COUNT;
    RETURN v_ready + v_delayed;
END
$$;
COMMENT ON FUNCTION @extschema@.purge_queue(text) IS
    'delete all messages of a queue (not its archive); returns how many';
