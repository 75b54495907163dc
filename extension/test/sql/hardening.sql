-- Least privilege and bad input: what a role may do to messages and workers
-- it does not own, whose group roles an install uses, and what bad arguments get.
\set VERBOSITY terse
SELECT pgqrs.create_queue('h_q') > 0 AS created, pgqrs.create_queue('h_other') > 0 AS created_other;
CREATE ROLE h_producer LOGIN IN ROLE pgqrs_producer;
CREATE ROLE h_consumer LOGIN IN ROLE pgqrs_consumer;
CREATE ROLE h_consumer2 LOGIN IN ROLE pgqrs_consumer;
CREATE ROLE h_admin LOGIN IN ROLE pgqrs_admin;

-- A consumer's worker holds a message.
SET SESSION AUTHORIZATION h_consumer;
SELECT pgqrs.register_worker('h_q', 'c', 1) AS c_worker \gset
RESET SESSION AUTHORIZATION;
SELECT pgqrs.enqueue('h_q', '{"n": 1}') AS msg \gset
SET SESSION AUTHORIZATION h_consumer;
SELECT id = :msg AS leased FROM pgqrs.dequeue('h_q', 1, 600, :c_worker);
RESET SESSION AUTHORIZATION;

-- A producer adds messages: it can neither hide nor hand over one that is held,
-- nor keep alive or stop a worker it did not register. Its own it may.
SET SESSION AUTHORIZATION h_producer;
SELECT error_of(format('SELECT pgqrs.extend_visibility(%L, %s, 2147483647)', 'h_q', :msg));
SELECT error_of(format('SELECT pgqrs.extend_visibility(%L, %s, 0)', 'h_q', :msg));
SELECT error_of(format('SELECT pgqrs.heartbeat(%s)', :c_worker));
SELECT error_of(format('SELECT pgqrs.stop_worker(%s)', :c_worker));
SELECT pgqrs.register_worker('h_q', 'p', 2) AS p_worker \gset
SELECT error_of(format('SELECT pgqrs.heartbeat(%s)', :p_worker)) AS own_heartbeat;
SELECT pgqrs.stop_worker(:p_worker) AS own_stop_released;
RESET SESSION AUTHORIZATION;
SELECT vt > now() + interval '500 seconds' AS still_leased, worker_id = :c_worker AS same_holder
FROM pgqrs.pgqrs_messages WHERE id = :msg;

-- Another consumer may not act as the worker, but may stop it (the consumer's
-- rights), and what it held comes back.
SET SESSION AUTHORIZATION h_consumer2;
SELECT error_of(format('SELECT pgqrs.heartbeat(%s)', :c_worker));
SELECT error_of(format('SELECT * FROM pgqrs.dequeue(%L, 1, 30, %s)', 'h_q', :c_worker));
SELECT pgqrs.stop_worker(:c_worker) AS stopped_released;
RESET SESSION AUTHORIZATION;

-- Reaping is per queue, with a floor; every queue at once is the admin's.
SET SESSION AUTHORIZATION h_consumer;
SELECT pgqrs.register_worker('h_q', 'c', 1) AS q_worker \gset
SELECT pgqrs.register_worker('h_other', 'c', 1) AS other_worker \gset
RESET SESSION AUTHORIZATION;
UPDATE pgqrs.pgqrs_workers SET heartbeat_at = heartbeat_at - interval '1 hour'
WHERE id IN (:q_worker, :other_worker);
SET SESSION AUTHORIZATION h_consumer;
SELECT error_of($$SELECT pgqrs.reap_workers(0, 'h_q')$$);
SELECT error_of($$SELECT pgqrs.reap_workers(4, 'h_q')$$);
SELECT error_of($$SELECT pgqrs.reap_workers(60)$$);
SELECT pgqrs.reap_workers(60, 'h_q') AS reaped_released;
RESET SESSION AUTHORIZATION;
SELECT id = :q_worker AS is_q_worker, status FROM pgqrs.pgqrs_workers
WHERE id IN (:q_worker, :other_worker) ORDER BY id;
SET SESSION AUTHORIZATION h_admin;
SELECT pgqrs.reap_workers(60) AS admin_reaps_all;
RESET SESSION AUTHORIZATION;
SELECT status FROM pgqrs.pgqrs_workers WHERE id = :other_worker;

