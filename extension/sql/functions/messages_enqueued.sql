-- messages_enqueued()
--   How many messages have been enqueued into the queues of this install since
--   it was made: the position of the message id sequence, so an enqueue that
--   rolled back counts too, and a replayed dead letter (which keeps its id)
--   does not count again. Reading it costs nothing whatever the queues hold,
--   and it only grows: two readings t seconds apart give the enqueue rate, and
--   with the change in what the queues hold (queue_metrics), the rate at which
--   messages left them. Only the low 40 bits count: a partition of a sharded
--   install numbers its messages from partition << 40 (docs/operations/sharding.md),
--   so its count is what it enqueued, and the proxy sums them.
--
--   Returns  bigint: 0 before the first enqueue
--   Errors   none
--   Reads    the message id sequence
--   Writes   nothing
--   Roles    producer, consumer, admin
CREATE FUNCTION @extschema@.messages_enqueued()
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$ SELECT coalesce(pg_sequence_last_value('@extschema@.pgqrs_messages_id_seq'::regclass), 0) OPERATOR(pg_catalog.&) 1099511627775 $$;
COMMENT ON FUNCTION @extschema@.messages_enqueued() IS
    'messages enqueued into all queues since install (the message id sequence; rolled-back enqueues count)';
