-- publish(topic, payload)
--   Enqueues the payload into every queue bound (bind_topic()) with a
--   pattern that matches the topic, once per queue however many of its
--   patterns match, in queue name order, all in this transaction: every
--   queue gets it or none (an enqueue error, such as a payload over one
--   queue's max_payload_bytes, fails the call). A topic no queue is bound to
--   is no error. Cost: one regular expression match per binding, then one
--   enqueue() per matching queue. A queue dropped while this runs is
--   skipped.
--
--   Returns  integer: how many queues got the message
--   Errors   PQ004 (invalid topic), PQ005 (NULL, JSON null or too large a
--            payload)
--   Reads    pgqrs_topic_bindings, pgqrs_queues
--   Writes   pgqrs_messages
--   Roles    producer, admin
CREATE FUNCTION @extschema@.publish(
    topic text,
    payload jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_queue_name text;
    v_count integer := 0;
BEGIN
    PERFORM @extschema@._check_topic('topic', publish.topic, false);
    IF publish.payload IS NULL OR jsonb_typeof(publish.payload) = 'null' THEN
        RAISE EXCEPTION 'payload must not be %', CASE WHEN publish.payload IS NULL THEN 'NULL' ELSE 'JSON null' END
            USING ERRCODE = 'PQ005';
    END IF;
    FOR v_queue_name IN
        SELECT q.queue_name
        FROM @extschema@.pgqrs_queues q
        WHERE EXISTS (SELECT FROM @extschema@.pgqrs_topic_bindings b
                      WHERE b.queue_id = q.id
                        AND ('.' || publish.topic) ~ @extschema@._topic_regex(b.pattern))
        ORDER BY q.queue_name
    LOOP
        -- Under the queue's shared lock (as enqueue takes it), a drop in progress
        -- has either finished (the queue is gone: skipped) or waits for this.
        PERFORM pg_advisory_xact_lock_shared(@extschema@._queue_lock_class(), hashtext(v_queue_name));
        CONTINUE WHEN NOT EXISTS (SELECT FROM @extschema@.pgqrs_queues q WHERE q.queue_name = v_queue_name);
        PERFORM @extschema@.enqueue(queue_name => v_queue_name, payload => publish.payload);
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION @extschema@.publish(text, jsonb) IS
    'enqueue a payload into every queue bound to a pattern matching the topic; how many';
