-- pgqrs 0.2.0 to 0.3.0, for ALTER EXTENSION pgqrs UPDATE (and pgqrs install,
-- which runs it on a direct install). Every change to extension/sql/ since
-- 0.2.0 goes here too, so that an upgraded schema equals a fresh 0.3.0 one.
\echo Use "ALTER EXTENSION pgqrs UPDATE TO '0.3.0'" to load this file. \quit

-- Tables: two new columns, each with a constant default or none (no rewrite).
ALTER TABLE @extschema@.pgqrs_queues
    ADD COLUMN max_payload_bytes integer NOT NULL DEFAULT 1048576 CHECK (max_payload_bytes >= 1);
COMMENT ON TABLE @extschema@.pgqrs_queues IS
    'pgqrs queues; max_attempts is the number of deliveries after which a message is dead-lettered (NULL: no limit); notify: enqueues send a notification on notify_channel(); paused: dequeues deliver nothing; max_payload_bytes: the largest payload an enqueue accepts (pg_column_size of the jsonb)';
-- Workers registered before the upgrade keep registered_by NULL: any role may
-- still act for them, so that running workers go on across the upgrade.
ALTER TABLE @extschema@.pgqrs_workers ADD COLUMN registered_by text;
COMMENT ON COLUMN @extschema@.pgqrs_workers.registered_by IS
    'the login role (session_user) that registered the worker: only it heartbeats and leases as the worker (NULL: registered before 0.3.0, by any role)';

-- Functions whose arguments or result changed: dropped, then made again below.
DROP FUNCTION @extschema@.create_queue(text, integer, boolean, boolean);
DROP FUNCTION @extschema@.reap_workers(integer);
DROP FUNCTION @extschema@._queue_for_enqueue(text, boolean);

-- Every function and view as 0.3.0 has it (copied from extension/sql/, in the
-- order of fragments.txt), then the grants of this install's roles.
-- Internal helpers, shared by the public functions.
--
-- Every public function is SECURITY DEFINER and sets two things:
--   search_path = pg_catalog, pg_temp      so no caller's objects can stand in
--                                           for the ones it uses;
--   plan_cache_mode = force_generic_plan   every statement inside filters on a
--       key (queue_id, id, name), and its generic plan is the right one; left
--       to choose, the plan cache re-planned the dequeue's UPDATE on every call
--       (an empty dequeue took 55 us instead of 24 us).
-- The functions that lease and acknowledge messages (dequeue, delete, archive,
-- release, extend_visibility, and the batch forms) also set enable_seqscan
-- and enable_bitmapscan off, and bound every lookup by a list of ids with the
-- lowest and highest of them ("id BETWEEN first AND last"). Why: a session
-- keeps its generic plans until the table's statistics change, and workers
-- start before the work comes. Planned while pgqrs_messages was empty, a seq
-- scan cost nothing and "queue_id = $1 AND id = ANY ($2)" became a scan of the
-- whole queue filtered on id: the backlog that came later was read row by row
-- on every call. Range conditions, unlike "= ANY", always go into the index
-- scan's bounds, so with only index scans to choose from every plan reads the
-- few entries it needs, whatever the table's size when it was made. On
-- pgqrs_delayed, whose two indexes an empty table makes look alike, the
-- lookups by id run only for ids not found among the other messages.
-- `bench/bench.py --only burst` measures it: consumers started on empty
-- tables, then 400,000 messages.
--
-- The helpers here (names starting with "_") are neither: they run inside the
-- public functions, which pin both. EXECUTE on them is revoked from PUBLIC in
-- grants.sql. The hottest functions test their arguments inline and call the
-- _check_ helpers only to raise, since each call costs microseconds.
--
-- Errors use pgqrs's own SQLSTATEs (class PQ), listed in the README:
--   PQ001 queue not found      PQ004 invalid argument   PQ007 queue not empty
--   PQ002 queue exists         PQ005 invalid payload    PQ008 worker not found
--   PQ003 invalid queue name   PQ006 batch too large    PQ009 worker not active
--   PQ010 role conflict (an install met group roles it may not use)

-- max_batch_size()
--   The largest number of payloads, ids or messages one call takes or returns.
CREATE OR REPLACE FUNCTION @extschema@.max_batch_size()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 10000 $$;
COMMENT ON FUNCTION @extschema@.max_batch_size() IS
    'largest number of payloads, ids or messages that one pgqrs call accepts (PQ006 above it)';

-- _queue(name)
--   The queue's row. Raises PQ001 when there is no such queue. Names are only
--   ever compared with stored names, never spliced into SQL.
CREATE OR REPLACE FUNCTION @extschema@._queue(p_queue_name text)
RETURNS @extschema@.pgqrs_queues
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_queue @extschema@.pgqrs_queues;
BEGIN
    SELECT q.* INTO v_queue
    FROM @extschema@.pgqrs_queues q
    WHERE q.queue_name = p_queue_name;
    IF NOT FOUND THEN
        PERFORM @extschema@._check_queue_name(p_queue_name);
        RAISE EXCEPTION 'queue "%" does not exist', @extschema@._shown(p_queue_name)
            USING ERRCODE = 'PQ001',
                  HINT = 'Create it with create_queue(), or list queues in queue_metrics.';
    END IF;
    RETURN v_queue;
END
$$;
COMMENT ON FUNCTION @extschema@._queue(text) IS
    'internal: the queue''s row (PQ001 if there is none)';

-- _queue_lock_class()
--   The first key of the transaction-level advisory lock on a queue name (the
--   second is hashtext(name)). Enqueues take it shared before they look the
--   queue up, and so do the moves of messages from one table to another that
--   a purge could miss (a dequeue moving due delayed messages, which only
--   tries, and replay_dead_letters); drop_queue and purge_queue take it
--   exclusive. So a queue is never dropped or purged under an enqueue or a
--   move in flight, and an enqueue that waited finds the queue gone instead
--   of writing a message nobody can see. The constant ('pgqr') keeps
--   these locks apart from an application's own; being an IMMUTABLE SQL
--   function, it is folded into the calling statement.
CREATE OR REPLACE FUNCTION @extschema@._queue_lock_class()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 1886482802 $$;
COMMENT ON FUNCTION @extschema@._queue_lock_class() IS
    'internal: first key of the advisory lock on a queue name';

-- _worker_lock_class()
--   The first key of the transaction-level advisory lock on a worker id. A
--   dequeue that leases for a worker holds it shared until its transaction
--   ends; stop_worker takes it exclusive and reap_workers tries to: so a
--   worker is never stopped while a lease it took is not yet committed, which
--   its stop could not see and so could not give back. The second key is the
--   id modulo 2^31 (the two-key form takes integers).
CREATE OR REPLACE FUNCTION @extschema@._worker_lock_class()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 1886482803 $$;
COMMENT ON FUNCTION @extschema@._worker_lock_class() IS
    'internal: first key of the advisory lock on a worker id';

