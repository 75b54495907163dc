-- Privileges.
--
-- Every public function is SECURITY DEFINER with a pinned search_path, so a
-- role needs no privilege on the tables: it gets EXECUTE on the functions of
-- its group and SELECT on the views. Each install has its own three group
-- roles, <prefix>_producer, <prefix>_consumer and <prefix>_admin, the prefix
-- being the setting pgqrs.role_prefix or else the schema's name (so
-- CREATE EXTENSION pgqrs, in schema pgqrs, has pgqrs_producer and so on):
--   producer  enqueue; its own workers' registration, heartbeats and stop
--   consumer  dequeue and acknowledgements, workers, reaping one queue
--   admin     every function, SELECT on the tables, DELETE on the archive and
--             the workers
-- _role_prefix()
--   The prefix of this install's group roles as its grants show it: the name
--   of the role that may run enqueue() without being its owner, less
--   "_producer"; before the first grants, the schema's name.
CREATE FUNCTION @extschema@._role_prefix()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(
        (SELECT pg_catalog.left(r.rolname, -pg_catalog.length('_producer'))
         FROM pg_proc p, aclexplode(p.proacl) a, pg_roles r
         WHERE p.pronamespace = '@extschema@'::regnamespace AND p.proname = 'enqueue'
           AND r.oid = a.grantee AND a.grantee <> p.proowner AND r.rolname LIKE '%\_producer'
         ORDER BY r.rolname LIMIT 1),
        (SELECT n.nspname::text FROM pg_namespace n WHERE n.oid = '@extschema@'::regnamespace))
$$;
COMMENT ON FUNCTION @extschema@._role_prefix() IS
    'internal: the prefix of this install''s group roles';

-- _setup_roles() makes them and applies the grants below, at install, at
-- upgrade, and whenever `pgqrs install` finds the install up to date.

