-- pgqrs 0.1.0 to 0.2.0, for ALTER EXTENSION pgqrs UPDATE (and pgqrs install,
-- which runs it on a direct install). Every change to extension/sql/ since
-- 0.1.0 goes here too, so that an upgraded schema equals a fresh 0.2.0 one.
\echo Use "ALTER EXTENSION pgqrs UPDATE TO '0.2.0'" to load this file. \quit

-- Pausing queues: a paused column, pause_queue() and resume_queue(), a
-- dequeue that honours it, and the column in queue_metrics. The column's
-- constant default fills existing rows without rewriting the table.
ALTER TABLE @extschema@.pgqrs_queues ADD COLUMN paused boolean NOT NULL DEFAULT false;
COMMENT ON TABLE @extschema@.pgqrs_queues IS
    'pgqrs queues; max_attempts is the number of deliveries after which a message is dead-lettered (NULL: no limit); notify: enqueues send a notification on notify_channel(); paused: dequeues deliver nothing';

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

-- dequeue(queue_name, qty, vt_seconds, worker_id, wait_seconds)
--   Leases up to qty visible messages, oldest first, skipping rows other
--   sessions have locked. Each stays invisible for vt_seconds, its read_ct
--   grows by one and it records worker_id. A message whose lease runs out is
--   delivered again; one that has been delivered max_attempts times is moved
--   to the dead letters instead. A worker_id must belong to an active worker
--   of this queue (PQ008, PQ009). With wait_seconds, an empty queue is polled
--   (every 10 ms at first, then up to every 100 ms) until a message comes or
--   the time is up: a long poll for clients that cannot LISTEN. The call
--   holds its snapshot meanwhile, so keep waits short (seconds). A paused
--   queue delivers nothing (see pause_queue()). Writes pgqrs_messages (and
--   pgqrs_delayed, pgqrs_archive).
CREATE OR REPLACE FUNCTION @extschema@.dequeue(
    queue_name text,
    qty integer DEFAULT 1,
    vt_seconds integer DEFAULT 30,
    worker_id bigint DEFAULT NULL,
    wait_seconds integer DEFAULT 0)
RETURNS SETOF @extschema@.pgqrs_messages
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
DECLARE
    v_queue @extschema@.pgqrs_queues;
    v_now timestamptz;
    v_lease interval;
    v_wanted integer;
    v_buried integer := 0;
    v_due bigint[];
    v_due_first bigint;
    v_due_last bigint;
    v_due_until timestamptz;
    v_ids bigint[];
    v_leased integer;
    v_deadline timestamptz;
    v_pause double precision := 0.01;
