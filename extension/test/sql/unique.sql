-- Unique jobs (enqueue's dedupe_key, dedupe_seconds) and run_at.
\set VERBOSITY terse
SELECT pgqrs.create_queue('uniq') > 0 AS created;
SELECT pgqrs.create_queue('uniq_dead', max_attempts => 1) > 0 AS created;
SELECT pgqrs.register_worker('uniq', 'w', 1) AS w \gset
CREATE FUNCTION uniq_count(p_queue text) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM pgqrs.queue_messages(p_queue, 1000) $$;

-- While a message with the key is unfinished, the key returns it and adds nothing.
SELECT pgqrs.enqueue('uniq', '{"n": 1}', dedupe_key => 'k') AS m1 \gset
SELECT pgqrs.enqueue('uniq', '{"n": 2}', dedupe_key => 'k') = :m1 AS same_ready;
SELECT pgqrs.enqueue('uniq', '{"n": 3}', dedupe_key => 'other') <> :m1 AS other_key_new;
SELECT pgqrs.enqueue('uniq', '{"n": 4}') <> :m1 AS no_key_new;
SELECT uniq_count('uniq') AS messages;
SELECT payload FROM pgqrs.queue_message('uniq', :m1) AS first_payload_kept;
-- Leased, then released for a retry (waiting in pgqrs_delayed): still held.
SELECT id = :m1 AS leased FROM pgqrs.dequeue('uniq', 1, 30, :w);
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'k') = :m1 AS same_leased;
SELECT pgqrs.release('uniq', :m1, 3600, :w) AS released;
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'k') = :m1 AS same_retrying;
-- The key is the queue's: another queue takes it anew.
SELECT pgqrs.enqueue('uniq_dead', '{}', dedupe_key => 'k') <> :m1 AS other_queue_new;

-- Archived, deleted, completed, dead-lettered, cancelled, purged: the key is free.
SELECT pgqrs.archive('uniq', :m1) AS archived;
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'k') AS m2 \gset
SELECT :m2 <> :m1 AS new_after_archive;
SELECT pgqrs.delete('uniq', :m2) AS deleted;
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'k') AS m3 \gset
SELECT :m3 <> :m2 AS new_after_delete;
SELECT pgqrs.complete('uniq', :m3, '{"ok": true}') AS completed;
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'k') AS m4 \gset
SELECT :m4 <> :m3 AS new_after_complete;
SELECT count(*) FROM pgqrs.delete_batch('uniq', ARRAY[:m4]) AS batch_deleted;
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'k') <> :m4 AS new_after_delete_batch;
SELECT pgqrs.enqueue('uniq_dead', '{}', dedupe_key => 'd') AS d1 \gset
SELECT count(*) AS leased FROM pgqrs.dequeue('uniq_dead', 5, 0);
SELECT count(*) AS delivered_again FROM pgqrs.dequeue('uniq_dead', 5, 30);
SELECT state FROM pgqrs.message_status('uniq_dead', :d1);
SELECT pgqrs.enqueue('uniq_dead', '{}', dedupe_key => 'd') <> :d1 AS new_after_dead_letter;
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'c') AS c1 \gset
SELECT pgqrs.cancel('uniq', :c1) AS cancelled;
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'c') <> :c1 AS new_after_cancel;
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'p', delay_seconds => 60) AS p1 \gset
SELECT pgqrs.purge_queue('uniq') > 0 AS purged;
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'p') <> :p1 AS new_after_purge;

