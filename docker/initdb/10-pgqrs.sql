-- Run once, by the image's entrypoint, on the first start with an empty data
-- directory: pgqrs in POSTGRES_DB, and its roles (pgqrs_producer,
-- pgqrs_consumer, pgqrs_admin) for the application's own roles to join.
CREATE EXTENSION IF NOT EXISTS pgqrs;