BEGIN
    -- Tested inline: the helpers, called only to raise, cost a call each.
    IF dequeue.qty IS NULL OR dequeue.qty NOT BETWEEN 1 AND @extschema@.max_batch_size()
       OR dequeue.vt_seconds IS NULL OR dequeue.vt_seconds < 0
       OR dequeue.wait_seconds IS NULL OR dequeue.wait_seconds < 0 THEN
        PERFORM @extschema@._check_count('qty', dequeue.qty);
        PERFORM @extschema@._check_seconds('vt_seconds', dequeue.vt_seconds);
        PERFORM @extschema@._check_seconds('wait_seconds', dequeue.wait_seconds);
    END IF;
    v_queue := @extschema@._queue(dequeue.queue_name);
    IF dequeue.worker_id IS NOT NULL THEN
        PERFORM @extschema@._check_worker(dequeue.worker_id, v_queue);
    END IF;
    v_lease := dequeue.vt_seconds * interval '1 second';
    v_wanted := dequeue.qty;
    v_deadline := clock_timestamp() + dequeue.wait_seconds * interval '1 second';

    -- Runs once, unless asked to wait for an empty queue.
    <<waiting>>
    LOOP
        v_now := clock_timestamp();  -- a parameter, so an index condition below

        -- A paused queue delivers nothing, as if it were empty.
        IF NOT v_queue.paused THEN
            -- Delayed messages that are due join the queue first, ids unchanged, so
            -- they take their place among the visible messages by id. A thousand at
            -- a time at least, so a burst that falls due at once soon is all there.
            -- The picked ids and the latest picked vt bound the delete's index
            -- scan, whichever index it takes (see internal.sql).
            SELECT array_agg(picked.id), min(picked.id), max(picked.id), max(picked.vt)
            INTO v_due, v_due_first, v_due_last, v_due_until
            FROM (
                SELECT x.id, x.vt
                FROM @extschema@.pgqrs_delayed x
                WHERE x.queue_id = v_queue.id AND x.vt <= v_now
                ORDER BY x.vt
                LIMIT greatest(v_wanted, 1000)
                FOR UPDATE SKIP LOCKED
            ) picked;
            IF v_due IS NOT NULL THEN
                WITH due AS (
                    DELETE FROM @extschema@.pgqrs_delayed d
                    WHERE d.queue_id = v_queue.id
                      AND d.id BETWEEN v_due_first AND v_due_last
                      AND d.vt <= v_due_until
                      AND d.id = ANY (v_due)
                    RETURNING d.*
                )
                INSERT INTO @extschema@.pgqrs_messages SELECT * FROM due;
            END IF;

            -- Without a delivery limit this loop runs once. With one, it runs again
            -- while burying dead letters left it short of qty.
            LOOP
                v_now := clock_timestamp();
                IF v_queue.max_attempts IS NOT NULL THEN
                    v_buried := @extschema@._bury_exhausted(v_queue, v_wanted, v_now);
                END IF;

                -- Pick and lock, then lease: the picked ids, oldest first, bound
                -- the update's index scan (see internal.sql). The leased rows
                -- come back oldest first.
                v_ids := ARRAY(
                    SELECT p.id
                    FROM @extschema@.pgqrs_messages p
                    WHERE p.queue_id = v_queue.id
                      AND p.vt <= v_now
                      AND (v_queue.max_attempts IS NULL OR p.read_ct < v_queue.max_attempts)
                    ORDER BY p.id
                    LIMIT v_wanted
                    FOR UPDATE SKIP LOCKED);
                v_leased := 0;
                IF cardinality(v_ids) > 0 THEN
                    RETURN QUERY
                    WITH leased AS (
                        UPDATE @extschema@.pgqrs_messages m
                        SET vt = v_now + v_lease,
                            read_ct = m.read_ct + 1,
                            dequeued_at = v_now,
                            worker_id = dequeue.worker_id
                        WHERE m.queue_id = v_queue.id
                          AND m.id BETWEEN v_ids[1] AND v_ids[cardinality(v_ids)]
                          AND m.id = ANY (v_ids)
                        RETURNING m.*
                    )
                    SELECT * FROM leased ORDER BY leased.id;
                    GET DIAGNOSTICS v_leased = ROW_COUNT;
                END IF;

                v_wanted := v_wanted - v_leased;
                EXIT WHEN v_wanted = 0 OR v_buried = 0;
            END LOOP;
        END IF;

        EXIT waiting WHEN v_wanted < dequeue.qty OR clock_timestamp() >= v_deadline;
        PERFORM pg_sleep(least(v_pause, extract(epoch FROM v_deadline - clock_timestamp())));
        v_pause := least(v_pause * 2, 0.1);
        IF v_queue.paused THEN
            v_queue := @extschema@._queue(dequeue.queue_name);  -- resumed meanwhile?
        END IF;
    END LOOP waiting;
END
$$;
COMMENT ON FUNCTION @extschema@.dequeue(text, integer, integer, bigint, integer) IS
    'lease up to qty visible messages, oldest first, for vt_seconds (FOR UPDATE SKIP LOCKED); wait_seconds: long poll';