-- dedupe_seconds: a done message keeps the key for that long; a cancelled one does not.
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'h', dedupe_seconds => 3600) AS h1 \gset
SELECT pgqrs.archive('uniq', :h1) AS archived;
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'h') = :h1 AS held_after_done;
SELECT state FROM pgqrs.message_status('uniq', :h1) AS holder_state;
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'h1s', dedupe_seconds => 1) AS s1 \gset
SELECT pgqrs.delete('uniq', :s1) AS deleted;
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'h1s') = :s1 AS held_for_a_second;
SELECT pg_sleep(1.1);
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'h1s') <> :s1 AS taken_after_the_hold;
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'hc', dedupe_seconds => 3600) AS hc \gset
SELECT pgqrs.cancel('uniq', :hc) AS cancelled;
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'hc') <> :hc AS new_after_cancel_with_hold;
-- purge_archive forgets keys whose hold is over; purge_queue keeps keys still held.
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'gone', dedupe_seconds => 1) AS g1 \gset
SELECT pgqrs.archive('uniq', :g1) AS archived;
SELECT pg_sleep(1.1);
SELECT pgqrs.purge_archive('uniq', 3600) AS purged_archive;
SELECT count(*) AS keys_left FROM pgqrs.pgqrs_dedupe_keys WHERE dedupe_key IN ('gone', 'h');
SELECT pgqrs.purge_queue('uniq') >= 0 AS purged;
SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'h') = :h1 AS still_held_after_purge;

-- With a group key: a duplicate takes no place of its key.
SELECT pgqrs.enqueue('uniq', '{}', group_key => 'g', dedupe_key => 'gd') AS gd \gset
SELECT pgqrs.enqueue('uniq', '{}', group_key => 'g', dedupe_key => 'gd') = :gd AS same_grouped;
SELECT active FROM pgqrs.pgqrs_groups WHERE group_key = 'g';
SELECT msg_id = :gd AS key_names_message FROM pgqrs.pgqrs_dedupe_keys WHERE dedupe_key = 'gd';
SELECT id = :gd AS delivered FROM pgqrs.dequeue('uniq', 1, 30);
SELECT pgqrs.archive('uniq', :gd) AS archived;
SELECT count(*) AS group_rows, (SELECT count(*) FROM pgqrs.pgqrs_dedupe_keys WHERE dedupe_key = 'gd') AS key_rows
FROM pgqrs.pgqrs_groups WHERE group_key = 'g';

-- Batches: a key held already returns its holder; a key twice in the batch makes one message.
SELECT pgqrs.enqueue('uniq', '{"held": true}', dedupe_key => 'bk') AS bk \gset
SELECT array_agg(id) AS ids FROM pgqrs.enqueue_batch('uniq', ARRAY['1', '2', '3', '4', '5']::jsonb[],
    dedupe_keys => ARRAY['a', 'b', 'a', NULL, 'bk']) AS id \gset
SELECT (:'ids'::bigint[])[1] = (:'ids'::bigint[])[3] AS repeated_key_same_id,
       (:'ids'::bigint[])[5] = :bk AS held_key_holder,
       cardinality(ARRAY(SELECT DISTINCT unnest(:'ids'::bigint[]))) AS distinct_ids;
SELECT payload FROM pgqrs.queue_message('uniq', (:'ids'::bigint[])[1]) AS first_of_key_kept;
SELECT count(*) AS batch_messages FROM pgqrs.pgqrs_messages m JOIN pgqrs.pgqrs_queues q ON q.id = m.queue_id
WHERE q.queue_name = 'uniq' AND m.id = ANY (:'ids'::bigint[]);
SELECT count(*) AS keys_named FROM pgqrs.pgqrs_dedupe_keys
WHERE dedupe_key IN ('a', 'b') AND msg_id = ANY (:'ids'::bigint[]);
SELECT count(*) AS all_held_adds_none FROM pgqrs.enqueue_batch('uniq', ARRAY['6', '7']::jsonb[],
    dedupe_keys => ARRAY['bk', 'a']) AS id
WHERE id NOT IN (:bk, (:'ids'::bigint[])[1]);
SELECT count(*) AS messages_after FROM pgqrs.pgqrs_messages m JOIN pgqrs.pgqrs_queues q ON q.id = m.queue_id
WHERE q.queue_name = 'uniq' AND m.payload IN ('6', '7');
-- With group keys: only the messages made take places.
SELECT count(*) FROM pgqrs.enqueue_batch('uniq', ARRAY['1', '2', '3']::jsonb[],
    group_keys => ARRAY['bg', 'bg', 'bg'], dedupe_keys => ARRAY['x', 'x', 'y']) AS returned;
SELECT active FROM pgqrs.pgqrs_groups WHERE group_key = 'bg';
SELECT count(*) AS waiting FROM pgqrs.messages WHERE group_key = 'bg' AND state = 'waiting';

