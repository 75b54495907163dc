-- pgqrs 0.2.0 to 0.3.0, for ALTER EXTENSION pgqrs UPDATE (and pgqrs install,
-- which runs it on a direct install). Every change to extension/sql/ since
-- 0.2.0 goes here too, so that an upgraded schema equals a fresh 0.3.0 one.
\echo Use "ALTER EXTENSION pgqrs UPDATE TO '0.3.0'" to load this file. \quit

CREATE OR REPLACE FUNCTION @extschema@.version()
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT '0.3.0'::text $$;
