"""install() / verify() / uninstall(): the extension path, and the direct path by a schema owner."""

from __future__ import annotations

import re

import psycopg
import pytest

from pgqrs import Admin, Config, Consumer, InstallResult, NotInstalled, Producer, QueueNotEmpty
from pgqrs.install import direct_script, install_script, script_version

from conftest import REPO

CURRENT = script_version()  # the version this package installs


def test_packaged_script_is_the_built_one():
    script = install_script()
    assert script_version() == CURRENT == re.search(r"default_version = '(.*)'", (REPO / "pgqrs.control").read_text())[1]
    assert "@PGQRS_VERSION@" not in script
    direct = direct_script("tenant_a")
    assert "@extschema@" not in direct and '"tenant_a".pgqrs_queues' in direct
    assert "\\echo" not in direct and "pg_extension_config_dump" not in direct


def test_extension_install_is_idempotent(empty_dsn):
    with Admin(Config(dsn=empty_dsn)) as admin:
        with pytest.raises(NotInstalled):
            admin.version()
        assert admin.verify().ok is False
        result = admin.install()
        assert result == InstallResult("extension", "pgqrs", CURRENT, changed=True)
        assert admin.install() == InstallResult("extension", "pgqrs", CURRENT, changed=False)
        report = admin.verify()
        assert report.ok and report.problems == [] and report.version == report.expected_version == CURRENT
        assert report.to_dict()["ok"] is True
        admin.create_queue("q")
        Producer(admin.pool, "q", admin.config).enqueue({"a": 1})
        with pytest.raises(QueueNotEmpty, match="1 messages"):
            admin.uninstall()
        assert admin.version() == CURRENT  # the refusal changed nothing
        admin.uninstall(force=True)
        with admin.pool.connection() as conn:
            assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pgqrs'").fetchone()[0] == 0
        with pytest.raises(NotInstalled):
            admin.uninstall()


def test_direct_install_by_schema_owner(schema_owner, empty_dsn):
    config = Config(dsn=schema_owner, schema="tenant")
    with Admin(config) as admin:
        with admin.pool.connection() as conn:
            assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0] is False
        before = admin.verify()
        assert not before.ok and "table tenant.pgqrs_queues is missing" in before.problems
        result = admin.install(method="direct")
        assert result == InstallResult("direct", "tenant", CURRENT, changed=True)
        assert admin.install() == InstallResult("direct", "tenant", CURRENT, changed=False)
        report = admin.verify()
        assert report.ok, report.problems

        admin.create_queue("mail")
        producer = Producer(admin.pool, "mail", config)
        ids = producer.batch_enqueue([{"n": i} for i in range(3)])
        consumer = Consumer(admin.pool, "mail", config, worker_id=admin.register_worker("mail", "h", 1))
        batch = consumer.dequeue_batch(2)
        assert [m.id for m in batch] == ids[:2]
        assert consumer.archive(ids[0]) and consumer.delete_batch([ids[1]]) == [True]
        assert admin.metrics("mail").ready == 1

        # Nothing went into the pgqrs schema or the extension catalogue.
        with psycopg.connect(empty_dsn) as conn:
            assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pgqrs'").fetchone()[0] == 0
            assert conn.execute("SELECT to_regnamespace('pgqrs')").fetchone()[0] is None

        with pytest.raises(QueueNotEmpty):
            admin.uninstall()
        admin.purge_queue("mail")
        admin.purge_archive("mail")
        producer.enqueue({"later": True}, delay_seconds=3600)  # a delayed message counts too
        with pytest.raises(QueueNotEmpty, match="1 messages"):
            admin.uninstall()
        admin.uninstall(force=True)
        assert admin.verify().ok is False
        with psycopg.connect(empty_dsn) as conn:
            assert conn.execute("SELECT to_regnamespace('tenant')").fetchone()[0] is None  # it held nothing else


def test_verify_names_what_is_missing(dsn):
    with Admin(Config(dsn=dsn)) as admin:
        assert admin.verify().ok
        with admin.pool.connection() as conn:
            conn.execute("ALTER EXTENSION pgqrs DROP FUNCTION pgqrs.enqueue(text, jsonb, integer, integer, text, text, timestamptz, integer)")
            conn.execute("DROP FUNCTION pgqrs.enqueue(text, jsonb, integer, integer, text, text, timestamptz, integer)")
        report = admin.verify()
        assert report.ok is False
        assert report.problems == ["function pgqrs.enqueue(text, jsonb, integer, integer, text, text, timestamp with time zone, integer) is missing"]