-- run_at: visible at that time (now, if past); in a batch; in release.
SELECT pgqrs.create_queue('uniq_at') > 0 AS created;
SELECT pgqrs.enqueue('uniq_at', '{}', run_at => now() + interval '1 hour') AS r1 \gset
SELECT state FROM pgqrs.message_status('uniq_at', :r1) AS future_run_at;
SELECT vt - now() BETWEEN interval '59 minutes' AND interval '61 minutes' AS vt_at_run_at
FROM pgqrs.pgqrs_delayed WHERE id = :r1;
SELECT pgqrs.enqueue('uniq_at', '{}', run_at => now() - interval '1 hour') AS r2 \gset
SELECT state FROM pgqrs.message_status('uniq_at', :r2) AS past_run_at;
SELECT pgqrs.enqueue('uniq_at', '{}', delay_seconds => 0, run_at => now() + interval '1 minute') AS r4 \gset
SELECT state FROM pgqrs.message_status('uniq_at', :r4) AS zero_delay_with_run_at;
SELECT array_agg(id) AS at_ids FROM pgqrs.enqueue_batch('uniq_at', ARRAY['1', '2']::jsonb[],
    run_at => now() + interval '1 day') AS id \gset
SELECT count(*) AS batch_delayed_a_day FROM pgqrs.pgqrs_delayed
WHERE id = ANY (:'at_ids'::bigint[]) AND vt - now() BETWEEN interval '23 hours' AND interval '25 hours';
SELECT id = :r2 AS leased FROM pgqrs.dequeue('uniq_at', 1, 30);
SELECT pgqrs.release('uniq_at', :r2, run_at => now() + interval '2 hours') AS released;
SELECT vt - now() BETWEEN interval '119 minutes' AND interval '121 minutes' AS released_until_run_at
FROM pgqrs.pgqrs_delayed WHERE id = :r2;
SELECT pgqrs.drop_queue('uniq_at', force => true) AS dropped;

-- Errors, each leaving nothing behind.
SELECT uniq_count('uniq') AS before_errors \gset
SELECT error_of($$SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => '')$$);
SELECT error_of($$SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => repeat('x', 256))$$);
SELECT error_of($$SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'e', dedupe_seconds => -1)$$);
SELECT error_of($$SELECT pgqrs.enqueue('uniq', '{}', dedupe_key => 'e', dedupe_seconds => NULL)$$);
SELECT error_of($$SELECT pgqrs.enqueue('uniq', '{}', delay_seconds => 5, run_at => now())$$);
SELECT error_of($$SELECT pgqrs.enqueue('uniq', '{}', run_at => 'infinity')$$);
SELECT error_of($$SELECT pgqrs.enqueue_batch('uniq', ARRAY['1', '2']::jsonb[], dedupe_keys => ARRAY['e'])$$);
SELECT error_of($$SELECT pgqrs.enqueue_batch('uniq', ARRAY['1', '2']::jsonb[], dedupe_keys => ARRAY['e', ''])$$);
SELECT error_of($$SELECT pgqrs.enqueue_batch('uniq', ARRAY['1', '2']::jsonb[], delay_seconds => 1, run_at => now())$$);
SELECT error_of($$SELECT pgqrs.enqueue_batch('uniq', ARRAY['1', 'null']::jsonb[], dedupe_keys => ARRAY['e1', 'e2'])$$);
SELECT error_of(format($$SELECT pgqrs.release('uniq', %s, 5, run_at => now())$$, :bk));
SELECT error_of($$SELECT pgqrs.enqueue('nope', '{}', dedupe_key => 'e')$$);
SELECT uniq_count('uniq') = :before_errors AS nothing_added,
       (SELECT count(*) FROM pgqrs.pgqrs_dedupe_keys WHERE dedupe_key LIKE 'e%') AS keys_taken;

DROP FUNCTION uniq_count(text);
SELECT pgqrs.drop_queue('uniq', force => true) AND pgqrs.drop_queue('uniq_dead', force => true) AS dropped;
SELECT count(*) AS keys_after_drop FROM pgqrs.pgqrs_dedupe_keys;
