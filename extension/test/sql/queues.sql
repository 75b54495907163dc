-- create_queue, drop_queue, purge_queue and queue names.
\set VERBOSITY terse
SELECT pgqrs.create_queue('orders') > 0 AS created;
SELECT queue_name, max_attempts FROM pgqrs.pgqrs_queues ORDER BY id;

-- A duplicate is an error unless asked to be idempotent; then the same id.
SELECT error_of($$SELECT pgqrs.create_queue('orders')$$);
SELECT pgqrs.create_queue('orders', if_not_exists => true) = id AS same_id
FROM pgqrs.pgqrs_queues WHERE queue_name = 'orders';

-- Named notation and max_attempts.
SELECT pgqrs.create_queue(queue_name => 'mail', max_attempts => 3) > 0 AS created;
SELECT max_attempts FROM pgqrs.pgqrs_queues WHERE queue_name = 'mail';
SELECT error_of($$SELECT pgqrs.create_queue('bad_attempts', max_attempts => 0)$$);

-- Notifications: off unless asked; each queue has its own channel.
SELECT notify FROM pgqrs.pgqrs_queues WHERE queue_name = 'mail';
SELECT pgqrs.create_queue('loud', notify => true) > 0 AS created;
SELECT notify FROM pgqrs.pgqrs_queues WHERE queue_name = 'loud';
SELECT pgqrs.set_queue_notify('loud', false);
SELECT notify FROM pgqrs.pgqrs_queues WHERE queue_name = 'loud';
SELECT pgqrs.notify_channel('loud') ~ '^pgqrs_[0-9]+_[0-9]+$' AS channel_shape,
       pgqrs.notify_channel('loud') <> pgqrs.notify_channel('mail') AS one_per_queue;
SELECT error_of($$SELECT pgqrs.set_queue_notify('loud', NULL)$$);
SELECT error_of($$SELECT pgqrs.notify_channel('nope')$$);
SELECT pgqrs.drop_queue('loud');

-- Names: letters, digits, _ - . up to 64 characters.
SELECT pgqrs.create_queue('Billing.invoices-v2_x') > 0 AS created;
SELECT error_of($$SELECT pgqrs.create_queue(NULL)$$);
SELECT error_of($$SELECT pgqrs.create_queue('')$$);
SELECT error_of($$SELECT pgqrs.create_queue('-dash')$$);
SELECT error_of($$SELECT pgqrs.create_queue('with space')$$);
SELECT error_of($$SELECT pgqrs.create_queue(repeat('a', 65))$$);
SELECT pgqrs.create_queue(repeat('a', 64)) > 0 AS created_64;
SELECT error_of($$SELECT pgqrs.create_queue('x''; DROP TABLE pgqrs.pgqrs_messages; --')$$);
SELECT error_of($$SELECT pgqrs.create_queue('x"; DROP TABLE pgqrs.pgqrs_messages; --')$$);
SELECT count(*) AS messages_table_intact FROM pgqrs.pgqrs_messages;

-- Unknown queues are PQ001; a name no queue could have is PQ003.
SELECT error_of($$SELECT pgqrs.purge_queue('nope')$$);
SELECT error_of($$SELECT pgqrs.drop_queue('x''; DROP TABLE pgqrs.pgqrs_queues; --')$$);
SELECT pgqrs.drop_queue('nope', if_exists => true) AS dropped;

-- purge_queue removes messages, leased or not, and keeps the archive.
SELECT pgqrs.enqueue('orders', jsonb_build_object('n', n)) > 0 AS enqueued FROM generate_series(1, 3) n;
SELECT count(*) AS leased FROM pgqrs.dequeue('orders', 1);
SELECT pgqrs.archive('orders', (SELECT min(id) FROM pgqrs.pgqrs_messages)) AS archived;
SELECT pgqrs.purge_queue('orders') AS purged;
SELECT pgqrs.purge_queue('orders') AS purged_again;
SELECT count(*) AS archive_kept FROM pgqrs.pgqrs_archive;

-- drop_queue refuses while the queue holds anything, and then leaves it whole.
SELECT error_of($$SELECT pgqrs.drop_queue('orders')$$);
SELECT pgqrs.enqueue('mail', '{"to": "a@example.com"}') > 0 AS enqueued;
SELECT error_of($$SELECT pgqrs.drop_queue('mail')$$);
SELECT pgqrs.register_worker('Billing.invoices-v2_x', 'host-a', 1234) > 0 AS registered;
SELECT error_of($$SELECT pgqrs.drop_queue('Billing.invoices-v2_x')$$);
SELECT count(*) AS queues_left FROM pgqrs.pgqrs_queues;

-- A stopped worker no longer holds a queue back.
SELECT pgqrs.stop_worker(id) FROM pgqrs.pgqrs_workers;
SELECT pgqrs.drop_queue('Billing.invoices-v2_x') AS dropped;
SELECT count(*) AS its_workers_gone FROM pgqrs.pgqrs_workers;

-- force drops a queue with everything it holds, and only that queue.
SELECT pgqrs.drop_queue(queue_name => 'orders', force => true) AS dropped;
SELECT pgqrs.drop_queue('mail', true) AS dropped;
SELECT pgqrs.drop_queue(repeat('a', 64)) AS dropped;
SELECT count(*) AS queues, (SELECT count(*) FROM pgqrs.pgqrs_messages) AS messages,
       (SELECT count(*) FROM pgqrs.pgqrs_archive) AS archived
FROM pgqrs.pgqrs_queues;

-- A paused queue takes enqueues and delivers nothing; acknowledgements of
-- messages leased before the pause still work. Resuming delivers again.
SELECT pgqrs.create_queue('paused_q') > 0 AS created;
SELECT pgqrs.enqueue('paused_q', jsonb_build_object('n', n)) > 0 AS enqueued FROM generate_series(1, 3) n;
SELECT (pgqrs.dequeue('paused_q', 1)).id AS leased_before_pause \gset
SELECT pgqrs.pause_queue('paused_q');
SELECT pgqrs.pause_queue('paused_q');
SELECT pgqrs.enqueue('paused_q', '{"n": 4}') > 0 AS enqueued_while_paused;
SELECT count(*) AS delivered_while_paused FROM pgqrs.dequeue('paused_q', 10);
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) AS delivered_after_waiting FROM pgqrs.dequeue('paused_q', 10, wait_seconds => 1);
SELECT clock_timestamp() - :'t0'::timestamptz >= interval '1 second' AS waited;
SELECT pgqrs.archive('paused_q', :leased_before_pause) AS acknowledged_while_paused;
SELECT queue_name, ready, paused FROM pgqrs.queue_metrics WHERE queue_name = 'paused_q';
SELECT pgqrs.resume_queue('paused_q');
SELECT (pgqrs.metrics('paused_q')).paused;
SELECT array_agg(payload->>'n' ORDER BY id) AS delivered_after_resume FROM pgqrs.dequeue('paused_q', 10);
SELECT error_of($$SELECT pgqrs.pause_queue('no_such_queue')$$);
SELECT error_of($$SELECT pgqrs.resume_queue('bad name!')$$);
SELECT pgqrs.drop_queue('paused_q', force => true) AS dropped;
