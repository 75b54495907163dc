"""Test set-up: a real PostgreSQL server for the whole session, a fresh database per test.

The server is started by pytest-postgresql from the PostgreSQL binaries in
PGQRS_PG_BIN (default: Debian's PostgreSQL 15), with the pgqrs extension files
already installed in its extension directory (`make install`). PostgreSQL
refuses to run as root, so run the tests as an ordinary user (tools/test.sh
does this for you).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
import pytest
from pytest_postgresql import factories
from pytest_postgresql.janitor import DatabaseJanitor

PG_BIN = Path(os.environ.get("PGQRS_PG_BIN", "/usr/lib/postgresql/15/bin"))
REPO = Path(__file__).resolve().parent.parent


def _create_extension(host: str, port: int, user: str, dbname: str, password: str | None = None, **_: object) -> None:
    with psycopg.connect(host=host, port=port, user=user, dbname=dbname, password=password, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pgqrs")


postgresql_proc = factories.postgresql_proc(
    executable=str(PG_BIN / "pg_ctl"),
    host="127.0.0.1",
    port=None,
    user="postgres",
    postgres_options="-c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200",
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
def pg_bin() -> Path:
    """Directory of the server's binaries (psql, pg_dump, pgbench, ...)."""
    return PG_BIN


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
