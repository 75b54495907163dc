-- Schedules: create_schedule, drop_schedule, the schedules view, run_schedules, and the cron parser.
\set VERBOSITY terse
SELECT pgqrs.create_queue('ticks') > 0 AS created;

-- next(cron, zone, after): the next slot, shown in UTC.
CREATE FUNCTION next_slot(p_cron text, p_zone text, p_after text) RETURNS text
LANGUAGE sql AS $$
    SELECT to_char(pgqrs._cron_next(p_cron, p_zone, p_after::timestamptz) AT TIME ZONE 'UTC', 'Dy YYYY-MM-DD HH24:MI')
$$;
SELECT cron, next_slot(cron, 'UTC', '2024-01-01 10:07+00') AS next_after_mon_10_07
FROM (VALUES ('* * * * *'), ('*/15 * * * *'), ('5,35 * * * *'), ('0 9-17/4 * * *'), ('30 6 * * 1-5'),
             ('0 9 * * MON-FRI'), ('0 9 * * sat,sun'), ('0 0 * * 0'), ('0 0 * * 7'), ('0 0 1 JAN,JUL *'),
             ('0 0 1 jul *'), ('0 0 13 * 5'), ('0 0 13 * *'), ('0 0 * * FRI'), ('0 0 */10 * *'),
             ('0 12 1/15 * *'), ('@hourly'), ('@daily'), ('@weekly'), ('@monthly'), ('@yearly'),
             ('  0   0 * *   *  ')) c (cron);
-- Both day fields restricted: either matches (the 13th, or a Friday); one restricted: that one.
SELECT next_slot('0 0 13 * 5', 'UTC', '2024-09-07 00:00+00') AS friday_first,
       next_slot('0 0 13 * 5', 'UTC', '2024-09-10 00:00+00') AS thirteenth_first,
       next_slot('0 0 * 2 5', 'UTC', '2024-01-01 00:00+00') AS friday_in_february;
-- 29 February comes round; the end of a month.
SELECT next_slot('0 0 29 2 *', 'UTC', '2024-03-01 00:00+00') AS leap_day,
       next_slot('0 0 31 * *', 'UTC', '2024-04-01 00:00+00') AS thirty_first;
-- A time zone: 09:00 in Paris is 08:00 UTC in winter, 07:00 in summer.
SELECT next_slot('0 9 * * *', 'Europe/Paris', '2024-01-01 10:00+00') AS paris_winter,
       next_slot('0 9 * * *', 'Europe/Paris', '2024-07-01 10:00+00') AS paris_summer;
-- DST in New York: 02:30 on 10 March 2024 does not exist (it runs at 03:30 EDT, 07:30 UTC);
-- 01:30 on 3 November 2024 happens twice (it runs once, at the first, 05:30 UTC).
SELECT next_slot('30 2 * * *', 'America/New_York', '2024-03-10 05:00+00') AS skipped_hour,
       next_slot('30 3 * * *', 'America/New_York', '2024-03-10 05:00+00') AS after_skip,
       next_slot('30 1 * * *', 'America/New_York', '2024-11-03 04:00+00') AS repeated_first,
       next_slot('30 1 * * *', 'America/New_York', '2024-11-03 05:30+00') AS not_twice,
       next_slot('0 * * * *', 'America/New_York', '2024-11-03 05:00+00') AS hourly_after_first_01;
-- Invalid expressions.
SELECT cron, error_of(format('SELECT pgqrs._cron_next(%L, %L, now())', cron, 'UTC')) AS error
FROM (VALUES ('* * * *'), ('* * * * * *'), ('60 * * * *'), ('* 24 * * *'), ('* * 0 * *'), ('* * 32 * *'),
             ('* * * 13 *'), ('* * * * 8'), ('5-1 * * * *'), ('*/0 * * * *'), ('* * * FOO *'),
             ('* * * * JAN'), ('MON * * * *'), ('1,,2 * * * *'), ('*/ * * * *'), ('0 0 30 2 *'),
             ('@often'), ('')) c (cron);
SELECT error_of($$SELECT pgqrs._cron_next(NULL, 'UTC', now())$$);

