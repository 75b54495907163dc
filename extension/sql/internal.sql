-- Internal helpers (names starting with "_"), shared by the public functions:
-- they run inside them, under the search_path and settings those pin (see
-- overview.sql). EXECUTE on them is the owner's only (grants.sql).

-- _queue(name)
--   The queue's row. Raises PQ001 when there is no such queue. Names are only
--   ever compared with stored names, never spliced into SQL.
CREATE FUNCTION @extschema@._queue(p_queue_name text)
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
CREATE FUNCTION @extschema@._queue_lock_class()
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
CREATE FUNCTION @extschema@._worker_lock_class()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 1886482803 $$;
COMMENT ON FUNCTION @extschema@._worker_lock_class() IS
    'internal: first key of the advisory lock on a worker id';

-- _shown(value)
--   A user-supplied value as error messages quote it: its first 64
--   characters, so that a huge argument is not echoed back whole.
CREATE FUNCTION @extschema@._shown(p_value text)
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
CREATE FUNCTION @extschema@._notify_channel(p_queue_id bigint)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 'pgqrs_' || '@extschema@'::regnamespace::oid || '_' || p_queue_id $$;
COMMENT ON FUNCTION @extschema@._notify_channel(bigint) IS
    'internal: the notification channel of a queue id';

-- Scan positions (see overview.sql, "Where a dequeue starts").
--
-- _position(queue_id)
--   The queue's position sequence, pgqrs_position_<queue id>, or NULL when it
--   is missing (dequeues then scan from the head, as before 0.3.0). Its value
--   is the rank (see _rank()) from which a dequeue looks for ready messages.
CREATE FUNCTION @extschema@._position(p_queue_id bigint)
RETURNS regclass
LANGUAGE sql STABLE
AS $$ SELECT pg_catalog.to_regclass('@extschema@.pgqrs_position_' OPERATOR(pg_catalog.||) p_queue_id) $$;
COMMENT ON FUNCTION @extschema@._position(bigint) IS
    'internal: the queue''s scan position sequence, or NULL';

