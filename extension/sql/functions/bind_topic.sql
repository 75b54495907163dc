-- bind_topic(pattern, queue_name)
--   Binds a queue to a topic pattern: publish() of a topic the pattern
--   matches enqueues into the queue. Patterns are words (letters, digits,
--   "_", "-") separated by "."; a word "*" matches one word, "#" any number
--   of words (none included): "orders.*" matches "orders.paid", "orders.#"
--   also "orders" and "orders.eu.paid".
--
--   Returns  boolean: whether the binding is new (false: it existed)
--   Errors   PQ001 (no such queue), PQ003 (invalid queue name), PQ004
--            (invalid pattern)
--   Reads    pgqrs_queues
--   Writes   pgqrs_topic_bindings
--   Roles    admin
CREATE FUNCTION @extschema@.bind_topic(
    pattern text,
    queue_name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_queue_id bigint;
BEGIN
    PERFORM @extschema@._check_topic('pattern', bind_topic.pattern, true);
    v_queue_id := (@extschema@._queue(bind_topic.queue_name)).id;
    INSERT INTO @extschema@.pgqrs_topic_bindings AS b (pattern, queue_id)
    VALUES (bind_topic.pattern, v_queue_id)
    ON CONFLICT ON CONSTRAINT pgqrs_topic_bindings_pkey DO NOTHING;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION @extschema@.bind_topic(text, text) IS
    'bind a queue to a topic pattern ("*": one word, "#": any number); whether the binding is new';
