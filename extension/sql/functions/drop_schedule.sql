-- drop_schedule(schedule_name)
--   Removes a schedule; what it enqueued already stays in its queue.
--
--   Returns  boolean: whether there was one
--   Errors   none
--   Reads    pgqrs_schedules
--   Writes   pgqrs_schedules
--   Roles    admin
CREATE FUNCTION @extschema@.drop_schedule(schedule_name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    DELETE FROM @extschema@.pgqrs_schedules s WHERE s.schedule_name = drop_schedule.schedule_name;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION @extschema@.drop_schedule(text) IS
    'remove a schedule; whether there was one';
