"""Table classes: plain reads of the pgqrs tables, deletes by primary key.

Deletes go through the SQL API where it keeps the rules (a queue is dropped by
drop_queue, so a queue with messages is refused; a message by delete, wherever
it waits; a worker is stopped before its row goes, so what it held becomes
visible again).

Each class reads rows of one type (R): ``get`` returns R or None, ``list`` and
``filter_by_fk`` a list of R. The async classes have the same methods, awaited.
Every method may raise ConnectionFailed, NotInstalled and DatabaseError.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from psycopg import sql
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from .db import Procedure, run, run_async
from .statements import Op, Statements, statements
from .types import ArchivedMessage, Message, Queue, WorkerRecord

__all__ = [
    "PgqrsQueues",
    "PgqrsWorkers",
    "PgqrsMessages",
    "PgqrsArchiveTable",
    "AsyncPgqrsQueues",
    "AsyncPgqrsWorkers",
    "AsyncPgqrsMessages",
    "AsyncPgqrsArchiveTable",
]

R = TypeVar("R")
T = TypeVar("T")


def _count(query: sql.Composable, params: list[Any] | None) -> Procedure[int]:
    count: int = yield Op(query, params, "scalar")
    return count


def _row(query: sql.Composable, params: list[Any], row_type: type[R]) -> Procedure[R | None]:
    row: R | None = yield Op(query, params, "one", row_type)
    return row


def _rows(query: sql.Composable, params: list[Any], row_type: type[R]) -> Procedure[list[R]]:
    rows: list[R] = yield Op(query, params, "all", row_type)
    return rows


def _delete_row(query: sql.Composable, row_id: int) -> Procedure[bool]:
    return (yield Op(query, {"id": row_id}, "scalar")) is not None


def _delete_queue(st: Statements, row_id: int) -> Procedure[bool]:
    return bool((yield Op(st.drop_queue_by_id, [row_id], "scalar")))


def _delete_message(st: Statements, row_id: int) -> Procedure[bool]:
    return bool((yield Op(st.delete_message_by_id, [row_id], "scalar")))


def _delete_worker(st: Statements, row_id: int) -> Procedure[bool]:
    yield Op(st.stop_worker_by_id, [row_id], "none")
    return (yield Op(st.tables["workers"].delete, {"id": row_id}, "scalar")) is not None


class _TableSetup:
    """The statements of one table of one schema."""

    _name: str

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._st = statements(schema)
        self._sql = self._st.tables[self._name]


class _Table(_TableSetup, Generic[R]):
    """A table read on a ConnectionPool."""

    _row_type: type[R]

    def __init__(self, pool: ConnectionPool | Callable[[], ConnectionPool], schema: str) -> None:
        # A pool, or a callable giving one (Admin creates its pool lazily).
        super().__init__(schema)
        self._pool_source = pool

    @property
    def pool(self) -> ConnectionPool:
        """The pool the statements run on."""
        source = self._pool_source
        if callable(source) and not hasattr(source, "connection"):
            return source()
        return source  # type: ignore[return-value]  # not a callable giving a pool: the pool itself

    def _run(self, procedure: Procedure[T], transaction: bool = False) -> T:
        return run(self.pool, procedure, transaction=transaction)

    def count(self) -> int:
        """How many rows the table has."""
        return self._run(_count(self._sql.count, None))

    def count_by_fk(self, queue_id: int) -> int:
        """How many rows belong to the queue with that id."""
        return self._run(_count(self._sql.count_by_fk, [queue_id]))

    def filter_by_fk(self, queue_id: int, limit: int = 100) -> builtins.list[R]:
        """Up to limit rows of the queue with that id, by id."""
        return self._run(_rows(self._sql.filter_by_fk, [queue_id, limit], self._row_type))

    def get(self, id: int) -> R | None:
        """The row with this id, or None."""
        return self._run(_row(self._sql.get, [id], self._row_type))

    def list(self, limit: int = 100) -> builtins.list[R]:
        """Up to limit rows, by id."""
        return self._run(_rows(self._sql.list, [limit], self._row_type))

    def delete(self, id: int) -> bool:
        """Delete by id; returns whether a row went."""
        return self._run(_delete_row(self._sql.delete, id), transaction=True)


class _AsyncTable(_TableSetup, Generic[R]):
    """A table read on an AsyncConnectionPool: _Table's methods, awaited."""

    _row_type: type[R]

    def __init__(self, pool: AsyncConnectionPool | Callable[[], AsyncConnectionPool], schema: str) -> None:
        super().__init__(schema)
        self._pool_source = pool

    @property
    def pool(self) -> AsyncConnectionPool:
        """The pool the statements run on."""
        source = self._pool_source
        if callable(source) and not hasattr(source, "connection"):
            return source()
        return source  # type: ignore[return-value]  # not a callable giving a pool: the pool itself

    async def _run(self, procedure: Procedure[T], transaction: bool = False) -> T:
        return await run_async(self.pool, procedure, transaction=transaction)

    async def count(self) -> int:
        """How many rows the table has."""
        return await self._run(_count(self._sql.count, None))

    async def count_by_fk(self, queue_id: int) -> int:
        """How many rows belong to the queue with that id."""
        return await self._run(_count(self._sql.count_by_fk, [queue_id]))

    async def filter_by_fk(self, queue_id: int, limit: int = 100) -> builtins.list[R]:
        """Up to limit rows of the queue with that id, by id."""
        return await self._run(_rows(self._sql.filter_by_fk, [queue_id, limit], self._row_type))

    async def get(self, id: int) -> R | None:
        """The row with this id, or None."""
        return await self._run(_row(self._sql.get, [id], self._row_type))

    async def list(self, limit: int = 100) -> builtins.list[R]:
        """Up to limit rows, by id."""
        return await self._run(_rows(self._sql.list, [limit], self._row_type))

    async def delete(self, id: int) -> bool:
        """Delete by id; returns whether a row went."""
        return await self._run(_delete_row(self._sql.delete, id), transaction=True)