-- _shown(value)
--   A user-supplied value as error messages quote it: its first 64
--   characters, so that a huge argument is not echoed back whole.
CREATE OR REPLACE FUNCTION @extschema@._shown(p_value text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN pg_catalog.length(p_value) > 64
                THEN pg_catalog."left"(p_value, 64) OPERATOR(pg_catalog.||) '...'
                ELSE p_value END
$$;
COMMENT ON FUNCTION @extschema@._shown(text) IS
    'internal: a value as error messages quote it (64 characters at most)';

-- _notify_channel(queue_id)
--   The notification channel of a queue (see notify_channel()).
CREATE OR REPLACE FUNCTION @extschema@._notify_channel(p_queue_id bigint)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 'pgqrs_' || '@extschema@'::regnamespace::oid || '_' || p_queue_id $$;
COMMENT ON FUNCTION @extschema@._notify_channel(bigint) IS
    'internal: the notification channel of a queue id';

-- _check_queue_name(name)
--   1 to 64 characters: letters, digits, '_', '-' and '.', not starting with
--   '-' or '.'. Raises PQ003 otherwise.
CREATE OR REPLACE FUNCTION @extschema@._check_queue_name(p_queue_name text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF p_queue_name IS NULL THEN
        RAISE EXCEPTION 'queue name must not be NULL' USING ERRCODE = 'PQ003';
    END IF;
    IF p_queue_name !~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$' THEN
        RAISE EXCEPTION 'invalid queue name "%"', @extschema@._shown(p_queue_name)
            USING ERRCODE = 'PQ003',
                  DETAIL = 'A queue name has 1 to 64 characters: letters, digits, "_", "-" and ".", and starts with a letter, a digit or "_".';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_queue_name(text) IS
    'internal: raises PQ003 for an invalid queue name';

-- _check_seconds(argument, value)
--   A number of seconds: not NULL, not negative. Raises PQ004 otherwise.
CREATE OR REPLACE FUNCTION @extschema@._check_seconds(p_argument text, p_value integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF p_value IS NULL OR p_value < 0 THEN
        RAISE EXCEPTION '% must be a number of seconds >= 0, got %', p_argument, coalesce(p_value::text, 'NULL')
            USING ERRCODE = 'PQ004';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_seconds(text, integer) IS
    'internal: raises PQ004 for a NULL or negative number of seconds';

-- _check_count(argument, value)
--   A number of items: at least 1 (PQ004), at most max_batch_size() (PQ006).
CREATE OR REPLACE FUNCTION @extschema@._check_count(p_argument text, p_value integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF p_value IS NULL OR p_value < 1 THEN
        RAISE EXCEPTION '% must be at least 1, got %', p_argument, coalesce(p_value::text, 'NULL')
            USING ERRCODE = 'PQ004';
    END IF;
    IF p_value > @extschema@.max_batch_size() THEN
        RAISE EXCEPTION '% must be at most %, got %', p_argument, @extschema@.max_batch_size(), p_value
            USING ERRCODE = 'PQ006',
                  HINT = 'Split the work into several calls.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_count(text, integer) IS
    'internal: raises PQ004 or PQ006 for a count out of range';

-- _check_ids(argument, ids)
--   An array of message ids: not NULL, one-dimensional (PQ004), at most
--   max_batch_size() (PQ006).
CREATE OR REPLACE FUNCTION @extschema@._check_ids(p_argument text, p_ids bigint[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF p_ids IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', p_argument USING ERRCODE = 'PQ004';
    END IF;
    IF pg_catalog.array_ndims(p_ids) > 1 THEN
        RAISE EXCEPTION '% must be a one-dimensional array', p_argument USING ERRCODE = 'PQ004';
    END IF;
    IF pg_catalog.cardinality(p_ids) > @extschema@.max_batch_size() THEN
        RAISE EXCEPTION '% has % elements, more than the maximum of %',
                p_argument, pg_catalog.cardinality(p_ids), @extschema@.max_batch_size()
            USING ERRCODE = 'PQ006',
                  HINT = 'Split the work into several calls.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_ids(text, bigint[]) IS
    'internal: raises PQ004 or PQ006 for a bad id array';

-- _check_worker(worker_id, queue)
--   The worker exists (PQ008), was registered by this session's login role
--   (PQ008: a worker acts only for the role that made it; workers registered
--   before 0.3.0 have no such role), belongs to the queue (PQ008) and is
--   active (PQ009): a worker that was stopped or reaped must register again.
CREATE OR REPLACE FUNCTION @extschema@._check_worker(p_worker_id bigint, p_queue @extschema@.pgqrs_queues)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_worker @extschema@.pgqrs_workers;
BEGIN
    IF p_worker_id IS NULL THEN
        RAISE EXCEPTION 'worker_id must not be NULL' USING ERRCODE = 'PQ004';
    END IF;
    SELECT w.* INTO v_worker FROM @extschema@.pgqrs_workers w WHERE w.id = p_worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % does not exist', p_worker_id USING ERRCODE = 'PQ008';
    END IF;
    IF v_worker.registered_by IS DISTINCT FROM session_user::text AND v_worker.registered_by IS NOT NULL THEN
        RAISE EXCEPTION 'worker % was registered by another role', p_worker_id
            USING ERRCODE = 'PQ008',
                  HINT = 'A worker heartbeats and leases only for the login role that registered it.';
    END IF;
    -- (p_queue IS NOT NULL would be false: a row with any NULL field is not "not null".)
    IF p_queue.id IS NOT NULL AND v_worker.queue_id <> p_queue.id THEN
        RAISE EXCEPTION 'worker % is not registered for queue "%"', p_worker_id, p_queue.queue_name
            USING ERRCODE = 'PQ008';
    END IF;
    IF v_worker.status <> 'active' THEN
        RAISE EXCEPTION 'worker % is %, not active', p_worker_id, v_worker.status
            USING ERRCODE = 'PQ009',
                  HINT = 'Register the worker again with register_worker().';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_worker(bigint, @extschema@.pgqrs_queues) IS
    'internal: raises PQ004, PQ008 or PQ009 unless the worker may act now';

-- _move_to_archive(queue_id, ids, worker_id, dead_lettered)
--   Moves messages from pgqrs_messages (and, without a worker_id, from
--   pgqrs_delayed) to pgqrs_archive in one statement, stamping archived_at
--   and processing_duration. With a worker_id, only the messages leased to
--   that worker move. Returns the ids moved.
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
COMMENT ON FUNCTION @extschema@._move_to_archive(bigint, bigint[], bigint, boolean) IS
    'internal: moves messages to the archive; returns the ids moved';
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
CREATE OR REPLACE FUNCTION @extschema@.create_queue(
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
CREATE OR REPLACE FUNCTION @extschema@._check_queue_settings(p_max_attempts integer, p_max_payload_bytes integer)
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
CREATE OR REPLACE FUNCTION @extschema@.alter_queue(
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
CREATE OR REPLACE FUNCTION @extschema@.set_queue_notify(queue_name text, notify boolean)
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
CREATE OR REPLACE FUNCTION @extschema@.pause_queue(queue_name text)
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
CREATE OR REPLACE FUNCTION @extschema@.resume_queue(queue_name text)
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
CREATE OR REPLACE FUNCTION @extschema@.notify_channel(queue_name text)
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
CREATE OR REPLACE FUNCTION @extschema@.drop_queue(
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
CREATE OR REPLACE FUNCTION @extschema@.purge_queue(queue_name text)
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
-- Producing.

-- _queue_for_enqueue(queue_name, ready)
--   The queue to write to, looked up under the shared name lock (see
--   _queue_lock_class()), so a concurrent drop_queue() either waits for this
--   transaction or has already removed the queue (PQ001). When ready messages
--   are coming and the queue asks for it, sends the notification: one per
--   call, and PostgreSQL delivers it at commit, once per transaction.
CREATE OR REPLACE FUNCTION @extschema@._queue_for_enqueue(p_queue_name text, p_ready boolean)
RETURNS @extschema@.pgqrs_queues
LANGUAGE plpgsql
AS $$
DECLARE
    v_queue @extschema@.pgqrs_queues;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(
        @extschema@._queue_lock_class(), pg_catalog.hashtext(p_queue_name));
    SELECT q.* INTO v_queue
    FROM @extschema@.pgqrs_queues q WHERE q.queue_name = p_queue_name;
    IF NOT FOUND THEN
        PERFORM @extschema@._queue(p_queue_name);  -- raises the error
    END IF;
    IF v_queue.notify AND p_ready THEN
        PERFORM pg_catalog.pg_notify(@extschema@._notify_channel(v_queue.id), '');
    END IF;
    RETURN v_queue;
END
$$;
COMMENT ON FUNCTION @extschema@._queue_for_enqueue(text, boolean) IS
    'internal: the queue to write to, under its shared lock';

-- _payload_too_large(queue_name, max_payload_bytes, argument, size)
--   Raises PQ005 for a payload over the queue's max_payload_bytes.
CREATE OR REPLACE FUNCTION @extschema@._payload_too_large(
    p_queue_name text, p_max_payload_bytes integer, p_argument text, p_size integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    RAISE EXCEPTION '% is % bytes, more than max_payload_bytes (%) of queue "%"',
            p_argument, p_size, p_max_payload_bytes, p_queue_name
        USING ERRCODE = 'PQ005',
              HINT = 'Store large data elsewhere and enqueue a reference, or raise the limit with alter_queue().';
END
$$;
COMMENT ON FUNCTION @extschema@._payload_too_large(text, integer, text, integer) IS
    'internal: raises PQ005 for a payload over max_payload_bytes';

-- enqueue(queue_name, payload, delay_seconds)
--   Adds one message, visible after delay_seconds by the server clock.
--   Returns its id. The payload is any JSON value but null (PQ005), of at
--   most the queue's max_payload_bytes (PQ005). Writes pgqrs_messages, or
--   pgqrs_delayed with a delay.
--   The hottest function: it does what _queue_for_enqueue() does inline, and
--   tests its arguments in one expression, since each call costs
--   microseconds (measured: 5 to 10% of a single enqueue).
CREATE OR REPLACE FUNCTION @extschema@.enqueue(
    queue_name text,
    payload jsonb,
    delay_seconds integer DEFAULT 0)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_queue_id bigint;
    v_notify boolean;
    v_max_payload_bytes integer;
    v_id bigint;
BEGIN
    IF enqueue.payload IS NULL OR jsonb_typeof(enqueue.payload) = 'null'
       OR enqueue.delay_seconds IS NULL OR enqueue.delay_seconds < 0 THEN
        IF enqueue.payload IS NULL THEN
            RAISE EXCEPTION 'payload must not be NULL' USING ERRCODE = 'PQ005';
        ELSIF jsonb_typeof(enqueue.payload) = 'null' THEN
            RAISE EXCEPTION 'payload must not be JSON null' USING ERRCODE = 'PQ005';
        END IF;
        PERFORM @extschema@._check_seconds('delay_seconds', enqueue.delay_seconds);
    END IF;
    -- As _queue_for_enqueue(): the lookup under the shared name lock, and the notification.
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(
        @extschema@._queue_lock_class(), pg_catalog.hashtext(enqueue.queue_name));
    SELECT q.id, q.notify, q.max_payload_bytes INTO v_queue_id, v_notify, v_max_payload_bytes
    FROM @extschema@.pgqrs_queues q WHERE q.queue_name = enqueue.queue_name;
    IF NOT FOUND THEN
        PERFORM @extschema@._queue(enqueue.queue_name);  -- raises the error
    END IF;
    IF pg_column_size(enqueue.payload) > v_max_payload_bytes THEN
        PERFORM @extschema@._payload_too_large(enqueue.queue_name, v_max_payload_bytes, 'payload',
                                              pg_column_size(enqueue.payload));
    END IF;

    IF enqueue.delay_seconds = 0 THEN
        IF v_notify THEN
            PERFORM pg_catalog.pg_notify(@extschema@._notify_channel(v_queue_id), '');
        END IF;
        INSERT INTO @extschema@.pgqrs_messages AS m (queue_id, payload, enqueued_at, vt)
        VALUES (v_queue_id, enqueue.payload, v_now, v_now)
        RETURNING m.id INTO v_id;
    ELSE
        INSERT INTO @extschema@.pgqrs_delayed AS d (queue_id, payload, enqueued_at, vt)
        VALUES (v_queue_id, enqueue.payload, v_now, v_now + enqueue.delay_seconds * interval '1 second')
        RETURNING d.id INTO v_id;
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION @extschema@.enqueue(text, jsonb, integer) IS
    'add one message to a queue, visible after delay_seconds; returns its id';

-- enqueue_batch(queue_name, payloads, delay_seconds)
--   Adds one message per payload in one statement, all or nothing. Returns
--   the ids in the order of the payloads. Each payload is checked as
--   enqueue() checks it; errors name the first bad one, counting from 1.
--   Writes pgqrs_messages, or pgqrs_delayed with a delay.
CREATE OR REPLACE FUNCTION @extschema@.enqueue_batch(
    queue_name text,
    payloads jsonb[],
    delay_seconds integer DEFAULT 0)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_queue @extschema@.pgqrs_queues;
    v_queue_id bigint;
    v_null_at integer;
    v_big record;
BEGIN
    IF enqueue_batch.payloads IS NULL THEN
        RAISE EXCEPTION 'payloads must not be NULL' USING ERRCODE = 'PQ005';
    END IF;
    IF array_ndims(enqueue_batch.payloads) > 1 THEN
        RAISE EXCEPTION 'payloads must be a one-dimensional array' USING ERRCODE = 'PQ005';
    END IF;
    IF cardinality(enqueue_batch.payloads) > @extschema@.max_batch_size() THEN
        RAISE EXCEPTION 'payloads has % elements, more than the maximum of %',
                cardinality(enqueue_batch.payloads), @extschema@.max_batch_size()
            USING ERRCODE = 'PQ006', HINT = 'Split the work into several calls.';
    END IF;
    v_null_at := array_position(enqueue_batch.payloads, NULL);
    IF v_null_at IS NOT NULL THEN
        RAISE EXCEPTION 'payloads[%] is NULL', v_null_at USING ERRCODE = 'PQ005';
    END IF;
    v_null_at := array_position(enqueue_batch.payloads, 'null'::jsonb);
    IF v_null_at IS NOT NULL THEN
        RAISE EXCEPTION 'payloads[%] is JSON null', v_null_at USING ERRCODE = 'PQ005';
    END IF;
    PERFORM @extschema@._check_seconds('delay_seconds', enqueue_batch.delay_seconds);
    v_queue := @extschema@._queue_for_enqueue(enqueue_batch.queue_name,
        enqueue_batch.delay_seconds = 0 AND cardinality(enqueue_batch.payloads) > 0);
    v_queue_id := v_queue.id;
    -- No payload is larger than the whole array: most batches need no look at each one.
    IF pg_column_size(enqueue_batch.payloads) > v_queue.max_payload_bytes THEN
        SELECT p.position, pg_column_size(p.payload) AS size INTO v_big
        FROM unnest(enqueue_batch.payloads) WITH ORDINALITY AS p (payload, position)
        WHERE pg_column_size(p.payload) > v_queue.max_payload_bytes
        ORDER BY p.position
        LIMIT 1;
        IF FOUND THEN
            PERFORM @extschema@._payload_too_large(v_queue.queue_name, v_queue.max_payload_bytes,
                                                  format('payloads[%s]', v_big.position), v_big.size);
        END IF;
    END IF;

    -- Ids are drawn after the sort, so they follow the payloads' order.
    IF enqueue_batch.delay_seconds = 0 THEN
        RETURN QUERY
        INSERT INTO @extschema@.pgqrs_messages AS m (queue_id, payload, enqueued_at, vt)
        SELECT v_queue_id, p.payload, v_now, v_now
        FROM unnest(enqueue_batch.payloads) WITH ORDINALITY AS p (payload, position)
        ORDER BY p.position
        RETURNING m.id;
    ELSE
        RETURN QUERY
        INSERT INTO @extschema@.pgqrs_delayed AS d (queue_id, payload, enqueued_at, vt)
        SELECT v_queue_id, p.payload, v_now, v_now + enqueue_batch.delay_seconds * interval '1 second'
        FROM unnest(enqueue_batch.payloads) WITH ORDINALITY AS p (payload, position)
        ORDER BY p.position
        RETURNING d.id;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.enqueue_batch(text, jsonb[], integer) IS
    'add many messages in one statement, all or nothing; returns their ids in input order';
-- Consuming.

-- _bury_exhausted(queue, qty, now)
--   Among the next qty visible messages (oldest first, skipping those locked
--   by other sessions), moves the ones that used up the queue's max_attempts
--   to the archive as dead letters. Returns how many. Only for queues with a
--   delivery limit.
CREATE OR REPLACE FUNCTION @extschema@._bury_exhausted(
    p_queue @extschema@.pgqrs_queues, p_qty integer, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_ids bigint[];
BEGIN
    SELECT array_agg(c.id) FILTER (WHERE c.read_ct >= p_queue.max_attempts) INTO v_ids
    FROM (
        SELECT m.id, m.read_ct
        FROM @extschema@.pgqrs_messages m
        WHERE m.queue_id = p_queue.id AND m.vt <= p_now
        ORDER BY m.id
        LIMIT p_qty
        FOR UPDATE SKIP LOCKED
    ) c;
    IF v_ids IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM @extschema@._move_to_archive(p_queue.id, v_ids, NULL, true);
    RETURN cardinality(v_ids);
END
$$;
COMMENT ON FUNCTION @extschema@._bury_exhausted(@extschema@.pgqrs_queues, integer, timestamptz) IS
    'internal: moves messages that used up max_attempts to the dead letters';

-- max_wait_seconds()
--   The longest long poll dequeue() takes (PQ004 above it): a waiting call
--   holds its snapshot, which keeps vacuum from removing dead rows meanwhile.
CREATE OR REPLACE FUNCTION @extschema@.max_wait_seconds()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 60 $$;
COMMENT ON FUNCTION @extschema@.max_wait_seconds() IS
    'longest wait_seconds that dequeue() accepts (PQ004 above it)';

-- _lease_for_worker(worker_id, queue)
--   Called by dequeue() before it leases for a worker: holds the worker's
--   lock shared until the transaction ends (see _worker_lock_class()) and
--   checks, after taking it, that the worker is still active. Only tries the
--   lock: a stop_worker() waiting for it or holding it raises PQ009 here
--   rather than waiting with the picked messages locked, which it may need.
CREATE OR REPLACE FUNCTION @extschema@._lease_for_worker(p_worker_id bigint, p_queue @extschema@.pgqrs_queues)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(@extschema@._worker_lock_class(), (p_worker_id % 2147483648)::integer) THEN
        RAISE EXCEPTION 'worker % is being stopped', p_worker_id
            USING ERRCODE = 'PQ009',
                  HINT = 'Register the worker again with register_worker().';
    END IF;
    PERFORM @extschema@._check_worker(p_worker_id, p_queue);  -- a statement of its own: sees a stop committed before the lock
END
$$;
COMMENT ON FUNCTION @extschema@._lease_for_worker(bigint, @extschema@.pgqrs_queues) IS
    'internal: holds a worker''s lock for a lease, and checks it is still active';

-- dequeue(queue_name, qty, vt_seconds, worker_id, wait_seconds)
--   Leases up to qty visible messages, oldest first, skipping rows other
--   sessions have locked. Each stays invisible for vt_seconds, its read_ct
--   grows by one and it records worker_id. A message whose lease runs out is
--   delivered again; one that has been delivered max_attempts times is moved
--   to the dead letters instead. A worker_id must belong to an active worker
--   of this queue registered by this login role (PQ008, PQ009); a
--   stop_worker() of it waits for this transaction, so it gives back what
--   was leased here. With wait_seconds (at most max_wait_seconds()), an
--   empty queue is polled (every 10 ms at first, then up to every 100 ms)
--   until a message comes or the time is up: a long poll for clients that
--   cannot LISTEN. Each poll reads the queue and the worker afresh, so a
--   pause, a drop or a stop ends the wait. Only under READ COMMITTED (PQ004
--   otherwise), where each poll sees what committed meanwhile. A paused
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
    v_worker_locked boolean := false;
    v_deadline timestamptz;
    v_pause double precision := 0.01;
BEGIN
    -- Tested inline: the helpers, called only to raise, cost a call each.
    IF dequeue.qty IS NULL OR dequeue.qty NOT BETWEEN 1 AND @extschema@.max_batch_size()
       OR dequeue.vt_seconds IS NULL OR dequeue.vt_seconds < 0
       OR dequeue.wait_seconds IS NULL OR dequeue.wait_seconds NOT BETWEEN 0 AND @extschema@.max_wait_seconds() THEN
        PERFORM @extschema@._check_count('qty', dequeue.qty);
        PERFORM @extschema@._check_seconds('vt_seconds', dequeue.vt_seconds);
        PERFORM @extschema@._check_seconds('wait_seconds', dequeue.wait_seconds);
        RAISE EXCEPTION 'wait_seconds must be at most %, got %', @extschema@.max_wait_seconds(), dequeue.wait_seconds
            USING ERRCODE = 'PQ004',
                  HINT = 'Call dequeue() again, or LISTEN on notify_channel() to wait longer.';
    END IF;
    IF dequeue.wait_seconds > 0 AND current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'a long poll (wait_seconds > 0) needs READ COMMITTED, not %', current_setting('transaction_isolation')
            USING ERRCODE = 'PQ004',
                  DETAIL = 'The transaction''s snapshot would never show a message enqueued while it waits.',
                  HINT = 'Dequeue with wait_seconds => 0 in this transaction, or long-poll outside it.';
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
            -- The move holds the queue's lock shared (a purge must not miss it),
            -- only tried: under a purge or drop in progress the due wait a little.
            -- The picked ids and the latest picked vt bound the delete's index
            -- scan, whichever index it takes (see internal.sql).
            IF (SELECT true FROM @extschema@.pgqrs_delayed x  -- ordered by vt: the (queue_id, vt) index
                WHERE x.queue_id = v_queue.id AND x.vt <= v_now ORDER BY x.vt LIMIT 1)
               AND pg_try_advisory_xact_lock_shared(@extschema@._queue_lock_class(), hashtext(v_queue.queue_name)) THEN
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
                    IF dequeue.worker_id IS NOT NULL AND NOT v_worker_locked THEN
                        PERFORM @extschema@._lease_for_worker(dequeue.worker_id, v_queue);
                        v_worker_locked := true;
                    END IF;
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
        -- Paused, resumed, dropped or the worker stopped meanwhile? Each read sees what committed.
        v_queue := @extschema@._queue(dequeue.queue_name);
        IF dequeue.worker_id IS NOT NULL THEN
            PERFORM @extschema@._check_worker(dequeue.worker_id, v_queue);
        END IF;
    END LOOP waiting;
END
$$;
COMMENT ON FUNCTION @extschema@.dequeue(text, integer, integer, bigint, integer) IS
    'lease up to qty visible messages, oldest first, for vt_seconds (FOR UPDATE SKIP LOCKED); wait_seconds: long poll';
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
CREATE OR REPLACE FUNCTION @extschema@.delete(
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
COMMENT ON FUNCTION @extschema@.delete_batch(text, bigint[], bigint) IS
    'delete many messages; returns the ids actually deleted';

-- archive(queue_name, msg_id, worker_id)
--   Moves a processed message to pgqrs_archive, stamping archived_at and the
--   processing duration. Returns whether it moved. Writes pgqrs_messages and
--   pgqrs_archive.
CREATE OR REPLACE FUNCTION @extschema@.archive(
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
CREATE OR REPLACE FUNCTION @extschema@.archive_batch(
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
CREATE OR REPLACE FUNCTION @extschema@.extend_visibility(
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
CREATE OR REPLACE FUNCTION @extschema@.release(
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
-- Dead letters: messages delivered max_attempts times without being
-- acknowledged. They rest in pgqrs_archive with dead_lettered = true, are never
-- delivered again on their own, and can be listed and replayed.

-- dead_letters(queue_name, qty)
--   The queue's dead letters, oldest first, at most qty of them. Reads
--   pgqrs_archive.
CREATE OR REPLACE FUNCTION @extschema@.dead_letters(
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
    PERFORM @extschema@._check_count('qty', dead_letters.qty);
    v_queue_id := (@extschema@._queue(dead_letters.queue_name)).id;
    RETURN QUERY
    SELECT a.*
    FROM @extschema@.pgqrs_archive a
    WHERE a.queue_id = v_queue_id AND a.dead_lettered
    ORDER BY a.id
    LIMIT dead_letters.qty;
END
$$;
COMMENT ON FUNCTION @extschema@.dead_letters(text, integer) IS
    'list a queue''s dead letters, oldest first';

-- replay_dead_letters(queue_name, msg_ids)
--   Moves dead letters back into the queue (all of them when msg_ids is NULL),
--   visible at once, with their ids and payloads and a fresh read_ct of 0.
--   Holds the queue's lock shared, so a purge_queue or drop_queue waits for
--   the move instead of missing the rows on their way (see
--   _queue_lock_class()). Returns the ids replayed. Writes pgqrs_archive and
--   pgqrs_messages.
CREATE OR REPLACE FUNCTION @extschema@.replay_dead_letters(
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
BEGIN
    IF replay_dead_letters.msg_ids IS NOT NULL THEN
        PERFORM @extschema@._check_ids('msg_ids', replay_dead_letters.msg_ids);
    END IF;
    PERFORM pg_advisory_xact_lock_shared(@extschema@._queue_lock_class(), hashtext(replay_dead_letters.queue_name));
    v_queue_id := (@extschema@._queue(replay_dead_letters.queue_name)).id;
    RETURN QUERY
    WITH revived AS (
        DELETE FROM @extschema@.pgqrs_archive a
        WHERE a.queue_id = v_queue_id
          AND a.dead_lettered
          AND (replay_dead_letters.msg_ids IS NULL OR a.id = ANY (replay_dead_letters.msg_ids))
        RETURNING a.id, a.payload, a.enqueued_at
    )
    INSERT INTO @extschema@.pgqrs_messages AS m (id, queue_id, payload, enqueued_at, vt)
    SELECT r.id, v_queue_id, r.payload, r.enqueued_at, v_now
    FROM revived r
    ORDER BY r.id
    RETURNING m.id;
END
$$;
COMMENT ON FUNCTION @extschema@.replay_dead_letters(text, bigint[]) IS
    'move dead letters (all, or the given ids) back into the queue with read_ct 0; returns their ids';
-- Workers: the processes that consume (or produce). A worker heartbeats while
-- it lives; one that stops, or is reaped after its heartbeats stop, gives back
-- every message it held, and its late acknowledgements are refused.

-- _release_worker_messages(queue_id, worker_ids)
--   Makes every message held by these workers visible at once (a lease that
--   already ran out keeps its vt) and clears their worker_id, so the workers'
--   late calls are fenced off. Returns how many messages it released.
CREATE OR REPLACE FUNCTION @extschema@._release_worker_messages(p_queue_id bigint, p_worker_ids bigint[])
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_count bigint;
BEGIN
    UPDATE @extschema@.pgqrs_messages m
    SET vt = LEAST(m.vt, v_now),
        dequeued_at = NULL,
        worker_id = NULL
    WHERE m.queue_id = p_queue_id
      AND m.worker_id = ANY (p_worker_ids);
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION @extschema@._release_worker_messages(bigint, bigint[]) IS
    'internal: makes the messages held by workers visible again';

-- _session_may(function)
--   Whether this session's login role may run the function: how the functions
--   below, which run as their owner, tell a consumer or an admin from a
--   producer (the groups are told apart by what they may run, see grants.sql).
CREATE OR REPLACE FUNCTION @extschema@._session_may(p_function regprocedure)
RETURNS boolean
LANGUAGE sql STABLE
AS $$ SELECT pg_catalog.has_function_privilege(session_user, p_function, 'EXECUTE') $$;
COMMENT ON FUNCTION @extschema@._session_may(regprocedure) IS
    'internal: whether the session''s login role may run a function';

-- register_worker(queue_name, hostname, port)
--   Registers an active worker for the queue, owned by this session's login
--   role: only that role heartbeats and leases as it. hostname: 1 to 255
--   characters; port: 0 to 65535, or NULL. Returns its id. Writes
--   pgqrs_workers.
CREATE OR REPLACE FUNCTION @extschema@.register_worker(
    queue_name text,
    hostname text,
    port integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_id bigint;
BEGIN
    IF register_worker.hostname IS NULL OR register_worker.hostname = '' THEN
        RAISE EXCEPTION 'hostname must not be empty' USING ERRCODE = 'PQ004';
    END IF;
    IF length(register_worker.hostname) > 255 THEN
        RAISE EXCEPTION 'hostname must have at most 255 characters, got % ("%")',
                length(register_worker.hostname), @extschema@._shown(register_worker.hostname)
            USING ERRCODE = 'PQ004';
    END IF;
    IF register_worker.port NOT BETWEEN 0 AND 65535 THEN
        RAISE EXCEPTION 'port must be between 0 and 65535, got %', register_worker.port
            USING ERRCODE = 'PQ004';
    END IF;
    INSERT INTO @extschema@.pgqrs_workers AS w (queue_id, hostname, port, started_at, heartbeat_at, registered_by)
    VALUES ((@extschema@._queue(register_worker.queue_name)).id,
            register_worker.hostname, register_worker.port, v_now, v_now, session_user)
    RETURNING w.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION @extschema@.register_worker(text, text, integer) IS
    'register a worker process for a queue, owned by this login role; returns its id';

-- heartbeat(worker_id)
--   Records that the worker is alive; only from the login role that
--   registered it (PQ008). A worker that was stopped or reaped gets PQ009 and
--   must register again; an unknown one gets PQ008.
CREATE OR REPLACE FUNCTION @extschema@.heartbeat(worker_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    UPDATE @extschema@.pgqrs_workers w
    SET heartbeat_at = clock_timestamp()
    WHERE w.id = heartbeat.worker_id AND w.status = 'active'
      AND (w.registered_by = session_user OR w.registered_by IS NULL);
    IF NOT FOUND THEN
        PERFORM @extschema@._check_worker(heartbeat.worker_id, NULL);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.heartbeat(bigint) IS
    'record that a worker is alive (PQ009 if it was stopped or reaped)';

-- stop_worker(worker_id)
--   Marks an active worker stopped and makes what it still held visible
--   again. The login role that registered it may, and so may a role with the
--   consumer's rights (PQ008 otherwise). Waits for the worker's dequeues in
--   flight (see _worker_lock_class()), so that it gives back their leases
--   too. Returns how many messages it released (0 for a worker that was not
--   active). Writes pgqrs_workers and pgqrs_messages.
CREATE OR REPLACE FUNCTION @extschema@.stop_worker(worker_id bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_worker @extschema@.pgqrs_workers;
BEGIN
    IF stop_worker.worker_id IS NULL THEN
        RAISE EXCEPTION 'worker_id must not be NULL' USING ERRCODE = 'PQ004';
    END IF;
    SELECT w.* INTO v_worker FROM @extschema@.pgqrs_workers w WHERE w.id = stop_worker.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % does not exist', stop_worker.worker_id USING ERRCODE = 'PQ008';
    END IF;
    IF v_worker.registered_by IS DISTINCT FROM session_user::text
       AND NOT @extschema@._session_may('@extschema@.dequeue(text, integer, integer, bigint, integer)') THEN
        RAISE EXCEPTION 'worker % was registered by another role', stop_worker.worker_id
            USING ERRCODE = 'PQ008',
                  HINT = 'Stopping another role''s worker takes the consumer''s rights.';
    END IF;

    PERFORM pg_advisory_xact_lock(@extschema@._worker_lock_class(), (stop_worker.worker_id % 2147483648)::integer);
    -- From here on each statement sees the leases its dequeues committed.
    UPDATE @extschema@.pgqrs_workers w
    SET status = 'stopped', stopped_at = clock_timestamp()
    WHERE w.id = stop_worker.worker_id AND w.status = 'active';
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    RETURN @extschema@._release_worker_messages(v_worker.queue_id, ARRAY[stop_worker.worker_id]);
END
$$;
COMMENT ON FUNCTION @extschema@.stop_worker(bigint) IS
    'mark a worker stopped and make the messages it held visible again; returns how many';

-- reap_workers(stale_after_seconds, queue_name)
--   Marks the queue's active workers whose last heartbeat is older than
--   stale_after_seconds (at least 5, PQ004) as dead, and makes their messages
--   visible at once. With queue_name NULL, the workers of every queue, which
--   takes the admin's rights (42501 otherwise). A worker whose dequeue is in
--   flight is alive and is left for the next reap (see
--   _worker_lock_class()). Returns how many messages it released. Writes
--   pgqrs_workers and pgqrs_messages.
CREATE OR REPLACE FUNCTION @extschema@.reap_workers(stale_after_seconds integer, queue_name text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_queue_id bigint;
    v_dead record;
    v_released bigint := 0;
BEGIN
    PERFORM @extschema@._check_seconds('stale_after_seconds', reap_workers.stale_after_seconds);
    IF reap_workers.stale_after_seconds < 5 THEN
        RAISE EXCEPTION 'stale_after_seconds must be at least 5, got %', reap_workers.stale_after_seconds
            USING ERRCODE = 'PQ004',
                  HINT = 'Stop a worker that is alive with stop_worker().';
    END IF;
    IF reap_workers.queue_name IS NOT NULL THEN
        v_queue_id := (@extschema@._queue(reap_workers.queue_name)).id;
    ELSIF NOT @extschema@._session_may('@extschema@.purge_workers(integer)') THEN
        RAISE EXCEPTION 'reaping the workers of every queue takes the admin''s rights'
            USING ERRCODE = '42501',
                  HINT = 'Pass queue_name to reap one queue''s workers.';
    END IF;
    FOR v_dead IN
        WITH stale AS MATERIALIZED (
            SELECT w.id
            FROM @extschema@.pgqrs_workers w
            WHERE w.status = 'active'
              AND w.heartbeat_at < v_now - reap_workers.stale_after_seconds * interval '1 second'
              AND (v_queue_id IS NULL OR w.queue_id = v_queue_id)
            ORDER BY w.id
        ), idle AS MATERIALIZED (  -- each lock tried once, for stale workers only
            SELECT s.id FROM stale s
            WHERE pg_try_advisory_xact_lock(@extschema@._worker_lock_class(), (s.id % 2147483648)::integer)
        ), reaped AS (
            UPDATE @extschema@.pgqrs_workers w
            SET status = 'dead', stopped_at = v_now
            WHERE w.id IN (SELECT i.id FROM idle i)
              AND w.status = 'active'  -- rechecked on a row changed meanwhile: a late heartbeat saves it
              AND w.heartbeat_at < v_now - reap_workers.stale_after_seconds * interval '1 second'
            RETURNING w.id, w.queue_id
        )
        SELECT r.queue_id, array_agg(r.id) AS worker_ids FROM reaped r GROUP BY r.queue_id
    LOOP
        v_released := v_released
            + @extschema@._release_worker_messages(v_dead.queue_id, v_dead.worker_ids);
    END LOOP;
    RETURN v_released;
END
$$;
COMMENT ON FUNCTION @extschema@.reap_workers(integer, text) IS
    'mark a queue''s (or, for admins, every queue''s) workers without a heartbeat for stale_after_seconds dead and release their messages; returns how many';

-- purge_workers(older_than_seconds)
--   Deletes the rows of workers stopped or reaped more than
--   older_than_seconds ago. Returns how many. Writes pgqrs_workers.
CREATE OR REPLACE FUNCTION @extschema@.purge_workers(older_than_seconds integer DEFAULT 86400)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_count bigint;
BEGIN
    PERFORM @extschema@._check_seconds('older_than_seconds', purge_workers.older_than_seconds);
    DELETE FROM @extschema@.pgqrs_workers w
    WHERE w.status <> 'active'
      AND w.stopped_at < clock_timestamp() - purge_workers.older_than_seconds * interval '1 second';
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION @extschema@.purge_workers(integer) IS
    'delete stopped and dead workers older than older_than_seconds; returns how many';
-- Observing: messages, queue_metrics, worker_health, metrics(), metrics_all(),
-- version().

-- messages: every message not yet finished, wherever it waits, with its state
-- at statement_timestamp(): ready, in_flight (leased) or delayed.
CREATE OR REPLACE VIEW @extschema@.messages AS
SELECT m.*,
       CASE WHEN m.vt <= statement_timestamp() THEN 'ready'
            WHEN m.dequeued_at IS NOT NULL THEN 'in_flight'
            ELSE 'delayed' END AS state
FROM @extschema@.pgqrs_messages m
UNION ALL
SELECT d.*, 'delayed' AS state
FROM @extschema@.pgqrs_delayed d;
COMMENT ON VIEW @extschema@.messages IS
    'every message not yet finished (pgqrs_messages and pgqrs_delayed), with its state: ready, in_flight or delayed';

-- queue_metrics: one row per queue, read at statement_timestamp().
--   ready             visible now
--   in_flight         leased, lease not yet run out
--   delayed           not visible yet and not leased (enqueued with a delay, or released with one)
--   archived          in the archive, dead letters not counted
--   dead_lettered     dead letters waiting in the archive
--   oldest_ready_age  how long ago the oldest ready message was enqueued
--   paused            dequeues deliver nothing (pause_queue())
--   max_attempts, notify, max_payload_bytes   the queue's settings (alter_queue())
-- New columns go last, so that an upgrade can CREATE OR REPLACE the view.
CREATE OR REPLACE VIEW @extschema@.queue_metrics AS
SELECT q.queue_name,
       m.ready,
       m.in_flight,
       m.delayed + d.waiting AS delayed,
       a.archived,
       a.dead_lettered,
       statement_timestamp() - m.oldest_ready_at AS oldest_ready_age,
       statement_timestamp() AS measured_at,
       q.paused,
       q.max_attempts,
       q.notify,
       q.max_payload_bytes
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
    'per queue: messages ready, in flight, delayed, archived, dead-lettered, age of the oldest ready message, paused, and its settings';

-- worker_health: one row per worker.
--   messages_held  messages leased to the worker whose lease has not run out
--   registered_by  the login role that registered it
CREATE OR REPLACE VIEW @extschema@.worker_health AS
SELECT w.id AS worker_id,
       q.queue_name,
       w.hostname,
       w.port,
       w.status,
       w.started_at,
       w.heartbeat_at,
       statement_timestamp() - w.heartbeat_at AS heartbeat_age,
       w.stopped_at,
       coalesce(h.messages_held, 0) AS messages_held,
       w.registered_by
FROM @extschema@.pgqrs_workers w
JOIN @extschema@.pgqrs_queues q ON q.id = w.queue_id
LEFT JOIN (
    SELECT m.worker_id, count(*) AS messages_held
    FROM @extschema@.pgqrs_messages m
    WHERE m.worker_id IS NOT NULL AND m.vt > statement_timestamp()
    GROUP BY m.worker_id
) h ON h.worker_id = w.id;
COMMENT ON VIEW @extschema@.worker_health IS
    'per worker: queue, status, last heartbeat and its age, messages held';

-- metrics(queue_name)
--   The queue's row of queue_metrics (PQ001 for an unknown queue).
CREATE OR REPLACE FUNCTION @extschema@.metrics(queue_name text)
RETURNS @extschema@.queue_metrics
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_row @extschema@.queue_metrics;
BEGIN
    PERFORM @extschema@._queue(metrics.queue_name);
    SELECT qm.* INTO v_row FROM @extschema@.queue_metrics qm WHERE qm.queue_name = metrics.queue_name;
    RETURN v_row;
END
$$;
COMMENT ON FUNCTION @extschema@.metrics(text) IS
    'one queue''s row of queue_metrics';

-- metrics_all()
--   Every queue's row of queue_metrics, by name.
CREATE OR REPLACE FUNCTION @extschema@.metrics_all()
RETURNS SETOF @extschema@.queue_metrics
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
    SELECT qm.* FROM @extschema@.queue_metrics qm ORDER BY qm.queue_name;
$$;
COMMENT ON FUNCTION @extschema@.metrics_all() IS
    'every queue''s row of queue_metrics, ordered by name';

-- version()
--   The version of the installed SQL (also right for a direct install, where
--   there is no pg_extension row).
CREATE OR REPLACE FUNCTION @extschema@.version()
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT '0.3.0'::text $$;
COMMENT ON FUNCTION @extschema@.version() IS
    'the installed pgqrs version';
-- Archive retention.

-- purge_archive(queue_name, older_than_seconds, include_dead_letters)
--   Deletes the queue's archived messages: all, or those archived more than
--   older_than_seconds ago. Dead letters are kept unless
--   include_dead_letters. Returns how many. Writes pgqrs_archive.
CREATE OR REPLACE FUNCTION @extschema@.purge_archive(
    queue_name text,
    older_than_seconds integer DEFAULT NULL,
    include_dead_letters boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_queue_id bigint;
    v_cutoff timestamptz := 'infinity';
    v_count bigint;
BEGIN
    IF purge_archive.older_than_seconds IS NOT NULL THEN
        PERFORM @extschema@._check_seconds('older_than_seconds', purge_archive.older_than_seconds);
        v_cutoff := clock_timestamp() - purge_archive.older_than_seconds * interval '1 second';
    END IF;
    v_queue_id := (@extschema@._queue(purge_archive.queue_name)).id;
    DELETE FROM @extschema@.pgqrs_archive a
    WHERE a.queue_id = v_queue_id
      AND a.archived_at < v_cutoff
      AND (NOT a.dead_lettered OR coalesce(purge_archive.include_dead_letters, false));
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION @extschema@.purge_archive(text, integer, boolean) IS
    'delete a queue''s archived messages, all or older than older_than_seconds (dead letters only if asked); returns how many';
-- Privileges.
--
-- Every public function is SECURITY DEFINER with a pinned search_path, so a
-- role needs no privilege on the tables: it gets EXECUTE on the functions of
-- its group and SELECT on the views. Each install has its own three group
-- roles, <prefix>_producer, <prefix>_consumer and <prefix>_admin, the prefix
-- being the setting pgqrs.role_prefix or else the schema's name (so
-- CREATE EXTENSION pgqrs, in schema pgqrs, has pgqrs_producer and so on):
--   producer  enqueue; its own workers' registration, heartbeats and stop
--   consumer  dequeue and acknowledgements, workers, reaping one queue
--   admin     every function, SELECT on the tables, DELETE on the archive and
--             the workers
-- _role_prefix()
--   The prefix of this install's group roles as its grants show it: the name
--   of the role that may run enqueue() without being its owner, less
--   "_producer"; before the first grants, the schema's name.
CREATE OR REPLACE FUNCTION @extschema@._role_prefix()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(
        (SELECT pg_catalog.left(r.rolname, -pg_catalog.length('_producer'))
         FROM pg_proc p, aclexplode(p.proacl) a, pg_roles r
         WHERE p.pronamespace = '@extschema@'::regnamespace AND p.proname = 'enqueue'
           AND r.oid = a.grantee AND a.grantee <> p.proowner AND r.rolname LIKE '%\_producer'
         ORDER BY r.rolname LIMIT 1),
        (SELECT n.nspname::text FROM pg_namespace n WHERE n.oid = '@extschema@'::regnamespace))
$$;
COMMENT ON FUNCTION @extschema@._role_prefix() IS
    'internal: the prefix of this install''s group roles';

-- _setup_roles() makes them and applies the grants below, at install, at
-- upgrade, and whenever `pgqrs install` finds the install up to date.

-- _setup_roles(prefix)
--   Creates the missing group roles (when the installing role may create
--   roles; a WARNING says which grants could not be made otherwise) and
--   makes every pgqrs object's privileges exactly those declared below: all
--   revoked from every role but the owner (PUBLIC and other installs' roles
--   included), then granted to the three as declared. An existing role of one of the names is used
--   only if this install made it (its comment names this schema and
--   database, or it holds USAGE on the schema already), or if the setting
--   pgqrs.reuse_roles is on; a role that can log in is never used (PQ010).
--   The prefix is the setting pgqrs.role_prefix, else p_prefix (an upgrade
--   from a version whose roles were the cluster's passes the schema's name),
--   else _role_prefix(): an install keeps the roles it was given until told
--   otherwise.
--   The names are built from the prefix and quoted, never from a caller's
--   input. Run by the install and upgrade scripts; EXECUTE for the owner only.
CREATE OR REPLACE FUNCTION @extschema@._setup_roles(p_prefix text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_schema_oid oid := '@extschema@'::regnamespace;
    v_schema name := (SELECT n.nspname FROM pg_namespace n WHERE n.oid = '@extschema@'::regnamespace);
    v_prefix text := coalesce(nullif(current_setting('pgqrs.role_prefix', true), ''), p_prefix,
                              @extschema@._role_prefix());
    v_reuse boolean := coalesce(nullif(current_setting('pgqrs.reuse_roles', true), ''), 'off')::boolean;
    v_marker text := format('pgqrs group role of schema %I in database %I',
                            (SELECT n.nspname FROM pg_namespace n WHERE n.oid = '@extschema@'::regnamespace),
                            current_database());
    v_may_create boolean := (SELECT r.rolsuper OR r.rolcreaterole FROM pg_roles r WHERE r.rolname = current_user);
    v_group text;
    v_role record;
    v_roles jsonb := '{}';   -- group -> role name, for the groups whose role exists
    v_missing text[] := '{}';
    v_grant record;
    v_grantee record;
BEGIN
    IF v_prefix !~ '^[A-Za-z0-9_][A-Za-z0-9_.-]*$' OR octet_length(v_prefix || '_consumer') > 63 THEN
        RAISE EXCEPTION 'invalid pgqrs.role_prefix "%"', @extschema@._shown(v_prefix)
            USING ERRCODE = 'PQ004',
                  DETAIL = 'A role prefix has letters, digits, "_", "-" and ".", and <prefix>_consumer fits in 63 bytes.',
                  HINT = 'SET pgqrs.role_prefix to a shorter name before installing.';
    END IF;

    FOREACH v_group IN ARRAY ARRAY['producer', 'consumer', 'admin'] LOOP
        SELECT r.oid, r.rolname, r.rolcanlogin, r.rolsuper,
               pg_catalog.shobj_description(r.oid, 'pg_authid') AS marker,
               EXISTS (SELECT FROM pg_namespace n, aclexplode(n.nspacl) a
                       WHERE n.oid = v_schema_oid AND a.grantee = r.oid AND a.privilege_type = 'USAGE') AS has_usage
        INTO v_role
        FROM pg_roles r WHERE r.rolname = v_prefix || '_' || v_group;
        IF FOUND THEN
            IF v_role.rolcanlogin OR v_role.rolsuper THEN
                RAISE EXCEPTION 'role "%" can log in, so pgqrs will not make it a group role', v_role.rolname
                    USING ERRCODE = 'PQ010',
                          HINT = 'Choose other names with SET pgqrs.role_prefix, or make the role NOLOGIN.';
            END IF;
            IF NOT (v_role.marker IS NOT DISTINCT FROM v_marker OR v_role.has_usage OR v_reuse) THEN
                RAISE EXCEPTION 'role "%" exists and was not made by this install', v_role.rolname
                    USING ERRCODE = 'PQ010',
                          DETAIL = 'Its members would reach these queues too.',
                          HINT = 'SET pgqrs.role_prefix for roles of this install''s own, or SET pgqrs.reuse_roles = on to share it.';
            END IF;
        ELSIF v_may_create THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', v_prefix || '_' || v_group);
            EXECUTE format('COMMENT ON ROLE %I IS %L', v_prefix || '_' || v_group, v_marker);  -- "made by this install"
        ELSE
            v_missing := v_missing || (v_prefix || '_' || v_group);
            CONTINUE;
        END IF;
        v_roles := v_roles || jsonb_build_object(v_group, v_prefix || '_' || v_group);
    END LOOP;
    IF cardinality(v_missing) > 0 THEN
        RAISE WARNING 'pgqrs: roles % are missing and % may not create them; no grants were made to them',
                array_to_string(v_missing, ', '), current_user
            USING HINT = 'Create them (NOLOGIN) as a role with CREATEROLE, then run pgqrs install again.';
    END IF;

    -- The declaration: who may use each object. Groups: all three, producer
    -- (and admin), consumer (and admin), admin, or none (the owner only: the
    -- helpers, which run inside the public functions). Every function of
    -- pgqrs is listed (the catalog test checks it), so none keeps PUBLIC's
    -- default EXECUTE.
    FOR v_grant IN
        SELECT 'FUNCTION ' || c.oid::regprocedure::text AS name, d.groups,
               c.proacl AS acl, c.proowner AS owner, 'EXECUTE' AS privileges
        FROM (VALUES
            ('enqueue', 'producer'), ('enqueue_batch', 'producer'),
            ('dequeue', 'consumer'), ('delete', 'consumer'), ('delete_batch', 'consumer'),
            ('archive', 'consumer'), ('archive_batch', 'consumer'),
            ('extend_visibility', 'consumer'), ('release', 'consumer'), ('reap_workers', 'consumer'),
            ('metrics', 'all'), ('metrics_all', 'all'), ('version', 'all'), ('max_batch_size', 'all'),
            ('max_wait_seconds', 'all'), ('notify_channel', 'all'),
            ('register_worker', 'all'), ('heartbeat', 'all'), ('stop_worker', 'all'),
            ('create_queue', 'admin'), ('alter_queue', 'admin'), ('drop_queue', 'admin'),
            ('purge_queue', 'admin'), ('set_queue_notify', 'admin'), ('pause_queue', 'admin'),
            ('resume_queue', 'admin'), ('dead_letters', 'admin'), ('replay_dead_letters', 'admin'),
            ('purge_archive', 'admin'), ('purge_workers', 'admin'),
            ('_queue', 'none'), ('_queue_lock_class', 'none'), ('_worker_lock_class', 'none'),
            ('_shown', 'none'), ('_notify_channel', 'none'), ('_check_queue_name', 'none'),
            ('_check_seconds', 'none'), ('_check_count', 'none'), ('_check_ids', 'none'),
            ('_check_worker', 'none'), ('_check_queue_settings', 'none'), ('_move_to_archive', 'none'),
            ('_queue_for_enqueue', 'none'), ('_payload_too_large', 'none'), ('_bury_exhausted', 'none'),
            ('_lease_for_worker', 'none'), ('_release_worker_messages', 'none'), ('_session_may', 'none'),
            ('_role_prefix', 'all'), ('_setup_roles', 'none')
        ) AS d (fn, groups)
        JOIN pg_proc c ON c.proname = d.fn AND c.pronamespace = v_schema_oid
        UNION ALL
        SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE ' ELSE 'TABLE ' END || c.oid::regclass::text, d.groups,
               c.relacl, c.relowner, d.privileges
        FROM (VALUES
            ('queue_metrics', 'all', 'SELECT'), ('worker_health', 'all', 'SELECT'), ('messages', 'admin', 'SELECT'),
            ('pgqrs_queues', 'admin', 'SELECT'), ('pgqrs_messages', 'admin', 'SELECT'),
            ('pgqrs_delayed', 'admin', 'SELECT'),
            ('pgqrs_workers', 'admin', 'SELECT, DELETE'), ('pgqrs_archive', 'admin', 'SELECT, DELETE'),
            ('pgqrs_queues_id_seq', 'none', ''), ('pgqrs_workers_id_seq', 'none', ''),
            ('pgqrs_messages_id_seq', 'none', '')
        ) AS d (rel, groups, privileges)
        JOIN pg_class c ON c.relname = d.rel AND c.relnamespace = v_schema_oid
    LOOP
        -- Revoked from all but the owner, then granted as declared: PUBLIC, roles of
        -- another install and privileges of an older version's declaration go.
        FOR v_grantee IN
            SELECT DISTINCT a.grantee FROM aclexplode(v_grant.acl) a
            WHERE a.grantee <> v_grant.owner
            UNION SELECT 0 WHERE v_grant.acl IS NULL AND v_grant.name LIKE 'FUNCTION %'  -- default: PUBLIC may run it
        LOOP
            EXECUTE format('REVOKE ALL ON %s FROM %s', v_grant.name,
                           CASE WHEN v_grantee.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(v_grantee.grantee::regrole::text) END);
        END LOOP;
        FOR v_group IN
            SELECT g FROM unnest(ARRAY['producer', 'consumer', 'admin']) g
            WHERE v_roles ? g
              AND (v_grant.groups IN ('all', g) OR (g = 'admin' AND v_grant.groups IN ('producer', 'consumer')))
        LOOP
            EXECUTE format('GRANT %s ON %s TO %I', v_grant.privileges, v_grant.name, v_roles ->> v_group);
        END LOOP;
    END LOOP;

    FOR v_role IN SELECT e.value AS rolname FROM jsonb_each_text(v_roles) e LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', v_schema, v_role.rolname);
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@._setup_roles(text) IS
    'create this install''s group roles where missing and apply its grants (run by install and upgrade; the owner''s only)';

-- 0.2.0 granted every install to the cluster's pgqrs_producer, pgqrs_consumer
-- and pgqrs_admin: from 0.3.0 on, an install's roles are named after its
-- schema (or pgqrs.role_prefix), as a fresh install's are.
SELECT @extschema@._setup_roles((SELECT n.nspname FROM pg_catalog.pg_namespace n
                                 WHERE n.oid = '@extschema@'::regnamespace));
