-- create_schedule(schedule_name, queue_name, cron, payload, time_zone)
--   Enqueues payload into the queue at every time the five-field cron
--   expression names (minute hour day-of-month month day-of-week: lists,
--   ranges, steps, JAN-DEC and SUN-SAT, Sunday as 0 or 7; or @hourly,
--   @daily, @weekly, @monthly, @yearly), read in time_zone. The messages
--   are enqueued by run_schedules(). A schedule of that name is replaced
--   (queue, cron, payload and time zone; its next run is computed again),
--   as pg_cron's cron.schedule() does, so a deployment may run it each time.
--
--   Returns  bigint: the schedule's id
--   Errors   PQ001 (no such queue), PQ003 (invalid queue name), PQ004
--            (invalid schedule name, cron expression or time zone), PQ005
--            (NULL, JSON null or too large a payload)
--   Reads    pgqrs_queues
--   Writes   pgqrs_schedules
--   Roles    admin
CREATE FUNCTION @extschema@.create_schedule(
    schedule_name text,
    queue_name text,
    cron text,
    payload jsonb DEFAULT '{}',
    time_zone text DEFAULT 'UTC')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_queue @extschema@.pgqrs_queues;
    v_next_run_at timestamptz;
    v_id bigint;
BEGIN
    PERFORM @extschema@._check_schedule_name(create_schedule.schedule_name);
    v_queue := @extschema@._queue(create_schedule.queue_name);
    PERFORM @extschema@._check_time_zone(create_schedule.time_zone);
    v_next_run_at := @extschema@._cron_next(create_schedule.cron, create_schedule.time_zone, clock_timestamp());
    IF create_schedule.payload IS NULL OR jsonb_typeof(create_schedule.payload) = 'null' THEN
        RAISE EXCEPTION 'payload must not be %', CASE WHEN create_schedule.payload IS NULL THEN 'NULL' ELSE 'JSON null' END
            USING ERRCODE = 'PQ005';
    END IF;
    IF pg_column_size(create_schedule.payload) > v_queue.max_payload_bytes THEN
        PERFORM @extschema@._payload_too_large(v_queue.queue_name, v_queue.max_payload_bytes, 'payload',
                                              pg_column_size(create_schedule.payload));
    END IF;
    INSERT INTO @extschema@.pgqrs_schedules AS s
        (schedule_name, queue_id, cron, payload, time_zone, next_run_at)
    VALUES (create_schedule.schedule_name, v_queue.id, create_schedule.cron, create_schedule.payload,
            create_schedule.time_zone, v_next_run_at)
    ON CONFLICT ON CONSTRAINT pgqrs_schedules_schedule_name_key DO UPDATE
    SET queue_id = excluded.queue_id, cron = excluded.cron, payload = excluded.payload,
        time_zone = excluded.time_zone, next_run_at = excluded.next_run_at
    RETURNING s.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION @extschema@.create_schedule(text, text, text, jsonb, text) IS
    'enqueue payload into a queue at the times a five-field cron expression names, in a time zone (replaces a schedule of that name); returns its id';
