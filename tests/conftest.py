"""Test set-up: a real PostgreSQL server for the whole session, a fresh database per test.

The server is started by pytest-postgresql from the PostgreSQL binaries in
PGQRS_PG_BIN (default: Debian's PostgreSQL 15), with the pgqrs extension files
already installed in its extension directory (`make install`). PostgreSQL
refuses to run as root, so run the tests as an ordinary user (tools/test.sh
does this for you).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql as pgsql
from pytest_postgresql import factories
from pytest_postgresql.janitor import DatabaseJanitor

PG_BIN = Path(os.environ.get("PGQRS_PG_BIN", "/usr/lib/postgresql/15/bin"))
REPO = Path(__file__).resolve().parent.parent
#: The installed `pgqrs` console script, beside the Python that runs the tests.
PGQRS_SCRIPT = Path(sys.executable).with_name("pgqrs")


# -- helpers the test files share (imported: `from conftest import sql`) ---------------


def unique(prefix: str) -> str:
    """A name no other test uses: prefix and 8 hex digits (roles, databases, schemas)."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def sql(dsn: str, query: str | pgsql.Composable, params: tuple | list | None = None) -> list[tuple]:
    """One statement on a connection of its own (autocommit); its rows, or [] when it returns none."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def cli_env(**extra: str) -> dict[str, str]:
    """The environment without PGQRS_* settings of the outside (PGQRS_PG_BIN only tells the tests where PG is)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PGQRS_")} | extra


def pgqrs_cli(dsn: str | None, *args: str, input: bytes | None = None, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs the installed console script (with --dsn when given); returns the finished process
    (text stdout and stderr)."""
    base = ["--dsn", dsn] if dsn else []
    proc = subprocess.run([str(PGQRS_SCRIPT), *base, *args], input=input, capture_output=True, cwd=cwd,
                          env=env or cli_env(), timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def _create_extension(host: str, port: int, user: str, dbname: str, password: str | None = None, **_: object) -> None:
    with psycopg.connect(host=host, port=port, user=user, dbname=dbname, password=password, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pgqrs")


postgresql_proc = factories.postgresql_proc(
    executable=str(PG_BIN / "pg_ctl"),
    host="127.0.0.1",
    port=None,
    user="postgres",
    # Many tests install pgqrs in databases of their own on this one server: they share its
    # group roles (a real deployment says so per install; see the README's roles section).
    postgres_options="-c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200 "
                     "-c pgqrs.reuse_roles=on",
    load=[_create_extension],
)

# A fresh database per test, cloned from a template that has pgqrs installed.
postgresql = factories.postgresql("postgresql_proc")


def _dsn(info: psycopg.ConnectionInfo | None = None, **parts: object) -> str:
    if info is not None:
        parts = {"host": info.host, "port": info.port, "user": info.user, "dbname": info.dbname, **parts}
    return " ".join(f"{key}={value}" for key, value in parts.items() if value is not None)


@pytest.fixture
def dsn(postgresql: psycopg.Connection) -> str:
    """DSN of a fresh database with `CREATE EXTENSION pgqrs` done."""
    return _dsn(postgresql.info)


@pytest.fixture
def empty_dsn(postgresql_proc) -> str:
    """DSN of a fresh database without pgqrs."""
    dbname = f"empty_{uuid.uuid4().hex[:12]}"
    janitor = DatabaseJanitor(
        user=postgresql_proc.user,
        host=postgresql_proc.host,
        port=postgresql_proc.port,
        dbname=dbname,
        password=postgresql_proc.password,
    )
    with janitor:
        yield _dsn(host=postgresql_proc.host, port=postgresql_proc.port, user=postgresql_proc.user, dbname=dbname)


@pytest.fixture
def schema_owner(empty_dsn):
    """A LOGIN role with a password, not a superuser, owning schema `tenant` of the empty database."""
    role = unique("owner")
    password = uuid.uuid4().hex
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER PASSWORD {}").format(
            pgsql.Identifier(role), pgsql.Literal(password)))
        conn.execute(pgsql.SQL("CREATE SCHEMA tenant AUTHORIZATION {}").format(pgsql.Identifier(role)))
    yield f"{empty_dsn} user={role} password={password}"
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS tenant CASCADE")
        conn.execute(pgsql.SQL("DROP OWNED BY {}").format(pgsql.Identifier(role)))
        conn.execute(pgsql.SQL("DROP ROLE {}").format(pgsql.Identifier(role)))


@pytest.fixture
def pg_bin() -> Path:
    """Directory of the server's binaries (psql, pg_dump, pgbench, ...)."""
    return PG_BIN


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def throwaway_server(options: str = ""):
    """A PostgreSQL server of the test's own (one it may crash, or one with other settings),
    with pgqrs installed in its database postgres. Yields (dsn, start, crash)."""
    base = Path(tempfile.mkdtemp(prefix="pgqrs-server-"))
    data, port = base / "data", free_port()
    subprocess.run([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50 {options}"

    def start() -> None:
        subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-w", "-t", "60",
                        "-o", options, "start"], check=True, capture_output=True, timeout=90)

    def crash() -> None:
        subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       check=True, capture_output=True, timeout=60)

    start()
    try:
        dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pgqrs")
        yield dsn, start, crash
    finally:
        subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        subprocess.run(["rm", "-rf", str(base)], timeout=60)


