-- delete_batch(queue_name, msg_ids, worker_id)
--   Removes many messages: with a worker_id, only those leased to that worker.
--   As delete(), their group keys' places go to the keys' next messages and
--   their dedupe keys are free (or held for their dedupe_seconds).
--
--   Returns  SETOF bigint: the ids removed
--   Errors   PQ001 (no such queue), PQ003 (invalid name), PQ004 (NULL or
--            multi-dimensional ids), PQ006 (too many ids)
--   Reads    pgqrs_queues
--   Writes   pgqrs_messages, pgqrs_delayed, pgqrs_groups, pgqrs_dedupe_keys; pgqrs_archive and pgqrs_cancels
--            for messages whose cancel is pending (they end cancelled)
--   Roles    consumer, admin
CREATE FUNCTION @extschema@.delete_batch(
    queue_name text,
    msg_ids bigint[],
    worker_id bigint DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
DECLARE
    v_queue_id bigint := (@extschema@._queue(delete_batch.queue_name)).id;
    v_ids bigint[];
    v_keys text[];
    v_deduped bigint[];  -- of v_ids, those with a dedupe key (v_dedupe_keys)
    v_dedupe_keys text[];
BEGIN
    PERFORM @extschema@._check_ids('msg_ids', delete_batch.msg_ids);
    -- Messages whose cancel is pending end in the archive as cancelled instead.
    IF EXISTS (SELECT FROM @extschema@.pgqrs_cancels c
               WHERE c.queue_id = v_queue_id AND c.msg_id = ANY (delete_batch.msg_ids)) THEN
        RETURN QUERY SELECT @extschema@._move_to_archive(v_queue_id,
            ARRAY(SELECT c.msg_id FROM @extschema@.pgqrs_cancels c
                  WHERE c.queue_id = v_queue_id AND c.msg_id = ANY (delete_batch.msg_ids)),
            delete_batch.worker_id, false);
    END IF;
    WITH bounds AS (  -- the lowest and highest id bound the index scans (see overview.sql)
        SELECT min(i) AS first, max(i) AS last FROM unnest(delete_batch.msg_ids) i
    ), ready AS (
        DELETE FROM @extschema@.pgqrs_messages m
        WHERE m.queue_id = v_queue_id
          AND m.id BETWEEN (SELECT first FROM bounds) AND (SELECT last FROM bounds)
          AND m.id = ANY (delete_batch.msg_ids)
          AND (delete_batch.worker_id IS NULL OR m.worker_id = delete_batch.worker_id)
        RETURNING m.id, m.group_key, m.rank, m.dedupe_key
    ), delayed AS (
        -- Only for ids that were not among the visible and leased messages.
        DELETE FROM @extschema@.pgqrs_delayed d
        WHERE delete_batch.worker_id IS NULL
          AND (SELECT count(*) FROM ready) < cardinality(delete_batch.msg_ids)
          AND d.queue_id = v_queue_id
          AND d.id BETWEEN (SELECT first FROM bounds) AND (SELECT last FROM bounds)
          AND d.id = ANY (delete_batch.msg_ids)
        RETURNING d.id, d.group_key, d.rank, d.dedupe_key
    ), gone AS (
        SELECT * FROM ready UNION ALL SELECT * FROM delayed
    )
    SELECT array_agg(g.id), array_agg(g.group_key) FILTER (WHERE g.group_key IS NOT NULL AND g.rank IS NOT NULL),
           array_agg(g.id) FILTER (WHERE g.dedupe_key IS NOT NULL),
           array_agg(g.dedupe_key) FILTER (WHERE g.dedupe_key IS NOT NULL)
    INTO v_ids, v_keys, v_deduped, v_dedupe_keys
    FROM gone g;
    IF v_keys IS NOT NULL THEN  -- places their keys held go to the keys' next messages
        PERFORM @extschema@._refill_groups(v_queue_id, v_keys);
    END IF;
    IF v_deduped IS NOT NULL THEN
        PERFORM @extschema@._free_dedupe_keys(v_queue_id, v_deduped, v_dedupe_keys,
                                              array_fill(true, ARRAY[cardinality(v_deduped)]));
    END IF;
    RETURN QUERY SELECT unnest(v_ids);
END
$$;
COMMENT ON FUNCTION @extschema@.delete_batch(text, bigint[], bigint) IS
    'delete many messages; returns the ids actually deleted';
