-- Which message comes next: priorities, FIFO per group key, group_concurrency,
-- turns between keys, rate limits.
\set VERBOSITY terse
SELECT pgqrs.create_queue('ord') AS q \gset

-- Priorities: higher first, FIFO by id within one; a release keeps its priority.
SELECT pgqrs.enqueue('ord', '{"p": 0, "n": 1}') IS NOT NULL AS sent;
SELECT pgqrs.enqueue('ord', '{"p": 5, "n": 2}', priority => 5) IS NOT NULL AS sent;
SELECT pgqrs.enqueue('ord', '{"p": -1, "n": 3}', priority => -1) IS NOT NULL AS sent;
SELECT pgqrs.enqueue('ord', '{"p": 5, "n": 4}', priority => 5) IS NOT NULL AS sent;
SELECT payload, priority FROM pgqrs.dequeue('ord', 1, 300);
SELECT pgqrs.release('ord', (SELECT id FROM pgqrs.pgqrs_messages WHERE queue_id = :q AND dequeued_at IS NOT NULL));
SELECT payload, priority FROM pgqrs.dequeue('ord', 10, 300);
SELECT pgqrs.purge_queue('ord');
SELECT pgqrs.enqueue('ord', '{}', priority => 32768);
SELECT pgqrs.enqueue('ord', '{}', priority => NULL);
SELECT pgqrs.enqueue('ord', '{}', priority => -32768) IS NOT NULL AS lowest_accepted;
SELECT pgqrs.purge_queue('ord');

-- FIFO per key: a key's next message waits while one of it is leased, also after
-- its lease ran out (it is delivered again first) and after a release.
SELECT pgqrs.enqueue('ord', '{"k": "a", "n": 1}', group_key => 'a') AS a1 \gset
SELECT pgqrs.enqueue('ord', '{"k": "a", "n": 2}', group_key => 'a') AS a2 \gset
SELECT pgqrs.enqueue('ord', '{"k": "b", "n": 1}', group_key => 'b') AS b1 \gset
SELECT pgqrs.enqueue('ord', '{"n": 1}') IS NOT NULL AS unkeyed;
SELECT state, count(*) FROM pgqrs.messages WHERE queue_id = :q GROUP BY state ORDER BY state;
SELECT waiting, ready FROM pgqrs.queue_metrics WHERE queue_name = 'ord';
SELECT payload FROM pgqrs.dequeue('ord', 10, 0);  -- leases that run out at once
SELECT payload FROM pgqrs.dequeue('ord', 10, 300);  -- the same three again, a2 still waits
SELECT pgqrs.release('ord', :a1);
SELECT payload FROM pgqrs.dequeue('ord', 10, 300);
SELECT pgqrs.delete('ord', :a1);  -- a2 takes a's place
SELECT payload FROM pgqrs.dequeue('ord', 10, 300);
SELECT group_key, active FROM pgqrs.pgqrs_groups WHERE queue_id = :q ORDER BY group_key;
SELECT pgqrs.archive('ord', :a2), pgqrs.delete('ord', :b1);
SELECT count(*) AS keys_left FROM pgqrs.pgqrs_groups WHERE queue_id = :q;
SELECT pgqrs.enqueue('ord', '{}', group_key => '');
SELECT pgqrs.enqueue('ord', '{}', group_key => repeat('k', 256));
SELECT pgqrs.purge_queue('ord');

-- A delayed message keeps its key's place: the key's next waits for it.
SELECT pgqrs.enqueue('ord', '{"k": "d", "n": 1}', 3600, group_key => 'd') AS d1 \gset
SELECT pgqrs.enqueue('ord', '{"k": "d", "n": 2}', group_key => 'd') IS NOT NULL AS sent;
SELECT count(*) AS delivered FROM pgqrs.dequeue('ord', 10, 300);
SELECT pgqrs.delete('ord', :d1);
SELECT payload FROM pgqrs.dequeue('ord', 10, 300);
SELECT pgqrs.purge_queue('ord');