-- The admin group has every function itself, not through membership.
SELECT count(*) FILTER (WHERE NOT EXISTS (
           SELECT FROM aclexplode(p.proacl) a
           WHERE a.grantee = 'pgqrs_admin'::regrole AND a.privilege_type = 'EXECUTE')) AS admin_lacks_directly
FROM pg_proc p WHERE p.pronamespace = 'pgqrs'::regnamespace AND p.proname NOT LIKE '\_%';
SELECT has_function_privilege('pgqrs_producer', 'pgqrs.extend_visibility(text, bigint, integer, bigint)', 'EXECUTE')
       AS producer_may_extend,
       has_table_privilege('pgqrs_admin', 'pgqrs.pgqrs_archive', 'DELETE') AS admin_may_delete_archive,
       has_table_privilege('pgqrs_admin', 'pgqrs.pgqrs_workers', 'DELETE') AS admin_may_delete_workers;

-- Group roles belong to one install. Roles of the names that this install did
-- not make are refused unless asked for; roles that can log in always.
CREATE ROLE h_login_producer LOGIN;
SET pgqrs.reuse_roles = on;
SET pgqrs.role_prefix = 'h_login';
SELECT error_of('SELECT pgqrs._setup_roles()');
DROP ROLE h_login_producer;
CREATE ROLE h_hand_producer NOLOGIN;
CREATE ROLE h_hand_consumer NOLOGIN;
CREATE ROLE h_hand_admin NOLOGIN;
SET pgqrs.reuse_roles = off;
SET pgqrs.role_prefix = 'h_hand';
SELECT error_of('SELECT pgqrs._setup_roles()');
SET pgqrs.role_prefix = 'h bad;';
SELECT error_of('SELECT pgqrs._setup_roles()');
-- Asked for: roles made by hand get every grant, the admin both groups'.
SET pgqrs.reuse_roles = on;
SET pgqrs.role_prefix = 'h_hand';
SELECT error_of('SELECT pgqrs._setup_roles()');
SELECT has_function_privilege('h_hand_admin', 'pgqrs.enqueue(text, jsonb, integer, integer, text, text, timestamptz, integer)', 'EXECUTE') AS admin_enqueues,
       has_function_privilege('h_hand_admin', 'pgqrs.dequeue(text, integer, integer, bigint, integer)', 'EXECUTE') AS admin_dequeues,
       has_function_privilege('h_hand_consumer', 'pgqrs.dequeue(text, integer, integer, bigint, integer)', 'EXECUTE') AS consumer_dequeues,
       has_function_privilege('h_hand_producer', 'pgqrs.purge_queue(text)', 'EXECUTE') AS producer_purges;
-- Another install's roles (here: the previous ones) lose what they had.
SELECT has_function_privilege('pgqrs_consumer', 'pgqrs.dequeue(text, integer, integer, bigint, integer)', 'EXECUTE')
       AS old_consumer_dequeues;
-- A new prefix, and roles are made, marked as this install's.
SET pgqrs.reuse_roles = off;
SET pgqrs.role_prefix = 'h_new';
SELECT error_of('SELECT pgqrs._setup_roles()');
SELECT rolname, rolcanlogin, shobj_description(oid, 'pg_authid') AS marker
FROM pg_roles WHERE rolname LIKE 'h\_new\_%' ORDER BY rolname;
-- Without the setting, an install keeps the roles it was given.
RESET pgqrs.role_prefix;
SELECT error_of('SELECT pgqrs._setup_roles()') AS again_keeps_prefix;
SELECT has_function_privilege('h_new_consumer', 'pgqrs.dequeue(text, integer, integer, bigint, integer)', 'EXECUTE')
       AS new_consumer_dequeues;