-- _create_position(queue_id)
--   Makes the queue's position sequence, at the head, owned by
--   pgqrs_queues.id so that it goes with the table (one left behind by an
--   older install is reused). Its name is made of the queue's id, never of a
--   user-supplied name. A sequence rather than a row: moving it leaves no
--   dead row behind, which is the point (see overview.sql).
CREATE FUNCTION @extschema@._create_position(p_queue_id bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    -- Ranks of messages with a priority above 0 are negative.
    EXECUTE pg_catalog.format('CREATE SEQUENCE IF NOT EXISTS %1$s.%2$I MINVALUE -9223372036854775808 OWNED BY %1$s.pgqrs_queues.id',
                              '@extschema@'::regnamespace, 'pgqrs_position_' OPERATOR(pg_catalog.||) p_queue_id);
    PERFORM pg_catalog.setval(@extschema@._position(p_queue_id), 1, false);
END
$$;
COMMENT ON FUNCTION @extschema@._create_position(bigint) IS
    'internal: makes a queue''s scan position sequence';

-- _lower_position(queue_id, rank)
--   Moves the queue's position back to rank, when it is past it: called where
--   a message below the position becomes ready (a release, a stopped or reaped
--   worker, a replay, delayed messages falling due, an enqueue with a priority
--   above 0, a key letting its next message in), so that the next
--   dequeues find it without waiting for a sweep. Racing dequeues may move
--   the position forward again before this transaction commits; the sweep
--   (see dequeue()) finds what that leaves behind.
CREATE FUNCTION @extschema@._lower_position(p_queue_id bigint, p_rank bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_position regclass := @extschema@._position(p_queue_id);
BEGIN
    IF v_position IS NOT NULL AND p_rank OPERATOR(pg_catalog.<) pg_catalog.pg_sequence_last_value(v_position) THEN
        PERFORM pg_catalog.setval(v_position, p_rank);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._lower_position(bigint, bigint) IS
    'internal: moves a queue''s scan position back to a rank that became ready';

-- The line (see pgqrs_messages.rank): priorities, group keys, rate limits.

-- _rank(priority, seq)
--   A message's place in its queue's line: seq (its id, or the id sequence's
--   value when its key let it in) less priority * 2^47, so that one index
--   scan takes the highest priority first and, within one, the first in
--   line. Priorities are -32768 to 32767; the order holds for ids below 2^47.
--   Being an IMMUTABLE SQL function, it is folded into the calling statement.
CREATE FUNCTION @extschema@._rank(p_priority integer, p_seq bigint)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT p_seq OPERATOR(pg_catalog.-) (p_priority::bigint OPERATOR(pg_catalog.*) 140737488355328) $$;
COMMENT ON FUNCTION @extschema@._rank(integer, bigint) IS
    'internal: a message''s place in its queue''s line, from its priority and its id';

-- _check_message_options(n, priority, group_key, dedupe_key)
--   Raises PQ004 for a priority outside -32768 to 32767 or NULL, PQ005 for a
--   group key or dedupe key that is empty or longer than 255 characters. n:
--   the message's place in a batch, which the error names (priorities[n],
--   group_keys[n], dedupe_keys[n]); NULL for enqueue().
CREATE FUNCTION @extschema@._check_message_options(
    p_n bigint, p_priority integer, p_group_key text, p_dedupe_key text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    v_key record;
BEGIN
    IF p_priority IS NULL OR p_priority NOT BETWEEN -32768 AND 32767 THEN
        RAISE EXCEPTION '% must be between -32768 and 32767, got %',
                CASE WHEN p_n IS NULL THEN 'priority' ELSE format('priorities[%s]', p_n) END, coalesce(p_priority::text, 'NULL')
            USING ERRCODE = 'PQ004';
    END IF;
    FOR v_key IN SELECT * FROM (VALUES ('group_key', p_group_key), ('dedupe_key', p_dedupe_key)) AS k (name, value) LOOP
        IF v_key.value = '' OR pg_catalog.length(v_key.value) > 255 THEN
            RAISE EXCEPTION '% must have 1 to 255 characters, got %',
                    CASE WHEN p_n IS NULL THEN v_key.name ELSE format('%ss[%s]', v_key.name, p_n) END,
                    pg_catalog.length(v_key.value)
                USING ERRCODE = 'PQ005', HINT = 'Pass NULL for a message without a key.';
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@._check_message_options(bigint, integer, text, text) IS
    'internal: raises PQ004 or PQ005 for a bad priority, group key or dedupe key';

-- _visible_at(now, delay_seconds, run_at)
--   When a new or released message becomes visible: run_at (now, if that is
--   past), or delay_seconds after now. Raises PQ004 for a bad delay, or for
--   both a run_at and a delay other than 0.
CREATE FUNCTION @extschema@._visible_at(p_now timestamptz, p_delay_seconds integer, p_run_at timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    PERFORM @extschema@._check_seconds('delay_seconds', p_delay_seconds);
    IF p_run_at IS NULL THEN
        RETURN p_now + p_delay_seconds * interval '1 second';
    END IF;
    IF p_delay_seconds <> 0 THEN
        RAISE EXCEPTION 'run_at and delay_seconds cannot both be given (delay_seconds is %)', p_delay_seconds
            USING ERRCODE = 'PQ004', HINT = 'Pass one of them: run_at for a time, delay_seconds for a delay.';
    END IF;
    IF NOT pg_catalog.isfinite(p_run_at) THEN
        RAISE EXCEPTION 'run_at must be a finite time, got %', p_run_at USING ERRCODE = 'PQ004';
    END IF;
    RETURN greatest(p_run_at, p_now);
END
$$;
COMMENT ON FUNCTION @extschema@._visible_at(timestamptz, integer, timestamptz) IS
    'internal: the visibility time of a new or released message from delay_seconds or run_at (PQ004 for both)';

-- _admit(queue_id, group_concurrency, group_key, count)
--   Of count new messages of the key, how many take a place at once: the
--   room the key has (group_concurrency less its messages holding one),
--   which this takes. The others wait for their key (rank NULL). Locks the
--   key's row until the transaction ends, so that the key's messages are let
--   in in id order and never more than group_concurrency at once.
CREATE FUNCTION @extschema@._admit(
    p_queue_id bigint, p_group_concurrency integer, p_group_key text, p_count integer)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_active integer;
    v_admitted integer;
BEGIN
    LOOP
        SELECT g.active INTO v_active
        FROM @extschema@.pgqrs_groups g
        WHERE g.queue_id = p_queue_id AND g.group_key = p_group_key
        FOR UPDATE;
        IF FOUND THEN
            v_admitted := least(p_count, greatest(p_group_concurrency - v_active, 0));
            IF v_admitted > 0 THEN
                UPDATE @extschema@.pgqrs_groups g SET active = g.active + v_admitted
                WHERE g.queue_id = p_queue_id AND g.group_key = p_group_key;
            END IF;
            RETURN v_admitted;
        END IF;
        -- A new key (or one whose last message just finished): its first messages take their places.
        v_admitted := least(p_count, p_group_concurrency);
        INSERT INTO @extschema@.pgqrs_groups (queue_id, group_key, active)
        VALUES (p_queue_id, p_group_key, v_admitted)
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            RETURN v_admitted;
        END IF;
        -- A concurrent enqueue made the row first: lock it, as above.
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@._admit(bigint, integer, text, integer) IS
    'internal: how many new messages of a group key take a place now';

-- _admit_batch(queue_id, group_concurrency, group_keys)
--   _admit() for many messages, keys in key order (so that two sessions lock
--   them in the same order): per message, in order, whether it takes a place
--   now (true for one without a key). The first of a key's messages do.
CREATE FUNCTION @extschema@._admit_batch(p_queue_id bigint, p_group_concurrency integer, p_group_keys text[])
RETURNS boolean[]
LANGUAGE plpgsql
AS $$
DECLARE
    v_keys text[];
    v_admitted integer[];
    v_key text;
    v_count integer;
BEGIN
    FOR v_key, v_count IN
        SELECT g, count(*)::integer FROM unnest(p_group_keys) g WHERE g IS NOT NULL GROUP BY g ORDER BY g
    LOOP
        v_keys := v_keys || v_key;
        v_admitted := v_admitted || @extschema@._admit(p_queue_id, p_group_concurrency, v_key, v_count);
    END LOOP;
    RETURN ARRAY(
        SELECT i.group_key IS NULL
               OR row_number() OVER (PARTITION BY i.group_key ORDER BY i.n) <= a.admitted
        FROM unnest(p_group_keys) WITH ORDINALITY AS i (group_key, n)
        LEFT JOIN unnest(v_keys, v_admitted) AS a (group_key, admitted) ON a.group_key = i.group_key
        ORDER BY i.n);
END
$$;
COMMENT ON FUNCTION @extschema@._admit_batch(bigint, integer, text[]) IS
    'internal: per message of a batch, whether its group key lets it in now';

-- _refill_groups(queue_id, finished, none_gone)
--   finished: the group keys of messages that held a place and are gone (one
--   entry per message). For each key, in key order (so that two sessions lock
--   keys in the same order), gives the places back and lets in the key's
--   oldest waiting messages while it has room: they join the end of the line,
--   ranked at the id sequence's value, so that a key with many messages takes
--   turns with the others instead of going first. Deletes the row of a key
--   with nothing left. Also called with each key once and no message gone
--   (alter_queue raising group_concurrency: finished holds the keys, and the
--   counts are taken as 0 when p_none_gone).
CREATE FUNCTION @extschema@._refill_groups(
    p_queue_id bigint, p_finished text[], p_none_gone boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_concurrency integer := (SELECT q.group_concurrency FROM @extschema@.pgqrs_queues q WHERE q.id = p_queue_id);
    v_key text;
    v_gone integer;
    v_held integer;  -- the key's count as locked
    v_active integer;
    v_ids bigint[];
    v_delayed bigint[];  -- those of v_ids waiting in pgqrs_delayed
    v_seq bigint;
    v_let_in integer;
    v_first_rank bigint;
BEGIN
    FOR v_key, v_gone IN
        SELECT k, CASE WHEN p_none_gone THEN 0 ELSE count(*)::integer END
        FROM unnest(p_finished) k WHERE k IS NOT NULL GROUP BY k ORDER BY k
    LOOP
        SELECT g.active INTO v_held
        FROM @extschema@.pgqrs_groups g
        WHERE g.queue_id = p_queue_id AND g.group_key = v_key
        FOR UPDATE;
        CONTINUE WHEN NOT FOUND;
        v_active := greatest(v_held - v_gone, 0);
        IF v_active < v_concurrency THEN
            -- The oldest waiting, whichever table they wait in (a delayed one keeps its turn).
            SELECT array_agg(w.id ORDER BY w.id), array_agg(w.id) FILTER (WHERE w.delayed)
            INTO v_ids, v_delayed
            FROM (
                SELECT u.id, u.delayed FROM (
                    (SELECT m.id, false AS delayed FROM @extschema@.pgqrs_messages m
                     WHERE m.queue_id = p_queue_id AND m.group_key = v_key AND m.rank IS NULL
                     ORDER BY m.id LIMIT v_concurrency - v_active)
                    UNION ALL
                    (SELECT d.id, true FROM @extschema@.pgqrs_delayed d
                     WHERE d.queue_id = p_queue_id AND d.group_key = v_key AND d.rank IS NULL
                     ORDER BY d.id LIMIT v_concurrency - v_active)
                ) u
                ORDER BY u.id
                LIMIT v_concurrency - v_active
            ) w;
            IF v_ids IS NOT NULL THEN
                v_seq := pg_catalog.pg_sequence_last_value('@extschema@.pgqrs_messages_id_seq'::regclass);
                IF v_delayed IS NULL OR cardinality(v_delayed) < cardinality(v_ids) THEN
                    WITH let_in AS (
                        UPDATE @extschema@.pgqrs_messages m
                        SET rank = @extschema@._rank(m.priority, v_seq + w.n)
                        FROM unnest(v_ids) WITH ORDINALITY AS w (id, n)
                        WHERE m.queue_id = p_queue_id AND m.id = w.id AND m.rank IS NULL
                        RETURNING m.rank
                    )
                    SELECT count(*), min(l.rank) INTO v_let_in, v_first_rank FROM let_in l;
                    v_active := v_active + v_let_in;
                    IF v_first_rank <= v_seq THEN  -- a priority above 0: ahead of the position
                        PERFORM @extschema@._lower_position(p_queue_id, v_first_rank);
                    END IF;
                END IF;
                IF v_delayed IS NOT NULL THEN
                    UPDATE @extschema@.pgqrs_delayed d
                    SET rank = @extschema@._rank(d.priority, v_seq + w.n)
                    FROM unnest(v_ids) WITH ORDINALITY AS w (id, n)
                    WHERE d.queue_id = p_queue_id AND d.id = w.id AND d.rank IS NULL;
                    GET DIAGNOSTICS v_let_in = ROW_COUNT;
                    v_active := v_active + v_let_in;
                END IF;
            END IF;
        END IF;
        IF v_active = 0 THEN
            DELETE FROM @extschema@.pgqrs_groups g
            WHERE g.queue_id = p_queue_id AND g.group_key = v_key;
        ELSIF v_active <> v_held THEN
            UPDATE @extschema@.pgqrs_groups g SET active = v_active
            WHERE g.queue_id = p_queue_id AND g.group_key = v_key;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@._refill_groups(bigint, text[], boolean) IS
    'internal: gives finished messages'' places back to their keys and lets the next in';

-- _take_dedupe_key(queue_id, dedupe_key, hold_seconds, msg_id)
--   Takes the key for the message msg_id is about to name (NULL: the caller
--   sets it once drawn) and returns NULL; or, when an unfinished message holds
--   the key (or a done one within its hold), returns that message's id and
--   takes nothing. A session that finds the key being taken by another waits
--   for it on the primary key: if that one commits, the key is taken (the next
--   round reads it); if it rolls back, this one takes it. So concurrent
--   enqueues of one key make one message and raise nothing under READ
--   COMMITTED (under REPEATABLE READ, a key taken since the snapshot raises
--   40001, as any write conflict there). A key held past free_at is taken over.
CREATE FUNCTION @extschema@._take_dedupe_key(
    p_queue_id bigint, p_key text, p_hold_seconds integer, p_msg_id bigint)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_holder record;
BEGIN
    LOOP
        -- A new key (the common case) in one statement; a taken one costs a look at the index.
        INSERT INTO @extschema@.pgqrs_dedupe_keys (queue_id, dedupe_key, msg_id, hold_seconds)
        VALUES (p_queue_id, p_key, p_msg_id, p_hold_seconds)
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            RETURN NULL;
        END IF;
        SELECT d.msg_id, d.free_at INTO v_holder
        FROM @extschema@.pgqrs_dedupe_keys d
        WHERE d.queue_id = p_queue_id AND d.dedupe_key = p_key;
        IF FOUND THEN
            IF v_holder.free_at IS NULL OR v_holder.free_at > pg_catalog.clock_timestamp() THEN
                RETURN v_holder.msg_id;
            END IF;
            UPDATE @extschema@.pgqrs_dedupe_keys d
            SET msg_id = p_msg_id, hold_seconds = p_hold_seconds, free_at = NULL
            WHERE d.queue_id = p_queue_id AND d.dedupe_key = p_key
              AND d.free_at <= pg_catalog.clock_timestamp();
            IF FOUND THEN
                RETURN NULL;
            END IF;
        END IF;
        -- Another session took or freed it meanwhile: try again.
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@._take_dedupe_key(bigint, text, integer, bigint) IS
    'internal: takes a dedupe key for a new message (NULL), or returns the id of the message that holds it';

-- _free_dedupe_keys(queue_id, ids, keys, done)
--   The messages ids are finished (keys and done run parallel: their dedupe
--   keys, and whether each is done, that is archived or deleted rather than
--   dead-lettered or cancelled): their keys are free again, but for done ones
--   taken with a hold, which stay taken hold_seconds from now.
CREATE FUNCTION @extschema@._free_dedupe_keys(
    p_queue_id bigint, p_ids bigint[], p_keys text[], p_done boolean[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    WITH finished AS (
        SELECT * FROM unnest(p_ids, p_keys, p_done) AS f (msg_id, dedupe_key, done)
    ), held AS (
        UPDATE @extschema@.pgqrs_dedupe_keys d
        SET free_at = pg_catalog.clock_timestamp() + d.hold_seconds * interval '1 second'
        FROM finished f
        WHERE d.queue_id = p_queue_id AND d.dedupe_key = f.dedupe_key AND d.msg_id = f.msg_id
          AND f.done AND d.hold_seconds > 0
        RETURNING d.dedupe_key
    )
    DELETE FROM @extschema@.pgqrs_dedupe_keys d
    USING finished f
    WHERE d.queue_id = p_queue_id AND d.dedupe_key = f.dedupe_key AND d.msg_id = f.msg_id
      AND d.dedupe_key NOT IN (SELECT h.dedupe_key FROM held h);
END
$$;
COMMENT ON FUNCTION @extschema@._free_dedupe_keys(bigint, bigint[], text[], boolean[]) IS
    'internal: frees the dedupe keys of finished messages (or holds them for their hold_seconds)';

-- Rate limits: a token bucket of a second's deliveries (at least one) per
-- rate-limited queue, kept in the sequence pgqrs_tokens_<queue id> (made and
-- dropped by create_queue, alter_queue and drop_queue, outside the extension
-- as the positions are): its value counts the deliveries so far on a clock
-- that ticks rate_limit times a second, floor(epoch * rate_limit). A bucket
-- that is full stays full (the count is moved up to the clock before it
-- grows). A sequence rather than a row: nextval() counts without locks, so
-- dequeues never wait for each other's commit, and leaves no dead rows.
-- Dequeues that read the count at the same moment may together take more
-- than the bucket held; what they took is counted all the same, so the
-- rate over any longer time stays the limit.

-- _tokens(queue_id)
--   The queue's token sequence, or NULL when it has no rate limit.
CREATE FUNCTION @extschema@._tokens(p_queue_id bigint)
RETURNS regclass
LANGUAGE sql STABLE
AS $$ SELECT pg_catalog.to_regclass('@extschema@.pgqrs_tokens_' OPERATOR(pg_catalog.||) p_queue_id) $$;
COMMENT ON FUNCTION @extschema@._tokens(bigint) IS
    'internal: the queue''s rate-limit token sequence, or NULL';

-- _set_rate_limit(queue_id, rate_limit)
--   Makes the queue's token sequence, with a full bucket, or drops it (NULL).
--   Its name is made of the queue's id, never of a user-supplied name.
CREATE FUNCTION @extschema@._set_rate_limit(p_queue_id bigint, p_rate_limit double precision)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF p_rate_limit IS NULL THEN
        IF @extschema@._tokens(p_queue_id) IS NOT NULL THEN
            EXECUTE pg_catalog.format('DROP SEQUENCE %s', @extschema@._tokens(p_queue_id));
        END IF;
        RETURN;
    END IF;
    EXECUTE pg_catalog.format('CREATE SEQUENCE IF NOT EXISTS %1$s.%2$I OWNED BY %1$s.pgqrs_queues.id',
                              '@extschema@'::regnamespace, 'pgqrs_tokens_' OPERATOR(pg_catalog.||) p_queue_id);
    PERFORM pg_catalog.setval(@extschema@._tokens(p_queue_id),
                              floor(extract(epoch FROM clock_timestamp()) * p_rate_limit)::bigint);
END
$$;
COMMENT ON FUNCTION @extschema@._set_rate_limit(bigint, double precision) IS
    'internal: makes (with a full bucket) or drops a queue''s rate-limit token sequence';

-- _rate_tokens(queue, now)
--   How many messages a rate-limited queue may deliver now: the bucket's
--   size (a second's worth, at least 1) less what the count is ahead of the
--   clock. 0 when its sequence is missing.
CREATE FUNCTION @extschema@._rate_tokens(p_queue @extschema@.pgqrs_queues, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_tokens regclass := @extschema@._tokens(p_queue.id);
    v_clock bigint := floor(extract(epoch FROM p_now) * p_queue.rate_limit)::bigint;
BEGIN
    IF v_tokens IS NULL THEN
        RETURN 0;
    END IF;
    RETURN greatest(floor(greatest(p_queue.rate_limit, 1))::bigint
                    - greatest(pg_catalog.pg_sequence_last_value(v_tokens) - v_clock, 0), 0);
END
$$;
COMMENT ON FUNCTION @extschema@._rate_tokens(@extschema@.pgqrs_queues, timestamptz) IS
    'internal: how many messages a rate-limited queue may deliver now';

-- _spend_tokens(queue, now, count)
--   Counts count deliveries (see _rate_tokens()).
CREATE FUNCTION @extschema@._spend_tokens(p_queue @extschema@.pgqrs_queues, p_now timestamptz, p_count integer)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_tokens regclass := @extschema@._tokens(p_queue.id);
    v_clock bigint := floor(extract(epoch FROM p_now) * p_queue.rate_limit)::bigint;
BEGIN
    IF v_tokens IS NULL OR p_count = 0 THEN
        RETURN;
    END IF;
    IF pg_catalog.pg_sequence_last_value(v_tokens) < v_clock THEN  -- was full: counts from the clock
        PERFORM pg_catalog.setval(v_tokens, v_clock);
    END IF;
    PERFORM pg_catalog.nextval(v_tokens) FROM generate_series(1, p_count);
END
$$;
COMMENT ON FUNCTION @extschema@._spend_tokens(@extschema@.pgqrs_queues, timestamptz, integer) IS
    'internal: counts deliveries against a rate-limited queue''s bucket';


-- _check_queue_name(name)
--   1 to 64 characters: letters, digits, '_', '-' and '.', not starting with
--   '-' or '.'. Raises PQ003 otherwise.
CREATE FUNCTION @extschema@._check_queue_name(p_queue_name text)
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
CREATE FUNCTION @extschema@._check_seconds(p_argument text, p_value integer)
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
CREATE FUNCTION @extschema@._check_count(p_argument text, p_value integer)
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

-- _check_parallel(argument, values, payloads)
--   Raises PQ004 unless values is NULL or a one-dimensional array as long as
--   payloads (enqueue_batch()'s arrays that run parallel to its payloads).
CREATE FUNCTION @extschema@._check_parallel(p_argument text, p_values anyarray, p_payloads jsonb[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF array_ndims(p_values) > 1 THEN
        RAISE EXCEPTION '% must be a one-dimensional array', p_argument USING ERRCODE = 'PQ004';
    END IF;
    IF cardinality(p_values) <> cardinality(p_payloads) THEN
        RAISE EXCEPTION '% must have one element per payload: % elements for % payloads',
                p_argument, cardinality(p_values), cardinality(p_payloads)
            USING ERRCODE = 'PQ004', HINT = 'Pass NULL for the defaults.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_parallel(text, anyarray, jsonb[]) IS
    'internal: raises PQ004 unless an array runs parallel to the payloads';

-- _check_ids(argument, ids)
--   An array of message ids: not NULL, one-dimensional (PQ004), at most
--   max_batch_size() (PQ006).
CREATE FUNCTION @extschema@._check_ids(p_argument text, p_ids bigint[])
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
CREATE FUNCTION @extschema@._check_worker(p_worker_id bigint, p_queue @extschema@.pgqrs_queues)
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
    IF v_worker.registered_by <> session_user THEN  -- NULL (registered before 0.3.0): any role
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

-- _move_to_archive(queue_id, ids, worker_id, dead_lettered, result, cancelled)
--   Moves messages from pgqrs_messages (and, without a worker_id, from
--   pgqrs_delayed) to pgqrs_archive in one statement, stamping archived_at
--   and processing_duration, with the result (complete()) or as cancelled
--   (cancel()). With a worker_id, only the messages leased to that worker
--   move. Every message leaves the queue for good through here. The places
--   their group keys held go to the keys' next messages (_refill_groups()). A
--   message whose cancel is pending (pgqrs_cancels) ends cancelled, whoever
--   finishes it: looked up after the move, in a statement of its own, so that
--   a cancel() that held the row while this waited for it is seen. Returns the
--   ids moved.
CREATE FUNCTION @extschema@._move_to_archive(
    p_queue_id bigint, p_ids bigint[], p_worker_id bigint, p_dead_lettered boolean,
    p_result jsonb DEFAULT NULL, p_cancelled boolean DEFAULT false)
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_now timestamptz := pg_catalog.clock_timestamp();
    v_moved bigint[];
    v_keys text[];
    v_deduped bigint[];  -- the messages moved with a dedupe key (v_dedupe_keys)
    v_dedupe_keys text[];
BEGIN
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
    ), gone AS (
        SELECT * FROM moved UNION ALL SELECT * FROM moved_delayed
    ), archived AS (
        INSERT INTO @extschema@.pgqrs_archive AS a
            (id, queue_id, payload, enqueued_at, vt, read_ct, dequeued_at, worker_id,
             archived_at, processing_duration, dead_lettered, priority, group_key, result, cancelled)
        SELECT m.id, m.queue_id, m.payload, m.enqueued_at, m.vt, m.read_ct, m.dequeued_at, m.worker_id,
               v_now, v_now - m.dequeued_at, p_dead_lettered AND NOT p_cancelled,
               m.priority, m.group_key, CASE WHEN p_cancelled THEN NULL ELSE p_result END, p_cancelled
        FROM gone m
        RETURNING a.id
    )
    SELECT (SELECT array_agg(a.id) FROM archived a),
           (SELECT array_agg(m.group_key) FROM gone m WHERE m.group_key IS NOT NULL AND m.rank IS NOT NULL),
           (SELECT array_agg(m.id) FROM gone m WHERE m.dedupe_key IS NOT NULL),
           (SELECT array_agg(m.dedupe_key) FROM gone m WHERE m.dedupe_key IS NOT NULL)
    INTO v_moved, v_keys, v_deduped, v_dedupe_keys;
    IF v_moved IS NULL THEN
        RETURN;
    END IF;
    IF v_keys IS NOT NULL THEN
        PERFORM @extschema@._refill_groups(p_queue_id, v_keys);
    END IF;
    IF NOT p_cancelled THEN
        WITH pending AS (
            DELETE FROM @extschema@.pgqrs_cancels c
            WHERE c.queue_id = p_queue_id AND c.msg_id = ANY (v_moved)
            RETURNING c.msg_id
        )
        UPDATE @extschema@.pgqrs_archive a
        SET cancelled = true, dead_lettered = false, result = NULL
        FROM pending
        WHERE a.queue_id = p_queue_id AND a.id = pending.msg_id;
    ELSE
        DELETE FROM @extschema@.pgqrs_cancels c
        WHERE c.queue_id = p_queue_id AND c.msg_id = ANY (v_moved);
    END IF;
    IF v_deduped IS NOT NULL THEN  -- after the cancels: a message that ended cancelled is not done
        PERFORM @extschema@._free_dedupe_keys(p_queue_id, v_deduped, v_dedupe_keys,
            ARRAY(SELECT NOT a.dead_lettered AND NOT a.cancelled
                  FROM unnest(v_deduped) WITH ORDINALITY AS f (id, n)
                  JOIN @extschema@.pgqrs_archive a ON a.queue_id = p_queue_id AND a.id = f.id
                  ORDER BY f.n));
    END IF;
    RETURN QUERY SELECT unnest(v_moved);
END
$$;
COMMENT ON FUNCTION @extschema@._move_to_archive(bigint, bigint[], bigint, boolean, jsonb, boolean) IS
    'internal: moves messages to the archive (with a result, or cancelled); returns the ids moved';

-- _finish_cancelled(queue_id, ids)
--   Of these ids, just picked by a dequeue, moves those whose cancel is
--   pending (their lease ran out) to the archive as cancelled instead of
--   delivering them again. Returns the other ids, in their order.
CREATE FUNCTION @extschema@._finish_cancelled(p_queue_id bigint, p_ids bigint[])
RETURNS bigint[]
LANGUAGE plpgsql
AS $$
DECLARE
    v_cancelled bigint[];
BEGIN
    SELECT array_agg(c.msg_id) INTO v_cancelled
    FROM @extschema@.pgqrs_cancels c
    WHERE c.queue_id = p_queue_id AND c.msg_id = ANY (p_ids);
    IF v_cancelled IS NULL THEN
        RETURN p_ids;
    END IF;
    PERFORM @extschema@._move_to_archive(p_queue_id, v_cancelled, NULL, false, NULL, true);
    RETURN ARRAY(SELECT i FROM unnest(p_ids) WITH ORDINALITY AS u (i, n)
                 WHERE i <> ALL (v_cancelled) ORDER BY n);
END
$$;
COMMENT ON FUNCTION @extschema@._finish_cancelled(bigint, bigint[]) IS
    'internal: ends the picked messages whose cancel is pending; returns the others';

-- _check_queue_settings(max_attempts, max_payload_bytes, group_concurrency, rate_limit)
--   The settings create_queue and alter_queue take: at least 1 each, a
--   rate_limit above 0 and at most a million a second (PQ004).
CREATE FUNCTION @extschema@._check_queue_settings(
    p_max_attempts integer, p_max_payload_bytes integer, p_group_concurrency integer, p_rate_limit double precision)
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
    IF p_group_concurrency < 1 THEN
        RAISE EXCEPTION 'group_concurrency must be at least 1, got %', p_group_concurrency
            USING ERRCODE = 'PQ004';
    END IF;
    IF NOT p_rate_limit > 0 OR p_rate_limit > 1000000 THEN  -- NOT >: NaN too
        RAISE EXCEPTION 'rate_limit must be above 0 and at most 1000000 messages a second (or NULL for no limit), got %', p_rate_limit
            USING ERRCODE = 'PQ004';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_queue_settings(integer, integer, integer, double precision) IS
    'internal: raises PQ004 for bad queue settings';

-- _queue_for_enqueue(queue_name, ready)
--   The queue to write to, looked up under the shared name lock (see
--   _queue_lock_class()), so a concurrent drop_queue() either waits for this
--   transaction or has already removed the queue (PQ001). When ready messages
--   are coming and the queue asks for it, sends the notification: one per
--   call, and PostgreSQL delivers it at commit, once per transaction.
CREATE FUNCTION @extschema@._queue_for_enqueue(p_queue_name text, p_ready boolean)
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
CREATE FUNCTION @extschema@._payload_too_large(
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

-- _bury_exhausted(queue, qty, now, after)
--   Among the next qty visible messages ranked from after on (first in line first,
--   skipping those locked by other sessions), moves the ones that used up the
--   queue's max_attempts to the archive as dead letters. Returns how many.
--   Only for queues with a delivery limit.
CREATE FUNCTION @extschema@._bury_exhausted(
    p_queue @extschema@.pgqrs_queues, p_qty integer, p_now timestamptz, p_after bigint)
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
        WHERE m.queue_id = p_queue.id AND m.rank IS NOT NULL AND m.rank >= p_after AND m.vt <= p_now
        ORDER BY m.rank
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
COMMENT ON FUNCTION @extschema@._bury_exhausted(@extschema@.pgqrs_queues, integer, timestamptz, bigint) IS
    'internal: moves messages that used up max_attempts to the dead letters';

-- _lease_for_worker(worker_id, queue)
--   Called by dequeue() before it leases for a worker: holds the worker's
--   lock shared until the transaction ends (see _worker_lock_class()) and
--   checks, after taking it, that the worker is still active. Only tries the
--   lock: a stop_worker() waiting for it or holding it raises PQ009 here
--   rather than waiting with the picked messages locked, which it may need.
CREATE FUNCTION @extschema@._lease_for_worker(p_worker_id bigint, p_queue @extschema@.pgqrs_queues)
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

-- _release_worker_messages(queue_id, worker_ids)
--   Makes every message held by these workers visible at once (a lease that
--   already ran out keeps its vt) and clears their worker_id, so the workers'
--   late calls are fenced off. Returns how many messages it released.
CREATE FUNCTION @extschema@._release_worker_messages(p_queue_id bigint, p_worker_ids bigint[])
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_count bigint;
    v_first bigint;
BEGIN
    WITH released AS (
        UPDATE @extschema@.pgqrs_messages m
        SET vt = LEAST(m.vt, v_now),
            dequeued_at = NULL,
            worker_id = NULL
        WHERE m.queue_id = p_queue_id
          AND m.worker_id = ANY (p_worker_ids)
        RETURNING m.rank
    )
    SELECT count(*), min(r.rank) INTO v_count, v_first FROM released r;
    PERFORM @extschema@._lower_position(p_queue_id, v_first);
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION @extschema@._release_worker_messages(bigint, bigint[]) IS
    'internal: makes the messages held by workers visible again';

-- _session_may(function)
--   Whether this session's login role may run the function: how the functions
--   below, which run as their owner, tell a consumer or an admin from a
--   producer (the groups are told apart by what they may run, see grants.sql).
CREATE FUNCTION @extschema@._session_may(p_function regprocedure)
RETURNS boolean
LANGUAGE sql STABLE
AS $$ SELECT pg_catalog.has_function_privilege(session_user, p_function, 'EXECUTE') $$;
COMMENT ON FUNCTION @extschema@._session_may(regprocedure) IS
    'internal: whether the session''s login role may run a function';

-- Schedules (see create_schedule()).
--
-- _check_schedule_name(name)
--   A schedule name follows the rules of queue names (_check_queue_name());
--   raises PQ004 otherwise.
CREATE FUNCTION @extschema@._check_schedule_name(p_schedule_name text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF p_schedule_name IS NULL OR p_schedule_name !~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$' THEN
        RAISE EXCEPTION 'invalid schedule name "%"', coalesce(@extschema@._shown(p_schedule_name), 'NULL')
            USING ERRCODE = 'PQ004',
                  DETAIL = 'A schedule name has 1 to 64 characters: letters, digits, "_", "-" and ".", and starts with a letter, a digit or "_".';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_schedule_name(text) IS
    'internal: raises PQ004 for an invalid schedule name';

-- _check_time_zone(time_zone)
--   A time zone PostgreSQL knows by name (pg_timezone_names), such as
--   'UTC' or 'Europe/Paris'; raises PQ004 otherwise.
CREATE FUNCTION @extschema@._check_time_zone(p_time_zone text)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF p_time_zone IS NULL OR NOT EXISTS (SELECT FROM pg_catalog.pg_timezone_names z WHERE z.name = p_time_zone) THEN
        RAISE EXCEPTION 'unknown time zone "%"', coalesce(@extschema@._shown(p_time_zone), 'NULL')
            USING ERRCODE = 'PQ004',
                  HINT = 'Name a zone of pg_timezone_names, such as ''UTC'' or ''Europe/Paris''.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_time_zone(text) IS
    'internal: raises PQ004 for a time zone PostgreSQL does not know';

-- _cron_field(cron, what, field, low, high, names, name_base)
--   The values, in order and without repeats, that one field of a cron
--   expression allows: a comma-separated list of "*", "n", "n-m", each
--   optionally followed by "/step" ("n/step" runs from n to high). Names
--   (three letters, any case) stand for numbers: names[1] is name_base.
--   Raises PQ004 naming the field for anything else.
CREATE FUNCTION @extschema@._cron_field(
    p_cron text, p_what text, p_field text, p_low integer, p_high integer, p_names text[], p_name_base integer)
RETURNS integer[]
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    v_part text;
    v_match text[];
    v_bound text;
    v_bounds integer[];
    v_step integer;
    v_values integer[] := '{}';
BEGIN
    FOREACH v_part IN ARRAY pg_catalog.string_to_array(p_field, ',') LOOP
        v_match := pg_catalog.regexp_match(pg_catalog.upper(v_part),
                                           '^(\*|([0-9]{1,2}|[A-Z]{3})(-([0-9]{1,2}|[A-Z]{3}))?)(/([0-9]{1,2}))?$');
        v_bounds := '{}';
        IF v_match IS NOT NULL AND v_match[1] <> '*' THEN
            FOREACH v_bound IN ARRAY ARRAY[v_match[2], v_match[4]] LOOP
                CONTINUE WHEN v_bound IS NULL;
                v_bounds := v_bounds || CASE WHEN v_bound ~ '^[0-9]+$' THEN v_bound::integer
                                             ELSE pg_catalog.array_position(p_names, v_bound) - 1 + p_name_base END;
            END LOOP;
        END IF;
        v_step := coalesce(v_match[6]::integer, 1);
        IF v_match IS NULL OR v_step < 1 OR EXISTS (SELECT FROM unnest(v_bounds) b WHERE b IS NULL OR b NOT BETWEEN p_low AND p_high)
           OR v_bounds[2] < v_bounds[1] THEN
            RAISE EXCEPTION 'invalid % field "%" in cron expression "%"', p_what, @extschema@._shown(v_part), @extschema@._shown(p_cron)
                USING ERRCODE = 'PQ004',
                      DETAIL = pg_catalog.format('The %s field takes %s to %s%s, as "*", "n", "n-m" or a comma-separated list of them, each optionally with "/step".',
                                                 p_what, p_low, p_high,
                                                 CASE WHEN p_names IS NULL THEN '' ELSE ' or the names ' || pg_catalog.array_to_string(p_names, ', ') END);
        END IF;
        v_values := v_values || ARRAY(
            SELECT pg_catalog.generate_series(
                CASE WHEN v_match[1] = '*' THEN p_low ELSE v_bounds[1] END,
                CASE WHEN v_match[1] = '*' THEN p_high
                     WHEN cardinality(v_bounds) = 2 THEN v_bounds[2]
                     WHEN v_match[6] IS NOT NULL THEN p_high
                     ELSE v_bounds[1] END,
                v_step));
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT v FROM unnest(v_values) v ORDER BY v);
END
$$;
COMMENT ON FUNCTION @extschema@._cron_field(text, text, text, integer, integer, text[], integer) IS
    'internal: the values one field of a cron expression allows (PQ004 if invalid)';

-- _cron_next(cron, time_zone, after)
--   The first time after "after" that a five-field cron expression (minute,
--   hour, day of month, month, day of week; or @yearly, @monthly, @weekly,
--   @daily, @hourly) names, read in the time zone. As in cron: Sunday is 0
--   or 7; when both the day of month and the day of week are restricted
--   (neither starts with "*"), a day matching either runs. Daylight saving
--   time: a local time that the change skips runs at the same instant as
--   the hour after it (02:30 becomes 03:30); one that it repeats runs once,
--   at its first occurrence. Raises PQ004 for an invalid expression or one
--   that names no time (30 February).
CREATE FUNCTION @extschema@._cron_next(p_cron text, p_time_zone text, p_after timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_fields text[];
    v_minutes integer[];
    v_hours integer[];
    v_days integer[];
    v_months integer[];
    v_weekdays integer[];
    v_either boolean;
    v_start timestamp;
    v_date date;
    v_hour integer;
    v_minute integer;
    v_local timestamp;
    v_at timestamptz;
BEGIN
    IF p_cron IS NULL THEN
        RAISE EXCEPTION 'cron must not be NULL' USING ERRCODE = 'PQ004';
    END IF;
    v_fields := pg_catalog.regexp_split_to_array(pg_catalog.btrim(CASE pg_catalog.lower(pg_catalog.btrim(p_cron))
        WHEN '@yearly' THEN '0 0 1 1 *' WHEN '@annually' THEN '0 0 1 1 *' WHEN '@monthly' THEN '0 0 1 * *'
        WHEN '@weekly' THEN '0 0 * * 0' WHEN '@daily' THEN '0 0 * * *' WHEN '@midnight' THEN '0 0 * * *'
        WHEN '@hourly' THEN '0 * * * *' ELSE p_cron END), '\s+');
    IF cardinality(v_fields) <> 5 THEN
        RAISE EXCEPTION 'cron expression "%" does not have five fields', @extschema@._shown(p_cron)
            USING ERRCODE = 'PQ004',
                  DETAIL = 'A cron expression is "minute hour day-of-month month day-of-week", such as "*/15 9-17 * * MON-FRI".';
    END IF;
    v_minutes := @extschema@._cron_field(p_cron, 'minute', v_fields[1], 0, 59, NULL, 0);
    v_hours := @extschema@._cron_field(p_cron, 'hour', v_fields[2], 0, 23, NULL, 0);
    v_days := @extschema@._cron_field(p_cron, 'day-of-month', v_fields[3], 1, 31, NULL, 0);
    v_months := @extschema@._cron_field(p_cron, 'month', v_fields[4], 1, 12,
        '{JAN,FEB,MAR,APR,MAY,JUN,JUL,AUG,SEP,OCT,NOV,DEC}', 1);
    v_weekdays := ARRAY(SELECT DISTINCT w % 7 FROM unnest(@extschema@._cron_field(p_cron, 'day-of-week', v_fields[5], 0, 7,
        '{SUN,MON,TUE,WED,THU,FRI,SAT}', 0)) w);
    v_either := v_fields[3] !~ '^\*' AND v_fields[5] !~ '^\*';

    v_start := pg_catalog.date_trunc('minute', p_after AT TIME ZONE p_time_zone) + interval '1 minute';
    -- Eight years and a day: a 29 February comes round within them, whatever the year.
    FOR v_day IN 0 .. 8 * 366 LOOP
        v_date := v_start::date + v_day;
        CONTINUE WHEN NOT (extract(month FROM v_date)::integer = ANY (v_months));
        IF v_either THEN
            CONTINUE WHEN NOT (extract(day FROM v_date)::integer = ANY (v_days)
                               OR extract(dow FROM v_date)::integer = ANY (v_weekdays));
        ELSE
            CONTINUE WHEN NOT (extract(day FROM v_date)::integer = ANY (v_days)
                               AND extract(dow FROM v_date)::integer = ANY (v_weekdays));
        END IF;
        FOREACH v_hour IN ARRAY v_hours LOOP
            FOREACH v_minute IN ARRAY v_minutes LOOP
                v_local := v_date + pg_catalog.make_time(v_hour, v_minute, 0);
                CONTINUE WHEN v_local < v_start;
                v_at := v_local AT TIME ZONE p_time_zone;  -- a repeated local time: its second occurrence
                IF ((v_at - interval '1 hour') AT TIME ZONE p_time_zone) = v_local THEN
                    v_at := v_at - interval '1 hour';  -- its first
                END IF;
                IF v_at > p_after THEN
                    RETURN v_at;
                END IF;
            END LOOP;
        END LOOP;
    END LOOP;
    RAISE EXCEPTION 'cron expression "%" names no time', @extschema@._shown(p_cron)
        USING ERRCODE = 'PQ004',
              DETAIL = 'No day in eight years matches its day of month, month and day of week.';
END
$$;
COMMENT ON FUNCTION @extschema@._cron_next(text, text, timestamptz) IS
    'internal: the next time a cron expression names after a time, in a time zone (PQ004 if invalid)';

-- Topics (see publish()).
--
-- _check_topic(argument, value, wildcards)
--   Words of letters, digits, "_" and "-", separated by ".", 1 to 255
--   characters; with wildcards, a word may also be "*" (one word) or "#"
--   (any number of words). Raises PQ004 otherwise.
CREATE FUNCTION @extschema@._check_topic(p_argument text, p_value text, p_wildcards boolean)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF p_value IS NULL OR pg_catalog.length(p_value) > 255
       OR p_value !~ (CASE WHEN p_wildcards THEN '^([A-Za-z0-9_-]+|\*|#)(\.([A-Za-z0-9_-]+|\*|#))*$'
                           ELSE '^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$' END) THEN
        RAISE EXCEPTION 'invalid % "%"', p_argument, coalesce(@extschema@._shown(p_value), 'NULL')
            USING ERRCODE = 'PQ004',
                  DETAIL = CASE WHEN p_wildcards
                                THEN 'A pattern is words of letters, digits, "_" and "-" separated by "."; a word may be "*" (one word) or "#" (any number of words).'
                                ELSE 'A topic is words of letters, digits, "_" and "-" separated by ".", without wildcards.' END;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_topic(text, text, boolean) IS
    'internal: raises PQ004 for an invalid topic or pattern';

-- _topic_regex(pattern)
--   The regular expression that a checked pattern stands for, to match
--   against "." || topic: a word is itself, "*" one word, "#" any number.
--   Built from a pattern _check_topic() accepted, so it holds no other
--   regular expression syntax.
CREATE FUNCTION @extschema@._topic_regex(p_pattern text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT '^' OPERATOR(pg_catalog.||) pg_catalog.string_agg(
               CASE w WHEN '*' THEN '\.[^.]+' WHEN '#' THEN '(\.[^.]+)*' ELSE '\.' OPERATOR(pg_catalog.||) w END,
               '' ORDER BY n) OPERATOR(pg_catalog.||) '$'
    FROM unnest(pg_catalog.string_to_array(p_pattern, '.')) WITH ORDINALITY AS t (w, n)
$$;
COMMENT ON FUNCTION @extschema@._topic_regex(text) IS
    'internal: the regular expression of a topic pattern';