@pytest.fixture
def own_server():
    """throwaway_server, for a test that needs a server of its own."""
    return throwaway_server


# -- what pgqrs holds, for the backup and upgrade tests ---------------------------

def snapshot(conn: psycopg.Connection, schema: str = "pgqrs") -> dict[str, list[dict]]:
    """Every row of every pgqrs table in schema, by table, ordered by id."""
    tables = {"queues": "pgqrs_queues", "workers": "pgqrs_workers", "messages": "pgqrs_messages",
              "delayed": "pgqrs_delayed", "archive": "pgqrs_archive"}
    return {
        key: conn.execute(pgsql.SQL("SELECT coalesce(json_agg(t ORDER BY t.id), '[]') FROM {}.{} t").format(
            pgsql.Identifier(schema), pgsql.Identifier(table))).fetchone()[0]
        for key, table in tables.items()
    }


def fill(conn: psycopg.Connection, schema: str = "pgqrs") -> None:
    """Queues with ready, leased, delayed, archived and dead-lettered messages, and workers."""
    conn.execute(pgsql.SQL("SET search_path = {}, pg_catalog").format(pgsql.Identifier(schema)))
    conn.execute("SELECT create_queue('mail')")
    conn.execute("SELECT create_queue('fragile', max_attempts => 1)")
    worker = conn.execute("SELECT register_worker('mail', 'host-a', 8080)").fetchone()[0]
    conn.execute("SELECT register_worker('mail', 'host-b', 8081)")
    conn.execute("SELECT enqueue_batch('mail', array_fill('{\"n\": 1}'::jsonb, ARRAY[6]))")
    conn.execute("SELECT enqueue('mail', '{\"later\": true}', 3600)")
    conn.execute("SELECT archive('mail', id) FROM dequeue('mail', 2)")
    conn.execute("SELECT * FROM dequeue('mail', 2, 600, %s)", [worker])
    conn.execute("SELECT enqueue('fragile', '{\"doomed\": true}')")
    conn.execute("SELECT * FROM dequeue('fragile', 1, 0)")
    conn.execute("SELECT * FROM dequeue('fragile', 1)")  # buries it
    conn.execute("RESET search_path")


# -- fixtures of the Python library tests -------------------------------------


@pytest.fixture
def config(dsn):
    """A pgqrs Config for the fresh database (small pool, short timeout)."""
    from pgqrs import Config

    return Config(dsn=dsn, max_connections=4, connection_timeout_seconds=10)


@pytest.fixture
def admin(config):
    """An open Admin on the fresh database."""
    from pgqrs import Admin

    with Admin(config) as adm:
        yield adm


@pytest.fixture
async def async_admin(config):
    """An open AsyncAdmin on the fresh database."""
    from pgqrs import AsyncAdmin

    async with AsyncAdmin(config) as adm:
        yield adm
