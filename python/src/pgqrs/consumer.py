"""Consumer: lease messages and acknowledge them, fenced by the consumer's worker id."""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable
from typing import Any

from .config import Config
from .db import run, run_async
from .statements import Op, statements
from .types import Message

logger = logging.getLogger(__name__)

__all__ = ["Consumer", "AsyncConsumer"]

Proc = Generator[Op, Any, Any]


def _single(op: Op) -> Proc:
    return (yield op)


def _first(op: Op) -> Proc:
    rows = yield op
    return rows[0] if rows else None


def _per_id(op: Op, ids: list[int]) -> Proc:
    """One boolean per requested id, in input order, from the ids the server reports done."""
    if not ids:
        return []
    done = set((yield op))
    return [msg_id in done for msg_id in ids]


class _ConsumerBase:
    def __init__(self, pool: Any, queue: str, config: Config | None = None, *, worker_id: int | None = None) -> None:
        self.pool = pool
        self.queue = queue
        self.config = config
        self.worker_id = worker_id
        self._st = statements(config.schema if config is not None else "pgqrs")
        self._lock_time = config.default_lock_time_seconds if config is not None else 30
        self._batch_size = config.default_max_batch_size if config is not None else 100

    def _run(self, procedure: Proc) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _dequeue_op(self, qty: int, lock_time_seconds: int | None, wait_seconds: int) -> Op:
        lock = self._lock_time if lock_time_seconds is None else lock_time_seconds
        return Op(self._st.dequeue, [self.queue, qty, lock, self.worker_id, wait_seconds], "all", Message)

    def dequeue(self, lock_time_seconds: int | None = None, wait_seconds: int = 0) -> Any:
        """Lease the oldest visible message, or None (after waiting up to wait_seconds for one)."""
        return self._run(_first(self._dequeue_op(1, lock_time_seconds, wait_seconds)))

    def dequeue_batch(self, qty: int | None = None, lock_time_seconds: int | None = None, wait_seconds: int = 0) -> Any:
        """Lease up to qty (default: config.default_max_batch_size) visible messages, oldest first.

        With wait_seconds, an empty queue is waited on that long inside the server (a long poll).
        """
        qty = self._batch_size if qty is None else qty
        return self._run(_single(self._dequeue_op(qty, lock_time_seconds, wait_seconds)))

    def notify_channel(self) -> Any:
        """The channel to LISTEN on for the queue's enqueue notifications."""
        return self._run(_single(Op(self._st.notify_channel, [self.queue], "scalar")))

    def archive(self, msg_id: int) -> Any:
        return self._run(_single(Op(self._st.archive, [self.queue, msg_id, self.worker_id], "scalar")))

    def archive_batch(self, msg_ids: Iterable[int]) -> Any:
        ids = list(msg_ids)
        return self._run(_per_id(Op(self._st.archive_batch, [self.queue, ids, self.worker_id], "scalars"), ids))

    def delete(self, msg_id: int) -> Any:
        return self._run(_single(Op(self._st.delete, [self.queue, msg_id, self.worker_id], "scalar")))

    def delete_batch(self, msg_ids: Iterable[int]) -> Any:
        """Delete many; one boolean per id, in input order."""
        ids = list(msg_ids)
        return self._run(_per_id(Op(self._st.delete_batch, [self.queue, ids, self.worker_id], "scalars"), ids))

    def extend_visibility(self, msg_id: int, seconds: int) -> Any:
        """Longer lease; the new vt, or None once the message is no longer ours."""
        op = Op(self._st.extend_visibility, [self.queue, msg_id, seconds, self.worker_id], "scalar")
        return self._run(_single(op))

    def release(self, msg_id: int, delay_seconds: int = 0) -> Any:
        """Give the message back (visible after delay_seconds); False if it is not ours."""
        op = Op(self._st.release, [self.queue, msg_id, delay_seconds, self.worker_id], "scalar")
        return self._run(_single(op))


class Consumer(_ConsumerBase):
    """Synchronous consumer on a ConnectionPool (opened by the caller)."""

    def _run(self, procedure: Proc) -> Any:
        return run(self.pool, procedure)


class AsyncConsumer(_ConsumerBase):
    """Asynchronous consumer on an AsyncConnectionPool: Consumer's methods, awaited."""

    def _run(self, procedure: Proc) -> Any:
        return run_async(self.pool, procedure)