-- create_schedule: the view shows it; next_run_at is the next slot; a second call replaces it.
SELECT pgqrs.create_schedule('tick', 'ticks', '* * * * *', '{"job": "tick"}') AS id \gset
SELECT schedule_name, queue_name, cron, time_zone, payload, last_run_at,
       next_run_at = date_trunc('minute', now()) + interval '1 minute'
       OR next_run_at = date_trunc('minute', now()) + interval '2 minutes' AS next_minute
FROM pgqrs.schedules;
SELECT pgqrs.create_schedule(schedule_name => 'tick', queue_name => 'ticks', cron => '0 9 * * MON-FRI',
                             payload => '{"job": "report"}', time_zone => 'Europe/Paris') = :id AS same_id;
SELECT schedule_name, cron, time_zone, payload,
       next_run_at = pgqrs._cron_next('0 9 * * MON-FRI', 'Europe/Paris', now()) AS next_slot
FROM pgqrs.schedules;
SELECT pgqrs.create_schedule('defaults', 'ticks', '@daily') > 0 AS created;
SELECT payload, time_zone FROM pgqrs.schedules WHERE schedule_name = 'defaults';

-- run_schedules: nothing due, nothing enqueued.
SELECT pgqrs.run_schedules() AS nothing_due;
-- A due slot is enqueued once; next_run_at moves past now.
UPDATE pgqrs.pgqrs_schedules SET next_run_at = date_trunc('minute', now()) WHERE schedule_name = 'tick';
SELECT next_run_at AS due_slot FROM pgqrs.pgqrs_schedules WHERE schedule_name = 'tick' \gset
SELECT pgqrs.run_schedules() AS enqueued, pgqrs.run_schedules() AS enqueued_again;
SELECT payload FROM pgqrs.pgqrs_messages;
SELECT last_run_at = :'due_slot' AS last_run_is_the_slot, next_run_at > now() AS next_in_future
FROM pgqrs.schedules WHERE schedule_name = 'tick';
-- Missed slots (nothing called it for three hours): one message, not one per slot.
SELECT pgqrs.purge_queue('ticks');
SELECT pgqrs.create_schedule('tick', 'ticks', '*/10 * * * *', '{"job": "tick"}') > 0 AS replaced;
UPDATE pgqrs.pgqrs_schedules SET next_run_at = now() - interval '3 hours' WHERE schedule_name = 'tick';
SELECT pgqrs.run_schedules() AS enqueued_after_missing_18_slots;
SELECT count(*) AS messages FROM pgqrs.pgqrs_messages;
SELECT next_run_at = pgqrs._cron_next('*/10 * * * *', 'UTC', now()) AS next_slot_after_now
FROM pgqrs.schedules WHERE schedule_name = 'tick';

-- drop_schedule; a queue named by a schedule is not dropped without force.
SELECT pgqrs.drop_schedule('defaults') AS dropped, pgqrs.drop_schedule('defaults') AS dropped_again;
SELECT pgqrs.purge_queue('ticks');
SELECT error_of($$SELECT pgqrs.drop_queue('ticks')$$);
SELECT count(*) AS schedules FROM pgqrs.schedules;

-- Errors, and nothing half-made.
SELECT error_of($$SELECT pgqrs.create_schedule('s', 'nope', '* * * * *')$$);
SELECT error_of($$SELECT pgqrs.create_schedule('bad name!', 'ticks', '* * * * *')$$);
SELECT error_of($$SELECT pgqrs.create_schedule(NULL, 'ticks', '* * * * *')$$);
SELECT error_of($$SELECT pgqrs.create_schedule('s', 'ticks', '61 * * * *')$$);
SELECT error_of($$SELECT pgqrs.create_schedule('s', 'ticks', NULL)$$);
SELECT error_of($$SELECT pgqrs.create_schedule('s', 'ticks', '* * * * *', time_zone => 'Mars/Olympus')$$);
SELECT error_of($$SELECT pgqrs.create_schedule('s', 'ticks', '* * * * *', time_zone => NULL)$$);
SELECT error_of($$SELECT pgqrs.create_schedule('s', 'ticks', '* * * * *', NULL)$$);
SELECT error_of($$SELECT pgqrs.create_schedule('s', 'ticks', '* * * * *', 'null')$$);
SELECT count(*) AS schedules FROM pgqrs.schedules;

SELECT pgqrs.drop_queue('ticks', force => true) AS dropped_with_its_schedule;
SELECT count(*) AS schedules FROM pgqrs.pgqrs_schedules;
DROP FUNCTION next_slot(text, text, text);
