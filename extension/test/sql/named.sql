-- Every public function called with named notation, every argument named.
\set VERBOSITY terse
SELECT pgqrs.create_queue(queue_name => 'named', max_attempts => 5, if_not_exists => false, notify => false) > 0 AS create_queue;
SELECT pgqrs.notify_channel(queue_name => 'named') IS NOT NULL AS notify_channel;
SELECT pgqrs.set_queue_notify(queue_name => 'named', notify => true);
SELECT pgqrs.register_worker(queue_name => 'named', hostname => 'h', port => 1) AS w \gset
SELECT pgqrs.heartbeat(worker_id => :w);
SELECT pgqrs.enqueue(queue_name => 'named', payload => '{"a": 1}', delay_seconds => 0) AS m1 \gset
SELECT count(*) = 3 AS enqueue_batch
FROM pgqrs.enqueue_batch(queue_name => 'named', payloads => ARRAY['{}', '{}', '{}']::jsonb[], delay_seconds => 0);
SELECT count(*) = 4 AS dequeue
FROM pgqrs.dequeue(queue_name => 'named', qty => 10, vt_seconds => 30, worker_id => :w, wait_seconds => 0);
SELECT pgqrs.extend_visibility(queue_name => 'named', msg_id => :m1, seconds => 60, worker_id => :w) IS NOT NULL
       AS extend_visibility;
SELECT pgqrs.release(queue_name => 'named', msg_id => :m1, delay_seconds => 0, worker_id => :w) AS release;
SELECT pgqrs.delete(queue_name => 'named', msg_id => :m1, worker_id => NULL) AS delete;
SELECT count(*) = 1 AS delete_batch
FROM pgqrs.delete_batch(queue_name => 'named', msg_ids => ARRAY[:m1 + 1]::bigint[], worker_id => :w);
SELECT pgqrs.archive(queue_name => 'named', msg_id => :m1 + 2, worker_id => :w) AS archive;
SELECT count(*) = 1 AS archive_batch
FROM pgqrs.archive_batch(queue_name => 'named', msg_ids => ARRAY[:m1 + 3]::bigint[], worker_id => :w);
SELECT count(*) = 0 AS dead_letters FROM pgqrs.dead_letters(queue_name => 'named', qty => 10);
SELECT count(*) = 0 AS replay_dead_letters FROM pgqrs.replay_dead_letters(queue_name => 'named', msg_ids => NULL);
SELECT archived = 2 AS metrics FROM pgqrs.metrics(queue_name => 'named');
SELECT count(*) = 1 AS metrics_all FROM pgqrs.metrics_all();
SELECT pgqrs.purge_archive(queue_name => 'named', older_than_seconds => 0, include_dead_letters => true) = 2
       AS purge_archive;
SELECT pgqrs.stop_worker(worker_id => :w) = 0 AS stop_worker;
SELECT pgqrs.reap_workers(stale_after_seconds => 3600) = 0 AS reap_workers;
SELECT pgqrs.purge_workers(older_than_seconds => 0) = 1 AS purge_workers;
SELECT pgqrs.purge_queue(queue_name => 'named') = 0 AS purge_queue;
SELECT pgqrs.drop_queue(queue_name => 'named', force => false, if_exists => false) AS drop_queue;
SELECT pgqrs.max_batch_size() = 10000 AS max_batch_size, pgqrs.version() IS NOT NULL AS version;