def test_verify_reports_a_missing_schema(dsn):
    with Admin(Config(dsn=dsn, schema="elsewhere")) as admin:
        report = admin.verify()
        assert report.problems == ['schema "elsewhere" does not exist'] and report.version is None


def test_extension_method_only_for_its_schema(empty_dsn):
    from pgqrs import InvalidArgument

    with Admin(Config(dsn=empty_dsn, schema="other")) as admin:
        with pytest.raises(InvalidArgument, match="direct install"):
            admin.install(method="extension")
        # auto picks the direct path for a schema that is not the extension's
        assert admin.install().method == "direct"
        assert admin.verify().ok


def test_verify_reports_drift_from_the_shipped_definitions(dsn):
    with Admin(Config(dsn=dsn)) as admin:
        with admin.pool.connection() as conn:
            conn.execute("DROP INDEX pgqrs.pgqrs_archive_dead_letters_idx")
            conn.execute("ALTER TABLE pgqrs.pgqrs_messages ALTER COLUMN read_ct SET DEFAULT 1")
            conn.execute("ALTER TABLE pgqrs.pgqrs_messages ADD COLUMN note text")
            conn.execute("REVOKE EXECUTE ON FUNCTION pgqrs.dequeue(text, integer, integer, bigint, integer) "
                         "FROM pgqrs_consumer")
            conn.execute("CREATE OR REPLACE FUNCTION pgqrs.max_batch_size() RETURNS integer "
                         "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 5 $$")
            conn.execute("CREATE FUNCTION pgqrs.enqueue(text) RETURNS bigint LANGUAGE sql AS $$ SELECT 1::bigint $$")
            conn.execute("CREATE TABLE pgqrs.not_pgqrs (x int)")  # a neighbour, not drift
        report = admin.verify()
        assert report.ok is False and report.version == CURRENT
        assert report.problems == [
            "index pgqrs.pgqrs_archive.pgqrs_archive_dead_letters_idx is missing",
            f"column pgqrs.pgqrs_messages.read_ct: definition changed (not as in pgqrs {CURRENT})",
            "function pgqrs.dequeue(text, integer, integer, bigint, integer): privileges changed "
            f"(not as in pgqrs {CURRENT})",
            f"function pgqrs.max_batch_size(): definition changed (not as in pgqrs {CURRENT})",
            f"column pgqrs.pgqrs_messages.note is not part of pgqrs {CURRENT}",
            f"function pgqrs.enqueue(text) is not part of pgqrs {CURRENT}",
        ]
        with admin.pool.connection() as conn:  # verify made and dropped its comparison install
            assert conn.execute("SELECT count(*) FROM pg_class WHERE relpersistence = 't'").fetchone()[0] == 0


def test_verify_by_the_owner_of_a_direct_install(schema_owner):
    with Admin(Config(dsn=schema_owner, schema="tenant")) as admin:
        admin.install(method="direct")
        assert admin.verify().problems == []
        with admin.pool.connection() as conn:
            conn.execute("COMMENT ON FUNCTION tenant.enqueue(text, jsonb, integer, integer, text, text, timestamptz, integer) IS 'mine now'")
        assert admin.verify().problems == [
            f"function tenant.enqueue(text, jsonb, integer, integer, text, text, timestamp with time zone, integer): comment changed (not as in pgqrs {CURRENT})"]


@pytest.mark.parametrize("method", ["extension", "direct"])
def test_concurrent_installs_wait_for_each_other(empty_dsn, method):
    """Workers that all run `pgqrs install` as they start: one installs, the others find it done."""
    import threading

    config = Config(dsn=empty_dsn, schema="pgqrs" if method == "extension" else "jobs")
    barrier, results, errors = threading.Barrier(4), [], []

    def install() -> None:
        with Admin(config) as admin:
            barrier.wait()
            try:
                results.append(admin.install(method=method))
            except Exception as exc:  # noqa: BLE001 - collected for the assertion below
                errors.append(exc)

    threads = [threading.Thread(target=install) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.changed for r in results) == [False, False, False, True]


def test_verify_without_the_temp_privilege_checks_existence(schema_owner, empty_dsn, caplog):
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute(f"REVOKE TEMPORARY ON DATABASE {conn.info.dbname} FROM PUBLIC")
    with Admin(Config(dsn=schema_owner, schema="tenant")) as admin:
        admin.install(method="direct")
        with admin.pool.connection() as conn:
            conn.execute("COMMENT ON FUNCTION tenant.enqueue(text, jsonb, integer, integer, text, text, timestamptz, integer) IS 'not checked'")
            conn.execute("DROP VIEW tenant.worker_health")
        report = admin.verify()
    assert report.problems == ["view tenant.worker_health is missing"]
    assert "no TEMP privilege" in caplog.text
