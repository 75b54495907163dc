"""install() / verify() / uninstall(): the extension path, and the direct path by a schema owner."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from pgqrs import Admin, Config, Consumer, InstallResult, NotInstalled, Producer, QueueNotEmpty
from pgqrs.install import direct_script, install_script, script_version


def test_packaged_script_is_the_built_one():
    script = install_script()
    assert script_version() == "0.1.0"
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
        assert result == InstallResult("extension", "pgqrs", "0.1.0", changed=True)
        assert admin.install() == InstallResult("extension", "pgqrs", "0.1.0", changed=False)
        report = admin.verify()
        assert report.ok and report.problems == [] and report.version == report.expected_version == "0.1.0"
        assert report.to_dict()["ok"] is True
        admin.create_queue("q")
        Producer(admin.pool, "q", admin.config).enqueue({"a": 1})
        with pytest.raises(QueueNotEmpty, match="1 messages"):
            admin.uninstall()
        assert admin.version() == "0.1.0"  # the refusal changed nothing
        admin.uninstall(force=True)
        with admin.pool.connection() as conn:
            assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pgqrs'").fetchone()[0] == 0
        with pytest.raises(NotInstalled):
            admin.uninstall()


@pytest.fixture
def schema_owner(empty_dsn):
    """A LOGIN role with a password, not a superuser, owning schema `tenant` of the empty database."""
    role = f"owner_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(password)))
        conn.execute(sql.SQL("CREATE SCHEMA tenant AUTHORIZATION {}").format(sql.Identifier(role)))
    yield f"{empty_dsn} user={role} password={password}"
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS tenant CASCADE")
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_direct_install_by_schema_owner(schema_owner, empty_dsn):
    config = Config(dsn=schema_owner, schema="tenant")
    with Admin(config) as admin:
        with admin.pool.connection() as conn:
            assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0] is False
        before = admin.verify()
        assert not before.ok and "table tenant.pgqrs_queues is missing" in before.problems
        result = admin.install(method="direct")
        assert result == InstallResult("direct", "tenant", "0.1.0", changed=True)
        assert admin.install() == InstallResult("direct", "tenant", "0.1.0", changed=False)
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
            conn.execute("ALTER EXTENSION pgqrs DROP FUNCTION pgqrs.enqueue(text, jsonb, integer)")
            conn.execute("DROP FUNCTION pgqrs.enqueue(text, jsonb, integer)")
        report = admin.verify()
        assert report.ok is False
        assert report.problems == ["function pgqrs.enqueue(text, jsonb, integer) is missing"]


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
