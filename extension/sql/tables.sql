-- Storage.
--
-- One table holds the messages of every queue. Its primary key is (queue_id, id)
-- and every statement filters on queue_id, so a dequeue reads only its own
-- queue's rows however large the others grow. vt, read_ct and worker_id are in
-- no index, so a lease is a HOT update.
--
-- pgqrs_messages and pgqrs_archive carry no foreign key to pgqrs_queues: the
-- key check would take a FOR KEY SHARE lock on the queue row for every insert,
-- one MultiXact per concurrent enqueue. drop_queue() keeps the integrity
-- instead: it refuses to drop a queue that still holds rows and waits for
-- enqueues in flight (see _queue_lock_class()).

CREATE TABLE @extschema@.pgqrs_queues (
    id           bigserial PRIMARY KEY,
    queue_name   text NOT NULL CONSTRAINT pgqrs_queues_queue_name_key UNIQUE,
    max_attempts integer CHECK (max_attempts >= 1),
    notify       boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    paused       boolean NOT NULL DEFAULT false,
    max_payload_bytes integer NOT NULL DEFAULT 1048576 CHECK (max_payload_bytes >= 1),
    group_concurrency integer NOT NULL DEFAULT 1 CHECK (group_concurrency >= 1),
    rate_limit   double precision CHECK (rate_limit > 0)
);
COMMENT ON TABLE @extschema@.pgqrs_queues IS
    'pgqrs queues; max_attempts is the number of deliveries after which a message is dead-lettered (NULL: no limit); notify: enqueues send a notification on notify_channel(); paused: dequeues deliver nothing; max_payload_bytes: the largest payload an enqueue accepts (pg_column_size of the jsonb); group_concurrency: messages of one group key in flight at once; rate_limit: deliveries per second over all sessions (NULL: no limit)';

CREATE TABLE @extschema@.pgqrs_workers (
    id           bigserial PRIMARY KEY,
    queue_id     bigint NOT NULL REFERENCES @extschema@.pgqrs_queues (id),
    hostname     text NOT NULL,
    port         integer,
    status       text NOT NULL DEFAULT 'active'
                 CHECK (status IN ('active', 'stopped', 'dead')),
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    stopped_at   timestamptz,
    registered_by text
);
CREATE INDEX pgqrs_workers_queue_id_idx ON @extschema@.pgqrs_workers (queue_id);
COMMENT ON TABLE @extschema@.pgqrs_workers IS
    'pgqrs consumer and producer processes: active, stopped (by stop_worker) or dead (by reap_workers)';
COMMENT ON COLUMN @extschema@.pgqrs_workers.registered_by IS
    'the login role (session_user) that registered the worker: only it heartbeats and leases as the worker (NULL: registered before 0.3.0, by any role)';

-- fillfactor leaves room on each page for the new row version of a lease.
CREATE TABLE @extschema@.pgqrs_messages (
    id          bigserial,
    queue_id    bigint NOT NULL,
    payload     jsonb NOT NULL,
    enqueued_at timestamptz NOT NULL,
    vt          timestamptz NOT NULL,
    read_ct     integer NOT NULL DEFAULT 0,
    dequeued_at timestamptz,
    worker_id   bigint,
    priority    integer NOT NULL DEFAULT 0,
    group_key   text,
    rank        bigint DEFAULT 0,
    dedupe_key  text,
    PRIMARY KEY (queue_id, id)
) WITH (fillfactor = 80);
COMMENT ON TABLE @extschema@.pgqrs_messages IS
    'pgqrs messages of all queues, ready (vt <= now()) or leased (dequeued_at set); delayed ones wait in pgqrs_delayed';
COMMENT ON COLUMN @extschema@.pgqrs_messages.vt IS
    'visibility time: the message is not delivered before it';
COMMENT ON COLUMN @extschema@.pgqrs_messages.read_ct IS
    'number of deliveries so far';
COMMENT ON COLUMN @extschema@.pgqrs_messages.worker_id IS
    'the worker that holds or last held the lease (NULL when leased anonymously or released)';
COMMENT ON COLUMN @extschema@.pgqrs_messages.priority IS
    'higher is delivered first (-32768 to 32767, default 0)';
COMMENT ON COLUMN @extschema@.pgqrs_messages.group_key IS
    'messages of one key are delivered in id order, at most the queue''s group_concurrency at once (NULL: no key)';
COMMENT ON COLUMN @extschema@.pgqrs_messages.dedupe_key IS
    'the key this message holds in pgqrs_dedupe_keys until it finishes (NULL: none)';
COMMENT ON COLUMN @extschema@.pgqrs_messages.rank IS
    'the message''s place in its queue''s line (dequeues take the lowest first): its id when enqueued, the id sequence''s value when its key let it in, less priority * 2^47; NULL while it waits for its key (0, ahead of priority 0, for a row written without one: by a 0.2.0 function still running when the upgrade committed)';

-- The line dequeues take messages from: by rank, which is the id for a message
-- of priority 0 that waited for no key (see _rank()). Messages waiting for their
-- key (rank NULL) are not in it, so a key with a million waiting costs nothing.
CREATE INDEX pgqrs_messages_rank_idx ON @extschema@.pgqrs_messages (queue_id, rank)
    WHERE rank IS NOT NULL;
-- A key's waiting messages, oldest first: the next one to let in.
CREATE INDEX pgqrs_messages_waiting_idx ON @extschema@.pgqrs_messages (queue_id, group_key, id)
    WHERE rank IS NULL;

