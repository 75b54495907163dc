-- run_schedules()
--   Enqueues a message for every schedule that is due (next_run_at at or
--   before now) and moves its next_run_at to its first slot after now, in
--   the same transaction and under the schedule's row lock, so each
--   (schedule, slot) is enqueued once however many sessions call it at the
--   same time: they skip the schedules another one holds (FOR UPDATE SKIP
--   LOCKED) and never wait for each other. A crash before the commit leaves
--   nothing behind, and the next call enqueues the slot. Missed slots (no one
--   called it for a while) give one message, not one per slot: the slots
--   in between are skipped. Cheap when nothing is due (one index probe):
--   every `pgqrs worker run` calls it, and so can pg_cron each minute.
--
--   Returns  integer: how many messages it enqueued
--   Errors   none of its own (a queue's enqueue errors, e.g. PQ005 for a
--            payload over a lowered max_payload_bytes, roll the call back)
--   Reads    pgqrs_schedules, pgqrs_queues
--   Writes   pgqrs_schedules, pgqrs_messages
--   Roles    producer, consumer, admin
CREATE FUNCTION @extschema@.run_schedules()
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_schedule record;
    v_count integer := 0;
BEGIN
    FOR v_schedule IN
        SELECT s.id, s.cron, s.payload, s.time_zone, s.next_run_at, q.queue_name
        FROM @extschema@.pgqrs_schedules s
        JOIN @extschema@.pgqrs_queues q ON q.id = s.queue_id
        WHERE s.next_run_at <= v_now
        ORDER BY s.next_run_at
        FOR UPDATE OF s SKIP LOCKED
    LOOP
        PERFORM @extschema@.enqueue(queue_name => v_schedule.queue_name, payload => v_schedule.payload);
        UPDATE @extschema@.pgqrs_schedules s
        SET last_run_at = v_schedule.next_run_at,
            next_run_at = @extschema@._cron_next(v_schedule.cron, v_schedule.time_zone, v_now)
        WHERE s.id = v_schedule.id;
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION @extschema@.run_schedules() IS
    'enqueue every due schedule once (missed slots give one message); how many it enqueued';
