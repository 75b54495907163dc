"""Admin API: install, queue lifecycle, metrics, workers, archive, message reads.

Each method body is written once, as a procedure (a generator of statements);
Admin runs it on a ConnectionPool, AsyncAdmin on an AsyncConnectionPool, so the
async twin has the same names and behaviour, awaited.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from typing import Any

from psycopg_pool import AsyncConnectionPool, ConnectionPool

from . import install as _install
from .config import Config
from .db import create_async_pool, create_pool, probe_connection, probe_connection_async, run, run_async
from .errors import QueueNotFound, WorkerNotFound, wrap_errors
from .statements import Op, Statements, statements
from .tables import (
    AsyncPgqrsArchiveTable,
    AsyncPgqrsMessages,
    AsyncPgqrsQueues,
    AsyncPgqrsWorkers,
    PgqrsArchiveTable,
    PgqrsMessages,
    PgqrsQueues,
    PgqrsWorkers,
)
from .types import ArchivedMessage, Message, Queue, QueueMetrics, WorkerHealth

logger = logging.getLogger(__name__)

__all__ = ["Admin", "AsyncAdmin"]

Proc = Generator[Op, Any, Any]


def _single(query: Any, params: Any, fetch: str = "scalar", row_type: type | None = None) -> Proc:
    return (yield Op(query, params, fetch, row_type))  # type: ignore[arg-type]


def _yield(op: Op) -> Proc:
    return (yield op)


def _queue_scoped(st: Statements, queue: str, op: Op, empty: Any) -> Proc:
    """A read filtered by queue name: an empty answer for an unknown queue becomes QueueNotFound."""
    result = yield op
    if result == empty or result is None:
        exists = yield Op(st.queue_exists, [queue], "scalar")
        if not exists:
            raise QueueNotFound(f'queue "{queue}" does not exist')
    return result


def _get_queue(st: Statements, name: str) -> Proc:
    queue = yield Op(st.get_queue, [name], "one", Queue)
    if queue is None:
        raise QueueNotFound(f'queue "{name}" does not exist')
    return queue


def _get_worker(st: Statements, worker_id: int) -> Proc:
    worker = yield Op(st.get_worker, [worker_id], "one", WorkerHealth)
    if worker is None:
        raise WorkerNotFound(f"worker {worker_id} does not exist")
    return worker


class _AdminBase:
    """The methods of Admin and AsyncAdmin; ``_run`` returns a value or an awaitable."""

    _pool: Any

    def __init__(self, config: Config) -> None:
        self.config = config
        self._st = statements(config.schema)
        self._pool = None

    @property
    def pool(self) -> Any:
        """The connection pool (created on first use, opened by open())."""
        if self._pool is None:
            self._pool = self._create_pool()
        return self._pool

    def _create_pool(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _run(self, procedure: Proc, *, transaction: bool = False) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _one(self, query: Any, *params: Any, fetch: str = "scalar", row_type: type | None = None) -> Any:
        return self._run(_single(query, list(params), fetch, row_type))

    # -- install ------------------------------------------------------------

    def install(
        self,
        method: _install.Method = "auto",
        *,
        role_prefix: str | None = None,
        reuse_roles: bool = False,
        allow_writable_schema: bool = False,
    ) -> Any:
        """Install pgqrs: CREATE EXTENSION where available ("auto"), else the same SQL directly.

        role_prefix: the group roles are <role_prefix>_producer, _consumer and _admin (default: the
        schema's name). reuse_roles: take over existing roles of those names that pgqrs did not make
        (RoleConflict otherwise). allow_writable_schema: install directly into a schema where roles
        other than its owner may create objects (InstallRefused otherwise)."""
        procedure = _install.install(
            self._st,
            method,
            role_prefix=role_prefix,
            reuse_roles=reuse_roles,
            allow_writable_schema=allow_writable_schema,
        )
        return self._run(procedure, transaction=True)

    def uninstall(self, force: bool = False) -> Any:
        return self._run(_install.uninstall(self._st, force), transaction=True)

    def verify(self) -> Any:
        return self._run(_install.verify(self._st), transaction=True)

    def version(self) -> Any:
        return self._one(self._st.version)

    # -- queues -------------------------------------------------------------

    def create_queue(
        self, name: str, max_attempts: int | None = None, if_not_exists: bool = False, notify: bool = False
    ) -> Any:
        """Create a queue; returns its id. notify: enqueues wake listening workers at once."""
        return self._one(self._st.create_queue, name, max_attempts, if_not_exists, notify)

    def drop_queue(self, name: str, force: bool = False, if_exists: bool = False) -> Any:
        return self._one(self._st.drop_queue, name, force, if_exists)

    def purge_queue(self, name: str) -> Any:
        return self._one(self._st.purge_queue, name)

    def set_queue_notify(self, name: str, notify: bool) -> Any:
        """Turn the queue's enqueue notifications on or off."""
        return self._one(self._st.set_queue_notify, name, notify, fetch="none")

    def pause_queue(self, name: str) -> Any:
        """Stop deliveries from the queue: dequeues return nothing until resume_queue (enqueues go on)."""
        return self._one(self._st.pause_queue, name, fetch="none")

    def resume_queue(self, name: str) -> Any:
        """Deliver again from a paused queue (and wake its listening workers)."""
        return self._one(self._st.resume_queue, name, fetch="none")

    def notify_channel(self, name: str) -> Any:
        """The channel to LISTEN on for the queue's enqueue notifications."""
        return self._one(self._st.notify_channel, name)

    def list_queues(self) -> Any:
        return self._one(self._st.list_queues, fetch="all", row_type=Queue)

    def get_queue(self, name: str) -> Any:
        return self._run(_get_queue(self._st, name))

    def metrics(self, name: str) -> Any:
        return self._one(self._st.metrics, name, fetch="one", row_type=QueueMetrics)

    def metrics_all(self) -> Any:
        return self._one(self._st.metrics_all, fetch="all", row_type=QueueMetrics)

    # -- workers ------------------------------------------------------------

    def list_workers(self, queue: str | None = None) -> Any:
        """Workers of every queue, or of one (QueueNotFound if it does not exist)."""
        op = Op(self._st.list_workers, {"queue": queue}, "all", WorkerHealth)
        if queue is None:
            return self._run(_yield(op))
        return self._run(_queue_scoped(self._st, queue, op, []))

    def get_worker(self, worker_id: int) -> Any:
        return self._run(_get_worker(self._st, worker_id))

    def register_worker(self, queue: str, hostname: str, port: int) -> Any:
        return self._one(self._st.register_worker, queue, hostname, port)

    def heartbeat(self, worker_id: int) -> Any:
        return self._one(self._st.heartbeat, worker_id, fetch="none")

    def stop_worker(self, worker_id: int) -> Any:
        """Stop a worker; returns how many messages it held that became visible again."""
        return self._one(self._st.stop_worker, worker_id)

    def reap_workers(self, stale_after_seconds: int, queue: str | None = None) -> Any:
        """Mark the workers of queue silent for stale_after_seconds (5 at least) dead and make their messages
        visible; returns how many. Without queue, of every queue (which needs the admin's rights)."""
        return self._one(self._st.reap_workers, stale_after_seconds, queue)

    def purge_workers(self, older_than_seconds: int = 86400) -> Any:
        return self._one(self._st.purge_workers, older_than_seconds)

    # -- archive and dead letters ---------------------------------------------

    def purge_archive(self, queue: str, older_than_seconds: int | None = None, include_dead_letters: bool = False) -> Any:
        return self._one(self._st.purge_archive, queue, older_than_seconds, include_dead_letters)

    def list_archive(self, queue: str, limit: int = 100) -> Any:
        op = Op(self._st.list_archive, [queue, limit], "all", ArchivedMessage)
        return self._run(_queue_scoped(self._st, queue, op, []))

    def dead_letters(self, queue: str, limit: int = 100) -> Any:
        return self._one(self._st.dead_letters, queue, limit, fetch="all", row_type=ArchivedMessage)

    def replay_dead_letters(self, queue: str, ids: Sequence[int] | None = None) -> Any:
        return self._one(self._st.replay_dead_letters, queue, None if ids is None else list(ids), fetch="scalars")

    # -- messages (reads) ---------------------------------------------------

    def get_message(self, queue: str, msg_id: int) -> Any:
        op = Op(self._st.get_message, [queue, msg_id], "one", Message)
        return self._run(_queue_scoped(self._st, queue, op, None))

    def list_messages(self, queue: str, limit: int = 100) -> Any:
        op = Op(self._st.list_messages, [queue, limit], "all", Message)
        return self._run(_queue_scoped(self._st, queue, op, []))

    def get_archived(self, queue: str, msg_id: int) -> Any:
        op = Op(self._st.get_archived, [queue, msg_id], "one", ArchivedMessage)
        return self._run(_queue_scoped(self._st, queue, op, None))

    def count_messages(self, queue: str) -> Any:
        return self._run(_queue_scoped(self._st, queue, Op(self._st.count_messages, [queue], "scalar"), 0))

    def count_archive(self, queue: str) -> Any:
        return self._run(_queue_scoped(self._st, queue, Op(self._st.count_archive, [queue], "scalar"), 0))


class Admin(_AdminBase):
    """Synchronous admin API. Nothing connects until open() (or ``with``)."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.queues = PgqrsQueues(self._lazy_pool, config.schema)
        self.workers = PgqrsWorkers(self._lazy_pool, config.schema)
        self.messages = PgqrsMessages(self._lazy_pool, config.schema)
        self.archive = PgqrsArchiveTable(self._lazy_pool, config.schema)

    def _lazy_pool(self) -> ConnectionPool:
        return self.pool

    def _create_pool(self) -> ConnectionPool:
        return create_pool(self.config)

    def open(self) -> Admin:
        """Open the pool and wait for a first connection (ConnectionFailed if there is none)."""
        probe_connection(self.config)
        with wrap_errors():
            self.pool.open(wait=True, timeout=self.config.connection_timeout_seconds)
        return self

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Admin:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, procedure: Proc, *, transaction: bool = False) -> Any:
        return run(self.pool, procedure, transaction=transaction)


class AsyncAdmin(_AdminBase):
    """Asynchronous admin API: Admin's methods, awaited."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.queues = AsyncPgqrsQueues(self._lazy_pool, config.schema)
        self.workers = AsyncPgqrsWorkers(self._lazy_pool, config.schema)
        self.messages = AsyncPgqrsMessages(self._lazy_pool, config.schema)
        self.archive = AsyncPgqrsArchiveTable(self._lazy_pool, config.schema)

    def _lazy_pool(self) -> AsyncConnectionPool:
        return self.pool

    def _create_pool(self) -> AsyncConnectionPool:
        return create_async_pool(self.config)

    async def open(self) -> AsyncAdmin:
        await probe_connection_async(self.config)
        with wrap_errors():
            await self.pool.open(wait=True, timeout=self.config.connection_timeout_seconds)
        return self

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def __aenter__(self) -> AsyncAdmin:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _run(self, procedure: Proc, *, transaction: bool = False) -> Any:
        return run_async(self.pool, procedure, transaction=transaction)
