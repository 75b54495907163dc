"""Consumer: lease messages and acknowledge them, fenced by the consumer's worker id.

A consumer made with a worker_id acts only on messages leased to that worker: once a lease
ran out and the message went to another worker, archive, delete, extend_visibility and
release change nothing (False, or None). Without one, they act on the message whoever holds it.

Every method may raise ConnectionFailed, NotInstalled and DatabaseError; QueueNotFound when
the queue does not exist; WorkerNotFound / WorkerNotActive for a worker_id that is not an
active worker of the queue registered by this login role.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, TypeVar

from psycopg_pool import AsyncConnectionPool, ConnectionPool

from .config import Config
from .db import Procedure, run, run_async
from .producer import check_run_at, extended, validate_payload
from .statements import Op, statements
from .types import Message

__all__ = ["Consumer", "AsyncConsumer"]

T = TypeVar("T")


def _scalar(_type: type[T], op: Op) -> Procedure[T]:
    """One statement's single value; _type names the SQL function's result type for the type checker."""
    value: T = yield op
    return value


def _messages(op: Op) -> Procedure[list[Message]]:
    rows: list[Message] = yield op
    return rows


def _first(op: Op) -> Procedure[Message | None]:
    rows: list[Message] = yield op
    return rows[0] if rows else None


def _per_id(op: Op, ids: list[int]) -> Procedure[list[bool]]:
    """One boolean per requested id, in input order, from the ids the server reports done."""
    if not ids:
        return []
    done = set((yield op))
    return [msg_id in done for msg_id in ids]


class _ConsumerBase:
    """What Consumer and AsyncConsumer share: the queue, the settings, the statements."""

    def __init__(self, queue: str, config: Config | None, worker_id: int | None) -> None:
        self.queue = queue
        self.config = config
        self.worker_id = worker_id
        self._st = statements(config.schema if config is not None else "pgqrs")
        self._lock_time = config.default_lock_time_seconds if config is not None else 30
        self._batch_size = config.default_max_batch_size if config is not None else 100

    def _dequeue_op(self, qty: int, lock_time_seconds: int | None, wait_seconds: int) -> Op:
        lock = self._lock_time if lock_time_seconds is None else lock_time_seconds
        return Op(self._st.dequeue, [self.queue, qty, lock, self.worker_id, wait_seconds], "all", Message)

    def _op(self, query: Any, *params: Any) -> Op:
        return Op(query, [self.queue, *params], "scalar")

    def _ids_op(self, query: Any, ids: list[int]) -> Op:
        return Op(query, [self.queue, ids, self.worker_id], "scalars")

    def _extend_op(self, msg_id: int, seconds: int) -> Procedure[dt.datetime | None]:
        return extended(Op(self._st.extend_visibility, [self.queue, msg_id, seconds, self.worker_id], "one"), msg_id)

    def _complete_op(self, msg_id: int, result: Any) -> Op:
        value = None if result is None else validate_payload(result, name="result")
        return self._op(self._st.complete, msg_id, value, self.worker_id)

    def _release_op(self, msg_id: int, delay_seconds: int, run_at: dt.datetime | None) -> Op:
        if run_at is None:  # the call a 0.2.0 install takes too
            return self._op(self._st.release, msg_id, delay_seconds, self.worker_id)
        check_run_at(run_at)
        return self._op(self._st.release_at, msg_id, delay_seconds, self.worker_id, run_at)

class Consumer(_ConsumerBase):
    """Synchronous consumer on a ConnectionPool (opened by the caller).

    config: the lock time, the batch size and the schema (default: pgqrs, 30 s, 100).
    worker_id: fence every acknowledgement by this worker's leases (Admin.register_worker).
    """

    def __init__(
        self, pool: ConnectionPool, queue: str, config: Config | None = None, *, worker_id: int | None = None
    ) -> None:
        self.pool = pool
        super().__init__(queue, config, worker_id)

    def _run(self, procedure: Procedure[T]) -> T:
        return run(self.pool, procedure)

    def dequeue(self, lock_time_seconds: int | None = None, wait_seconds: int = 0) -> Message | None:
        """Lease the oldest visible message, or None (after waiting up to wait_seconds for one).

        lock_time_seconds: how long the lease lasts (default: config.default_lock_time_seconds).
        Raises InvalidArgument (a lease or wait out of range).
        """
        return self._run(_first(self._dequeue_op(1, lock_time_seconds, wait_seconds)))

    def dequeue_batch(
        self, qty: int | None = None, lock_time_seconds: int | None = None, wait_seconds: int = 0
    ) -> list[Message]:
        """Lease up to qty (default: config.default_max_batch_size) visible messages, oldest first.

        With wait_seconds, an empty queue is waited on that long inside the server (a long poll).
        Returns the messages (an empty list when none is ready). Raises InvalidArgument (qty below
        1, a lease or wait out of range) and BatchTooLarge (qty above the server's maximum).
        """
        qty = self._batch_size if qty is None else qty
        return self._run(_messages(self._dequeue_op(qty, lock_time_seconds, wait_seconds)))

    def notify_channel(self) -> str:
        """The channel to LISTEN on for the queue's enqueue notifications."""
        return self._run(_scalar(str, Op(self._st.notify_channel, [self.queue], "scalar")))

    def archive(self, msg_id: int) -> bool:
        """Move a processed message to the archive; returns False when it is not there (or not ours)."""
        return self._run(_scalar(bool, self._op(self._st.archive, msg_id, self.worker_id)))

    def archive_batch(self, msg_ids: Iterable[int]) -> list[bool]:
        """Archive many; one boolean per id, in input order. Raises BatchTooLarge."""
        ids = list(msg_ids)
        return self._run(_per_id(self._ids_op(self._st.archive_batch, ids), ids))

    def delete(self, msg_id: int) -> bool:
        """Delete a processed message; returns False when it is not there (or not ours)."""
        return self._run(_scalar(bool, self._op(self._st.delete, msg_id, self.worker_id)))

    def delete_batch(self, msg_ids: Iterable[int]) -> list[bool]:
        """Delete many; one boolean per id, in input order. Raises BatchTooLarge."""
        ids = list(msg_ids)
        return self._run(_per_id(self._ids_op(self._st.delete_batch, ids), ids))

    def extend_visibility(self, msg_id: int, seconds: int) -> dt.datetime | None:
        """Longer lease: visible again seconds from now; returns the new vt, or None once the
        message is no longer ours. Raises InvalidArgument (seconds out of range) and
        MessageCancelled when the message was cancelled (the lease is then not extended)."""
        return self._run(self._extend_op(msg_id, seconds))

    def complete(self, msg_id: int, result: Any = None) -> bool:
        """Archive a processed message with its result (any JSON value; None: none), which
        message_status / wait_for return; False when it is not there (or not ours). Raises
        InvalidPayload (a result that is not JSON, or over the queue's max_payload_bytes)."""
        return self._run(_scalar(bool, self._complete_op(msg_id, result)))

    def release(self, msg_id: int, delay_seconds: int = 0, *, run_at: dt.datetime | None = None) -> bool:
        """Give the message back, visible after delay_seconds or at run_at (a datetime with a time
        zone; not both); False if it is not ours. Raises InvalidArgument (a negative delay, run_at
        with a delay or without a time zone)."""
        return self._run(_scalar(bool, self._release_op(msg_id, delay_seconds, run_at)))


class AsyncConsumer(_ConsumerBase):
    """Asynchronous consumer on an AsyncConnectionPool: Consumer's methods, awaited."""

    def __init__(
        self, pool: AsyncConnectionPool, queue: str, config: Config | None = None, *, worker_id: int | None = None
    ) -> None:
        self.pool = pool
        super().__init__(queue, config, worker_id)

    async def _run(self, procedure: Procedure[T]) -> T:
        return await run_async(self.pool, procedure)

    async def dequeue(self, lock_time_seconds: int | None = None, wait_seconds: int = 0) -> Message | None:
        """Lease the oldest visible message, or None (after waiting up to wait_seconds for one).

        lock_time_seconds: how long the lease lasts (default: config.default_lock_time_seconds).
        Raises InvalidArgument (a lease or wait out of range).
        """
        return await self._run(_first(self._dequeue_op(1, lock_time_seconds, wait_seconds)))

    async def dequeue_batch(
        self, qty: int | None = None, lock_time_seconds: int | None = None, wait_seconds: int = 0
    ) -> list[Message]:
        """Lease up to qty (default: config.default_max_batch_size) visible messages, oldest first.

        With wait_seconds, an empty queue is waited on that long inside the server (a long poll).
        Returns the messages (an empty list when none is ready). Raises InvalidArgument (qty below
        1, a lease or wait out of range) and BatchTooLarge (qty above the server's maximum).
        """
        qty = self._batch_size if qty is None else qty
        return await self._run(_messages(self._dequeue_op(qty, lock_time_seconds, wait_seconds)))

    async def notify_channel(self) -> str:
        """The channel to LISTEN on for the queue's enqueue notifications."""
        return await self._run(_scalar(str, Op(self._st.notify_channel, [self.queue], "scalar")))

    async def archive(self, msg_id: int) -> bool:
        """Move a processed message to the archive; returns False when it is not there (or not ours)."""
        return await self._run(_scalar(bool, self._op(self._st.archive, msg_id, self.worker_id)))

    async def archive_batch(self, msg_ids: Iterable[int]) -> list[bool]:
        """Archive many; one boolean per id, in input order. Raises BatchTooLarge."""
        ids = list(msg_ids)
        return await self._run(_per_id(self._ids_op(self._st.archive_batch, ids), ids))

    async def delete(self, msg_id: int) -> bool:
        """Delete a processed message; returns False when it is not there (or not ours)."""
        return await self._run(_scalar(bool, self._op(self._st.delete, msg_id, self.worker_id)))

    async def delete_batch(self, msg_ids: Iterable[int]) -> list[bool]:
        """Delete many; one boolean per id, in input order. Raises BatchTooLarge."""
        ids = list(msg_ids)
        return await self._run(_per_id(self._ids_op(self._st.delete_batch, ids), ids))

    async def extend_visibility(self, msg_id: int, seconds: int) -> dt.datetime | None:
        """Longer lease: visible again seconds from now; returns the new vt, or None once the
        message is no longer ours. Raises InvalidArgument (seconds out of range) and
        MessageCancelled when the message was cancelled (the lease is then not extended)."""
        return await self._run(self._extend_op(msg_id, seconds))

    async def complete(self, msg_id: int, result: Any = None) -> bool:
        """Archive a processed message with its result (any JSON value; None: none), which
        message_status / wait_for return; False when it is not there (or not ours). Raises
        InvalidPayload (a result that is not JSON, or over the queue's max_payload_bytes)."""
        return await self._run(_scalar(bool, self._complete_op(msg_id, result)))

    async def release(self, msg_id: int, delay_seconds: int = 0, *, run_at: dt.datetime | None = None) -> bool:
        """Give the message back, visible after delay_seconds or at run_at (a datetime with a time
        zone; not both); False if it is not ours. Raises InvalidArgument (a negative delay, run_at
        with a delay or without a time zone)."""
        return await self._run(_scalar(bool, self._release_op(msg_id, delay_seconds, run_at)))
