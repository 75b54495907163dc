-- Scan positions: each queue's sequence, where dequeues start; sweeps from the head.
\set VERBOSITY terse
SELECT pgqrs.create_queue('pos') AS q \gset
SELECT pg_sequence_last_value(format('pgqrs.pgqrs_position_%s', :q)::regclass) IS NULL AS at_the_head;
SELECT count(*) FROM pgqrs.enqueue_batch('pos', array_fill('{}'::jsonb, ARRAY[5]));
SELECT min(id) AS first FROM pgqrs.pgqrs_messages WHERE queue_id = :q \gset

-- Sweeps put off for this session (as after a sweep that stepped over many entries):
-- dequeues start at the position and move it to the last they took.
SELECT set_config(format('pgqrs.sweep_after_%s', :q), '1e12', false) IS NOT NULL AS put_off;
SELECT id - :first AS n FROM pgqrs.dequeue('pos', 2, 300);
SELECT pg_sequence_last_value(format('pgqrs.pgqrs_position_%s', :q)::regclass) - :first AS position;

-- A rolled-back dequeue leaves its first message behind the position: only a sweep finds it.
BEGIN;
SELECT id - :first AS n FROM pgqrs.dequeue('pos', 2, 300);
ROLLBACK;
SELECT id - :first AS n FROM pgqrs.dequeue('pos', 1, 300);

-- A release moves the position back to the released message.
SELECT pgqrs.release('pos', :first) AS released;
SELECT pg_sequence_last_value(format('pgqrs.pgqrs_position_%s', :q)::regclass) - :first AS position;
SELECT id - :first AS n FROM pgqrs.dequeue('pos', 1, 300);

-- A sweep due now starts from the head and finds the rolled-back one; the sweep is cheap
-- (few entries), so this session sweeps on every dequeue from now on.
SELECT set_config(format('pgqrs.sweep_after_%s', :q), '0', false) IS NOT NULL AS due;
SELECT id - :first AS n FROM pgqrs.dequeue('pos', 5, 300);
SELECT current_setting(format('pgqrs.sweep_after_%s', :q)) AS next_sweep;

-- Dead letters replayed, and delayed messages falling due, have old ids: the position moves back.
SELECT pgqrs.create_queue('pos_dead', max_attempts => 1) AS d \gset
SELECT pgqrs.enqueue('pos_dead', '{"doomed": true}') AS doomed \gset
SELECT count(*) FROM pgqrs.dequeue('pos_dead', 1, 0);
SELECT count(*) FROM pgqrs.dequeue('pos_dead', 1, 0);  -- buries it
SELECT count(*) FROM pgqrs.enqueue_batch('pos_dead', array_fill('{}'::jsonb, ARRAY[3]));
SELECT set_config(format('pgqrs.sweep_after_%s', :d), '1e12', false) IS NOT NULL AS put_off;
SELECT count(*) FROM pgqrs.dequeue('pos_dead', 3, 300);
SELECT count(*) AS replayed FROM pgqrs.replay_dead_letters('pos_dead');
SELECT pg_sequence_last_value(format('pgqrs.pgqrs_position_%s', :d)::regclass) = :doomed AS back_to_it;
SELECT id = :doomed AS the_replayed_one FROM pgqrs.dequeue('pos_dead', 1, 300);

-- drop_queue drops the position with the queue.
SELECT pgqrs.drop_queue('pos', force => true);
SELECT to_regclass(format('pgqrs.pgqrs_position_%s', :q)) IS NULL AS gone;
SELECT pgqrs.drop_queue('pos_dead', force => true);
