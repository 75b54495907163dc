-- release(queue_name, msg_id, delay_seconds, worker_id, run_at)
--   Gives a leased message back (a negative acknowledgement): visible again
--   after delay_seconds or at run_at (not both; waiting in pgqrs_delayed), no
--   longer held by any worker. It keeps its priority and its place in line (and a message of a
--   group key its key's place: the key's next messages wait for it). A
--   message that used up its queue's max_attempts goes to the dead letters
--   instead.
--
--   Returns  boolean: false when the message is not leased (or not to
--            worker_id)
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (delay, run_at
--            with a delay)
--   Reads    pgqrs_queues
--   Writes   pgqrs_messages, pgqrs_delayed, pgqrs_archive, pgqrs_cancels, the queue's position
--   Roles    consumer, admin
CREATE FUNCTION @extschema@.release(
    queue_name text,
    msg_id bigint,
    delay_seconds integer DEFAULT 0,
    worker_id bigint DEFAULT NULL,
    run_at timestamptz DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
DECLARE
    v_queue @extschema@.pgqrs_queues;
    v_read_ct integer;
    v_rank bigint;
    v_now timestamptz := clock_timestamp();
    v_vt timestamptz := @extschema@._visible_at(v_now, release.delay_seconds, release.run_at);
BEGIN
    v_queue := @extschema@._queue(release.queue_name);
    SELECT m.read_ct, m.rank INTO v_read_ct, v_rank
    FROM @extschema@.pgqrs_messages m
    WHERE m.queue_id = v_queue.id
      AND m.id = release.msg_id
      AND m.dequeued_at IS NOT NULL
      AND (release.worker_id IS NULL OR m.worker_id = release.worker_id)
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- A message whose cancel is pending ends cancelled instead of coming back.
    IF EXISTS (SELECT FROM @extschema@.pgqrs_cancels c WHERE c.queue_id = v_queue.id AND c.msg_id = release.msg_id) THEN
        PERFORM @extschema@._move_to_archive(v_queue.id, ARRAY[release.msg_id], NULL, false);
        RETURN true;
    END IF;

    IF v_read_ct >= v_queue.max_attempts THEN
        PERFORM @extschema@._move_to_archive(v_queue.id, ARRAY[release.msg_id], NULL, true);
        RETURN true;
    END IF;
    IF v_vt <= v_now THEN
        UPDATE @extschema@.pgqrs_messages m
        SET vt = v_now, dequeued_at = NULL, worker_id = NULL
        WHERE m.queue_id = v_queue.id AND m.id = release.msg_id;
        PERFORM @extschema@._lower_position(v_queue.id, v_rank);
    ELSE
        WITH moved AS (
            DELETE FROM @extschema@.pgqrs_messages m
            WHERE m.queue_id = v_queue.id AND m.id = release.msg_id
            RETURNING m.*
        )
        INSERT INTO @extschema@.pgqrs_delayed
        SELECT m.id, m.queue_id, m.payload, m.enqueued_at, v_vt, m.read_ct, NULL, NULL,
               m.priority, m.group_key, m.rank, m.dedupe_key
        FROM moved m;
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.release(text, bigint, integer, bigint, timestamptz) IS
    'give a leased message back, visible after delay_seconds or at run_at (dead-lettered if it used up max_attempts)';