class PgqrsQueues(_Table[Queue]):
    """pgqrs_queues (count_by_fk / filter_by_fk match the queue's own id)."""

    _name, _row_type = "queues", Queue

    def delete(self, id: int) -> bool:
        """drop_queue (not forced): returns whether a queue went. Raises QueueNotEmpty while the
        queue holds messages, archived messages or active workers."""
        return self._run(_delete_queue(self._st, id))


class PgqrsWorkers(_Table[WorkerRecord]):
    """pgqrs_workers."""

    _name, _row_type = "workers", WorkerRecord

    def delete(self, id: int) -> bool:
        """Stop the worker (its messages become visible), then delete its row; returns whether it went."""
        return self._run(_delete_worker(self._st, id), transaction=True)


class PgqrsMessages(_Table[Message]):
    """Every unfinished message (the messages view: ready, leased and delayed)."""

    _name, _row_type = "messages", Message

    def delete(self, id: int) -> bool:
        """pgqrs.delete: the message goes, ready, leased or delayed; returns whether it went."""
        return self._run(_delete_message(self._st, id))


class PgqrsArchiveTable(_Table[ArchivedMessage]):
    """pgqrs_archive (archived messages and dead letters)."""

    _name, _row_type = "archive", ArchivedMessage


class AsyncPgqrsQueues(_AsyncTable[Queue]):
    """Async twin of PgqrsQueues."""

    _name, _row_type = "queues", Queue

    async def delete(self, id: int) -> bool:
        """drop_queue (not forced): returns whether a queue went. Raises QueueNotEmpty while the
        queue holds messages, archived messages or active workers."""
        return await self._run(_delete_queue(self._st, id))


class AsyncPgqrsWorkers(_AsyncTable[WorkerRecord]):
    """Async twin of PgqrsWorkers."""

    _name, _row_type = "workers", WorkerRecord

    async def delete(self, id: int) -> bool:
        """Stop the worker (its messages become visible), then delete its row; returns whether it went."""
        return await self._run(_delete_worker(self._st, id), transaction=True)


class AsyncPgqrsMessages(_AsyncTable[Message]):
    """Async twin of PgqrsMessages."""

    _name, _row_type = "messages", Message

    async def delete(self, id: int) -> bool:
        """pgqrs.delete: the message goes, ready, leased or delayed; returns whether it went."""
        return await self._run(_delete_message(self._st, id))


class AsyncPgqrsArchiveTable(_AsyncTable[ArchivedMessage]):
    """Async twin of PgqrsArchiveTable."""

    _name, _row_type = "archive", ArchivedMessage
