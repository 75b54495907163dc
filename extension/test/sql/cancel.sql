-- cancel: at once when no worker holds the message, else when its lease ends.
\set VERBOSITY terse
SELECT pgqrs.create_queue('cancels') > 0 AS created;
SELECT pgqrs.register_worker('cancels', 'w', 1) AS w \gset

-- Ready and delayed messages are cancelled at once and never delivered.
SELECT pgqrs.enqueue('cancels', '{"n": 1}') AS m1 \gset
SELECT pgqrs.enqueue('cancels', '{"n": 2}', delay_seconds => 3600) AS m2 \gset
SELECT pgqrs.cancel('cancels', :m1) AS ready_cancelled, pgqrs.cancel('cancels', :m2) AS delayed_cancelled;
SELECT pgqrs.cancel('cancels', :m1) AS again, pgqrs.cancel('cancels', 999999) AS unknown;
SELECT state, read_ct, result, finished_at IS NOT NULL AS finished FROM pgqrs.message_status('cancels', :m1);
SELECT state FROM pgqrs.message_status('cancels', :m2);
SELECT count(*) AS delivered FROM pgqrs.dequeue('cancels', 10);
SELECT id IN (:m1, :m2) AS cancelled_one, cancelled, dead_lettered FROM pgqrs.pgqrs_archive ORDER BY id;
SELECT archived, dead_lettered, ready, delayed FROM pgqrs.metrics('cancels');

-- A leased message is marked; its holder learns it from extend_visibility.
SELECT pgqrs.enqueue('cancels', '{"n": 3}') AS m3 \gset
SELECT id = :m3 AS leased FROM pgqrs.dequeue('cancels', 1, 30, :w);
SELECT pgqrs.cancel('cancels', :m3) AS marked, pgqrs.cancel('cancels', :m3) AS marked_again;
SELECT state, cancel_requested FROM pgqrs.message_status('cancels', :m3);
SELECT vt AS vt_before FROM pgqrs.pgqrs_messages WHERE id = :m3 \gset
SELECT pgqrs.extend_visibility('cancels', :m3, 600, :w) AS extended;
SELECT pgqrs.extend_visibility('cancels', :m3, 600) AS extended_anonymously;
SELECT pgqrs.extend_visibility('cancels', :m3, 600, :w + 1000) AS other_worker;
SELECT vt = :'vt_before' AS lease_unchanged FROM pgqrs.pgqrs_messages WHERE id = :m3;
-- Its holder's archive ends it cancelled.
SELECT pgqrs.archive('cancels', :m3, :w) AS archived;
SELECT state, cancel_requested FROM pgqrs.message_status('cancels', :m3);

-- complete, delete, delete_batch and release by the holder end it cancelled too (no result kept).
SELECT pgqrs.enqueue('cancels', '{"n": 4}') AS m4 \gset
SELECT pgqrs.enqueue('cancels', '{"n": 5}') AS m5 \gset
SELECT pgqrs.enqueue('cancels', '{"n": 6}') AS m6 \gset
SELECT pgqrs.enqueue('cancels', '{"n": 7}') AS m7 \gset
SELECT count(*) AS leased FROM pgqrs.dequeue('cancels', 4, 30, :w);
SELECT pgqrs.cancel('cancels', m) AS marked FROM unnest(ARRAY[:m4, :m5, :m6, :m7]::bigint[]) m;
SELECT pgqrs.complete('cancels', :m4, '{"kept": false}', :w) AS completed;
SELECT pgqrs.delete('cancels', :m5, :w) AS deleted;
SELECT array_agg(d) = ARRAY[:m6]::bigint[] AS deleted_batch FROM pgqrs.delete_batch('cancels', ARRAY[:m6]::bigint[], :w) d;
SELECT pgqrs.release('cancels', :m7, 0, :w) AS released;
SELECT m - :m4 AS msg, s.state, s.result FROM unnest(ARRAY[:m4, :m5, :m6, :m7]::bigint[]) m,
       LATERAL pgqrs.message_status('cancels', m) s ORDER BY m;
SELECT count(*) AS delivered FROM pgqrs.dequeue('cancels', 10);

-- A lease that runs out ends it cancelled instead of delivering it again.
SELECT pgqrs.enqueue('cancels', '{"n": 8}') AS m8 \gset
SELECT pgqrs.enqueue('cancels', '{"n": 9}') AS m9 \gset
SELECT count(*) AS leased FROM pgqrs.dequeue('cancels', 1, 30);
SELECT pgqrs.cancel('cancels', :m8) AS marked;
UPDATE pgqrs.pgqrs_messages SET vt = now() - interval '1 second' WHERE id = :m8;
SELECT id = :m9 AS only_the_other FROM pgqrs.dequeue('cancels', 10, 30);
SELECT state FROM pgqrs.message_status('cancels', :m8);
-- A lease that ran out but was not taken again: cancelled at once.
UPDATE pgqrs.pgqrs_messages SET vt = now() - interval '1 second' WHERE id = :m9;
SELECT pgqrs.cancel('cancels', :m9) AS expired_lease_cancelled;
SELECT state FROM pgqrs.message_status('cancels', :m9);
SELECT count(*) AS pending_cancels FROM pgqrs.pgqrs_cancels;

-- Errors.
SELECT error_of($$SELECT pgqrs.cancel('nope', 1)$$);
SELECT error_of($$SELECT pgqrs.cancel(NULL, 1)$$);

SELECT pgqrs.drop_queue('cancels', force => true);
