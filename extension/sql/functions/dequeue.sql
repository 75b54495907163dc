-- dequeue(queue_name, qty, vt_seconds, worker_id, wait_seconds)
--   Leases up to qty visible messages, first in line first (the highest
--   priority, then the oldest; a message of a group key joins the line when
--   its key lets it in, see enqueue()), skipping rows other sessions have
--   locked. A queue with a rate_limit delivers no more than that many a
--   second over all sessions (a second's worth at once at most): a dequeue
--   gets what it may now, a long poll waits for the rest. Each stays invisible for vt_seconds, its read_ct
--   grows by one and it records worker_id. A message whose lease runs out is
--   delivered again; one that has been delivered max_attempts times is moved
--   to the dead letters instead. A worker_id must belong to an active worker
--   of this queue registered by this login role; a stop_worker() of it waits
--   for this transaction, so it gives back what was leased here. With
--   wait_seconds (at most max_wait_seconds()), an empty queue is polled (every
--   10 ms at first, then up to every 100 ms) until a message comes or the time
--   is up: a long poll for clients that cannot LISTEN. Each poll reads the
--   queue and the worker afresh, so a pause, a drop or a stop ends the wait.
--   Only under READ COMMITTED, where each poll sees what committed meanwhile.
--   A paused queue delivers nothing (see pause_queue()).
--
--   Returns  SETOF pgqrs_messages: the leased messages, first in line first
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (qty,
--            vt_seconds, wait_seconds; a long poll outside READ COMMITTED),
--            PQ006 (qty), PQ008 (worker unknown, of another queue or role),
--            PQ009 (worker not active)
--   Reads    pgqrs_queues, pgqrs_workers
--   Writes   pgqrs_messages, pgqrs_delayed, pgqrs_archive, pgqrs_cancels, the
--            queue's position, pgqrs_groups (dead letters), the queue's token sequence
--   Roles    consumer, admin
CREATE FUNCTION @extschema@.dequeue(
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
    v_due_rank bigint;
    v_ids bigint[];
    v_first_id bigint;
    v_last_id bigint;
    v_last_rank bigint;
    v_tokens integer;  -- of a rate-limited queue: how many it may deliver now
    v_take integer;
    v_leased integer;
    v_worker_locked boolean := false;
    v_after bigint;  -- the pick takes ranks from here on: the position, then each round's last
    v_position regclass;
    v_from bigint;
    v_sweep_setting text;
    v_sweep_after text;  -- this session's: '0' to sweep on every dequeue, or when to sweep next (epoch)
    v_next_sweep text;
    v_sweep boolean;
    v_swept_at timestamptz;
    v_entries_read bigint;  -- entries of the line's index this transaction read before the sweep
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
    v_position := @extschema@._position(v_queue.id);
    v_sweep_setting := 'pgqrs.sweep_after_' || v_queue.id;
    v_wanted := dequeue.qty;
    v_deadline := clock_timestamp() + dequeue.wait_seconds * interval '1 second';

    -- Runs once, unless asked to wait for an empty queue.
    <<waiting>>
    LOOP
        v_now := clock_timestamp();  -- a parameter, so an index condition below
        -- Where the pick starts: at the queue's position, or at its head when this
        -- session's sweep is due (see overview.sql).
        v_from := coalesce(pg_sequence_last_value(v_position), -9223372036854775808);
        v_sweep_after := coalesce(nullif(current_setting(v_sweep_setting, true), ''), '0');
        v_sweep := v_position IS NULL OR v_sweep_after::double precision <= extract(epoch FROM v_now);
        v_after := CASE WHEN v_sweep THEN -9223372036854775808 ELSE v_from END;
        v_swept_at := v_now;
        v_entries_read := pg_stat_get_xact_tuples_returned('@extschema@.pgqrs_messages_rank_idx'::regclass);

        -- A paused queue delivers nothing, as if it were empty; a rate-limited one
        -- what its bucket holds (see internal.sql).
        v_tokens := CASE WHEN v_queue.rate_limit IS NULL THEN v_wanted
                         ELSE least(v_wanted, @extschema@._rate_tokens(v_queue, v_now)) END;
        IF NOT v_queue.paused AND v_tokens > 0 THEN
            -- Delayed messages that are due join the queue first, ids unchanged, so
            -- they take their place among the visible messages by id. A thousand at
            -- a time at least, so a burst that falls due at once soon is all there.
            -- The move holds the queue's lock shared (a purge must not miss it),
            -- only tried: under a purge or drop in progress the due wait a little.
            -- The picked ids and the latest picked vt bound the delete's index
            -- scan, whichever index it takes (see overview.sql).
            IF (SELECT true FROM @extschema@.pgqrs_delayed x  -- ordered by vt: the (queue_id, vt) index
                WHERE x.queue_id = v_queue.id AND x.vt <= v_now ORDER BY x.vt LIMIT 1)
               AND pg_try_advisory_xact_lock_shared(@extschema@._queue_lock_class(), hashtext(v_queue.queue_name)) THEN
                SELECT array_agg(picked.id), min(picked.id), max(picked.id), max(picked.vt), min(picked.rank)
                INTO v_due, v_due_first, v_due_last, v_due_until, v_due_rank
                FROM (
                    SELECT x.id, x.vt, x.rank
                    FROM @extschema@.pgqrs_delayed x
                    WHERE x.queue_id = v_queue.id AND x.vt <= v_now
                    ORDER BY x.vt
                    LIMIT greatest(v_wanted, 1000)
                    FOR UPDATE SKIP LOCKED
                ) picked;
                IF v_due IS NOT NULL THEN
                    -- Their ranks are below the position: this pick, and the next
                    -- dequeues, start from the first of them.
                    IF v_due_rank < v_after THEN
                        v_after := v_due_rank;
                        PERFORM @extschema@._lower_position(v_queue.id, v_due_rank);
                    END IF;
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
                v_take := least(v_wanted, v_tokens);
                IF v_queue.max_attempts IS NOT NULL THEN
                    v_buried := @extschema@._bury_exhausted(v_queue, v_take, v_now, v_after);
                END IF;

                -- Pick and lock, then lease: the lowest and highest picked ids
                -- bound the update's index scan (see overview.sql). The leased
                -- rows come back first in line first, over every round.
                SELECT array_agg(p.id), min(p.id), max(p.id), max(p.rank)
                INTO v_ids, v_first_id, v_last_id, v_last_rank
                FROM (
                    SELECT p.id, p.rank
                    FROM @extschema@.pgqrs_messages p
                    WHERE p.queue_id = v_queue.id
                      AND p.rank IS NOT NULL
                      AND p.rank >= v_after
                      AND p.vt <= v_now
                      AND (v_queue.max_attempts IS NULL OR p.read_ct < v_queue.max_attempts)
                    ORDER BY p.rank
                    LIMIT v_take
                    FOR UPDATE SKIP LOCKED
                ) p;
                -- Messages cancelled in flight whose lease ran out end cancelled, not delivered.
                IF v_ids IS NOT NULL AND EXISTS (SELECT FROM @extschema@.pgqrs_cancels c
                                                 WHERE c.queue_id = v_queue.id AND c.msg_id = ANY (v_ids)) THEN
                    v_ids := nullif(@extschema@._finish_cancelled(v_queue.id, v_ids), '{}');
                END IF;
                v_leased := 0;
                IF v_ids IS NOT NULL THEN
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
                          AND m.id BETWEEN v_first_id AND v_last_id
                          AND m.id = ANY (v_ids)
                        RETURNING m.*
                    )
                    SELECT * FROM leased ORDER BY leased.rank;
                    GET DIAGNOSTICS v_leased = ROW_COUNT;
                    -- Ranks may repeat (a key's next messages, let in at once): the next
                    -- pick starts at this one's last rank, not past it.
                    v_after := v_last_rank;
                    -- Next dequeues start at what this one took last (a sweep that took
                    -- messages below the position leaves it where it was; sessions that
                    -- sweep every time need none).
                    IF v_after > v_from AND v_sweep_after <> '0' THEN
                        -- Not past the newest id: an enqueue of priority 0 ranks there.
                        PERFORM setval(v_position, least(v_after,
                            pg_sequence_last_value('@extschema@.pgqrs_messages_id_seq'::regclass)));
                    END IF;
                    IF v_queue.rate_limit IS NOT NULL THEN
                        PERFORM @extschema@._spend_tokens(v_queue, v_now, v_leased);
                        v_tokens := v_tokens - v_leased;
                    END IF;
                END IF;

                v_wanted := v_wanted - v_leased;
                EXIT WHEN v_wanted = 0 OR v_tokens = 0 OR v_buried = 0;
            END LOOP;
        END IF;

        -- This session's next sweep: on the next dequeue while a sweep steps over at
        -- most 1000 index entries (the head is near, as it is while vacuum keeps up),
        -- else after 50 times what this one took (2% of the session's time), at most
        -- a minute.
        IF v_sweep AND v_position IS NOT NULL THEN
            v_next_sweep := CASE
                WHEN pg_stat_get_xact_tuples_returned('@extschema@.pgqrs_messages_rank_idx'::regclass) - v_entries_read <= 1000
                THEN '0'
                ELSE (extract(epoch FROM clock_timestamp())
                      + least(60, 50 * extract(epoch FROM clock_timestamp() - v_swept_at)))::text
            END;
            IF v_next_sweep <> v_sweep_after THEN
                v_sweep_after := v_next_sweep;
                PERFORM set_config(v_sweep_setting, v_sweep_after, false);
            END IF;
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
