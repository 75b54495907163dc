-- The upgrade walk: 0.1.0 with queues in every state, ALTER EXTENSION pgqrs
-- UPDATE, then nothing lost and everything working. Runs first, in its own
-- database state, and leaves no extension behind for setup.
\set VERBOSITY terse
CREATE EXTENSION pgqrs VERSION '0.1.0';
SELECT pgqrs.version(), extversion FROM pg_extension WHERE extname = 'pgqrs';

SELECT pgqrs.create_queue('jobs', max_attempts => 2) AS jobs_id,
       pgqrs.create_queue('mail', notify => true) AS mail_id;
SELECT pgqrs.register_worker('jobs', 'host-a', 1) AS worker \gset
SELECT count(*) AS enqueued FROM pgqrs.enqueue_batch('jobs', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}']::jsonb[]);
SELECT pgqrs.enqueue('jobs', '{"n": 5}', delay_seconds => 3600) AS delayed_id;
SELECT id AS leased_id FROM pgqrs.dequeue('jobs', 1, 600, :worker) \gset
SELECT pgqrs.archive('jobs', id, :worker) AS archived FROM pgqrs.dequeue('jobs', 1, 600, :worker);
-- Two deliveries without an ack use up max_attempts: the third dequeue buries it.
SELECT count(*) FROM pgqrs.dequeue('jobs', 1, 0);
SELECT count(*) FROM pgqrs.dequeue('jobs', 1, 0);
SELECT count(*) AS buried_one_leased_one FROM pgqrs.dequeue('jobs', 1, 0);
SELECT pgqrs.enqueue('mail', '{"to": "ann"}') AS mail_msg;

-- Everything pgqrs holds, one text per table, to compare after the update.
CREATE FUNCTION pg_temp.held() RETURNS TABLE (t text, rows text) LANGUAGE sql AS $$
    SELECT 'queues', string_agg(format('%s %s %s %s', id, queue_name, max_attempts, notify), '; ' ORDER BY id) FROM pgqrs.pgqrs_queues
    UNION ALL SELECT 'messages', string_agg(format('%s %s %s %s %s %s', id, queue_id, payload, read_ct, vt, worker_id), '; ' ORDER BY id) FROM pgqrs.pgqrs_messages
    UNION ALL SELECT 'delayed', string_agg(format('%s %s %s %s', id, queue_id, payload, vt), '; ' ORDER BY id) FROM pgqrs.pgqrs_delayed
    UNION ALL SELECT 'archive', string_agg(format('%s %s %s %s %s', id, queue_id, payload, read_ct, dead_lettered), '; ' ORDER BY id) FROM pgqrs.pgqrs_archive
    UNION ALL SELECT 'workers', string_agg(format('%s %s %s %s', id, queue_id, hostname, status), '; ' ORDER BY id) FROM pgqrs.pgqrs_workers
$$;
CREATE TEMP TABLE before AS SELECT * FROM pg_temp.held();
SELECT queue_name, ready, in_flight, delayed, archived, dead_lettered FROM pgqrs.queue_metrics;

ALTER EXTENSION pgqrs UPDATE;
SELECT pgqrs.version(), extversion FROM pg_extension WHERE extname = 'pgqrs';

-- Nothing lost: every row as it was.
SELECT b.t, b.rows IS NOT DISTINCT FROM a.rows AS unchanged
FROM before b JOIN pg_temp.held() a USING (t) ORDER BY b.t;
SELECT queue_name, ready, in_flight, delayed, archived, dead_lettered, paused FROM pgqrs.queue_metrics;

-- Everything still works: the lease taken before the update is acknowledged by
-- its worker, new messages flow, ids continue, and 0.2.0's pause works.
SELECT pgqrs.archive('jobs', :leased_id, :worker) AS old_lease_archived;
SELECT pgqrs.heartbeat(:worker);
SELECT pgqrs.enqueue('jobs', '{"n": 6}') > (SELECT max(id) FROM pgqrs.pgqrs_archive) AS ids_continue;
SELECT pgqrs.pause_queue('jobs');
SELECT count(*) AS delivered_while_paused FROM pgqrs.dequeue('jobs', 10);
SELECT pgqrs.resume_queue('jobs');
SELECT array_agg(payload->>'n' ORDER BY id) AS delivered FROM pgqrs.dequeue('jobs', 10);
SELECT count(*) AS dead_letters FROM pgqrs.dead_letters('jobs');

-- The roles got the new functions too.
SELECT has_function_privilege('pgqrs_admin', 'pgqrs.pause_queue(text)', 'EXECUTE') AS admin_may_pause,
       has_function_privilege('pgqrs_consumer', 'pgqrs.pause_queue(text)', 'EXECUTE') AS consumer_may_pause;

DROP EXTENSION pgqrs;
