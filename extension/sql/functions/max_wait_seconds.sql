-- max_wait_seconds()
--   The longest long poll dequeue() takes (PQ004 above it): a waiting call
--   holds its snapshot, which keeps vacuum from removing dead rows meanwhile.
--
--   Returns  integer: 60
--   Errors   none
--   Reads    nothing
--   Writes   nothing
--   Roles    producer, consumer, admin
CREATE FUNCTION @extschema@.max_wait_seconds()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 60 $$;
COMMENT ON FUNCTION @extschema@.max_wait_seconds() IS
    'longest wait_seconds that dequeue() accepts (PQ004 above it)';
