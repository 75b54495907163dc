-- replay_dead_letters(queue_name, msg_ids)
--   Moves dead letters back into the queue (all of them when msg_ids is NULL),
--   visible at once, with their ids and payloads and a fresh read_ct of 0.
--   Holds the queue's lock shared, so a purge_queue or drop_queue waits for
--   the move instead of missing the rows on their way (see
--   _queue_lock_class()).
--
--   Returns  SETOF bigint: the ids replayed
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004
--            (multi-dimensional ids), PQ006 (too many ids)
--   Reads    pgqrs_queues
--   Writes   pgqrs_archive, pgqrs_messages, the queue's position
--   Roles    admin
CREATE FUNCTION @extschema@.replay_dead_letters(
    queue_name text,
    msg_ids bigint[] DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_queue_id bigint;
    v_ids bigint[];
BEGIN
    IF replay_dead_letters.msg_ids IS NOT NULL THEN
        PERFORM @extschema@._check_ids('msg_ids', replay_dead_letters.msg_ids);
    END IF;
    PERFORM pg_advisory_xact_lock_shared(@extschema@._queue_lock_class(), hashtext(replay_dead_letters.queue_name));
    v_queue_id := (@extschema@._queue(replay_dead_letters.queue_name)).id;
    WITH revived AS (
        DELETE FROM @extschema@.pgqrs_archive a
        WHERE a.queue_id = v_queue_id
          AND a.dead_lettered
          AND (replay_dead_letters.msg_ids IS NULL OR a.id = ANY (replay_dead_letters.msg_ids))
        RETURNING a.id, a.payload, a.enqueued_at
    ), replayed AS (
        INSERT INTO @extschema@.pgqrs_messages AS m (id, queue_id, payload, enqueued_at, vt)
        SELECT r.id, v_queue_id, r.payload, r.enqueued_at, v_now
        FROM revived r
        RETURNING m.id
    )
    SELECT array_agg(r.id ORDER BY r.id) INTO v_ids FROM replayed r;
    -- Their ids are old: the next dequeues start from the first.
    PERFORM @extschema@._lower_position(v_queue_id, v_ids[1]);
    RETURN QUERY SELECT i FROM unnest(v_ids) i;
END
$$;
COMMENT ON FUNCTION @extschema@.replay_dead_letters(text, bigint[]) IS
    'move dead letters (all, or the given ids) back into the queue with read_ct 0; returns their ids';
