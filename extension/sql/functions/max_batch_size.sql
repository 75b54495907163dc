-- max_batch_size()
--   The largest number of payloads, ids or messages one call takes or returns.
--
--   Returns  integer: 10,000
--   Errors   none
--   Reads    nothing
--   Writes   nothing
--   Roles    producer, consumer, admin
CREATE FUNCTION @extschema@.max_batch_size()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 10000 $$;
COMMENT ON FUNCTION @extschema@.max_batch_size() IS
    'largest number of payloads, ids or messages that one pgqrs call accepts (PQ006 above it)';
