"""Connection pools from a Config.

Connections run in autocommit with psycopg's automatic prepared statements off
(prepare_threshold=None): each pgqrs call is one statement, and nothing relies
on session state, so the pools work behind pgbouncer in transaction mode. Every pooled connection
hands the server's notices and warnings to the logger ``pgqrs.server``.

A call never retries by itself. Losing the server before a statement is sent (no connection to be
had) is ConnectionFailed: nothing happened, a retry is safe. Losing it after (the connection broke
under the statement) is OutcomeUnknown: it may have committed, so only the caller can tell whether
a retry is safe. Either way the next call connects to wherever the DSN leads now, which with
several hosts and ``target_session_attrs=read-write`` is the primary after a failover.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Generator
from typing import Any, TypeVar

import psycopg
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from .config import Config
from .errors import outcome_unknown, wrap_errors
from .statements import Op

__all__ = [
    "connection_kwargs",
    "create_pool",
    "create_async_pool",
    "log_notice",
    "probe_connection",
    "probe_connection_async",
    "run",
    "run_async",
]


def connection_kwargs(config: Config) -> dict[str, Any]:
    """Keyword arguments for every connection (also for one-off connections outside a pool)."""
    timeout = int(config.connection_timeout_seconds)
    kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": None}
    if timeout > 0:
        kwargs["connect_timeout"] = max(timeout, 2)  # libpq treats 1 as 2 anyway
    return kwargs


#: Where the server's notices and warnings (RAISE NOTICE / WARNING) go, one log record each.
server_logger = logging.getLogger("pgqrs.server")

_NOTICE_LEVELS = {"DEBUG": logging.DEBUG, "LOG": logging.DEBUG, "INFO": logging.INFO, "NOTICE": logging.INFO,
                  "WARNING": logging.WARNING}


def log_notice(diag: psycopg.errors.Diagnostic) -> None:
    """A psycopg notice handler: the server's message as a log record of pgqrs.server.

    The record carries ``severity`` (NOTICE, WARNING, ...), ``detail`` and ``hint``,
    so a program (the CLI) can show them as the server meant them.
    """
    severity = diag.severity_nonlocalized or diag.severity or "NOTICE"
    server_logger.log(
        _NOTICE_LEVELS.get(severity, logging.INFO),
        "%s",
        diag.message_primary or "",
        extra={"severity": severity, "detail": diag.message_detail, "hint": diag.message_hint},
    )


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.add_notice_handler(log_notice)


async def _configure_async(conn: psycopg.AsyncConnection[Any]) -> None:
    conn.add_notice_handler(log_notice)


def _pool_kwargs(config: Config, min_size: int | None) -> dict[str, Any]:
    max_size = config.max_connections
    return {
        "conninfo": config.dsn,
        "kwargs": connection_kwargs(config),
        "min_size": max_size if min_size is None else min(min_size, max_size),
        "max_size": max_size,
        "timeout": config.connection_timeout_seconds,
        "open": False,
        "name": f"pgqrs[{config.schema}]",
    }


def probe_connection(config: Config) -> None:
    """Connect once, outside the pool, so a bad host or password fails fast with libpq's reason
    (a pool would retry quietly until its timeout).

    Raises ConnectionFailed (or another PgqrsError the server's refusal maps to).
    """
    with wrap_errors():
        psycopg.connect(config.dsn, **connection_kwargs(config)).close()


async def probe_connection_async(config: Config) -> None:
    """The async twin of probe_connection(): returns None once a connection was made and closed;
    raises ConnectionFailed (or another PgqrsError) when none can be."""
    with wrap_errors():
        conn = await psycopg.AsyncConnection.connect(config.dsn, **connection_kwargs(config))
        await conn.close()


def create_pool(config: Config, *, min_size: int | None = 1) -> ConnectionPool:
    """A closed ConnectionPool; the caller opens it (``pool.open(wait=True)`` or ``with pool:``).

    min_size: connections kept open (None: max_connections). Connects to nothing, raises nothing.
    """
    return ConnectionPool(**_pool_kwargs(config, min_size), configure=_configure)


def create_async_pool(config: Config, *, min_size: int | None = 1) -> AsyncConnectionPool:
    """A closed AsyncConnectionPool; the caller opens it (``await pool.open(wait=True)``).

    min_size as for create_pool(). Connects to nothing, raises nothing.
    """
    return AsyncConnectionPool(**_pool_kwargs(config, min_size), configure=_configure_async)


# -- running operations ------------------------------------------------------
#
# The API is written once as generators that yield statements (Op) and receive
# their results; these two drivers run them on a sync or an async connection.
# So the sync and async classes share every statement, argument and mapping.


T = TypeVar("T")

#: A procedure that ends with a value of type T: a generator that yields each statement (Op) and is
#: sent that statement's result (None, a scalar, a list of scalars, a row or a list of rows).
Procedure = Generator[Op, Any, T]


def _result(cur: psycopg.Cursor[Any], op: Op) -> Any:
    if op.fetch == "none":
        return None
    if op.fetch == "scalar":
        row = cur.fetchone()
        return None if row is None else row[0]
    if op.fetch == "scalars":
        return [row[0] for row in cur.fetchall()]
    if op.fetch == "one":
        return cur.fetchone()
    return cur.fetchall()


def _cursor_kwargs(op: Op) -> dict[str, Any]:
    if op.row_type is not None and op.fetch in ("one", "all"):
        return {"row_factory": class_row(op.row_type)}
    return {}


def run(pool: ConnectionPool[Any], procedure: Procedure[T], *, transaction: bool = False) -> T:
    """Run a procedure on one pooled connection (in one transaction if asked); returns the value it
    ends with. Raises the PgqrsError that a database or pool error maps to (wrap_errors), and
    OutcomeUnknown when the connection broke once a statement was sent. That drains the pool
    first: its other connections most likely lead to the same dead server, and new ones go where
    the DSN leads now (the new primary, with target_session_attrs)."""
    with wrap_errors(), pool.connection() as conn:
        try:
            tx = conn.transaction() if transaction else contextlib.nullcontext()
            with tx:
                try:
                    op = next(procedure)
                    while True:
                        with conn.cursor(**_cursor_kwargs(op)) as cur:
                            cur.execute(op.query, op.params)
                            result = _result(cur, op)
                        op = procedure.send(result)
                except StopIteration as stop:
                    value: T = stop.value
                    return value
        except psycopg.Error as exc:
            if not conn.broken:
                raise
            pool.drain()
            raise outcome_unknown(exc) from exc


async def run_async(pool: AsyncConnectionPool[Any], procedure: Procedure[T], *, transaction: bool = False) -> T:
    """The async twin of run(): the value the procedure ends with; raises what run() raises."""
    with wrap_errors():
        async with pool.connection() as conn:
            try:
                tx = conn.transaction() if transaction else contextlib.nullcontext()
                async with tx:
                    try:
                        op = next(procedure)
                        while True:
                            async with conn.cursor(**_cursor_kwargs(op)) as cur:
                                await cur.execute(op.query, op.params)
                                result = await _aresult(cur, op)
                            op = procedure.send(result)
                    except StopIteration as stop:
                        value: T = stop.value
                        return value
            except psycopg.Error as exc:
                if not conn.broken:
                    raise
                await pool.drain()
                raise outcome_unknown(exc) from exc


async def _aresult(cur: psycopg.AsyncCursor[Any], op: Op) -> Any:
    if op.fetch == "none":
        return None
    if op.fetch == "scalar":
        row = await cur.fetchone()
        return None if row is None else row[0]
    if op.fetch == "scalars":
        return [row[0] for row in await cur.fetchall()]
    if op.fetch == "one":
        return await cur.fetchone()
    return await cur.fetchall()
