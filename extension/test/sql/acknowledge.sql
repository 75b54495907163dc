-- delete, archive (single and batch), extend_visibility, release, fencing.
\set VERBOSITY terse
SELECT pgqrs.create_queue('acks') > 0 AS created;
SELECT pgqrs.create_queue('elsewhere') > 0 AS created;
SELECT count(*) FROM pgqrs.enqueue_batch('acks', array_fill('{"x": 1}'::jsonb, ARRAY[10]));
SELECT min(id) AS m FROM pgqrs.pgqrs_messages \gset

-- delete: true once, then false; an id of another queue is not touched.
SELECT pgqrs.delete('acks', :m) AS deleted;
SELECT pgqrs.delete('acks', :m) AS deleted_again;
SELECT pgqrs.enqueue('elsewhere', '{}') AS other_id \gset
SELECT pgqrs.delete('acks', :other_id) AS cross_queue;
SELECT pgqrs.delete(queue_name => 'elsewhere', msg_id => :other_id) AS deleted_named;
SELECT error_of($$SELECT pgqrs.delete('nope', 1)$$);

-- delete_batch returns the ids actually deleted.
SELECT array_agg(d ORDER BY d) = ARRAY[:m + 1, :m + 2]::bigint[] AS deleted_ids
FROM pgqrs.delete_batch('acks', ARRAY[:m, :m + 1, :m + 2, 999999]::bigint[]) d;
SELECT count(*) AS none FROM pgqrs.delete_batch('acks', ARRAY[]::bigint[]);
SELECT error_of($$SELECT pgqrs.delete_batch('acks', NULL)$$);
SELECT error_of($$SELECT pgqrs.delete_batch('acks', (SELECT array_agg(g::bigint) FROM generate_series(1, 10001) g))$$);

-- archive stamps archived_at and the processing duration.
SELECT count(*) AS leased FROM pgqrs.dequeue('acks', 1, 30);
SELECT pgqrs.archive('acks', :m + 3) AS archived;
SELECT pgqrs.archive('acks', :m + 3) AS archived_again;
SELECT id = :m + 3 AS same_id, payload, read_ct, archived_at >= dequeued_at AS stamped,
       processing_duration = archived_at - dequeued_at AS duration, dead_lettered
FROM pgqrs.pgqrs_archive;
SELECT pgqrs.archive('acks', :m + 4) AS archived_unleased;
SELECT processing_duration IS NULL AS no_duration FROM pgqrs.pgqrs_archive WHERE id = :m + 4;
SELECT array_agg(a ORDER BY a) = ARRAY[:m + 5, :m + 6]::bigint[] AS archived_ids
FROM pgqrs.archive_batch('acks', ARRAY[:m + 5, :m + 6, :m]::bigint[]) a;
SELECT error_of($$SELECT pgqrs.archive_batch('acks', NULL)$$);
SELECT error_of($$SELECT pgqrs.archive('nope', 1)$$);

-- Fencing by worker_id: only the worker holding the lease may act on it.
SELECT pgqrs.register_worker('acks', 'host-a', 1) AS wa \gset
SELECT pgqrs.register_worker('acks', 'host-b', 2) AS wb \gset
SELECT id AS leased_by_a FROM pgqrs.dequeue('acks', 1, 0, :wa) \gset
SELECT pgqrs.extend_visibility('acks', :leased_by_a, 30, :wb) IS NULL AS b_cannot_extend;
SELECT pgqrs.delete('acks', :leased_by_a, :wb) AS b_cannot_delete;
SELECT pgqrs.archive('acks', :leased_by_a, :wb) AS b_cannot_archive;
SELECT pgqrs.release('acks', :leased_by_a, 0, :wb) AS b_cannot_release;
-- A's lease ran out (vt 0) and nobody took it: A may still extend it.
SELECT pgqrs.extend_visibility('acks', :leased_by_a, 30, :wa) > clock_timestamp() AS a_extends;
-- B takes it after A's lease ran out: A's late calls change nothing.
SELECT pgqrs.extend_visibility('acks', :leased_by_a, 0) IS NOT NULL AS expired;
SELECT id = :leased_by_a AS b_has_it FROM pgqrs.dequeue('acks', 1, 30, :wb);
SELECT pgqrs.archive('acks', :leased_by_a, :wa) AS late_archive;
SELECT pgqrs.delete('acks', :leased_by_a, :wa) AS late_delete;
SELECT pgqrs.extend_visibility('acks', :leased_by_a, 60, :wa) AS late_extend;
SELECT pgqrs.release('acks', :leased_by_a, 0, :wa) AS late_release;
SELECT count(*) AS late_batch FROM pgqrs.delete_batch('acks', ARRAY[:leased_by_a]::bigint[], :wa);
SELECT count(*) AS late_batch FROM pgqrs.archive_batch('acks', ARRAY[:leased_by_a]::bigint[], :wa);
SELECT worker_id = :wb AS still_b, read_ct FROM pgqrs.pgqrs_messages WHERE id = :leased_by_a;
SELECT pgqrs.archive('acks', :leased_by_a, :wb) AS b_archives;
SELECT worker_id = :wb AS archived_by_b FROM pgqrs.pgqrs_archive WHERE id = :leased_by_a;

-- release: visible again after the delay, held by nobody; only leased messages.
SELECT id AS r FROM pgqrs.dequeue('acks', 1, 300, :wa) \gset
SELECT pgqrs.release('acks', :r, 120, :wa) AS released;
SELECT worker_id, dequeued_at, read_ct, vt > clock_timestamp() + interval '100 seconds' AS delayed
FROM pgqrs.pgqrs_delayed WHERE id = :r;
SELECT pgqrs.release('acks', :r) AS not_leased;
SELECT pgqrs.delete('acks', :r, :wa) AS released_is_fenced;
SELECT error_of(format('SELECT pgqrs.release(%L, %s, -1)', 'acks', :r));
SELECT error_of($$SELECT pgqrs.release('nope', 1)$$);

-- extend_visibility sets vt to now + seconds, also for a waiting message.
SELECT pgqrs.extend_visibility('acks', :r, 5) < clock_timestamp() + interval '6 seconds' AS shortened;
SELECT pgqrs.extend_visibility('acks', 999999, 5) IS NULL AS missing;
SELECT error_of(format('SELECT pgqrs.extend_visibility(%L, %s, -1)', 'acks', :r));
SELECT error_of(format('SELECT pgqrs.extend_visibility(%L, %s, NULL)', 'acks', :r));

SELECT pgqrs.drop_queue(queue_name, force => true) FROM pgqrs.pgqrs_queues ORDER BY id;
