-- replay_dead_letters(queue_name, msg_ids)
--   Moves dead letters back into the queue (all of them when msg_ids is NULL),
--   visible at once, with their ids, payloads and priorities and a fresh
--   read_ct of 0. A message of a group key goes back through its key: it takes
--   a place if the key has room, else it is the next of its key to.
--   Holds the queue's lock shared, so a purge_queue or drop_queue waits for
--   the move instead of missing the rows on their way (see
--   _queue_lock_class()).
--
--   Returns  SETOF bigint: the ids replayed
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004
--            (multi-dimensional ids), PQ006 (too many ids)
--   Reads    pgqrs_queues
--   Writes   pgqrs_archive, pgqrs_messages, pgqrs_groups, the queue's position
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
    v_queue @extschema@.pgqrs_queues;
    v_ids bigint[];
    v_payloads jsonb[];
    v_enqueued_at timestamptz[];
    v_priorities integer[];
    v_group_keys text[];
    v_in_line boolean[];
    v_first_rank bigint;
BEGIN
    IF replay_dead_letters.msg_ids IS NOT NULL THEN
        PERFORM @extschema@._check_ids('msg_ids', replay_dead_letters.msg_ids);
    END IF;
    PERFORM pg_advisory_xact_lock_shared(@extschema@._queue_lock_class(), hashtext(replay_dead_letters.queue_name));
    v_queue := @extschema@._queue(replay_dead_letters.queue_name);
    WITH revived AS (
        DELETE FROM @extschema@.pgqrs_archive a
        WHERE a.queue_id = v_queue.id
          AND a.dead_lettered
          AND (replay_dead_letters.msg_ids IS NULL OR a.id = ANY (replay_dead_letters.msg_ids))
        RETURNING a.id, a.payload, a.enqueued_at, a.priority, a.group_key
    )
    SELECT array_agg(r.id ORDER BY r.id), array_agg(r.payload ORDER BY r.id), array_agg(r.enqueued_at ORDER BY r.id),
           array_agg(r.priority ORDER BY r.id), array_agg(r.group_key ORDER BY r.id)
    INTO v_ids, v_payloads, v_enqueued_at, v_priorities, v_group_keys
    FROM revived r;
    -- A message of a group key goes back through its key, as if enqueued again
    -- but with its old id: ahead of the key's other waiting messages.
    v_in_line := @extschema@._admit_batch(v_queue.id, v_queue.group_concurrency, v_group_keys);
    INSERT INTO @extschema@.pgqrs_messages (id, queue_id, payload, enqueued_at, vt, priority, group_key, rank)
    SELECT r.id, v_queue.id, r.payload, r.enqueued_at, v_now, r.priority, r.group_key,
           CASE WHEN r.in_line THEN @extschema@._rank(r.priority, r.id) END
    FROM unnest(v_ids, v_payloads, v_enqueued_at, v_priorities, v_group_keys, v_in_line)
         AS r (id, payload, enqueued_at, priority, group_key, in_line);
    -- Their ids are old: the next dequeues start from the first.
    SELECT min(@extschema@._rank(r.priority, r.id)) INTO v_first_rank
    FROM unnest(v_ids, v_priorities, v_in_line) AS r (id, priority, in_line) WHERE r.in_line;
    PERFORM @extschema@._lower_position(v_queue.id, v_first_rank);
    RETURN QUERY SELECT i FROM unnest(v_ids) i;
END
$$;
COMMENT ON FUNCTION @extschema@.replay_dead_letters(text, bigint[]) IS
    'move dead letters (all, or the given ids) back into the queue with read_ct 0; returns their ids';
