-- The producer, consumer and admin groups, with real roles.
\set VERBOSITY terse
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'pgqrs\_%' ORDER BY rolname;
SELECT pgqrs.create_queue('roles_q') > 0 AS created;

CREATE ROLE app_producer LOGIN IN ROLE pgqrs_producer;
CREATE ROLE app_consumer LOGIN IN ROLE pgqrs_consumer;
CREATE ROLE app_admin LOGIN IN ROLE pgqrs_admin;
CREATE ROLE app_nobody LOGIN;

SET ROLE app_producer;
SELECT pgqrs.enqueue('roles_q', '{"from": "producer"}') > 0 AS producer_enqueues;
SELECT count(*) AS producer_batch FROM pgqrs.enqueue_batch('roles_q', ARRAY['{}']::jsonb[]);
SELECT ready FROM pgqrs.metrics('roles_q');
SELECT error_of($$SELECT pgqrs.dequeue('roles_q')$$);
SELECT error_of($$SELECT pgqrs.drop_queue('roles_q', force => true)$$);
SELECT error_of($$SELECT pgqrs.create_queue('mine')$$);
SELECT error_of($$SELECT count(*) FROM pgqrs.pgqrs_messages$$);
SELECT error_of($$DELETE FROM pgqrs.pgqrs_messages$$);
SELECT error_of($$SELECT pgqrs._queue('roles_q')$$);
RESET ROLE;

SET ROLE app_consumer;
SELECT payload FROM pgqrs.dequeue('roles_q', 1);
SELECT pgqrs.archive('roles_q', (SELECT id FROM pgqrs.dequeue('roles_q', 1))) AS consumer_archives;
SELECT pgqrs.register_worker('roles_q', 'h', 1) > 0 AS consumer_registers;
SELECT error_of($$SELECT pgqrs.enqueue('roles_q', '{}')$$);
SELECT error_of($$SELECT pgqrs.purge_queue('roles_q')$$);
SELECT error_of($$UPDATE pgqrs.pgqrs_messages SET vt = now()$$);
SELECT error_of($$SELECT pgqrs.pause_queue('roles_q')$$);
RESET ROLE;

SET ROLE app_nobody;
SELECT error_of($$SELECT pgqrs.enqueue('roles_q', '{}')$$);
SELECT error_of($$SELECT * FROM pgqrs.queue_metrics$$);
RESET ROLE;

SET ROLE app_admin;
SELECT pgqrs.enqueue('roles_q', '{}') > 0 AS admin_enqueues;
SELECT count(*) AS admin_reads_tables FROM pgqrs.pgqrs_archive;
SELECT pgqrs.pause_queue('roles_q'), pgqrs.resume_queue('roles_q');
SELECT pgqrs.drop_queue('roles_q', force => true) AS admin_drops;
RESET ROLE;

DROP ROLE app_producer, app_consumer, app_admin, app_nobody;
