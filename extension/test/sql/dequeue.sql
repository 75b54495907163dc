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
