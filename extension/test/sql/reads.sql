-- Reading a queue's messages and archive: nothing leased, unknown queues told apart.
\set VERBOSITY terse
SELECT pgqrs.create_queue('r_q') > 0 AS created;
SELECT count(*) AS enqueued FROM pgqrs.enqueue_batch('r_q', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[]);
SELECT pgqrs.enqueue('r_q', '{"n": 4}', delay_seconds => 3600) AS delayed_id \gset
SELECT id AS leased_id FROM pgqrs.dequeue('r_q', 1, 600) \gset
SELECT pgqrs.archive('r_q', id) FROM pgqrs.dequeue('r_q', 1, 600);

SELECT payload->>'n' AS n, state, read_ct FROM pgqrs.queue_messages('r_q');
SELECT payload->>'n' AS n, state FROM pgqrs.queue_messages('r_q', qty => 1);
SELECT payload->>'n' AS n, state FROM pgqrs.queue_messages('r_q', 2, newest_first => true);
SELECT payload->>'n' AS n, state FROM pgqrs.queue_message('r_q', :leased_id);
SELECT payload->>'n' AS n, state FROM pgqrs.queue_message('r_q', :delayed_id);
SELECT count(*) AS none FROM pgqrs.queue_message('r_q', -1);
SELECT vt > now() + interval '500 seconds' AS lease_untouched FROM pgqrs.pgqrs_messages WHERE id = :leased_id;

SELECT payload->>'n' AS n, dead_lettered FROM pgqrs.archived_messages('r_q');
SELECT count(*) AS one FROM pgqrs.archived_message('r_q', (SELECT id FROM pgqrs.archived_messages('r_q')));
SELECT count(*) AS none FROM pgqrs.archived_message('r_q', :leased_id);

SELECT error_of($$SELECT * FROM pgqrs.queue_messages('r_missing')$$);
SELECT error_of($$SELECT * FROM pgqrs.queue_message('r_missing', 1)$$);
SELECT error_of($$SELECT * FROM pgqrs.archived_messages('r_missing')$$);
SELECT error_of($$SELECT * FROM pgqrs.archived_message(NULL, 1)$$);
SELECT error_of($$SELECT * FROM pgqrs.queue_messages('r_q', 0)$$);
SELECT error_of($$SELECT * FROM pgqrs.archived_messages('r_q', 10001)$$);

-- Operators' reads: the admin group's, nobody else's.
SELECT has_function_privilege('pgqrs_admin', 'pgqrs.queue_messages(text, integer, boolean)', 'EXECUTE') AS admin_reads,
       has_function_privilege('pgqrs_consumer', 'pgqrs.queue_messages(text, integer, boolean)', 'EXECUTE') AS consumer_reads,
       has_function_privilege('pgqrs_producer', 'pgqrs.archived_message(text, bigint)', 'EXECUTE') AS producer_reads;
SELECT pgqrs.drop_queue('r_q', force => true);
