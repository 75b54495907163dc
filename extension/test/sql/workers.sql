-- register_worker, heartbeat, stop_worker, reap_workers, purge_workers, worker_health.
\set VERBOSITY terse
SELECT pgqrs.create_queue('crew') > 0 AS created;
SELECT pgqrs.register_worker('crew', 'host-a', 8080) AS wa \gset
SELECT pgqrs.register_worker(queue_name => 'crew', hostname => 'host-b', port => 8081) AS wb \gset
SELECT error_of($$SELECT pgqrs.register_worker('nope', 'h', 1)$$);
SELECT error_of($$SELECT pgqrs.register_worker('crew', '', 1)$$);
SELECT error_of($$SELECT pgqrs.register_worker('crew', 'h', 70000)$$);

SELECT queue_name, hostname, port, status, messages_held, heartbeat_age >= interval '0' AS has_age
FROM pgqrs.worker_health ORDER BY worker_id;

-- heartbeat moves heartbeat_at forward.
UPDATE pgqrs.pgqrs_workers SET heartbeat_at = heartbeat_at - interval '1 hour';
SELECT pgqrs.heartbeat(:wa);
SELECT worker_id = :wa AS a, heartbeat_age < interval '1 minute' AS fresh
FROM pgqrs.worker_health ORDER BY worker_id;
SELECT error_of($$SELECT pgqrs.heartbeat(424242)$$);

-- Each worker leases messages.
SELECT count(*) FROM pgqrs.enqueue_batch('crew', array_fill('{}'::jsonb, ARRAY[6]));
SELECT count(*) AS a_leased FROM pgqrs.dequeue('crew', 2, 300, :wa);
SELECT count(*) AS b_leased FROM pgqrs.dequeue('crew', 3, 300, :wb);
SELECT worker_id = :wa AS a, messages_held FROM pgqrs.worker_health ORDER BY worker_id;
SELECT ready, in_flight FROM pgqrs.metrics('crew');

-- reap_workers: B has no recent heartbeat; its messages are visible at once
-- and its late acknowledgements are refused. A is left alone.
SELECT pgqrs.reap_workers(600) AS released;
SELECT pgqrs.reap_workers(stale_after_seconds => 60) AS released;
SELECT worker_id = :wb AS b, status, messages_held, stopped_at IS NOT NULL AS stopped_at_set
FROM pgqrs.worker_health ORDER BY worker_id;
SELECT ready, in_flight FROM pgqrs.metrics('crew');
SELECT pgqrs.delete('crew', (SELECT min(id) FROM pgqrs.pgqrs_messages WHERE worker_id IS NULL
                             AND read_ct = 1), :wb) AS late_delete;
SELECT error_of(format('SELECT pgqrs.heartbeat(%s)', :wb));
SELECT error_of(format('SELECT pgqrs.dequeue(%L, 1, 30, %s)', 'crew', :wb));
SELECT error_of($$SELECT pgqrs.reap_workers(-1)$$);
SELECT error_of($$SELECT pgqrs.reap_workers(NULL)$$);

-- stop_worker: A's messages come back; stopping again is a no-op.
SELECT pgqrs.stop_worker(:wa) AS released;
SELECT pgqrs.stop_worker(:wa) AS released_again;
SELECT error_of($$SELECT pgqrs.stop_worker(424242)$$);
SELECT status FROM pgqrs.worker_health ORDER BY worker_id;
SELECT ready, in_flight FROM pgqrs.metrics('crew');

-- purge_workers removes stopped and dead workers past the cut-off.
SELECT pgqrs.register_worker('crew', 'host-c', NULL) > 0 AS registered;
SELECT pgqrs.purge_workers(3600) AS too_young;
SELECT pgqrs.purge_workers(0) AS purged;
SELECT hostname, status FROM pgqrs.worker_health;

SELECT pgqrs.drop_queue('crew', force => true);