-- Messages waiting out a delay (from enqueue, or from release) wait here,
-- ordered by vt, and move to pgqrs_messages, ids unchanged, when a dequeue
-- finds them due. A dequeue scans pgqrs_messages from the oldest id: delayed
-- rows there would lie in its way, every time, however many there are. Same
-- columns as pgqrs_messages, so rows move with SELECT *.
CREATE TABLE @extschema@.pgqrs_delayed (
    id          bigint NOT NULL DEFAULT nextval('@extschema@.pgqrs_messages_id_seq'),
    queue_id    bigint NOT NULL,
    payload     jsonb NOT NULL,
    enqueued_at timestamptz NOT NULL,
    vt          timestamptz NOT NULL,
    read_ct     integer NOT NULL DEFAULT 0,
    dequeued_at timestamptz,
    worker_id   bigint,
    priority    integer NOT NULL DEFAULT 0,
    group_key   text,
    rank        bigint DEFAULT 0,
    dedupe_key  text,
    PRIMARY KEY (queue_id, id)
);
CREATE INDEX pgqrs_delayed_due_idx ON @extschema@.pgqrs_delayed (queue_id, vt);
CREATE INDEX pgqrs_delayed_waiting_idx ON @extschema@.pgqrs_delayed (queue_id, group_key, id)
    WHERE rank IS NULL;
COMMENT ON TABLE @extschema@.pgqrs_delayed IS
    'pgqrs messages not visible before vt and held by no worker; a dequeue moves them to pgqrs_messages when due';

CREATE TABLE @extschema@.pgqrs_archive (
    id                  bigint NOT NULL,
    queue_id            bigint NOT NULL,
    payload             jsonb NOT NULL,
    enqueued_at         timestamptz NOT NULL,
    vt                  timestamptz NOT NULL,
    read_ct             integer NOT NULL,
    dequeued_at         timestamptz,
    worker_id           bigint,
    archived_at         timestamptz NOT NULL,
    processing_duration interval,
    dead_lettered       boolean NOT NULL DEFAULT false,
    priority            integer NOT NULL DEFAULT 0,
    group_key           text,
    result              jsonb,
    cancelled           boolean NOT NULL DEFAULT false,
    PRIMARY KEY (queue_id, id)
);
CREATE INDEX pgqrs_archive_archived_at_idx
    ON @extschema@.pgqrs_archive (queue_id, archived_at);
CREATE INDEX pgqrs_archive_dead_letters_idx
    ON @extschema@.pgqrs_archive (queue_id, id) WHERE dead_lettered;
COMMENT ON TABLE @extschema@.pgqrs_archive IS
    'pgqrs processed messages (archive) and dead letters (dead_lettered = true)';
COMMENT ON COLUMN @extschema@.pgqrs_archive.processing_duration IS
    'archived_at minus dequeued_at: how long the last delivery took to finish';
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

-- Cancels asked for messages that a worker holds: the message stays leased
-- until its holder finishes it (archive, delete, complete, release) or its
-- lease runs out, and then it ends in the archive as cancelled. A table of its
-- own, so that the hot tables keep their columns; it holds a row only between
-- a cancel() and the end of that lease.
CREATE TABLE @extschema@.pgqrs_cancels (
    queue_id     bigint NOT NULL,
    msg_id       bigint NOT NULL,
    worker_id    bigint,
    requested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (queue_id, msg_id)
);
COMMENT ON TABLE @extschema@.pgqrs_cancels IS
    'pgqrs cancels of leased messages, pending until the lease ends (worker_id: the holder when it was asked)';

-- Schedules: each enqueues its payload into its queue at the times its cron
-- expression names, in its time zone. next_run_at is the next slot; the
-- run_schedules() that enqueues it moves it on in the same transaction,
-- under the row's lock, so each (schedule, slot) is enqueued once.
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

-- Topic bindings: publish(topic) enqueues into every queue bound with a
-- pattern that matches the topic.
CREATE TABLE @extschema@.pgqrs_topic_bindings (
    pattern    text NOT NULL,
    queue_id   bigint NOT NULL REFERENCES @extschema@.pgqrs_queues (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pattern, queue_id)
);
CREATE INDEX pgqrs_topic_bindings_queue_id_idx ON @extschema@.pgqrs_topic_bindings (queue_id);
COMMENT ON TABLE @extschema@.pgqrs_topic_bindings IS
    'pgqrs topic bindings: words separated by ".", "*" for one word, "#" for any number';

-- Group keys with messages let in (see pgqrs_messages.group_key): active counts
-- the key's messages that hold a place (ready, leased, or delayed for a retry),
-- at most the queue's group_concurrency while others of the key wait. The row
-- is locked by every enqueue of the key and every message of it that
-- finishes, so a key's messages are let in one at a time, in id order; it is
-- deleted when nothing of the key is left.
CREATE TABLE @extschema@.pgqrs_groups (
    queue_id  bigint NOT NULL,
    group_key text NOT NULL,
    active    integer NOT NULL CHECK (active >= 0),
    PRIMARY KEY (queue_id, group_key)
);
COMMENT ON TABLE @extschema@.pgqrs_groups IS
    'pgqrs group keys with unfinished messages: how many of each hold a place (at most group_concurrency)';


-- Dedupe keys (enqueue(dedupe_key)): a row per key taken in a queue, naming
-- the unfinished message that holds it. An enqueue of a taken key adds nothing
-- and returns that id. The primary key makes concurrent enqueues of one key
-- wait for each other, so exactly one message is made. A finished message
-- frees its key (the row goes), or with hold_seconds keeps it taken until
-- free_at. A table of its own rather than a unique index on the messages: a
-- message moves between pgqrs_messages and pgqrs_delayed, ids unchanged.
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
