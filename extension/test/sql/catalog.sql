-- What the install script leaves in the catalog.
\set VERBOSITY terse

-- Tables and sequences are registered for pg_dump.
SELECT c::regclass::text AS dumped FROM pg_extension, unnest(extconfig) c WHERE extname = 'pgqrs' ORDER BY 1;

-- Every public function: SECURITY DEFINER, search_path pinned, a comment,
-- no EXECUTE for PUBLIC. Those that lease and acknowledge messages also take
-- no seq or bitmap scans, whatever the table's size when they were planned.
SELECT p.oid::regprocedure AS function, p.prosecdef, p.proconfig,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pgqrs'
WHERE p.proname NOT LIKE '\_%'
  AND NOT (p.prosecdef AND p.proconfig = '{"search_path=pg_catalog, pg_temp",plan_cache_mode=force_generic_plan}'
           AND obj_description(p.oid, 'pg_proc') IS NOT NULL)
  AND p.proname NOT IN ('version', 'max_batch_size', 'max_wait_seconds')
ORDER BY 1;
SELECT p.oid::regprocedure AS executable_by_public
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pgqrs'
WHERE has_function_privilege('public', p.oid, 'EXECUTE');

-- Every function, internal ones too, has a comment: \df+ explains it, and
-- the Python package reads the signatures from the COMMENT ON FUNCTION lines.
SELECT p.oid::regprocedure AS uncommented
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pgqrs'
WHERE obj_description(p.oid, 'pg_proc') IS NULL;

-- The public API with its argument names, as the contract gives them.
SELECT p.proname, pg_get_function_arguments(p.oid) AS arguments, pg_get_function_result(p.oid) AS result
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pgqrs'
WHERE p.proname NOT LIKE '\_%'
ORDER BY p.proname;

-- No index covers vt, read_ct or worker_id, so a lease is a HOT update.
SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid) LIKE ANY
       (ARRAY['%vt%', '%read_ct%', '%worker_id%']) AS blocks_hot
FROM pg_index WHERE indrelid = 'pgqrs.pgqrs_messages'::regclass;

-- pgqrs_delayed and pgqrs_messages have the same columns in the same order:
-- rows move between them with SELECT *.
SELECT (SELECT array_agg((attname, atttypid)::text ORDER BY attnum) FROM pg_attribute
        WHERE attrelid = 'pgqrs.pgqrs_messages'::regclass AND attnum > 0 AND NOT attisdropped)
     = (SELECT array_agg((attname, atttypid)::text ORDER BY attnum) FROM pg_attribute
        WHERE attrelid = 'pgqrs.pgqrs_delayed'::regclass AND attnum > 0 AND NOT attisdropped)
       AS same_columns;

-- DROP EXTENSION removes everything but the cluster-wide roles.
DROP EXTENSION pgqrs;
SELECT count(*) AS leftovers FROM pg_namespace WHERE nspname = 'pgqrs'
  AND EXISTS (SELECT FROM pg_class WHERE relnamespace = pg_namespace.oid);
CREATE EXTENSION pgqrs;
SELECT pgqrs.create_queue('after_reinstall') > 0 AS works;
SELECT pgqrs.drop_queue('after_reinstall');
