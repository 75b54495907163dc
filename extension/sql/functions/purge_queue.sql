-- purge_queue(queue_name)
--   Deletes every message of the queue, ready, leased or delayed (not the
--   archive). Their dedupe keys are free again (keys held after a message was
--   done stay held). Waits, as drop_queue does, for enqueues and for moves between
--   tables in flight (due delayed messages, replayed dead letters), so that no
--   message is missed on its way.
--
--   Returns  bigint: how many it deleted
--   Errors   PQ001 (no such queue), PQ003 (invalid name)
--   Reads    pgqrs_queues
--   Writes   pgqrs_messages, pgqrs_delayed, pgqrs_groups, pgqrs_cancels, pgqrs_dedupe_keys
--   Roles    admin
CREATE FUNCTION @extschema@.purge_queue(queue_name text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_queue @extschema@.pgqrs_queues := @extschema@._queue(purge_queue.queue_name);
    v_ready bigint;
    v_delayed bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(@extschema@._queue_lock_class(), hashtext(v_queue.queue_name));
    -- The deletes below start after the lock, so they see every move that committed before it.
    DELETE FROM @extschema@.pgqrs_messages m WHERE m.queue_id = v_queue.id;
    GET DIAGNOSTICS v_ready = ROW_COUNT;
    DELETE FROM @extschema@.pgqrs_delayed d WHERE d.queue_id = v_queue.id;
    GET DIAGNOSTICS v_delayed = ROW_COUNT;
    DELETE FROM @extschema@.pgqrs_groups g WHERE g.queue_id = v_queue.id;
    DELETE FROM @extschema@.pgqrs_cancels c WHERE c.queue_id = v_queue.id;
    DELETE FROM @extschema@.pgqrs_dedupe_keys k WHERE k.queue_id = v_queue.id AND k.free_at IS NULL;
    RETURN v_ready + v_delayed;
END
$$;
COMMENT ON FUNCTION @extschema@.purge_queue(text) IS
    'delete all messages of a queue (not its archive); returns how many';
