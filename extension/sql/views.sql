-- Observing: messages, queue_metrics, worker_health (and the functions metrics(),
-- metrics_all() in functions/).

-- messages: every message not yet finished, wherever it waits, with its state
-- at statement_timestamp(): ready, in_flight (leased), delayed, or waiting
-- (for its group key).
CREATE VIEW @extschema@.messages AS
SELECT m.*,
       CASE WHEN m.rank IS NULL THEN 'waiting'
            WHEN m.vt <= statement_timestamp() THEN 'ready'
            WHEN m.dequeued_at IS NOT NULL THEN 'in_flight'
            ELSE 'delayed' END AS state
FROM @extschema@.pgqrs_messages m
UNION ALL
SELECT d.*, CASE WHEN d.rank IS NULL THEN 'waiting' ELSE 'delayed' END AS state
FROM @extschema@.pgqrs_delayed d;
COMMENT ON VIEW @extschema@.messages IS
    'every message not yet finished (pgqrs_messages and pgqrs_delayed), with its state: ready, in_flight, delayed or waiting (for its group key)';

-- queue_metrics: one row per queue, read at statement_timestamp().
--   ready             visible now (and in line: not waiting for its group key)
--   in_flight         leased, lease not yet run out
--   delayed           not visible yet and not leased (enqueued with a delay, or released with one)
--   archived          in the archive, dead letters not counted
--   dead_lettered     dead letters waiting in the archive
--   oldest_ready_age  how long ago the oldest ready message was enqueued
--   paused            dequeues deliver nothing (pause_queue())
--   max_attempts, notify, max_payload_bytes   the queue's settings (alter_queue())
--   waiting           messages waiting for their group key (its places are taken)
--   group_concurrency, rate_limit             the queue's settings (alter_queue())
-- New columns go last, so that an upgrade can CREATE OR REPLACE the view.
CREATE VIEW @extschema@.queue_metrics AS
SELECT q.queue_name,
       m.ready,
       m.in_flight,
       m.delayed + d.delayed AS delayed,
       a.archived,
       a.dead_lettered,
       statement_timestamp() - m.oldest_ready_at AS oldest_ready_age,
       statement_timestamp() AS measured_at,
       q.paused,
       q.max_attempts,
       q.notify,
       q.max_payload_bytes,
       m.waiting + d.waiting AS waiting,
       q.group_concurrency,
       q.rate_limit
FROM @extschema@.pgqrs_queues q
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE m.rank IS NOT NULL AND m.vt <= statement_timestamp()) AS ready,
           count(*) FILTER (WHERE m.vt > statement_timestamp() AND m.dequeued_at IS NOT NULL) AS in_flight,
           count(*) FILTER (WHERE m.rank IS NOT NULL AND m.vt > statement_timestamp() AND m.dequeued_at IS NULL) AS delayed,
           count(*) FILTER (WHERE m.rank IS NULL) AS waiting,
           min(m.enqueued_at) FILTER (WHERE m.rank IS NOT NULL AND m.vt <= statement_timestamp()) AS oldest_ready_at
    FROM @extschema@.pgqrs_messages m
    WHERE m.queue_id = q.id
) m
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE d.rank IS NOT NULL) AS delayed,
           count(*) FILTER (WHERE d.rank IS NULL) AS waiting
    FROM @extschema@.pgqrs_delayed d WHERE d.queue_id = q.id
) d
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE NOT a.dead_lettered) AS archived,
           count(*) FILTER (WHERE a.dead_lettered) AS dead_lettered
    FROM @extschema@.pgqrs_archive a
    WHERE a.queue_id = q.id
) a;
COMMENT ON VIEW @extschema@.queue_metrics IS
    'per queue: messages ready, in flight, delayed, archived, dead-lettered, waiting for their group key, age of the oldest ready message, paused, and its settings';

-- worker_health: one row per worker.
--   messages_held  messages leased to the worker whose lease has not run out
--   registered_by  the login role that registered it
CREATE VIEW @extschema@.worker_health AS
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

-- schedules: one row per schedule (create_schedule()).
--   next_run_at  the next slot run_schedules() enqueues
--   last_run_at  the slot it enqueued last (NULL: none yet)
CREATE VIEW @extschema@.schedules AS
SELECT s.schedule_name,
       q.queue_name,
       s.cron,
       s.time_zone,
       s.next_run_at,
       s.last_run_at,
       s.payload,
       s.created_at
FROM @extschema@.pgqrs_schedules s
JOIN @extschema@.pgqrs_queues q ON q.id = s.queue_id;
COMMENT ON VIEW @extschema@.schedules IS
    'per schedule: queue, cron expression, time zone, next and last run, payload';

-- topic_bindings: one row per binding (bind_topic()).
CREATE VIEW @extschema@.topic_bindings AS
SELECT b.pattern,
       q.queue_name,
       b.created_at
FROM @extschema@.pgqrs_topic_bindings b
JOIN @extschema@.pgqrs_queues q ON q.id = b.queue_id;
COMMENT ON VIEW @extschema@.topic_bindings IS
    'per topic binding: pattern and queue';
