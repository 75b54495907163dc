"""The calls a worker makes to the database, one statement each, all on the worker's pool."""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from datetime import datetime
from typing import Any, Literal, TypeVar

import psycopg_pool
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..config import Config
from ..consumer import AsyncConsumer
from ..db import create_async_pool, run_async
from ..statements import Op, statements
from ..types import Message

__all__ = ["Calls", "QueueSettings", "pool_config", "with_tcp_settings"]

T = TypeVar("T")

# TCP settings for the worker's connections, unless the DSN sets its own: a
# server that vanished without closing the connection (a network cut, a
# powered-off host) is noticed within about half a minute, not after the
# kernel's retransmission timeout of a quarter of an hour.
_TCP_SETTINGS = {
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "30000",
}


def with_tcp_settings(dsn: str) -> str:
    """``dsn`` with the worker's TCP keepalive settings, where it does not set its own."""
    given = conninfo_to_dict(dsn)
    return make_conninfo(dsn, **{key: value for key, value in _TCP_SETTINGS.items() if key not in given})


def pool_config(config: Config, concurrency: int) -> Config:
    """The worker's connection settings: TCP keepalives, and enough connections for leasing,
    acknowledging, heartbeats and lease extensions, no more."""
    return dataclasses.replace(
        config,
        dsn=with_tcp_settings(config.dsn),
        max_connections=max(2, min(config.max_connections, concurrency + 3)),
    )


def _one(op: Op) -> Generator[Op, Any, Any]:
    return (yield op)


@dataclasses.dataclass(frozen=True)
class QueueSettings:
    """The queue's settings the worker acts on (from its metrics row, which every group role may read)."""

    max_attempts: int | None
    notify: bool


class Calls:
    """The worker's statements on one pool.

    Leasing and acknowledging go through AsyncConsumer (one per worker id, as a
    worker that registers again gets a new id); the worker-lifecycle calls run
    the statements Admin runs, on this pool rather than one of Admin's own.
    """

    def __init__(self, pool: psycopg_pool.AsyncConnectionPool[Any], config: Config, queue: str) -> None:
        self.pool, self.config, self.queue = pool, config, queue
        self._consumers: dict[int, AsyncConsumer] = {}
        self._st = statements(config.schema)

    @classmethod
    def create(cls, config: Config, queue: str) -> Calls:
        """Calls on a new, closed pool for ``config`` (the caller opens and closes ``pool``)."""
        return cls(create_async_pool(config, min_size=1), config, queue)

    @property
    def notify_channel(self) -> sql.Composed:
        """The statement that names the queue's notification channel (one parameter: the queue)."""
        return self._st.notify_channel

    def _consumer(self, worker_id: int) -> AsyncConsumer:
        consumer = self._consumers.get(worker_id)
        if consumer is None:
            consumer = self._consumers[worker_id] = AsyncConsumer(self.pool, self.queue, self.config, worker_id=worker_id)
        return consumer

    async def _value(self, stmt: sql.Composable, params: list[Any]) -> Any:
        return await run_async(self.pool, _one(Op(stmt, params, "scalar")))

    async def dequeue(self, qty: int, vt_seconds: int, worker_id: int, wait_seconds: int = 0) -> list[Message]:
        """Lease up to ``qty`` messages for ``worker_id``, in the order the server returns them."""
        messages: list[Message] = list(await self._consumer(worker_id).dequeue_batch(qty, vt_seconds, wait_seconds))
        return messages

    async def ack(self, msg_ids: list[int], worker_id: int, on_success: Literal["archive", "delete"]) -> set[int]:
        """Archive (or delete) the messages; the ids that were still leased to ``worker_id`` and are done."""
        consumer = self._consumer(worker_id)
        if on_success == "archive":
            flags = await consumer.archive_batch(msg_ids)
        else:
            flags = await consumer.delete_batch(msg_ids)
        return {msg_id for msg_id, done in zip(msg_ids, flags, strict=True) if done}

    async def release(self, msg_id: int, delay_seconds: int, worker_id: int) -> bool:
        """Give the message back (visible after the delay); False when it was no longer ours."""
        return bool(await self._consumer(worker_id).release(msg_id, delay_seconds))

    async def extend(self, msg_id: int, seconds: int, worker_id: int) -> datetime | None:
        """Extend the lease; the new visibility time, or None when the message is no longer ours.
        MessageCancelled when it was cancelled (the lease is then not extended)."""
        vt: datetime | None = await self._consumer(worker_id).extend_visibility(msg_id, seconds)
        return vt

    async def complete(self, msg_id: int, result: Any, worker_id: int) -> bool:
        """Archive the message with its result; False when it was no longer ours. InvalidPayload
        for a result that is not JSON or too large."""
        return bool(await self._consumer(worker_id).complete(msg_id, result))

    async def run_schedules(self) -> int:
        """Enqueue the due schedules of the database (any queue); how many messages."""
        return int(await self._value(self._st.run_schedules, []) or 0)

    async def register(self, hostname: str, port: int) -> int:
        """Register a worker on the queue; its id."""
        return int(await self._value(self._st.register_worker, [self.queue, hostname, port]))

    async def heartbeat(self, worker_id: int) -> None:
        await self._value(self._st.heartbeat, [worker_id])

    async def stop_worker(self, worker_id: int) -> int:
        """Mark the worker stopped; how many messages it held were released."""
        return int(await self._value(self._st.stop_worker, [worker_id]) or 0)

    async def reap(self, stale_after_seconds: int) -> int:
        """Reap the dead workers of this queue; how many messages they held were released."""
        # Its own queue only: reaping every queue needs the admin's rights, which a worker should not hold.
        return int(await self._value(self._st.reap_workers, [stale_after_seconds, self.queue]) or 0)

    async def queue_settings(self) -> QueueSettings | None:
        """The queue's max_attempts and notify, from its metrics row; None when there is no row."""
        row = await run_async(self.pool, _one(Op(self._st.queue_settings, [self.queue], "one")))
        if row is None:
            return None
        max_attempts, notify = row
        return QueueSettings(None if max_attempts is None else int(max_attempts), bool(notify))
