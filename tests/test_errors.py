"""Error mapping: each pgqrs SQLSTATE to its class; connection problems to ConnectionFailed."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg import sql

import pgqrs
from pgqrs import (
    SQLSTATE_ERRORS,
    Admin,
    AsyncAdmin,
    AsyncProducer,
    Config,
    ConnectionFailed,
    DatabaseError,
    NotInstalled,
    OutcomeUnknown,
    PgqrsError,
    Producer,
    create_async_pool,
    create_pool,
    wrap_errors,
)
from pgqrs._output import EXIT_OUTCOME_UNKNOWN
from pgqrs.install import script_version
from conftest import free_port, pgqrs_cli, unique
from conftest import sql as execute

CURRENT = script_version()  # the version this package installs

EXPECTED = {
    "PQ001": "QueueNotFound", "PQ002": "QueueExists", "PQ003": "InvalidQueueName",
    "PQ004": "InvalidArgument", "PQ005": "InvalidPayload", "PQ006": "BatchTooLarge",
    "PQ007": "QueueNotEmpty", "PQ008": "WorkerNotFound", "PQ009": "WorkerNotActive",
    "PQ010": "RoleConflict",
}


def test_every_sqlstate_has_its_class():
    assert {code: cls.__name__ for code, cls in SQLSTATE_ERRORS.items()} == EXPECTED
    for code, name in EXPECTED.items():
        cls = getattr(pgqrs, name)
        assert cls.sqlstate == code and issubclass(cls, PgqrsError)
    assert issubclass(pgqrs.PayloadTooLarge, pgqrs.InvalidPayload)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_server_sqlstates_map_to_classes(dsn, code):
    """Whatever raises the SQLSTATE, the class follows it, and the message is the server's."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        with pytest.raises(SQLSTATE_ERRORS[code], match=f"boom {code}") as excinfo:
            with wrap_errors():
                conn.execute(sql.SQL("DO $$ BEGIN RAISE EXCEPTION 'boom {}' USING ERRCODE = {}, HINT = 'h'; END $$").format(
                    sql.SQL(code), sql.Literal(code)))
    assert str(excinfo.value) == f"boom {code}"
    assert excinfo.value.hint == "h"
    assert isinstance(excinfo.value.__cause__, psycopg.Error)


def test_real_calls_raise_the_documented_classes(admin):
    admin.create_queue("e", max_attempts=1)
    wid = admin.register_worker("e", "h", 1)
    admin.stop_worker(wid)
    with admin.pool.connection() as conn:
        conn.execute("SELECT pgqrs.enqueue('e', '{}')")
    cases = [
        (lambda: admin.get_queue("nope"), pgqrs.QueueNotFound),
        (lambda: admin.purge_queue("nope"), pgqrs.QueueNotFound),
        (lambda: admin.create_queue("e"), pgqrs.QueueExists),
        (lambda: admin.create_queue("-bad"), pgqrs.InvalidQueueName),
        (lambda: admin.purge_workers(-5), pgqrs.InvalidArgument),
        (lambda: admin.register_worker("e", "", 1), pgqrs.InvalidArgument),
        (lambda: admin.replay_dead_letters("e", list(range(10_001))), pgqrs.BatchTooLarge),
        (lambda: admin.drop_queue("e"), pgqrs.QueueNotEmpty),
        (lambda: admin.stop_worker(10**9), pgqrs.WorkerNotFound),
        (lambda: admin.heartbeat(wid), pgqrs.WorkerNotActive),
    ]
    for call, cls in cases:
        with pytest.raises(cls):
            call()
    with admin.pool.connection() as conn, pytest.raises(pgqrs.InvalidPayload):
        with wrap_errors():
            conn.execute("SELECT pgqrs.enqueue('e', NULL)")


def test_other_errors_are_database_errors(admin):
    with pytest.raises(DatabaseError, match="division by zero"):
        with admin.pool.connection() as conn, wrap_errors():
            conn.execute("SELECT 1/0")


def test_decorator_form(dsn):
    @wrap_errors
    def fails():
        with psycopg.connect(dsn) as conn:
            conn.execute("SELECT pgqrs.purge_queue('x')")

    with pytest.raises(pgqrs.QueueNotFound, match='queue "x" does not exist'):
        fails()


def test_not_installed(empty_dsn):
    with Admin(Config(dsn=empty_dsn)) as admin:
        with pytest.raises(NotInstalled, match="not installed"):
            admin.create_queue("q")
        with pytest.raises(NotInstalled):
            admin.list_queues()


