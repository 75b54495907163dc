-- wait_for(queue_name, msg_id, timeout_seconds)
--   message_status(), as soon as the message is finished (done, dead or
--   cancelled) or unknown (deleted, or never enqueued: it will not finish),
--   else when timeout_seconds (at most max_wait_seconds()) are up. Polls as
--   dequeue()'s long poll does: every 10 ms at first, then up to every 100 ms,
--   each read seeing what committed meanwhile; so only under READ COMMITTED.
--
--   Returns  message_state: as message_status()
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004
--            (timeout_seconds out of range, or outside READ COMMITTED)
--   Reads    pgqrs_queues, pgqrs_messages, pgqrs_delayed, pgqrs_archive,
--            pgqrs_cancels
--   Writes   nothing
--   Roles    producer, consumer, admin
CREATE FUNCTION @extschema@.wait_for(
    queue_name text,
    msg_id bigint,
    timeout_seconds integer DEFAULT 30)
RETURNS @extschema@.message_state
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
DECLARE
    v_deadline timestamptz;
    v_pause double precision := 0.01;
    v_status @extschema@.message_state;
BEGIN
    PERFORM @extschema@._check_seconds('timeout_seconds', wait_for.timeout_seconds);
    IF wait_for.timeout_seconds > @extschema@.max_wait_seconds() THEN
        RAISE EXCEPTION 'timeout_seconds must be at most %, got %', @extschema@.max_wait_seconds(), wait_for.timeout_seconds
            USING ERRCODE = 'PQ004',
                  HINT = 'Call wait_for() again to wait longer.';
    END IF;
    IF wait_for.timeout_seconds > 0 AND current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'wait_for() with timeout_seconds > 0 needs READ COMMITTED, not %', current_setting('transaction_isolation')
            USING ERRCODE = 'PQ004',
                  DETAIL = 'The transaction''s snapshot would never show the message finishing while it waits.',
                  HINT = 'Wait outside this transaction, or pass timeout_seconds => 0.';
    END IF;
    v_deadline := clock_timestamp() + wait_for.timeout_seconds * interval '1 second';
    LOOP
        v_status := @extschema@.message_status(wait_for.queue_name, wait_for.msg_id);
        EXIT WHEN v_status.state IN ('done', 'dead', 'cancelled', 'unknown') OR clock_timestamp() >= v_deadline;
        PERFORM pg_sleep(least(v_pause, extract(epoch FROM v_deadline - clock_timestamp())));
        v_pause := least(v_pause * 2, 0.1);
    END LOOP;
    RETURN v_status;
END
$$;
COMMENT ON FUNCTION @extschema@.wait_for(text, bigint, integer) IS
    'message_status() once the message is finished (or unknown), else when timeout_seconds are up; polls, READ COMMITTED only';