-- Back to the first roles; stale grants to anyone else are revoked.
SET pgqrs.role_prefix = 'pgqrs';
RESET pgqrs.reuse_roles;
GRANT EXECUTE ON FUNCTION pgqrs.purge_queue(text) TO h_producer;
SELECT error_of('SELECT pgqrs._setup_roles()');
SELECT has_function_privilege('h_producer', 'pgqrs.purge_queue(text)', 'EXECUTE') AS stale_grant_kept,
       has_function_privilege('h_consumer', 'pgqrs.dequeue(text, integer, integer, bigint, integer)', 'EXECUTE') AS consumer_dequeues;
RESET pgqrs.role_prefix;
DROP OWNED BY h_hand_producer, h_hand_consumer, h_hand_admin, h_new_producer, h_new_consumer, h_new_admin;
DROP ROLE h_hand_producer, h_hand_consumer, h_hand_admin, h_new_producer, h_new_consumer, h_new_admin;

-- The same answers for the same bad arguments, whoever calls.
SELECT error_of($$SELECT pgqrs.drop_queue(NULL, if_exists => true)$$);
SELECT error_of($$SELECT pgqrs.register_worker('h_q', 'h', NULL)$$) AS no_port;
SELECT error_of(format('SELECT pgqrs.register_worker(%L, %L, 1)', 'h_q', repeat('x', 1000000)));
SELECT error_of($$SELECT pgqrs.heartbeat(NULL)$$);
SELECT error_of($$SELECT pgqrs.stop_worker(NULL)$$);
SELECT error_of($$SELECT pgqrs.delete_batch('h_q', ARRAY[[1, 2], [3, 4]]::bigint[])$$);
SELECT error_of($$SELECT pgqrs.enqueue('h_q', 'null')$$);
SELECT error_of($$SELECT pgqrs.enqueue_batch('h_q', ARRAY['{}', 'null']::jsonb[])$$);
SELECT error_of(format('SELECT pgqrs.enqueue(%L, %L)', repeat('q', 100000), '{}'));
SELECT error_of($$SELECT pgqrs.dequeue('h_q', wait_seconds => 61)$$);

-- Payloads have a size limit per queue, adjustable; a refused batch writes nothing.
SELECT pgqrs.create_queue('h_small', max_payload_bytes => 100) > 0 AS created;
SELECT error_of(format('SELECT pgqrs.enqueue(%L, %L)', 'h_small', jsonb_build_object('s', repeat('x', 200))));
SELECT error_of(format('SELECT pgqrs.enqueue_batch(%L, ARRAY[%L, %L]::jsonb[])', 'h_small', '{"n": 1}',
                       jsonb_build_object('s', repeat('x', 200))));
SELECT ready FROM pgqrs.metrics('h_small');
SELECT pgqrs.alter_queue('h_small', max_payload_bytes => 1000);
SELECT pgqrs.enqueue('h_small', jsonb_build_object('s', repeat('x', 200))) > 0 AS fits_now;
SELECT error_of($$SELECT pgqrs.alter_queue('h_small', max_payload_bytes => 0)$$);
SELECT pgqrs.alter_queue('h_small', max_attempts => 3, notify => true);
SELECT max_attempts, notify, max_payload_bytes FROM pgqrs.metrics('h_small');
SELECT pgqrs.alter_queue('h_small', max_attempts => 0);
SELECT max_attempts, notify, max_payload_bytes FROM pgqrs.metrics('h_small');
SELECT error_of($$SELECT pgqrs.alter_queue('h_missing', notify => true)$$);

-- A long poll under REPEATABLE READ could never see a new message: refused.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT error_of($$SELECT * FROM pgqrs.dequeue('h_q', wait_seconds => 1)$$);
SELECT count(*) AS plain_dequeue_works FROM pgqrs.dequeue('h_q');
ROLLBACK;

SELECT pgqrs.drop_queue('h_q', force => true), pgqrs.drop_queue('h_other', force => true),
       pgqrs.drop_queue('h_small', force => true);
DROP OWNED BY h_producer, h_consumer, h_consumer2, h_admin;
DROP ROLE h_producer, h_consumer, h_consumer2, h_admin;
