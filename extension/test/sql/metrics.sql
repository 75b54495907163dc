-- queue_metrics, metrics(), metrics_all().
\set VERBOSITY terse
SELECT pgqrs.create_queue('m1') > 0 AS created;
SELECT pgqrs.create_queue('m2') > 0 AS created;
SELECT * FROM pgqrs.queue_metrics WHERE false;

SELECT count(*) FROM pgqrs.enqueue_batch('m1', array_fill('{}'::jsonb, ARRAY[5]));
SELECT count(*) FROM pgqrs.enqueue_batch('m1', array_fill('{}'::jsonb, ARRAY[2]), 600);
SELECT count(*) FROM pgqrs.dequeue('m1', 2, 600);
SELECT pgqrs.archive('m1', id) FROM pgqrs.dequeue('m1', 1);
UPDATE pgqrs.pgqrs_messages SET enqueued_at = enqueued_at - interval '90 seconds';

SELECT queue_name, ready, in_flight, delayed, archived, dead_lettered,
       oldest_ready_age >= interval '90 seconds' AS old_enough,
       measured_at = statement_timestamp() AS measured_now
FROM pgqrs.queue_metrics ORDER BY queue_name;
SELECT queue_name, ready, in_flight, delayed, archived, oldest_ready_age IS NULL AS none_ready
FROM pgqrs.metrics('m2');
SELECT queue_name, ready FROM pgqrs.metrics(queue_name => 'm1');
SELECT queue_name, ready, in_flight, delayed, archived FROM pgqrs.metrics_all();
SELECT error_of($$SELECT pgqrs.metrics('nope')$$);

-- messages_enqueued(): every enqueue counts, delayed and rolled back ones too; nothing else moves it.
SELECT pgqrs.messages_enqueued() AS before \gset
SELECT pgqrs.enqueue('m2', '{}') > 0 AS enqueued;
SELECT count(*) FROM pgqrs.enqueue_batch('m2', array_fill('{}'::jsonb, ARRAY[3]), 60);
BEGIN;
SELECT pgqrs.enqueue('m2', '{}') > 0 AS enqueued;
ROLLBACK;
SELECT pgqrs.delete('m2', id) FROM pgqrs.dequeue('m2');
SELECT pgqrs.messages_enqueued() - :before AS enqueued_since;

-- The messages view: every unfinished message with its state.
SELECT state, count(*) FROM pgqrs.messages GROUP BY state ORDER BY state;

SELECT pgqrs.drop_queue(queue_name, force => true) FROM pgqrs.pgqrs_queues ORDER BY id;
SELECT count(*) AS no_queues FROM pgqrs.metrics_all();
