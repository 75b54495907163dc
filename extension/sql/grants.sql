-- Privileges.
--
-- Every public function is SECURITY DEFINER with a pinned search_path, so a
-- role needs no privilege on the tables: it gets EXECUTE on the functions of
-- its group and SELECT on the views.
--   pgqrs_producer  enqueue, workers' own registration and heartbeats
--   pgqrs_consumer  dequeue and acknowledgements, workers, reaping
--   pgqrs_admin     both of the above, queue lifecycle, dead letters,
--                   retention, and SELECT on the tables
-- Roles belong to the whole cluster: they are created once, where the
-- installing role may create roles, and reused by every later install.

-- Every function by name, not ALL FUNCTIONS IN SCHEMA: a direct install may
-- share its schema with functions that are not pgqrs's.
REVOKE ALL ON FUNCTION
    @extschema@.max_batch_size(),
    @extschema@._queue(text),
    @extschema@._queue_lock_class(),
    @extschema@._check_queue_name(text),
    @extschema@._check_seconds(text, integer),
    @extschema@._check_count(text, integer),
    @extschema@._check_ids(text, bigint[]),
    @extschema@._check_worker(bigint, @extschema@.pgqrs_queues),
    @extschema@._move_to_archive(bigint, bigint[], bigint, boolean),
    @extschema@.create_queue(text, integer, boolean, boolean),
    @extschema@.drop_queue(text, boolean, boolean),
    @extschema@.purge_queue(text),
    @extschema@._queue_for_enqueue(text, boolean),
    @extschema@._notify_channel(bigint),
    @extschema@.set_queue_notify(text, boolean),
    @extschema@.pause_queue(text),
    @extschema@.resume_queue(text),
    @extschema@.notify_channel(text),
    @extschema@.enqueue(text, jsonb, integer),
    @extschema@.enqueue_batch(text, jsonb[], integer),
    @extschema@._bury_exhausted(@extschema@.pgqrs_queues, integer, timestamptz),
    @extschema@.dequeue(text, integer, integer, bigint, integer),
    @extschema@.delete(text, bigint, bigint),
    @extschema@.delete_batch(text, bigint[], bigint),
    @extschema@.archive(text, bigint, bigint),
    @extschema@.archive_batch(text, bigint[], bigint),
    @extschema@.extend_visibility(text, bigint, integer, bigint),
    @extschema@.release(text, bigint, integer, bigint),
    @extschema@.dead_letters(text, integer),
    @extschema@.replay_dead_letters(text, bigint[]),
    @extschema@._release_worker_messages(bigint, bigint[]),
    @extschema@.register_worker(text, text, integer),
    @extschema@.heartbeat(bigint),
    @extschema@.stop_worker(bigint),
    @extschema@.reap_workers(integer),
    @extschema@.purge_workers(integer),
    @extschema@.metrics(text),
    @extschema@.metrics_all(),
    @extschema@.version(),
    @extschema@.purge_archive(text, integer, boolean)
FROM PUBLIC;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgqrs_producer')
       OR NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgqrs_consumer')
       OR NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgqrs_admin') THEN
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
                       WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
            RAISE NOTICE 'pgqrs: roles pgqrs_producer, pgqrs_consumer and pgqrs_admin are missing and % may not create them; no grants were made', current_user
                USING HINT = 'Create the three roles (NOLOGIN) as a role with CREATEROLE, then install again.';
            RETURN;
        END IF;
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgqrs_producer') THEN
            CREATE ROLE pgqrs_producer NOLOGIN;
        END IF;
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgqrs_consumer') THEN
            CREATE ROLE pgqrs_consumer NOLOGIN;
        END IF;
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgqrs_admin') THEN
            CREATE ROLE pgqrs_admin NOLOGIN;
        END IF;
        GRANT pgqrs_producer, pgqrs_consumer TO pgqrs_admin;
    END IF;

    GRANT USAGE ON SCHEMA @extschema@ TO pgqrs_producer, pgqrs_consumer, pgqrs_admin;

    GRANT SELECT ON @extschema@.queue_metrics, @extschema@.worker_health
        TO pgqrs_producer, pgqrs_consumer, pgqrs_admin;
    GRANT EXECUTE ON FUNCTION
        @extschema@.metrics(text),
        @extschema@.metrics_all(),
        @extschema@.version(),
        @extschema@.max_batch_size(),
        @extschema@.notify_channel(text),
        @extschema@.register_worker(text, text, integer),
        @extschema@.heartbeat(bigint),
        @extschema@.stop_worker(bigint)
        TO pgqrs_producer, pgqrs_consumer, pgqrs_admin;

    GRANT EXECUTE ON FUNCTION
        @extschema@.enqueue(text, jsonb, integer),
        @extschema@.enqueue_batch(text, jsonb[], integer),
        @extschema@.extend_visibility(text, bigint, integer, bigint)
        TO pgqrs_producer;

    GRANT EXECUTE ON FUNCTION
        @extschema@.dequeue(text, integer, integer, bigint, integer),
        @extschema@.delete(text, bigint, bigint),
        @extschema@.delete_batch(text, bigint[], bigint),
        @extschema@.archive(text, bigint, bigint),
        @extschema@.archive_batch(text, bigint[], bigint),
        @extschema@.extend_visibility(text, bigint, integer, bigint),
        @extschema@.release(text, bigint, integer, bigint),
        @extschema@.reap_workers(integer)
        TO pgqrs_consumer;

    GRANT EXECUTE ON FUNCTION
        @extschema@.create_queue(text, integer, boolean, boolean),
        @extschema@.drop_queue(text, boolean, boolean),
        @extschema@.purge_queue(text),
        @extschema@.set_queue_notify(text, boolean),
        @extschema@.pause_queue(text),
        @extschema@.resume_queue(text),
        @extschema@.dead_letters(text, integer),
        @extschema@.replay_dead_letters(text, bigint[]),
        @extschema@.purge_archive(text, integer, boolean),
        @extschema@.purge_workers(integer)
        TO pgqrs_admin;
    GRANT SELECT ON @extschema@.messages, @extschema@.pgqrs_queues, @extschema@.pgqrs_workers,
                    @extschema@.pgqrs_messages, @extschema@.pgqrs_delayed, @extschema@.pgqrs_archive
        TO pgqrs_admin;
END
$$;
