-- pg_dump keeps the queues, workers, messages (ready, leased and delayed), group keys and archive, and the sequences
-- continue after a restore. One statement per object: several calls in one
-- statement fail with "tuple already updated by self".
-- The direct (non-extension) install skips the lines between the markers.
-- pgqrs:extension-only:begin
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_queues', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_queues_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_workers', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_workers_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_messages', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_messages_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_delayed', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_archive', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_groups', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_cancels', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_schedules', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_schedules_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_topic_bindings', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgqrs_dedupe_keys', '');
-- pgqrs:extension-only:end