def test_unreachable_server():
    admin = Admin(Config(dsn=f"host=127.0.0.1 port={free_port()} dbname=x", connection_timeout_seconds=3))
    with pytest.raises(ConnectionFailed, match="could not connect to the database: .*(refused|failed)") as excinfo:
        admin.open()
    assert "\n" not in str(excinfo.value)
    admin.close()


async def test_unreachable_server_async():
    admin = AsyncAdmin(Config(dsn=f"host=127.0.0.1 port={free_port()} dbname=x", connection_timeout_seconds=3))
    with pytest.raises(ConnectionFailed):
        await admin.open()
    await admin.close()


def test_wrong_password(dsn, postgresql_proc):
    role = unique("pw")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'right' IN ROLE pgqrs_admin").format(sql.Identifier(role)))
        # The test server trusts local connections: ask for passwords from this role.
        hba = conn.execute("SHOW hba_file").fetchone()[0]
    with open(hba) as f:
        original = f.read()
    try:
        with open(hba, "w") as f:
            f.write(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + original)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
        bad = f"{dsn} user={role} password=wrong"
        with pytest.raises(ConnectionFailed, match="password authentication failed"):
            Admin(Config(dsn=bad, connection_timeout_seconds=5)).open()
        with Admin(Config(dsn=f"{dsn} user={role} password=right")) as admin:
            assert admin.version() == CURRENT
    finally:
        with open(hba, "w") as f:
            f.write(original)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))



def _lost_call_setup(dsn: str) -> tuple[Config, int]:
    """A queue with a delayed message, and a Config whose connections carry an application_name of their own."""
    config = Config(dsn=f"{dsn} application_name={unique('lost')}", max_connections=2)
    with Admin(config) as admin:
        admin.create_queue("lost")
        return config, Producer(admin.pool, "lost", config).enqueue({"n": 1}, delay_seconds=3600)


def _terminate_the_wait(dsn: str, config: Config) -> threading.Thread:
    """In a thread: pg_terminate_backend of the config's connection once it runs wait_for()."""
    app = psycopg.conninfo.conninfo_to_dict(config.dsn)["application_name"]

    def kill() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if execute(dsn, "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE application_name = %s AND query LIKE %s", [app, "%wait_for%"])[0][0]:
                return
            time.sleep(0.05)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def test_a_connection_lost_under_a_call_is_outcome_unknown_and_the_next_call_reconnects(dsn):
    """pg_terminate_backend while a call runs: OutcomeUnknown (it may have taken effect), a ConnectionFailed;
    the pool was drained, so the next call gets a new connection and works."""
    config, msg_id = _lost_call_setup(dsn)
    with create_pool(config, min_size=2) as pool:
        producer = Producer(pool, "lost", config)
        _terminate_the_wait(dsn, config)
        with pytest.raises(OutcomeUnknown, match="may or may not have taken effect") as excinfo:
            producer.wait_for(msg_id, timeout=20)
        assert isinstance(excinfo.value, ConnectionFailed)
        assert "dedupe_key" in (excinfo.value.hint or "")
        assert producer.message_status(msg_id).state == "delayed"


async def test_a_connection_lost_under_an_async_call_is_outcome_unknown(dsn):
    config, msg_id = _lost_call_setup(dsn)
    async with create_async_pool(config, min_size=2) as pool:
        producer = AsyncProducer(pool, "lost", config)
        _terminate_the_wait(dsn, config)
        with pytest.raises(OutcomeUnknown):
            await producer.wait_for(msg_id, timeout=20)
        assert (await producer.message_status(msg_id)).state == "delayed"


def test_the_cli_exits_8_when_the_connection_breaks_under_a_command(dsn):
    """`pgqrs message wait` whose connection is terminated: one Error line, the hint, exit code 8."""
    config, msg_id = _lost_call_setup(dsn)
    _terminate_the_wait(dsn, config)
    proc = pgqrs_cli(config.dsn, "message", "wait", "lost", str(msg_id), "--timeout", "20")
    assert proc.returncode == EXIT_OUTCOME_UNKNOWN == 8, proc.stderr
    error, hint = proc.stderr.splitlines()
    assert error.startswith("Error: the connection was lost during the call, which may or may not have taken effect: ")
    assert hint == "Hint: A retry may do it twice; an enqueue with a dedupe_key can be retried safely."
