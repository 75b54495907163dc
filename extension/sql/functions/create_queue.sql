-- create_queue(queue_name, max_attempts, if_not_exists, notify, max_payload_bytes,
--              group_concurrency, rate_limit)
--   Creates a queue. An existing name raises PQ002, or with if_not_exists
--   returns the existing queue's id (its settings unchanged). max_attempts:
--   deliveries after which a message is dead-lettered (NULL: no limit).
--   notify: every enqueue of ready messages sends one notification on
--   notify_channel(queue_name), so listening workers wake up at once.
--   max_payload_bytes: the largest payload an enqueue accepts, as stored
--   (pg_column_size of the jsonb value; default 1 MiB). group_concurrency:
--   messages of one group key in flight at once (see enqueue()). rate_limit:
--   deliveries a second over all sessions (NULL: no limit; see dequeue()).
--
--   Returns  bigint: the queue's id
--   Errors   PQ002 (exists), PQ003 (invalid name), PQ004 (a setting out of range)
--   Reads    pgqrs_queues
--   Writes   pgqrs_queues, the queue's position and token sequences (made)
--   Roles    admin
CREATE FUNCTION @extschema@.create_queue(
    queue_name text,
    max_attempts integer DEFAULT NULL,
    if_not_exists boolean DEFAULT false,
    notify boolean DEFAULT false,
    max_payload_bytes integer DEFAULT 1048576,
    group_concurrency integer DEFAULT 1,
    rate_limit double precision DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_id bigint;
BEGIN
    PERFORM @extschema@._check_queue_name(create_queue.queue_name);
    PERFORM @extschema@._check_queue_settings(create_queue.max_attempts, create_queue.max_payload_bytes,
                                              create_queue.group_concurrency, create_queue.rate_limit);

    -- ON CONFLICT waits for a concurrent create of the same name to finish.
    INSERT INTO @extschema@.pgqrs_queues AS q
        (queue_name, max_attempts, notify, max_payload_bytes, group_concurrency, rate_limit)
    VALUES (create_queue.queue_name, create_queue.max_attempts, coalesce(create_queue.notify, false),
            coalesce(create_queue.max_payload_bytes, 1048576), coalesce(create_queue.group_concurrency, 1),
            create_queue.rate_limit)
    ON CONFLICT ON CONSTRAINT pgqrs_queues_queue_name_key DO NOTHING
    RETURNING q.id INTO v_id;
    IF v_id IS NOT NULL THEN
        PERFORM @extschema@._create_position(v_id);
        PERFORM @extschema@._set_rate_limit(v_id, create_queue.rate_limit);
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
COMMENT ON FUNCTION @extschema@.create_queue(text, integer, boolean, boolean, integer, integer, double precision) IS
    'create a queue; returns its id (PQ002 if it exists, unless if_not_exists)';
