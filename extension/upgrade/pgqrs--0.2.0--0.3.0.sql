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

-- Tables: new columns, each with a constant default or none (no rewrite).
ALTER TABLE @extschema@.pgqrs_queues
    ADD COLUMN max_payload_bytes integer NOT NULL DEFAULT 1048576 CHECK (max_payload_bytes >= 1),
    ADD COLUMN group_concurrency integer NOT NULL DEFAULT 1 CHECK (group_concurrency >= 1),
    ADD COLUMN rate_limit double precision CHECK (rate_limit > 0);
COMMENT ON TABLE @extschema@.pgqrs_queues IS
    'pgqrs queues; max_attempts is the number of deliveries after which a message is dead-lettered (NULL: no limit); notify: enqueues send a notification on notify_channel(); paused: dequeues deliver nothing; max_payload_bytes: the largest payload an enqueue accepts (pg_column_size of the jsonb); group_concurrency: messages of one group key in flight at once; rate_limit: deliveries per second over all sessions (NULL: no limit)';

-- Priorities and group keys (see tables.sql). The messages there are all in
-- line, by id, as before: each table's rows are written once, here.
ALTER TABLE @extschema@.pgqrs_messages
    ADD COLUMN priority integer NOT NULL DEFAULT 0,
    ADD COLUMN group_key text,
    ADD COLUMN rank bigint DEFAULT 0,
    ADD COLUMN dedupe_key text;
ALTER TABLE @extschema@.pgqrs_delayed
    ADD COLUMN priority integer NOT NULL DEFAULT 0,
    ADD COLUMN group_key text,
    ADD COLUMN rank bigint DEFAULT 0,
    ADD COLUMN dedupe_key text;
ALTER TABLE @extschema@.pgqrs_archive
    ADD COLUMN priority integer NOT NULL DEFAULT 0,
    ADD COLUMN group_key text;
UPDATE @extschema@.pgqrs_messages SET rank = id;
UPDATE @extschema@.pgqrs_delayed SET rank = id;
COMMENT ON COLUMN @extschema@.pgqrs_messages.priority IS
    'higher is delivered first (-32768 to 32767, default 0)';
COMMENT ON COLUMN @extschema@.pgqrs_messages.group_key IS
    'messages of one key are delivered in id order, at most the queue''s group_concurrency at once (NULL: no key)';
COMMENT ON COLUMN @extschema@.pgqrs_messages.dedupe_key IS
    'the key this message holds in pgqrs_dedupe_keys until it finishes (NULL: none)';
COMMENT ON COLUMN @extschema@.pgqrs_messages.rank IS
    'the message''s place in its queue''s line (dequeues take the lowest first): its id when enqueued, the id sequence''s value when its key let it in, less priority * 2^47; NULL while it waits for its key (0, ahead of priority 0, for a row written without one: by a 0.2.0 function still running when the upgrade committed)';
CREATE INDEX pgqrs_messages_rank_idx ON @extschema@.pgqrs_messages (queue_id, rank)
    WHERE rank IS NOT NULL;
CREATE INDEX pgqrs_messages_waiting_idx ON @extschema@.pgqrs_messages (queue_id, group_key, id)
    WHERE rank IS NULL;
CREATE INDEX pgqrs_delayed_waiting_idx ON @extschema@.pgqrs_delayed (queue_id, group_key, id)
    WHERE rank IS NULL;
CREATE TABLE @extschema@.pgqrs_groups (
    queue_id  bigint NOT NULL,
    group_key text NOT NULL,
    active    integer NOT NULL CHECK (active >= 0),
    PRIMARY KEY (queue_id, group_key)
);
COMMENT ON TABLE @extschema@.pgqrs_groups IS
    'pgqrs group keys with unfinished messages: how many of each hold a place (at most group_concurrency)';
-- pgqrs:extension-only:begin
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_groups', '');
-- pgqrs:extension-only:end
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
DROP FUNCTION @extschema@.enqueue(text, jsonb, integer);
DROP FUNCTION @extschema@.enqueue_batch(text, jsonb[], integer);
DROP FUNCTION @extschema@.release(text, bigint, integer, bigint);
-- Its columns change (the messages' new ones come before state).
DROP VIEW @extschema@.messages;
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
CREATE TABLE @extschema@.pgqrs_dedupe_keys (
    queue_id     bigint NOT NULL,
    dedupe_key   text COLLATE "C" NOT NULL,  -- compared byte for byte: an identifier, not words
    msg_id       bigint,  -- NULL only inside the enqueue that takes the key (see enqueue())
    hold_seconds integer NOT NULL DEFAULT 0,
    free_at      timestamptz,
    PRIMARY KEY (queue_id, dedupe_key)
);
COMMENT ON TABLE @extschema@.pgqrs_dedupe_keys IS
    'pgqrs dedupe keys taken: msg_id holds the key while unfinished (free_at NULL), and after it is done until free_at (hold_seconds after)';
-- pgqrs:extension-only:begin
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_dedupe_keys', '');
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
