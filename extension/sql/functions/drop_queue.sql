-- drop_queue(queue_name, force, if_exists)
--   Removes a queue. Without force it refuses while the queue holds
--   messages, archived messages or active workers, or while schedules or
--   topic bindings name it; with force it deletes them too. With if_exists an unknown queue returns false. Waits for enqueues and
--   moves in flight (see _queue_lock_class()).
--
--   Returns  boolean: whether it dropped one
--   Errors   PQ001 (unless if_exists), PQ003 (invalid or NULL name), PQ007
--            (not empty, without force)
--   Reads    every table
--   Writes   every table, the queue's position and token sequences (dropped)
--   Roles    admin
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
    v_position regclass;
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
        IF EXISTS (SELECT FROM @extschema@.pgqrs_schedules s WHERE s.queue_id = v_queue.id)
           OR EXISTS (SELECT FROM @extschema@.pgqrs_topic_bindings b WHERE b.queue_id = v_queue.id) THEN
            RAISE EXCEPTION 'queue "%" has schedules or topic bindings', v_queue.queue_name
                USING ERRCODE = 'PQ007',
                      DETAIL = format('%s schedules and %s topic bindings name it.',
                                      (SELECT count(*) FROM @extschema@.pgqrs_schedules s WHERE s.queue_id = v_queue.id),
                                      (SELECT count(*) FROM @extschema@.pgqrs_topic_bindings b WHERE b.queue_id = v_queue.id)),
                      HINT = 'Drop them (drop_schedule(), unbind_topic()), or pass force => true to drop them with the queue.';
        END IF;
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
    DELETE FROM @extschema@.pgqrs_groups g WHERE g.queue_id = v_queue.id;
    DELETE FROM @extschema@.pgqrs_archive a WHERE a.queue_id = v_queue.id;
    DELETE FROM @extschema@.pgqrs_workers w WHERE w.queue_id = v_queue.id;
    DELETE FROM @extschema@.pgqrs_cancels c WHERE c.queue_id = v_queue.id;
    DELETE FROM @extschema@.pgqrs_dedupe_keys k WHERE k.queue_id = v_queue.id;
    DELETE FROM @extschema@.pgqrs_schedules s WHERE s.queue_id = v_queue.id;
    DELETE FROM @extschema@.pgqrs_topic_bindings b WHERE b.queue_id = v_queue.id;
    DELETE FROM @extschema@.pgqrs_queues q WHERE q.id = v_queue.id;
    v_position := @extschema@._position(v_queue.id);
    IF v_position IS NOT NULL THEN
        EXECUTE format('DROP SEQUENCE %s', v_position);
    END IF;
    PERFORM @extschema@._set_rate_limit(v_queue.id, NULL);
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.drop_queue(text, boolean, boolean) IS
    'remove a queue; refuses (PQ007) while it holds messages, archive or active workers, unless force';