-- Plans that do not depend on the table's size when a session made them (see
-- internal.sql): lookups by a list of ids are bounded by the lowest and
-- highest id, pgqrs_delayed is searched only for ids not found among the
-- other messages, and the functions that lease and acknowledge messages
-- take no seq scans or bitmap scans.
CREATE OR REPLACE FUNCTION @extschema@._move_to_archive(
    p_queue_id bigint, p_ids bigint[], p_worker_id bigint, p_dead_lettered boolean)
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_now timestamptz := pg_catalog.clock_timestamp();
BEGIN
    RETURN QUERY
    WITH bounds AS (  -- the lowest and highest id bound the index scans (see above)
        SELECT min(i) AS first, max(i) AS last FROM unnest(p_ids) i
    ), moved AS (
        DELETE FROM @extschema@.pgqrs_messages m
        WHERE m.queue_id = p_queue_id
          AND m.id BETWEEN (SELECT first FROM bounds) AND (SELECT last FROM bounds)
          AND m.id = ANY (p_ids)
          AND (p_worker_id IS NULL OR m.worker_id = p_worker_id)
        RETURNING m.*
    ), moved_delayed AS (
        -- Only for ids that were not among the visible and leased messages.
        DELETE FROM @extschema@.pgqrs_delayed d
        WHERE p_worker_id IS NULL
          AND (SELECT count(*) FROM moved) < cardinality(p_ids)
          AND d.queue_id = p_queue_id
          AND d.id BETWEEN (SELECT first FROM bounds) AND (SELECT last FROM bounds)
          AND d.id = ANY (p_ids)
        RETURNING d.*
    )
    INSERT INTO @extschema@.pgqrs_archive AS a
        (id, queue_id, payload, enqueued_at, vt, read_ct, dequeued_at, worker_id,
         archived_at, processing_duration, dead_lettered)
    SELECT m.id, m.queue_id, m.payload, m.enqueued_at, m.vt, m.read_ct, m.dequeued_at, m.worker_id,
           v_now, v_now - m.dequeued_at, p_dead_lettered
    FROM (SELECT * FROM moved UNION ALL SELECT * FROM moved_delayed) m
    RETURNING a.id;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.delete_batch(
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

ALTER FUNCTION @extschema@.delete(text, bigint, bigint) SET enable_seqscan = off;
ALTER FUNCTION @extschema@.delete(text, bigint, bigint) SET enable_bitmapscan = off;
ALTER FUNCTION @extschema@.archive(text, bigint, bigint) SET enable_seqscan = off;
ALTER FUNCTION @extschema@.archive(text, bigint, bigint) SET enable_bitmapscan = off;
ALTER FUNCTION @extschema@.archive_batch(text, bigint[], bigint) SET enable_seqscan = off;
ALTER FUNCTION @extschema@.archive_batch(text, bigint[], bigint) SET enable_bitmapscan = off;
ALTER FUNCTION @extschema@.extend_visibility(text, bigint, integer, bigint) SET enable_seqscan = off;
ALTER FUNCTION @extschema@.extend_visibility(text, bigint, integer, bigint) SET enable_bitmapscan = off;
ALTER FUNCTION @extschema@.release(text, bigint, integer, bigint) SET enable_seqscan = off;
ALTER FUNCTION @extschema@.release(text, bigint, integer, bigint) SET enable_bitmapscan = off;

-- queue_metrics gains paused as its last column.
CREATE OR REPLACE VIEW @extschema@.queue_metrics AS
SELECT q.queue_name,
       m.ready,
       m.in_flight,
       m.delayed + d.waiting AS delayed,
       a.archived,
       a.dead_lettered,
       statement_timestamp() - m.oldest_ready_at AS oldest_ready_age,
       statement_timestamp() AS measured_at,
       q.paused
FROM @extschema@.pgqrs_queues q
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE m.vt <= statement_timestamp()) AS ready,
           count(*) FILTER (WHERE m.vt > statement_timestamp() AND m.dequeued_at IS NOT NULL) AS in_flight,
           count(*) FILTER (WHERE m.vt > statement_timestamp() AND m.dequeued_at IS NULL) AS delayed,
           min(m.enqueued_at) FILTER (WHERE m.vt <= statement_timestamp()) AS oldest_ready_at
    FROM @extschema@.pgqrs_messages m
    WHERE m.queue_id = q.id
) m
CROSS JOIN LATERAL (
    SELECT count(*) AS waiting FROM @extschema@.pgqrs_delayed d WHERE d.queue_id = q.id
) d
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE NOT a.dead_lettered) AS archived,
           count(*) FILTER (WHERE a.dead_lettered) AS dead_lettered
    FROM @extschema@.pgqrs_archive a
    WHERE a.queue_id = q.id
) a;
COMMENT ON VIEW @extschema@.queue_metrics IS
    'per queue: messages ready, in flight, delayed, archived, dead-lettered, age of the oldest ready message, paused';

REVOKE ALL ON FUNCTION
    @extschema@.pause_queue(text),
    @extschema@.resume_queue(text)
FROM PUBLIC;

-- As in the install script, only where the roles exist.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgqrs_admin') THEN
        GRANT EXECUTE ON FUNCTION
            @extschema@.pause_queue(text),
            @extschema@.resume_queue(text)
            TO pgqrs_admin;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.version()
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT '0.2.0'::text $$;
