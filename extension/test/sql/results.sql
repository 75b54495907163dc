-- complete, message_status and wait_for: results and waiting for them.
\set VERBOSITY terse
SELECT pgqrs.create_queue('results', max_attempts => 1, max_payload_bytes => 200) > 0 AS created;
SELECT pgqrs.register_worker('results', 'w', 1) AS w \gset
SELECT pgqrs.enqueue('results', '{"n": 1}') AS m1 \gset
SELECT pgqrs.enqueue('results', '{"n": 2}', delay_seconds => 3600) AS m2 \gset

-- Each state, found by primary key in each table.
SELECT state, read_ct, result, finished_at, cancel_requested FROM pgqrs.message_status('results', :m1);
SELECT state, read_ct FROM pgqrs.message_status('results', :m2);
SELECT id = :m1 AS leased FROM pgqrs.dequeue('results', 1, 30, :w);
SELECT state, read_ct FROM pgqrs.message_status('results', :m1);
SELECT state FROM pgqrs.message_status('results', 999999) AS never_seen;

-- complete stores the result, fenced by worker_id like archive.
SELECT pgqrs.complete('results', :m1, '{"sum": 3}', worker_id => :w + 1000) AS other_worker;
SELECT pgqrs.complete('results', :m1, '{"sum": 3}', worker_id => :w) AS completed;
SELECT pgqrs.complete('results', :m1, '{"sum": 4}') AS completed_again;
SELECT state, read_ct, result, finished_at IS NOT NULL AS finished FROM pgqrs.message_status('results', :m1);
SELECT result, dead_lettered, cancelled FROM pgqrs.pgqrs_archive WHERE id = :m1;

-- A NULL result, a JSON null result, a delayed message (no worker_id); archive stores none.
SELECT pgqrs.complete(queue_name => 'results', msg_id => :m2) AS completed_delayed;
SELECT state, result IS NULL AS no_result FROM pgqrs.message_status('results', :m2);
SELECT pgqrs.enqueue('results', '{}') AS m3 \gset
SELECT pgqrs.complete('results', :m3, 'null') AS completed_json_null;
SELECT result FROM pgqrs.message_status('results', :m3);
SELECT pgqrs.enqueue('results', '{}') AS m4 \gset
SELECT pgqrs.archive('results', :m4) AS archived;
SELECT state, result FROM pgqrs.message_status('results', :m4);

-- A dead letter is dead; a deleted message is unknown.
SELECT pgqrs.enqueue('results', '{}') AS m5 \gset
SELECT count(*) AS leased FROM pgqrs.dequeue('results', 1, 0);
SELECT count(*) AS redelivered FROM pgqrs.dequeue('results', 1, 30);
SELECT state, read_ct FROM pgqrs.message_status('results', :m5);
SELECT pgqrs.enqueue('results', '{}') AS m6 \gset
SELECT pgqrs.delete('results', :m6) AS deleted;
SELECT state FROM pgqrs.message_status('results', :m6);

-- wait_for returns at once for a finished or unknown message, else its state at the timeout.
SELECT state, result FROM pgqrs.wait_for('results', :m1, 5);
SELECT state FROM pgqrs.wait_for('results', :m6, 5);
SELECT pgqrs.enqueue('results', '{}') AS m7 \gset
SELECT state FROM pgqrs.wait_for('results', :m7, 0) AS no_wait;
SELECT state, clock_timestamp() - statement_timestamp() >= interval '1 second' AS waited
FROM pgqrs.wait_for('results', :m7, 1);
SELECT state FROM pgqrs.wait_for(queue_name => 'results', msg_id => :m7, timeout_seconds => 0) AS named;

-- Errors.
SELECT error_of($$SELECT pgqrs.complete('nope', 1)$$);
SELECT error_of($$SELECT pgqrs.complete('bad name!', 1)$$);
SELECT error_of(format('SELECT pgqrs.complete(%L, %s, jsonb_build_object(%L, repeat(%L, 300)))', 'results', :m7, 'x', 'y'));
SELECT state FROM pgqrs.message_status('results', :m7) AS still_ready;
SELECT error_of($$SELECT pgqrs.message_status('nope', 1)$$);
SELECT error_of($$SELECT pgqrs.wait_for('nope', 1)$$);
SELECT error_of($$SELECT pgqrs.wait_for('results', 1, -1)$$);
SELECT error_of($$SELECT pgqrs.wait_for('results', 1, 61)$$);
SELECT error_of($$SELECT pgqrs.wait_for('results', 1, NULL)$$);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT error_of(format('SELECT pgqrs.wait_for(%L, %s, 1)', 'results', :m7));
SELECT state FROM pgqrs.wait_for('results', :m7, 0) AS no_wait_in_repeatable_read;
COMMIT;

SELECT pgqrs.drop_queue('results', force => true);
