-- dequeue: leases, FIFO order, redelivery, errors.
\set VERBOSITY terse
SELECT pgqrs.create_queue('work') > 0 AS created;
SELECT pgqrs.create_queue('other') > 0 AS created;
SELECT count(*) FROM pgqrs.enqueue_batch('work', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}', '{"n": 5}']::jsonb[]);
SELECT count(*) FROM pgqrs.enqueue_batch('other', ARRAY['{"o": 1}', '{"o": 2}']::jsonb[]);
SELECT pgqrs.enqueue('work', '{"n": "later"}', 3600) > 0 AS delayed;

-- Oldest first, only this queue's messages, read_ct counts deliveries,
-- the lease runs vt_seconds from dequeued_at.
SELECT payload, read_ct, worker_id, vt - dequeued_at AS lease
FROM pgqrs.dequeue('work', 2, 45);
SELECT payload, read_ct FROM pgqrs.dequeue(queue_name => 'work', qty => 1, vt_seconds => 45);

-- Leased and delayed messages are not delivered; asking for more than is
-- there returns what is there.
SELECT payload FROM pgqrs.dequeue('work', 10);
SELECT count(*) AS nothing_left FROM pgqrs.dequeue('work', 10);
SELECT payload FROM pgqrs.dequeue('other', 10);

-- A lease of 0 seconds runs out at once: the message is delivered again,
-- read_ct grows, and it keeps its place at the head.
SELECT pgqrs.create_queue('again') > 0 AS created;
SELECT pgqrs.enqueue('again', '{"k": 1}') > 0 AS enqueued;
SELECT pgqrs.enqueue('again', '{"k": 2}') > 0 AS enqueued;
SELECT payload, read_ct FROM pgqrs.dequeue('again', 1, 0);
SELECT payload, read_ct FROM pgqrs.dequeue('again', 1, 0);
SELECT payload, read_ct FROM pgqrs.dequeue('again', 2, 30);

-- extend_visibility with 0 seconds makes a leased message visible now.
SELECT pgqrs.extend_visibility('again', (SELECT min(id) FROM pgqrs.pgqrs_messages
                                         WHERE queue_id = (SELECT id FROM pgqrs.pgqrs_queues WHERE queue_name = 'again')), 0)
       IS NOT NULL AS extended;
SELECT payload, read_ct FROM pgqrs.dequeue('again');

-- Delayed messages wait apart; once due, the next dequeue takes them in id
-- order with the rest. release with a delay sends a message there too.
SELECT pgqrs.create_queue('later') > 0 AS created;
SELECT pgqrs.enqueue('later', '{"l": "first, delayed"}', 3600) AS l1 \gset
SELECT pgqrs.enqueue('later', '{"l": "second"}') > 0 AS enqueued;
SELECT pgqrs.enqueue('later', '{"l": "third, delayed"}', 3600) AS l3 \gset
SELECT count(*) AS delayed_waiting FROM pgqrs.pgqrs_delayed WHERE id IN (:l1, :l3);
SELECT payload FROM pgqrs.dequeue('later', 10);
SELECT pgqrs.extend_visibility('later', :l1, 0) IS NOT NULL AS due_now;
SELECT pgqrs.extend_visibility('later', :l3, 0, worker_id => 1) IS NULL AS fenced_no_worker_holds_it;
SELECT payload, read_ct FROM pgqrs.dequeue('later', 10, 0);
SELECT pgqrs.release('later', :l1, 3600) AS released_for_an_hour;
SELECT id = :l1 AS back_in_delayed, read_ct FROM pgqrs.pgqrs_delayed WHERE id IN (:l1, :l3) ORDER BY id;
SELECT pgqrs.extend_visibility('later', :l3, 0) IS NOT NULL AS due_now;
SELECT payload, read_ct FROM pgqrs.dequeue('later', 10);
SELECT ready, in_flight, delayed FROM pgqrs.metrics('later');
SELECT pgqrs.delete('later', :l1, worker_id => 1) AS fenced_delete;
SELECT pgqrs.delete('later', :l1) AS deleted_delayed;
SELECT pgqrs.enqueue('later', '{"l": "fourth, delayed"}', 3600) AS l4 \gset
SELECT pgqrs.archive('later', :l4) AS archived_delayed;
SELECT payload, dequeued_at, processing_duration FROM pgqrs.pgqrs_archive WHERE id = :l4;
SELECT count(*) AS batch FROM pgqrs.delete_batch('later', ARRAY[
    pgqrs.enqueue('later', '{}', 60), pgqrs.enqueue('later', '{}', 60)]);
SELECT count(*) FROM pgqrs.enqueue_batch('later', ARRAY['{}', '{}']::jsonb[], 60);
SELECT error_of($$SELECT pgqrs.drop_queue('later')$$);
SELECT pgqrs.purge_queue('later') AS purged_with_delayed;
SELECT count(*) AS nothing_left FROM pgqrs.pgqrs_delayed d JOIN pgqrs.pgqrs_queues q ON q.id = d.queue_id WHERE q.queue_name = 'later';

-- A long poll waits for the time given when nothing comes.
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) AS nothing FROM pgqrs.dequeue('work', 1, 30, wait_seconds => 1);
SELECT clock_timestamp() - :'t0' >= interval '1 second' AS waited;
SELECT error_of($$SELECT pgqrs.dequeue('work', 1, 30, NULL, -1)$$);

-- Arguments.
SELECT error_of($$SELECT pgqrs.dequeue('work', 0)$$);
SELECT error_of($$SELECT pgqrs.dequeue('work', NULL)$$);
SELECT error_of($$SELECT pgqrs.dequeue('work', 10001)$$);
SELECT error_of($$SELECT pgqrs.dequeue('work', 1, -1)$$);
SELECT error_of($$SELECT pgqrs.dequeue('nope')$$);
SELECT error_of($$SELECT pgqrs.dequeue('work', 1, 30, 424242)$$);

-- A worker id is recorded, and must be an active worker of this queue.
SELECT pgqrs.register_worker('again', 'host-a', 1) AS worker_a \gset
SELECT pgqrs.register_worker('other', 'host-b', 2) AS worker_b \gset
SELECT pgqrs.enqueue('again', '{"k": 3}') > 0 AS enqueued;
SELECT payload, worker_id = :worker_a AS recorded FROM pgqrs.dequeue('again', 1, 30, :worker_a);
SELECT error_of(format('SELECT pgqrs.dequeue(%L, 1, 30, %s)', 'again', :worker_b));
SELECT pgqrs.stop_worker(:worker_a) AS released;
SELECT error_of(format('SELECT pgqrs.dequeue(%L, 1, 30, %s)', 'again', :worker_a));

SELECT pgqrs.drop_queue(queue_name, force => true) FROM pgqrs.pgqrs_queues ORDER BY id;
