-- cancel(queue_name, msg_id)
--   Cancels a message that is not finished. One that no worker holds (ready,
--   delayed, waiting for a retry, or whose lease ran out) moves to the
--   archive as cancelled at once and is never delivered. One in flight is
--   marked: its holder learns it from extend_visibility(), which returns
--   -infinity and no longer extends it (message_status() shows
--   cancel_requested), and whatever ends the lease (archive, complete, delete, release, or the
--   lease running out) ends the message cancelled, never delivered again.
--   Takes the message's row lock, so it waits for a dequeue or an
--   acknowledgement in progress and then acts on what they left.
--
--   Returns  boolean: whether it cancelled (or marked) a message; false when
--            it is finished, unknown, or marked already
--   Errors   PQ001 (no such queue), PQ003 (invalid name)
--   Reads    pgqrs_queues
--   Writes   pgqrs_messages, pgqrs_delayed, pgqrs_archive, pgqrs_cancels
--   Roles    producer, consumer, admin
CREATE FUNCTION @extschema@.cancel(
    queue_name text,
    msg_id bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
DECLARE
    v_queue_id bigint := (@extschema@._queue(cancel.queue_name)).id;
    v_message record;
BEGIN
    -- Three rounds at most: a dequeue may move a delayed message that fell due
    -- into pgqrs_messages while this waits for its row (then the next round finds it).
    FOR v_round IN 1 .. 3 LOOP
        SELECT m.vt, m.dequeued_at, m.worker_id INTO v_message
        FROM @extschema@.pgqrs_messages m
        WHERE m.queue_id = v_queue_id AND m.id = cancel.msg_id
        FOR UPDATE;
        IF FOUND AND v_message.dequeued_at IS NOT NULL AND v_message.vt > clock_timestamp() THEN
            INSERT INTO @extschema@.pgqrs_cancels AS c (queue_id, msg_id, worker_id)
            VALUES (v_queue_id, cancel.msg_id, v_message.worker_id)
            ON CONFLICT ON CONSTRAINT pgqrs_cancels_pkey DO NOTHING;
            RETURN FOUND;
        END IF;
        IF EXISTS (SELECT FROM @extschema@._move_to_archive(v_queue_id, ARRAY[cancel.msg_id], NULL, false, NULL, true)) THEN
            RETURN true;
        END IF;
        EXIT WHEN NOT EXISTS (SELECT FROM @extschema@.pgqrs_messages m
                              WHERE m.queue_id = v_queue_id AND m.id = cancel.msg_id);
    END LOOP;
    RETURN false;
END
$$;
COMMENT ON FUNCTION @extschema@.cancel(text, bigint) IS
    'cancel a message: at once if no worker holds it, else when its lease ends; whether it did';