-- _setup_roles(prefix)
--   Creates the missing group roles (when the installing role may create
--   roles; a WARNING says which grants could not be made otherwise) and
--   makes every pgqrs object's privileges exactly those declared below: all
--   revoked from every role but the owner (PUBLIC and other installs' roles
--   included), then granted to the three as declared. An existing role of one of the names is used
--   only if this install made it (its comment names this schema and
--   database, or it holds USAGE on the schema already), or if the setting
--   pgqrs.reuse_roles is on; a role that can log in is never used (PQ010).
--   The prefix is the setting pgqrs.role_prefix, else p_prefix (an upgrade
--   from a version whose roles were the cluster's passes the schema's name),
--   else _role_prefix(): an install keeps the roles it was given until told
--   otherwise.
--   The names are built from the prefix and quoted, never from a caller's
--   input. Run by the install and upgrade scripts; EXECUTE for the owner only.
CREATE FUNCTION @extschema@._setup_roles(p_prefix text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_schema_oid oid := '@extschema@'::regnamespace;
    v_schema name := (SELECT n.nspname FROM pg_namespace n WHERE n.oid = v_schema_oid);
    v_prefix text := coalesce(nullif(current_setting('pgqrs.role_prefix', true), ''), p_prefix,
                              @extschema@._role_prefix());
    v_reuse boolean := coalesce(nullif(current_setting('pgqrs.reuse_roles', true), ''), 'off')::boolean;
    v_marker text := format('pgqrs group role of schema %I in database %I', v_schema, current_database());
    v_may_create boolean := (SELECT r.rolsuper OR r.rolcreaterole FROM pg_roles r WHERE r.rolname = current_user);
    v_group text;
    v_name text;             -- the group's role: <prefix>_<group>
    v_role record;
    v_roles jsonb := '{}';   -- group -> role name, for the groups whose role exists
    v_missing text[] := '{}';
    v_grant record;
    v_grantee record;
BEGIN
    IF v_prefix !~ '^[A-Za-z0-9_][A-Za-z0-9_.-]*$' OR octet_length(v_prefix || '_consumer') > 63 THEN
        RAISE EXCEPTION 'invalid pgqrs.role_prefix "%"', @extschema@._shown(v_prefix)
            USING ERRCODE = 'PQ004',
                  DETAIL = 'A role prefix has letters, digits, "_", "-" and ".", and <prefix>_consumer fits in 63 bytes.',
                  HINT = 'SET pgqrs.role_prefix to a shorter name before installing.';
    END IF;

    FOREACH v_group IN ARRAY ARRAY['producer', 'consumer', 'admin'] LOOP
        v_name := v_prefix || '_' || v_group;
        SELECT r.oid, r.rolname, r.rolcanlogin, r.rolsuper,
               pg_catalog.shobj_description(r.oid, 'pg_authid') AS marker,
               EXISTS (SELECT FROM pg_namespace n, aclexplode(n.nspacl) a
                       WHERE n.oid = v_schema_oid AND a.grantee = r.oid AND a.privilege_type = 'USAGE') AS has_usage
        INTO v_role
        FROM pg_roles r WHERE r.rolname = v_name;
        IF FOUND THEN
            IF v_role.rolcanlogin OR v_role.rolsuper THEN
                RAISE EXCEPTION 'role "%" can log in, so pgqrs will not make it a group role', v_role.rolname
                    USING ERRCODE = 'PQ010',
                          HINT = 'Choose other names with SET pgqrs.role_prefix, or make the role NOLOGIN.';
            END IF;
            IF NOT (v_role.marker IS NOT DISTINCT FROM v_marker OR v_role.has_usage OR v_reuse) THEN
                RAISE EXCEPTION 'role "%" exists and was not made by this install', v_role.rolname
                    USING ERRCODE = 'PQ010',
                          DETAIL = 'Its members would reach these queues too.',
                          HINT = 'SET pgqrs.role_prefix for roles of this install''s own, or SET pgqrs.reuse_roles = on to share it.';
            END IF;
        ELSIF v_may_create THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', v_name);
            EXECUTE format('COMMENT ON ROLE %I IS %L', v_name, v_marker);  -- "made by this install"
        ELSE
            v_missing := v_missing || v_name;
            CONTINUE;
        END IF;
        v_roles := v_roles || jsonb_build_object(v_group, v_name);
    END LOOP;
    IF cardinality(v_missing) > 0 THEN
        RAISE WARNING 'pgqrs: roles % are missing and % may not create them; no grants were made to them',
                array_to_string(v_missing, ', '), current_user
            USING HINT = 'Create them (NOLOGIN) as a role with CREATEROLE, then run pgqrs install again.';
    END IF;

    -- The declaration: who may use each object. Groups: all three, producer
    -- (and admin), consumer (and admin), admin, or none (the owner only: the
    -- helpers, which run inside the public functions). Every function of
    -- pgqrs is listed (the catalog test checks it), so none keeps PUBLIC's
    -- default EXECUTE.
    FOR v_grant IN
        SELECT 'FUNCTION ' || c.oid::regprocedure::text AS name, d.groups,
               c.proacl AS acl, c.proowner AS owner, 'EXECUTE' AS privileges
        FROM (VALUES
            ('enqueue', 'producer'), ('enqueue_batch', 'producer'),
            ('dequeue', 'consumer'), ('delete', 'consumer'), ('delete_batch', 'consumer'),
            ('archive', 'consumer'), ('archive_batch', 'consumer'),
            ('extend_visibility', 'consumer'), ('release', 'consumer'), ('reap_workers', 'consumer'),
            ('metrics', 'all'), ('metrics_all', 'all'), ('messages_enqueued', 'all'), ('version', 'all'), ('max_batch_size', 'all'),
            ('max_wait_seconds', 'all'), ('notify_channel', 'all'),
            ('register_worker', 'all'), ('heartbeat', 'all'), ('stop_worker', 'all'),
            ('create_queue', 'admin'), ('alter_queue', 'admin'), ('drop_queue', 'admin'),
            ('purge_queue', 'admin'), ('set_queue_notify', 'admin'), ('pause_queue', 'admin'),
            ('resume_queue', 'admin'), ('dead_letters', 'admin'), ('replay_dead_letters', 'admin'),
            ('purge_dead_letters', 'admin'),
            ('purge_archive', 'admin'), ('purge_workers', 'admin'),
            ('queue_messages', 'admin'), ('queue_message', 'admin'), ('archived_messages', 'admin'),
            ('archived_message', 'admin'),
            ('_queue', 'none'), ('_queue_lock_class', 'none'), ('_worker_lock_class', 'none'),
            ('_shown', 'none'), ('_notify_channel', 'none'), ('_check_queue_name', 'none'),
            ('_check_seconds', 'none'), ('_check_count', 'none'), ('_check_ids', 'none'),
            ('_check_worker', 'none'), ('_check_queue_settings', 'none'), ('_move_to_archive', 'none'),
            ('_queue_for_enqueue', 'none'), ('_payload_too_large', 'none'), ('_bury_exhausted', 'none'),
            ('_lease_for_worker', 'none'), ('_release_worker_messages', 'none'), ('_session_may', 'none'),
            ('_position', 'none'), ('_create_position', 'none'), ('_lower_position', 'none'),
            ('_rank', 'none'), ('_check_message_options', 'none'), ('_check_parallel', 'none'),
            ('_admit', 'none'), ('_admit_batch', 'none'), ('_refill_groups', 'none'),
            ('_tokens', 'none'), ('_set_rate_limit', 'none'), ('_rate_tokens', 'none'), ('_spend_tokens', 'none'),
            ('_role_prefix', 'all'), ('_setup_roles', 'none'),
            ('complete', 'consumer'), ('message_status', 'all'), ('wait_for', 'all'), ('cancel', 'all'),
            ('create_schedule', 'admin'), ('drop_schedule', 'admin'), ('run_schedules', 'all'),
            ('bind_topic', 'admin'), ('unbind_topic', 'admin'), ('publish', 'producer'),
            ('_finish_cancelled', 'none'), ('_check_schedule_name', 'none'), ('_check_time_zone', 'none'),
            ('_cron_field', 'none'), ('_cron_next', 'none'), ('_check_topic', 'none'), ('_topic_regex', 'none'),
            ('_take_dedupe_key', 'none'), ('_free_dedupe_keys', 'none'), ('_visible_at', 'none')
        ) AS d (fn, groups)
        JOIN pg_proc c ON c.proname = d.fn AND c.pronamespace = v_schema_oid
        UNION ALL
        SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE ' ELSE 'TABLE ' END || c.oid::regclass::text, d.groups,
               c.relacl, c.relowner, d.privileges
        FROM (VALUES
            ('queue_metrics', 'all', 'SELECT'), ('worker_health', 'all', 'SELECT'), ('messages', 'admin', 'SELECT'),
            ('pgqrs_queues', 'admin', 'SELECT'), ('pgqrs_messages', 'admin', 'SELECT'),
            ('pgqrs_delayed', 'admin', 'SELECT'), ('pgqrs_groups', 'admin', 'SELECT'),
            ('pgqrs_workers', 'admin', 'SELECT, DELETE'), ('pgqrs_archive', 'admin', 'SELECT, DELETE'),
            ('pgqrs_queues_id_seq', 'none', ''), ('pgqrs_workers_id_seq', 'none', ''),
            ('pgqrs_messages_id_seq', 'none', ''),
            ('schedules', 'all', 'SELECT'), ('topic_bindings', 'all', 'SELECT'),
            ('pgqrs_cancels', 'admin', 'SELECT'), ('pgqrs_schedules', 'admin', 'SELECT'),
            ('pgqrs_topic_bindings', 'admin', 'SELECT'), ('pgqrs_schedules_id_seq', 'none', ''),
            ('pgqrs_dedupe_keys', 'admin', 'SELECT')
        ) AS d (rel, groups, privileges)
        JOIN pg_class c ON c.relname = d.rel AND c.relnamespace = v_schema_oid
    LOOP
        -- Revoked from all but the owner, then granted as declared: PUBLIC, roles of
        -- another install and privileges of an older version's declaration go.
        FOR v_grantee IN
            SELECT DISTINCT a.grantee FROM aclexplode(v_grant.acl) a
            WHERE a.grantee <> v_grant.owner
            UNION SELECT 0 WHERE v_grant.acl IS NULL AND v_grant.name LIKE 'FUNCTION %'  -- default: PUBLIC may run it
        LOOP
            EXECUTE format('REVOKE ALL ON %s FROM %s', v_grant.name,
                           CASE WHEN v_grantee.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(v_grantee.grantee::regrole::text) END);
        END LOOP;
        FOR v_group IN
            SELECT g FROM unnest(ARRAY['producer', 'consumer', 'admin']) g
            WHERE v_roles ? g
              AND (v_grant.groups IN ('all', g) OR (g = 'admin' AND v_grant.groups IN ('producer', 'consumer')))
        LOOP
            EXECUTE format('GRANT %s ON %s TO %I', v_grant.privileges, v_grant.name, v_roles ->> v_group);
        END LOOP;
    END LOOP;

    FOR v_role IN SELECT e.value AS rolname FROM jsonb_each_text(v_roles) e LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', v_schema, v_role.rolname);
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@._setup_roles(text) IS
    'create this install''s group roles where missing and apply its grants (run by install and upgrade; the owner''s only)';