-- Turns: a key that comes after another's long run gets its messages in the next
-- dequeues (each key's next message joins the end of the line).
SELECT count(*) FROM pgqrs.enqueue_batch('ord', array_fill('{"k": "big"}'::jsonb, ARRAY[6]),
                                         group_keys => array_fill('big'::text, ARRAY[6]));
SELECT count(*) FROM pgqrs.enqueue_batch('ord', array_fill('{"k": "small"}'::jsonb, ARRAY[2]),
                                         group_keys => array_fill('small'::text, ARRAY[2]));
SELECT string_agg(k, ' ' ORDER BY n) AS delivery_order FROM (
    SELECT n, (SELECT m.payload ->> 'k' FROM pgqrs.dequeue('ord', 1, 300 + 0 * n) m  -- once per n
               WHERE pgqrs.delete('ord', m.id)) AS k
    FROM generate_series(1, 8) n) d;
SELECT pgqrs.purge_queue('ord');

-- group_concurrency: at most that many of a key in flight; raising it lets waiting ones in.
SELECT pgqrs.alter_queue('ord', group_concurrency => 2);
SELECT count(*) FROM pgqrs.enqueue_batch('ord', array_fill('{}'::jsonb, ARRAY[5]),
                                         group_keys => ARRAY['c', 'c', 'c', 'c', NULL]);
SELECT count(*) FILTER (WHERE group_key = 'c') AS c_leased, count(*) FILTER (WHERE group_key IS NULL) AS unkeyed
FROM pgqrs.dequeue('ord', 10, 300);
SELECT pgqrs.alter_queue('ord', group_concurrency => 3);
SELECT count(*) AS one_more FROM pgqrs.dequeue('ord', 10, 300);
SELECT group_concurrency FROM pgqrs.queue_metrics WHERE queue_name = 'ord';
SELECT pgqrs.alter_queue('ord', group_concurrency => 0);
SELECT pgqrs.purge_queue('ord');

-- Batches: per-message priorities and keys, checked, ids in input order.
SELECT pgqrs.alter_queue('ord', group_concurrency => 1);
SELECT count(*) FROM pgqrs.enqueue_batch('ord', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[],
                                         priorities => ARRAY[0, 9, 0], group_keys => ARRAY['x', NULL, 'x']);
SELECT payload, priority, group_key FROM pgqrs.dequeue('ord', 10, 300);
SELECT pgqrs.enqueue_batch('ord', ARRAY['{}', '{}']::jsonb[], priorities => ARRAY[1]);
SELECT pgqrs.enqueue_batch('ord', ARRAY['{}', '{}']::jsonb[], priorities => ARRAY[1, NULL]);
SELECT pgqrs.enqueue_batch('ord', ARRAY['{}', '{}']::jsonb[], group_keys => ARRAY['ok', '']);
SELECT pgqrs.enqueue_batch('ord', ARRAY['{}']::jsonb[], group_keys => ARRAY[['a']]);
SELECT count(*) AS the_first_batch_only FROM pgqrs.pgqrs_messages WHERE queue_id = :q;
SELECT pgqrs.purge_queue('ord');

-- A dead letter frees its key's place; replayed, it goes back through its key.
SELECT pgqrs.create_queue('ord_dead', max_attempts => 1) AS qd \gset
SELECT pgqrs.enqueue('ord_dead', '{"n": 1}', group_key => 'k') AS k1 \gset
SELECT pgqrs.enqueue('ord_dead', '{"n": 2}', group_key => 'k') AS k2 \gset
SELECT payload FROM pgqrs.dequeue('ord_dead', 10, 0);
SELECT payload FROM pgqrs.dequeue('ord_dead', 10, 300);  -- k1 buried: k2 comes
SELECT count(*) AS replayed FROM pgqrs.replay_dead_letters('ord_dead');
SELECT state FROM pgqrs.messages WHERE id = :k1;  -- k2 holds the place
SELECT pgqrs.delete('ord_dead', :k2);
SELECT payload FROM pgqrs.dequeue('ord_dead', 10, 300);
SELECT pgqrs.drop_queue('ord_dead', force => true);

-- Rate limits: a second's worth at once, then what the clock gives.
SELECT pgqrs.create_queue('ord_rate', rate_limit => 3) AS qr \gset
SELECT to_regclass(format('pgqrs.pgqrs_tokens_%s', :qr)) IS NOT NULL AS has_bucket;
SELECT count(*) FROM pgqrs.enqueue_batch('ord_rate', array_fill('{}'::jsonb, ARRAY[10]));
SELECT count(*) AS first_second FROM pgqrs.dequeue('ord_rate', 10, 300);
SELECT count(*) AS nothing_yet FROM pgqrs.dequeue('ord_rate', 10, 300);
SELECT rate_limit FROM pgqrs.queue_metrics WHERE queue_name = 'ord_rate';
SELECT pgqrs.alter_queue('ord_rate', rate_limit => 0);
SELECT to_regclass(format('pgqrs.pgqrs_tokens_%s', :qr)) IS NULL AS bucket_gone;
SELECT count(*) AS unlimited FROM pgqrs.dequeue('ord_rate', 10, 300);
SELECT pgqrs.alter_queue('ord_rate', rate_limit => -1);
SELECT pgqrs.alter_queue('ord_rate', rate_limit => 'NaN');
SELECT pgqrs.create_queue('ord_rate2', rate_limit => 2e6);
SELECT pgqrs.drop_queue('ord_rate', force => true);
SELECT to_regclass(format('pgqrs.pgqrs_tokens_%s', :qr)) IS NULL AS dropped_with_it;
SELECT pgqrs.drop_queue('ord', force => true);
