-- pgqrs 0.2.0 to 0.3.0, for ALTER EXTENSION pgqrs UPDATE (and pgqrs install,
-- which runs it on a direct install).
--
-- Written here: what an upgrade must do besides (re)creating functions and
-- views: table changes, functions dropped because their arguments or result
-- changed, data moves. At the marker line, the build (make, and the Python
-- package build) puts every function and view of extension/sql/ as CREATE OR
-- REPLACE, so no body is written twice; tests/test_upgrade.py checks that an
-- upgraded schema equals a fresh 0.3.0 one.
\echo Use "ALTER EXTENSION pgqrs UPDATE TO '0.3.0'" to load this file. \quit

-- Tables: two new columns, each with a constant default or none (no rewrite).
ALTER TABLE @extschema@.pgqrs_queues
    ADD COLUMN max_payload_bytes integer NOT NULL DEFAULT 1048576 CHECK (max_payload_bytes >= 1);
COMMENT ON TABLE @extschema@.pgqrs_queues IS
    'pgqrs queues; max_attempts is the number of deliveries after which a message is dead-lettered (NULL: no limit); notify: enqueues send a notification on notify_channel(); paused: dequeues deliver nothing; max_payload_bytes: the largest payload an enqueue accepts (pg_column_size of the jsonb)';
-- Workers registered before the upgrade keep registered_by NULL: any role may
-- still act for them, so that running workers go on across the upgrade.
ALTER TABLE @extschema@.pgqrs_workers ADD COLUMN registered_by text;
COMMENT ON COLUMN @extschema@.pgqrs_workers.registered_by IS
    'the login role (session_user) that registered the worker: only it heartbeats and leases as the worker (NULL: registered before 0.3.0, by any role)';

-- Functions whose arguments or result changed: dropped, then made again below.
DROP FUNCTION @extschema@.create_queue(text, integer, boolean, boolean);
DROP FUNCTION @extschema@.reap_workers(integer);
DROP FUNCTION @extschema@._queue_for_enqueue(text, boolean);
DROP FUNCTION @extschema@._bury_exhausted(@extschema@.pgqrs_queues, integer, timestamptz);
DROP FUNCTION @extschema@._move_to_archive(bigint, bigint[], bigint, boolean);

-- Results and cancels in the archive; pending cancels, schedules and topic
-- bindings (see tables.sql). New columns with constant defaults: no rewrite.
ALTER TABLE @extschema@.pgqrs_archive
    ADD COLUMN result jsonb,
    ADD COLUMN cancelled boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN @extschema@.pgqrs_archive.result IS
    'what complete() stored as the job''s result (NULL: archived without one)';
COMMENT ON COLUMN @extschema@.pgqrs_archive.cancelled IS
    'finished by cancel(): never delivered again (dead_lettered is then false)';
-- What message_status() and wait_for() return.
CREATE TYPE @extschema@.message_state AS (
    state            text,
    read_ct          integer,
    result           jsonb,
    finished_at      timestamptz,
    cancel_requested boolean
);
COMMENT ON TYPE @extschema@.message_state IS
    'a message''s state (ready, delayed, in_flight, done, dead, cancelled, unknown), deliveries, result, when it finished, whether a cancel is pending';
CREATE TABLE @extschema@.pgqrs_cancels (
    queue_id     bigint NOT NULL,
    msg_id       bigint NOT NULL,
    worker_id    bigint,
    requested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (queue_id, msg_id)
);
COMMENT ON TABLE @extschema@.pgqrs_cancels IS
    'pgqrs cancels of leased messages, pending until the lease ends (worker_id: the holder when it was asked)';
CREATE TABLE @extschema@.pgqrs_schedules (
    id            bigserial PRIMARY KEY,
    schedule_name text NOT NULL CONSTRAINT pgqrs_schedules_schedule_name_key UNIQUE,
    queue_id      bigint NOT NULL REFERENCES @extschema@.pgqrs_queues (id),
    cron          text NOT NULL,
    payload       jsonb NOT NULL,
    time_zone     text NOT NULL,
    next_run_at   timestamptz NOT NULL,
    last_run_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pgqrs_schedules_next_run_at_idx ON @extschema@.pgqrs_schedules (next_run_at);
CREATE INDEX pgqrs_schedules_queue_id_idx ON @extschema@.pgqrs_schedules (queue_id);
COMMENT ON TABLE @extschema@.pgqrs_schedules IS
    'pgqrs schedules: a five-field cron expression in a time zone; next_run_at: the next slot to enqueue; last_run_at: the last slot enqueued';
CREATE TABLE @extschema@.pgqrs_topic_bindings (
    pattern    text NOT NULL,
    queue_id   bigint NOT NULL REFERENCES @extschema@.pgqrs_queues (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pattern, queue_id)
);
CREATE INDEX pgqrs_topic_bindings_queue_id_idx ON @extschema@.pgqrs_topic_bindings (queue_id);
COMMENT ON TABLE @extschema@.pgqrs_topic_bindings IS
    'pgqrs topic bindings: words separated by ".", "*" for one word, "#" for any number';
-- pgqrs:extension-only:begin
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_cancels', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_schedules', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_schedules_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_topic_bindings', '');
-- pgqrs:extension-only:end

-- pgqrs:functions

-- Every queue gets its scan position (see overview.sql), as create_queue()
-- makes one for a new queue: outside the extension, so that pg_dump keeps it
-- and drop_queue() may drop it.
DO $$
DECLARE
    v_queue_id bigint;
BEGIN
    FOR v_queue_id IN SELECT q.id FROM @extschema@.pgqrs_queues q LOOP
        PERFORM @extschema@._create_position(v_queue_id);
        IF EXISTS (SELECT FROM pg_catalog.pg_depend d
                   WHERE d.classid = 'pg_catalog.pg_class'::regclass
                     AND d.objid = @extschema@._position(v_queue_id) AND d.deptype = 'e') THEN
            EXECUTE pg_catalog.format('ALTER EXTENSION pgqrs DROP SEQUENCE %s', @extschema@._position(v_queue_id));
        END IF;
    END LOOP;
END
$$;

-- 0.2.0 granted every install to the cluster's pgqrs_producer, pgqrs_consumer
-- and pgqrs_admin: from 0.3.0 on, an install's roles are named after its
-- schema (or pgqrs.role_prefix), as a fresh install's are.
SELECT @extschema@._setup_roles((SELECT n.nspname FROM pg_catalog.pg_namespace n
                                 WHERE n.oid = '@extschema@'::regnamespace));
