-- Acknowledging: finishing, extending or giving back a lease.
--
-- Fencing: with a worker_id these act only on messages leased to that worker.
-- Once the lease ran out and another consumer took the message (or it was
-- released, or its worker stopped or was reaped), the late call returns false
-- (or NULL, or no id) and changes nothing. Without a worker_id they act on the
-- message whoever holds it, delayed messages (which nobody holds) included.

-- delete(queue_name, msg_id, worker_id)
--   Removes a processed message. Returns whether it was there (and, with a
--   worker_id, leased to that worker). Writes pgqrs_messages.
--   One statement on the hot path; the queue is looked up again only to tell
--   an unknown queue (PQ001) from a message that is not there.
CREATE FUNCTION @extschema@.delete(
    queue_name text,
    msg_id bigint,
    worker_id bigint DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
-- DELETE is a reserved word, so the arguments cannot be qualified with the
-- function's name: they win over columns here, and columns are qualified.
#variable_conflict use_variable
BEGIN
    DELETE FROM @extschema@.pgqrs_messages m
    WHERE m.queue_id = (SELECT q.id FROM @extschema@.pgqrs_queues q WHERE q.queue_name = queue_name)
      AND m.id = msg_id
      AND (worker_id IS NULL OR m.worker_id = worker_id);
    IF FOUND THEN
        RETURN true;
    END IF;
    IF worker_id IS NULL THEN
        DELETE FROM @extschema@.pgqrs_delayed d
        WHERE d.queue_id = (SELECT q.id FROM @extschema@.pgqrs_queues q WHERE q.queue_name = queue_name)
          AND d.id = msg_id;
        IF FOUND THEN
            RETURN true;
        END IF;
    END IF;
    PERFORM @extschema@._queue(queue_name);
    RETURN false;
END
$$;
COMMENT ON FUNCTION @extschema@.delete(text, bigint, bigint) IS
    'delete a processed message; false if it is not there (or not leased to worker_id)';

-- delete_batch(queue_name, msg_ids, worker_id)
--   Removes many messages. Returns the ids actually removed. Writes
--   pgqrs_messages.
CREATE FUNCTION @extschema@.delete_batch(
    queue_name text,
    msg_ids bigint[],
    worker_id bigint DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
DECLARE
    v_queue_id bigint := (@extschema@._queue(delete_batch.queue_name)).id;
BEGIN
    PERFORM @extschema@._check_ids('msg_ids', delete_batch.msg_ids);
    RETURN QUERY
    WITH bounds AS (  -- the lowest and highest id bound the index scans (see internal.sql)
        SELECT min(i) AS first, max(i) AS last FROM unnest(delete_batch.msg_ids) i
    ), ready AS (
        DELETE FROM @extschema@.pgqrs_messages m
        WHERE m.queue_id = v_queue_id
          AND m.id BETWEEN (SELECT first FROM bounds) AND (SELECT last FROM bounds)
          AND m.id = ANY (delete_batch.msg_ids)
          AND (delete_batch.worker_id IS NULL OR m.worker_id = delete_batch.worker_id)
        RETURNING m.id
    ), delayed AS (
        -- Only for ids that were not among the visible and leased messages.
        DELETE FROM @extschema@.pgqrs_delayed d
        WHERE delete_batch.worker_id IS NULL
          AND (SELECT count(*) FROM ready) < cardinality(delete_batch.msg_ids)
          AND d.queue_id = v_queue_id
          AND d.id BETWEEN (SELECT first FROM bounds) AND (SELECT last FROM bounds)
          AND d.id = ANY (delete_batch.msg_ids)
        RETURNING d.id
    )
    SELECT r.id FROM ready r UNION ALL SELECT d.id FROM delayed d;
END
$$;
COMMENT ON FUNCTION @extschema@.delete_batch(text, bigint[], bigint) IS
    'delete many messages; returns the ids actually deleted';

-- archive(queue_name, msg_id, worker_id)
--   Moves a processed message to pgqrs_archive, stamping archived_at and the
--   processing duration. Returns whether it moved. Writes pgqrs_messages and
--   pgqrs_archive.
CREATE FUNCTION @extschema@.archive(
    queue_name text,
    msg_id bigint,
    worker_id bigint DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
BEGIN
    RETURN EXISTS (
        SELECT FROM @extschema@._move_to_archive(
            (@extschema@._queue(archive.queue_name)).id, ARRAY[archive.msg_id], archive.worker_id, false));
END
$$;
COMMENT ON FUNCTION @extschema@.archive(text, bigint, bigint) IS
    'move a processed message to the archive; false if it is not there (or not leased to worker_id)';

-- archive_batch(queue_name, msg_ids, worker_id)
--   Moves many messages to the archive. Returns the ids actually moved.
CREATE FUNCTION @extschema@.archive_batch(
    queue_name text,
    msg_ids bigint[],
    worker_id bigint DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
BEGIN
    PERFORM @extschema@._check_ids('msg_ids', archive_batch.msg_ids);
    RETURN QUERY
    SELECT * FROM @extschema@._move_to_archive(
        (@extschema@._queue(archive_batch.queue_name)).id, archive_batch.msg_ids, archive_batch.worker_id, false);
END
$$;
COMMENT ON FUNCTION @extschema@.archive_batch(text, bigint[], bigint) IS
    'move many messages to the archive; returns the ids actually moved';

-- extend_visibility(queue_name, msg_id, seconds, worker_id)
--   Sets the message's visibility time to now + seconds: a longer lease for a
--   slow job, or a new delay for a waiting message. Returns the new vt, or
--   NULL when the message is not there (or not leased to worker_id).
CREATE FUNCTION @extschema@.extend_visibility(
    queue_name text,
    msg_id bigint,
    seconds integer,
    worker_id bigint DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
DECLARE
    v_queue_id bigint;
    v_vt timestamptz;
BEGIN
    PERFORM @extschema@._check_seconds('seconds', extend_visibility.seconds);
    v_queue_id := (@extschema@._queue(extend_visibility.queue_name)).id;
    UPDATE @extschema@.pgqrs_messages m
    SET vt = clock_timestamp() + extend_visibility.seconds * interval '1 second'
    WHERE m.queue_id = v_queue_id
      AND m.id = extend_visibility.msg_id
      AND (extend_visibility.worker_id IS NULL OR m.worker_id = extend_visibility.worker_id)
    RETURNING m.vt INTO v_vt;
    IF v_vt IS NULL AND extend_visibility.worker_id IS NULL THEN
        UPDATE @extschema@.pgqrs_delayed d
        SET vt = clock_timestamp() + extend_visibility.seconds * interval '1 second'
        WHERE d.queue_id = v_queue_id AND d.id = extend_visibility.msg_id
        RETURNING d.vt INTO v_vt;
    END IF;
    RETURN v_vt;
END
$$;
COMMENT ON FUNCTION @extschema@.extend_visibility(text, bigint, integer, bigint) IS
    'set a message''s visibility to now + seconds; returns the new vt, NULL if not there (or not leased to worker_id)';

-- release(queue_name, msg_id, delay_seconds, worker_id)
--   Gives a leased message back (a negative acknowledgement): visible again
--   after delay_seconds (waiting in pgqrs_delayed), no longer held by any
--   worker. A message that used up
--   its queue's max_attempts goes to the dead letters instead. Returns false
--   when the message is not leased (or not to worker_id).
CREATE FUNCTION @extschema@.release(
    queue_name text,
    msg_id bigint,
    delay_seconds integer DEFAULT 0,
    worker_id bigint DEFAULT NULL)
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
BEGIN
    PERFORM @extschema@._check_seconds('delay_seconds', release.delay_seconds);
    v_queue := @extschema@._queue(release.queue_name);
    SELECT m.read_ct INTO v_read_ct
    FROM @extschema@.pgqrs_messages m
    WHERE m.queue_id = v_queue.id
      AND m.id = release.msg_id
      AND m.dequeued_at IS NOT NULL
      AND (release.worker_id IS NULL OR m.worker_id = release.worker_id)
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;

    IF v_read_ct >= v_queue.max_attempts THEN
        PERFORM @extschema@._move_to_archive(v_queue.id, ARRAY[release.msg_id], NULL, true);
        RETURN true;
    END IF;
    IF release.delay_seconds = 0 THEN
        UPDATE @extschema@.pgqrs_messages m
        SET vt = clock_timestamp(), dequeued_at = NULL, worker_id = NULL
        WHERE m.queue_id = v_queue.id AND m.id = release.msg_id;
    ELSE
        WITH moved AS (
            DELETE FROM @extschema@.pgqrs_messages m
            WHERE m.queue_id = v_queue.id AND m.id = release.msg_id
            RETURNING m.*
        )
        INSERT INTO @extschema@.pgqrs_delayed
        SELECT m.id, m.queue_id, m.payload, m.enqueued_at,
               clock_timestamp() + release.delay_seconds * interval '1 second', m.read_ct, NULL, NULL
        FROM moved m;
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.release(text, bigint, integer, bigint) IS
    'give a leased message back, visible after delay_seconds (dead-lettered if it used up max_attempts)';
