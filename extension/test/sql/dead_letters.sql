-- Dead letters: max_attempts deliveries, then moved aside, listed, replayed.
\set VERBOSITY terse
SELECT pgqrs.create_queue('fragile', max_attempts => 2) > 0 AS created;
SELECT pgqrs.enqueue('fragile', '{"job": "first"}') AS first \gset
SELECT pgqrs.enqueue('fragile', '{"job": "second"}') AS second \gset

-- Two deliveries whose leases run out ...
SELECT payload, read_ct FROM pgqrs.dequeue('fragile', 1, 0);
SELECT payload, read_ct FROM pgqrs.dequeue('fragile', 1, 0);
-- ... then the first is dead-lettered and the dequeue moves on to the next.
SELECT payload, read_ct FROM pgqrs.dequeue('fragile', 1, 0);
SELECT id = :first AS first_is_dead, payload, read_ct, dead_lettered
FROM pgqrs.pgqrs_archive;

-- release of a message that used its last delivery dead-letters it too.
SELECT payload, read_ct FROM pgqrs.dequeue('fragile', 1, 30);
SELECT pgqrs.release('fragile', :second) AS released;
SELECT count(*) AS nothing_to_deliver FROM pgqrs.dequeue('fragile', 5);
SELECT array_agg(payload->>'job' ORDER BY id) AS dead FROM pgqrs.dead_letters('fragile');
SELECT count(*) AS limited FROM pgqrs.dead_letters('fragile', qty => 1);
SELECT error_of($$SELECT pgqrs.dead_letters('fragile', 0)$$);

-- Dead letters are not "archived" in the metrics, and purge_archive keeps them.
SELECT ready, archived, dead_lettered FROM pgqrs.metrics('fragile');
SELECT pgqrs.purge_archive('fragile') AS purged;
SELECT count(*) AS dead_kept FROM pgqrs.dead_letters('fragile');

-- Replay one, then all: back in the queue with their ids, read_ct 0.
SELECT array_agg(r) = ARRAY[:second]::bigint[] AS replayed
FROM pgqrs.replay_dead_letters('fragile', ARRAY[:second]::bigint[]) r;
SELECT array_agg(r) = ARRAY[:first]::bigint[] AS replayed_rest
FROM pgqrs.replay_dead_letters('fragile') r;
SELECT id IN (:first, :second) AS same_id, payload, read_ct, worker_id FROM pgqrs.dequeue('fragile', 5)
ORDER BY id;
SELECT count(*) AS dead_left FROM pgqrs.dead_letters('fragile');

-- purge_dead_letters: the given ones, or all; the rest of the archive stays.
SELECT pgqrs.create_queue('graveyard', max_attempts => 1) > 0 AS created;
SELECT count(*) FROM pgqrs.enqueue_batch('graveyard', array_fill('{}'::jsonb, ARRAY[3]));
SELECT count(*) FROM pgqrs.dequeue('graveyard', 3, 0);
SELECT count(*) FROM pgqrs.dequeue('graveyard', 3);  -- buries all three
SELECT pgqrs.enqueue('graveyard', '{"kept": true}') AS kept \gset
SELECT pgqrs.archive('graveyard', id) FROM pgqrs.dequeue('graveyard');
SELECT min(id) AS first_dead FROM pgqrs.dead_letters('graveyard') \gset
SELECT array_agg(p) = ARRAY[:first_dead]::bigint[] AS purged_one
FROM pgqrs.purge_dead_letters('graveyard', ARRAY[:first_dead, :kept]::bigint[]) p;
SELECT count(*) AS purged_rest FROM pgqrs.purge_dead_letters(queue_name => 'graveyard');
SELECT archived, dead_lettered FROM pgqrs.metrics('graveyard');
SELECT error_of($$SELECT pgqrs.purge_dead_letters('nope')$$);
SELECT error_of($$SELECT pgqrs.purge_dead_letters('graveyard', ARRAY[[1]]::bigint[])$$);
SELECT pgqrs.drop_queue('graveyard', force => true);

-- In a batch, dead ones do not take the place of deliverable ones.
SELECT pgqrs.create_queue('batchy', max_attempts => 1) > 0 AS created;
SELECT count(*) FROM pgqrs.enqueue_batch('batchy', ARRAY['{"b": 1}', '{"b": 2}', '{"b": 3}', '{"b": 4}']::jsonb[]);
SELECT count(*) FROM pgqrs.dequeue('batchy', 2, 0);
SELECT array_agg(payload->>'b' ORDER BY id) AS delivered, max(read_ct) AS read_ct
FROM pgqrs.dequeue('batchy', 2, 30);
SELECT count(*) AS dead FROM pgqrs.dead_letters('batchy');

-- purge_archive can include them, and honours a cut-off.
SELECT pgqrs.purge_archive('batchy', older_than_seconds => 3600, include_dead_letters => true) AS too_young;
SELECT pgqrs.purge_archive('batchy', include_dead_letters => true) AS purged;
SELECT error_of($$SELECT pgqrs.purge_archive('batchy', -1)$$);
SELECT error_of($$SELECT pgqrs.purge_archive('nope')$$);
SELECT error_of($$SELECT pgqrs.replay_dead_letters('nope')$$);

SELECT pgqrs.drop_queue(queue_name, force => true) FROM pgqrs.pgqrs_queues ORDER BY id;
