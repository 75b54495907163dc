-- enqueue and enqueue_batch.
\set VERBOSITY terse
SELECT pgqrs.create_queue('jobs') > 0 AS created;

-- One message, visible at once, timestamps from the server clock.
SELECT pgqrs.enqueue('jobs', '{"task": "a"}') AS first_id \gset
SELECT queue_id = (SELECT id FROM pgqrs.pgqrs_queues WHERE queue_name = 'jobs') AS right_queue,
       payload, read_ct, dequeued_at IS NULL AS not_leased, worker_id,
       vt = enqueued_at AS visible_now, enqueued_at <= clock_timestamp() AS server_time
FROM pgqrs.pgqrs_messages WHERE id = :first_id;

-- A delay puts vt in the future (named notation too); the message waits in
-- pgqrs_delayed, out of the way of dequeues.
SELECT pgqrs.enqueue(queue_name => 'jobs', payload => '{"task": "b"}', delay_seconds => 60) AS delayed_id \gset
SELECT vt - enqueued_at AS delay, payload FROM pgqrs.pgqrs_delayed WHERE id = :delayed_id;
SELECT count(*) AS not_in_messages FROM pgqrs.pgqrs_messages WHERE id = :delayed_id;

-- Any JSON value is a payload; SQL NULL is not.
SELECT pgqrs.enqueue('jobs', '[1, 2, 3]') > :first_id AS array_ok;
SELECT pgqrs.enqueue('jobs', '"text"') > :first_id AS string_ok;
SELECT error_of($$SELECT pgqrs.enqueue('jobs', NULL)$$);
SELECT error_of($$SELECT pgqrs.enqueue('jobs', '{}', -1)$$);
SELECT error_of($$SELECT pgqrs.enqueue('jobs', '{}', NULL)$$);
SELECT error_of($$SELECT pgqrs.enqueue('nope', '{}')$$);
SELECT error_of($$SELECT pgqrs.enqueue(NULL, '{}')$$);

-- A batch: ids ascending in input order, all in one statement.
SELECT array_agg(id) = (SELECT array_agg(id ORDER BY id) FROM unnest(array_agg(id)) id) AS ascending,
       count(*) AS n
FROM pgqrs.enqueue_batch('jobs', ARRAY['{"i": 1}', '{"i": 2}', '{"i": 3}', '{"i": 4}']::jsonb[]) id;
SELECT array_agg((payload->>'i')::int ORDER BY id) AS payload_order
FROM pgqrs.pgqrs_messages WHERE payload ? 'i';
SELECT count(*) AS delayed_batch
FROM pgqrs.enqueue_batch('jobs', ARRAY['{"d": 1}', '{"d": 2}']::jsonb[], delay_seconds => 30);
SELECT array_agg((payload->>'d')::int ORDER BY id) AS delayed_order, min(vt - enqueued_at) AS delay
FROM pgqrs.pgqrs_delayed WHERE payload ? 'd';
SELECT count(*) AS empty_batch FROM pgqrs.enqueue_batch('jobs', ARRAY[]::jsonb[]);

-- Bad batches raise and leave nothing behind.
SELECT (SELECT count(*) FROM pgqrs.pgqrs_messages) + (SELECT count(*) FROM pgqrs.pgqrs_delayed) AS before \gset
SELECT error_of($$SELECT pgqrs.enqueue_batch('jobs', NULL)$$);
SELECT error_of($$SELECT pgqrs.enqueue_batch('jobs', ARRAY['{}', NULL, '{}']::jsonb[])$$);
SELECT error_of($$SELECT pgqrs.enqueue_batch('jobs', ARRAY[['{}'], ['{}']]::jsonb[])$$);
SELECT error_of($$SELECT pgqrs.enqueue_batch('jobs', array_fill('{}'::jsonb, ARRAY[10001]))$$);
SELECT error_of($$SELECT pgqrs.enqueue_batch('jobs', ARRAY['{}']::jsonb[], -5)$$);
SELECT error_of($$SELECT pgqrs.enqueue_batch('nope', ARRAY['{}']::jsonb[])$$);
SELECT (SELECT count(*) FROM pgqrs.pgqrs_messages) + (SELECT count(*) FROM pgqrs.pgqrs_delayed) = :before
       AS nothing_added;

-- The largest batch allowed goes through.
SELECT count(*) AS max_batch
FROM pgqrs.enqueue_batch('jobs', array_fill('{}'::jsonb, ARRAY[pgqrs.max_batch_size()]));

SELECT pgqrs.drop_queue('jobs', force => true);
