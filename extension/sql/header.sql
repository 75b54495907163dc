-- pgqrs @PGQRS_VERSION@: a job queue inside PostgreSQL.
-- Built from extension/sql/*.sql in the order of extension/sql/fragments.txt.
\echo Use "CREATE EXTENSION pgqrs" to load this file. \quit
