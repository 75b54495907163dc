"""Table classes: plain reads of the pgqrs tables, deletes by primary key.

Deletes go through the SQL API where it keeps the rules (a queue is dropped by
drop_queue, so a queue with messages is refused; a message by delete, wherever
it waits; a worker is stopped before its row goes, so what it held becomes
visible again).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from .db import run, run_async
from .statements import Op, statements
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

Proc = Generator[Op, Any, Any]


def _one(op: Op) -> Proc:
    return (yield op)


def _delete_row(query: Any, row_id: int) -> Proc:
    return (yield Op(query, {"id": row_id}, "scalar")) is not None


def _delete_queue(st: Any, row_id: int) -> Proc:
    return bool((yield Op(st.drop_queue_by_id, [row_id], "scalar")))


def _delete_message(st: Any, row_id: int) -> Proc:
    return bool((yield Op(st.delete_message_by_id, [row_id], "scalar")))


def _delete_worker(st: Any, row_id: int) -> Proc:
    yield Op(st.stop_worker_by_id, [row_id], "none")
    return (yield Op(st.tables["workers"].delete, {"id": row_id}, "scalar")) is not None


class _Table:
    _name: str
    _row_type: type

    def __init__(self, pool: Any, schema: str) -> None:
        # A pool, or a callable giving one (Admin creates its pool lazily).
        self._pool_source = pool
        self.schema = schema
        self._st = statements(schema)
        self._sql = self._st.tables[self._name]

    @property
    def pool(self) -> Any:
        source = self._pool_source
        return source() if callable(source) and not hasattr(source, "connection") else source

    def _run(self, procedure: Proc, transaction: bool = False) -> Any:
        return run(self.pool, procedure, transaction=transaction)

    def count(self) -> Any:
        return self._run(_one(Op(self._sql.count, None, "scalar")))

    def count_by_fk(self, queue_id: int) -> Any:
        return self._run(_one(Op(self._sql.count_by_fk, [queue_id], "scalar")))

    def filter_by_fk(self, queue_id: int, limit: int = 100) -> Any:
        return self._run(_one(Op(self._sql.filter_by_fk, [queue_id, limit], "all", self._row_type)))

    def get(self, id: int) -> Any:
        """The row with this id, or None."""
        return self._run(_one(Op(self._sql.get, [id], "one", self._row_type)))

    def list(self, limit: int = 100) -> Any:
        return self._run(_one(Op(self._sql.list, [limit], "all", self._row_type)))

    def delete(self, id: int) -> Any:
        """Delete by id; returns whether a row went."""
        return self._run(_delete_row(self._sql.delete, id), transaction=True)


class _AsyncTable(_Table):
    def _run(self, procedure: Proc, transaction: bool = False) -> Any:
        return run_async(self.pool, procedure, transaction=transaction)


class _Queues:
    _name, _row_type = "queues", Queue

    def delete(self, id: int) -> Any:
        """drop_queue (not forced): refused with QueueNotEmpty while the queue holds anything."""
        return self._run(_delete_queue(self._st, id))  # type: ignore[attr-defined]


class _Workers:
    _name, _row_type = "workers", WorkerRecord

    def delete(self, id: int) -> Any:
        """Stop the worker (its messages become visible), then delete its row."""
        return self._run(_delete_worker(self._st, id), transaction=True)  # type: ignore[attr-defined]


class _Messages:
    _name, _row_type = "messages", Message

    def delete(self, id: int) -> Any:
        """pgqrs.delete: the message goes, ready, leased or delayed."""
        return self._run(_delete_message(self._st, id))  # type: ignore[attr-defined]


class PgqrsQueues(_Queues, _Table):
    """pgqrs_queues (count_by_fk / filter_by_fk match the queue's own id)."""


class PgqrsWorkers(_Workers, _Table):
    """pgqrs_workers."""


class PgqrsMessages(_Messages, _Table):
    """Every unfinished message (the messages view: ready, leased and delayed)."""


class PgqrsArchiveTable(_Table):
    """pgqrs_archive (archived messages and dead letters)."""

    _name, _row_type = "archive", ArchivedMessage


class AsyncPgqrsQueues(_Queues, _AsyncTable):
    """Async twin of PgqrsQueues."""


class AsyncPgqrsWorkers(_Workers, _AsyncTable):
    """Async twin of PgqrsWorkers."""


class AsyncPgqrsMessages(_Messages, _AsyncTable):
    """Async twin of PgqrsMessages."""


class AsyncPgqrsArchiveTable(_AsyncTable):
    _name, _row_type = "archive", ArchivedMessage


