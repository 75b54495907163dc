-- version()
--   The version of the installed SQL (also right for a direct install, where
--   there is no pg_extension row).
--
--   Returns  text
--   Errors   none
--   Reads    nothing
--   Writes   nothing
--   Roles    producer, consumer, admin
CREATE FUNCTION @extschema@.version()
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT '@PGQRS_VERSION@'::text $$;
COMMENT ON FUNCTION @extschema@.version() IS
    'the installed pgqrs version';
