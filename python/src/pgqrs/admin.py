"""Admin API: install, queue lifecycle, metrics, workers, archive, message reads.

Each operation is written once, as a procedure (a generator of statements, typed by the
value it ends with); Admin runs it on a ConnectionPool, AsyncAdmin on an AsyncConnectionPool,
so the async twin has the same names, signatures, return types and behaviour, awaited.

Every method may also raise ConnectionFailed (no connection could be had), NotInstalled
(pgqrs is not installed in the schema) and DatabaseError (any other error of the server);
each method's docstring names the errors that are its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from psycopg import sql
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from . import install as _install
from .config import Config
from .db import Procedure, create_async_pool, create_pool, probe_connection, probe_connection_async, run, run_async
from .errors import QueueNotFound, WorkerNotFound, wrap_errors
from .producer import validate_payload
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
from .types import (
    ArchivedMessage,
    InstallResult,
    Message,
    Queue,
    QueueMetrics,
    Schedule,
    TopicBinding,
    VerifyReport,
    WorkerHealth,
)

__all__ = ["Admin", "AsyncAdmin"]

T = TypeVar("T")
R = TypeVar("R")

Query = sql.Composable | str


# -- procedures: one statement each, typed by what the statement returns ----------------
#
# The first argument of _scalar and _scalars names the SQL function's result type for the
# type checker only; rows are filled by class_row from the row type.


def _none(query: Query, *params: Any) -> Procedure[None]:
    yield Op(query, list(params), "none")


def _scalar(_type: type[T], query: Query, *params: Any) -> Procedure[T]:
    value: T = yield Op(query, list(params), "scalar")
    return value


def _create_queue(st: Statements, name: str, max_attempts: int | None, if_not_exists: bool, notify: bool,
                  *settings: Any) -> Procedure[int]:
    """create_queue, naming the newer settings only when one is given (see statements.py)."""
    if any(value is not None for value in settings):
        return (yield from _scalar(int, st.create_queue_with_settings, name, max_attempts, if_not_exists, notify,
                                   *settings))
    return (yield from _scalar(int, st.create_queue, name, max_attempts, if_not_exists, notify))


def _scalars(_type: type[T], query: Query, *params: Any) -> Procedure[list[T]]:
    values: list[T] = yield Op(query, list(params), "scalars")
    return values


def _row(row_type: type[R], query: Query, *params: Any) -> Procedure[R | None]:
    row: R | None = yield Op(query, list(params), "one", row_type)
    return row


def _record(row_type: type[R], query: Query, *params: Any) -> Procedure[R]:
    """A statement that always returns one row (an SQL function returning a composite type)."""
    row: R = yield Op(query, list(params), "one", row_type)
    return row


def _rows(row_type: type[R], query: Query, *params: Any) -> Procedure[list[R]]:
    rows: list[R] = yield Op(query, list(params), "all", row_type)
    return rows


def _queue_scoped(st: Statements, queue: str, read: Procedure[T], empty: object) -> Procedure[T]:
    """A read filtered by queue name: an empty answer for an unknown queue becomes QueueNotFound."""
    result = yield from read
    if result == empty or result is None:
        exists = yield Op(st.queue_exists, [queue], "scalar")
        if not exists:
            raise QueueNotFound(f'queue "{queue}" does not exist')
    return result


def _get_queue(st: Statements, name: str) -> Procedure[Queue]:
    queue = yield from _row(Queue, st.get_queue, name)
    if queue is None:
        raise QueueNotFound(f'queue "{name}" does not exist')
    return queue


def _get_worker(st: Statements, worker_id: int) -> Procedure[WorkerHealth]:
    worker = yield from _row(WorkerHealth, st.get_worker, worker_id)
    if worker is None:
        raise WorkerNotFound(f"worker {worker_id} does not exist")
    return worker


def _list_workers(st: Statements, queue: str | None) -> Procedure[list[WorkerHealth]]:
    rows: list[WorkerHealth] = yield Op(st.list_workers, {"queue": queue}, "all", WorkerHealth)
    return rows


def _replay_ids(ids: Sequence[int] | None) -> list[int] | None:
    return None if ids is None else list(ids)


class _AdminBase:
    """What Admin and AsyncAdmin share: the config, the statements, the lazily created pool."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._st = statements(config.schema)


class Admin(_AdminBase):
    """Synchronous admin API on a ConnectionPool of its own. Nothing connects until open()
    (or ``with``); ``pool`` is the pool, to share with Producer and Consumer."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._pool: ConnectionPool | None = None
        self.queues = PgqrsQueues(self._lazy_pool, config.schema)
        self.workers = PgqrsWorkers(self._lazy_pool, config.schema)
        self.messages = PgqrsMessages(self._lazy_pool, config.schema)
        self.archive = PgqrsArchiveTable(self._lazy_pool, config.schema)

    @property
    def pool(self) -> ConnectionPool:
        """The connection pool (created on first use, opened by open())."""
        if self._pool is None:
            self._pool = create_pool(self.config)
        return self._pool

    def _lazy_pool(self) -> ConnectionPool:
        return self.pool

    def open(self) -> Admin:
        """Open the pool and wait for a first connection; returns self.

        Raises ConnectionFailed when no connection can be made (with libpq's reason).
        """
        probe_connection(self.config)
        with wrap_errors():
            self.pool.open(wait=True, timeout=self.config.connection_timeout_seconds)
        return self

    def close(self) -> None:
        """Close the pool (open() makes a new one); returns None."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Admin:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, procedure: Procedure[T], *, transaction: bool = False) -> T:
        return run(self.pool, procedure, transaction=transaction)

    # -- install ------------------------------------------------------------

    def install(
        self,
        method: _install.Method = "auto",
        *,
        role_prefix: str | None = None,
        reuse_roles: bool = False,
        allow_writable_schema: bool = False,
    ) -> InstallResult:
        """Install pgqrs, or upgrade an older install to this package's version (idempotent).

        method: "extension" (CREATE EXTENSION, schema pgqrs only), "direct" (the same SQL run into
        the schema) or "auto" (the extension where the server has its files, else direct).
        role_prefix: the group roles are <role_prefix>_producer, _consumer and _admin (default: the
        schema's name). reuse_roles: take over existing roles of those names that pgqrs did not make.
        allow_writable_schema: install directly into a schema where roles other than its owner may
        create objects.

        Returns an InstallResult: the method used, the version, whether anything changed, and the
        version upgraded from. Raises InvalidArgument (bad method or role prefix, or "extension"
        for another schema), InstallRefused (CREATE EXTENSION not allowed to this role, or a
        writable schema), RoleConflict (roles of those names exist and are not pgqrs's) and
        VersionMismatch (no upgrade path, or a newer install than this package).
        """
        procedure = _install.install(
            self._st,
            method,
            role_prefix=role_prefix,
            reuse_roles=reuse_roles,
            allow_writable_schema=allow_writable_schema,
        )
        return self._run(procedure, transaction=True)

    def uninstall(self, force: bool = False) -> None:
        """Remove pgqrs from the schema (DROP EXTENSION, or every object of a direct install).

        Returns None. Raises NotInstalled when pgqrs is not installed in the schema, and
        QueueNotEmpty while queues hold messages (queued or archived), unless force.
        """
        return self._run(_install.uninstall(self._st, force), transaction=True)

    def verify(self) -> VerifyReport:
        """Check every pgqrs object and the version, and compare the installed definitions with
        the shipped ones (in a transaction that is rolled back).

        Returns a VerifyReport: ``ok`` and the problems found. A missing install is a report
        that is not ok, not an error.
        """
        return self._run(_install.verify(self._st), transaction=True)

    def version(self) -> str:
        """The installed version of pgqrs (SQL ``version()``). Raises NotInstalled if there is none."""
        return self._run(_scalar(str, self._st.version))

    # -- queues -------------------------------------------------------------

    def create_queue(
        self,
        name: str,
        max_attempts: int | None = None,
        if_not_exists: bool = False,
        notify: bool = False,
        *,
        max_payload_bytes: int | None = None,
        group_concurrency: int | None = None,
        rate_limit: float | None = None,
    ) -> int:
        """Create a queue; returns its id (the existing queue's with if_not_exists).

        max_attempts: deliveries after which a message is dead-lettered (None: no limit).
        notify: enqueues wake listening workers at once. max_payload_bytes: the largest
        payload an enqueue accepts (None: 1 MiB). group_concurrency: messages of one group
        key in flight at once (None: 1). rate_limit: deliveries a second over all consumers
        (None: no limit). Raises QueueExists (unless if_not_exists), InvalidQueueName and
        InvalidArgument (a setting out of range).
        """
        return self._run(_create_queue(self._st, name, max_attempts, if_not_exists, notify,
                                       max_payload_bytes, group_concurrency, rate_limit))

    def alter_queue(
        self,
        name: str,
        *,
        max_attempts: int | None = None,
        notify: bool | None = None,
        max_payload_bytes: int | None = None,
        group_concurrency: int | None = None,
        rate_limit: float | None = None,
    ) -> None:
        """Change the settings create_queue takes; None leaves a setting as it is, and
        max_attempts=0 / rate_limit=0 remove the limit. Raises QueueNotFound and
        InvalidArgument (a setting out of range).
        """
        return self._run(_none(self._st.alter_queue, name, max_attempts, notify, max_payload_bytes,
                               group_concurrency, rate_limit))

    def drop_queue(self, name: str, force: bool = False, if_exists: bool = False) -> bool:
        """Remove a queue; returns True, or False when it did not exist and if_exists is set.

        Raises QueueNotFound (unless if_exists), InvalidQueueName, and QueueNotEmpty while the
        queue holds messages, archived messages or active workers, unless force.
        """
        return self._run(_scalar(bool, self._st.drop_queue, name, force, if_exists))

    def purge_queue(self, name: str) -> int:
        """Delete the queue's messages (not its archive); returns how many. Raises QueueNotFound."""
        return self._run(_scalar(int, self._st.purge_queue, name))

    def set_queue_notify(self, name: str, notify: bool) -> None:
        """Turn the queue's enqueue notifications on or off; returns None. Raises QueueNotFound."""
        return self._run(_none(self._st.set_queue_notify, name, notify))

    def pause_queue(self, name: str) -> None:
        """Stop deliveries from the queue: dequeues return nothing until resume_queue (enqueues go on).

        Returns None. Raises QueueNotFound.
        """
        return self._run(_none(self._st.pause_queue, name))

    def resume_queue(self, name: str) -> None:
        """Deliver again from a paused queue (and wake its listening workers); returns None.
        Raises QueueNotFound."""
        return self._run(_none(self._st.resume_queue, name))

    def notify_channel(self, name: str) -> str:
        """The channel to LISTEN on for the queue's enqueue notifications. Raises QueueNotFound."""
        return self._run(_scalar(str, self._st.notify_channel, name))

    def list_queues(self) -> list[Queue]:
        """Every queue, by name."""
        return self._run(_rows(Queue, self._st.list_queues))

    def get_queue(self, name: str) -> Queue:
        """The queue of that name. Raises QueueNotFound."""
        return self._run(_get_queue(self._st, name))

    def metrics(self, name: str) -> QueueMetrics:
        """The queue's metrics (a row of the queue_metrics view). Raises QueueNotFound."""
        return self._run(_record(QueueMetrics, self._st.metrics, name))

    def metrics_all(self) -> list[QueueMetrics]:
        """The metrics of every queue, one row each."""
        return self._run(_rows(QueueMetrics, self._st.metrics_all))

    def messages_enqueued(self) -> int:
        """Messages enqueued into all queues since the install (rolled-back enqueues count): it
        only grows, so two readings give the enqueue rate."""
        return self._run(_scalar(int, self._st.messages_enqueued))

    # -- workers ------------------------------------------------------------

    def list_workers(self, queue: str | None = None) -> list[WorkerHealth]:
        """The workers of every queue, or of one, by id. Raises QueueNotFound for an unknown queue."""
        if queue is None:
            return self._run(_list_workers(self._st, None))
        return self._run(_queue_scoped(self._st, queue, _list_workers(self._st, queue), []))

    def get_worker(self, worker_id: int) -> WorkerHealth:
        """The worker with that id, with its heartbeat age and the messages it holds.
        Raises WorkerNotFound."""
        return self._run(_get_worker(self._st, worker_id))

    def register_worker(self, queue: str, hostname: str, port: int | None) -> int:
        """Register a worker process of the queue; returns its id.

        Raises QueueNotFound and InvalidArgument (a hostname or port out of range).
        """
        return self._run(_scalar(int, self._st.register_worker, queue, hostname, port))

    def heartbeat(self, worker_id: int) -> None:
        """Record that the worker is alive; returns None.

        Raises WorkerNotFound, and WorkerNotActive for a worker that was stopped or reaped.
        """
        return self._run(_none(self._st.heartbeat, worker_id))

    def stop_worker(self, worker_id: int) -> int:
        """Mark a worker stopped; returns how many messages it held that became visible again.
        Raises WorkerNotFound."""
        return self._run(_scalar(int, self._st.stop_worker, worker_id))

    def reap_workers(self, stale_after_seconds: int, queue: str | None = None) -> int:
        """Mark the workers of queue silent for stale_after_seconds (5 at least) dead and make their
        messages visible; returns how many. Without queue, of every queue (which needs the admin's
        rights). Raises InvalidArgument (stale_after_seconds below 5) and QueueNotFound."""
        return self._run(_scalar(int, self._st.reap_workers, stale_after_seconds, queue))

    def purge_workers(self, older_than_seconds: int = 86400) -> int:
        """Delete the rows of stopped and dead workers that ended older_than_seconds ago or more;
        returns how many. Raises InvalidArgument (a negative age)."""
        return self._run(_scalar(int, self._st.purge_workers, older_than_seconds))

    # -- archive and dead letters ---------------------------------------------

    def purge_archive(self, queue: str, older_than_seconds: int | None = None, include_dead_letters: bool = False) -> int:
        """Delete the queue's archived messages (all, or those archived older_than_seconds ago or
        more; dead letters only with include_dead_letters); returns how many.
        Raises QueueNotFound and InvalidArgument (a negative age)."""
        return self._run(_scalar(int, self._st.purge_archive, queue, older_than_seconds, include_dead_letters))

    def list_archive(self, queue: str, limit: int = 100) -> list[ArchivedMessage]:
        """Up to limit archived messages of the queue (dead letters too), oldest id first.
        Raises QueueNotFound."""
        return self._run(_rows(ArchivedMessage, self._st.list_archive, queue, limit))

    def dead_letters(self, queue: str, limit: int = 100) -> list[ArchivedMessage]:
        """Up to limit dead letters of the queue. Raises QueueNotFound and InvalidArgument (limit below 1)."""
        return self._run(_rows(ArchivedMessage, self._st.dead_letters, queue, limit))

    def replay_dead_letters(self, queue: str, ids: Sequence[int] | None = None) -> list[int]:
        """Enqueue dead letters of the queue again (those with ids, or all); returns the ids of the
        messages replayed. Raises QueueNotFound."""
        return self._run(_scalars(int, self._st.replay_dead_letters, queue, _replay_ids(ids)))

    def purge_dead_letters(self, queue: str, ids: Sequence[int] | None = None) -> list[int]:
        """Delete dead letters of the queue (those with ids, or all); returns the ids deleted.
        Raises QueueNotFound."""
        return self._run(_scalars(int, self._st.purge_dead_letters, queue, _replay_ids(ids)))

    # -- messages (reads) ---------------------------------------------------

    def get_message(self, queue: str, msg_id: int) -> Message | None:
        """The unfinished message (ready, leased or delayed) with that id, or None; nothing is
        leased. Raises QueueNotFound."""
        return self._run(_row(Message, self._st.get_message, queue, msg_id))

    def list_messages(self, queue: str, limit: int = 100, newest_first: bool = False) -> list[Message]:
        """Up to limit unfinished messages of the queue, oldest id first (or the newest first);
        nothing is leased. Raises QueueNotFound."""
        return self._run(_rows(Message, self._st.list_messages, queue, limit, newest_first))

    def get_archived(self, queue: str, msg_id: int) -> ArchivedMessage | None:
        """The archived message with that id, or None. Raises QueueNotFound."""
        return self._run(_row(ArchivedMessage, self._st.get_archived, queue, msg_id))

    def count_messages(self, queue: str) -> int:
        """How many unfinished messages the queue holds. Raises QueueNotFound."""
        return self._run(_scalar(int, self._st.count_messages, queue))

    def count_archive(self, queue: str) -> int:
        """How many archived messages (dead letters too) the queue has. Raises QueueNotFound."""
        return self._run(_scalar(int, self._st.count_archive, queue))

    # -- schedules and topics -------------------------------------------------

    def create_schedule(
        self, name: str, queue: str, cron: str, payload: Any = None, time_zone: str = "UTC"
    ) -> int:
        """Enqueue payload (default ``{}``) into the queue at every time the five-field cron
        expression names, in time_zone; a schedule of that name is replaced. Returns its id.
        run_schedules() (every ``pgqrs worker run``, or pg_cron) does the enqueueing.
        Raises QueueNotFound, InvalidArgument (a bad name, cron expression or time zone) and
        InvalidPayload."""
        body = validate_payload({} if payload is None else payload)
        return self._run(_scalar(int, self._st.create_schedule, name, queue, cron, body, time_zone))

    def drop_schedule(self, name: str) -> bool:
        """Remove a schedule; whether there was one."""
        return self._run(_scalar(bool, self._st.drop_schedule, name))

    def list_schedules(self) -> list[Schedule]:
        """Every schedule, by name, with its next and last run."""
        return self._run(_rows(Schedule, self._st.list_schedules))

    def run_schedules(self) -> int:
        """Enqueue every due schedule once (however many callers at once); how many messages."""
        return self._run(_scalar(int, self._st.run_schedules))

    def bind_topic(self, pattern: str, queue: str) -> bool:
        """Bind the queue to a topic pattern (words separated by "."; "*" one word, "#" any number);
        whether the binding is new. Raises QueueNotFound and InvalidArgument (a bad pattern)."""
        return self._run(_scalar(bool, self._st.bind_topic, pattern, queue))

    def unbind_topic(self, pattern: str, queue: str) -> bool:
        """Remove a topic binding; whether there was one. Raises QueueNotFound."""
        return self._run(_scalar(bool, self._st.unbind_topic, pattern, queue))

    def list_topic_bindings(self) -> list[TopicBinding]:
        """Every topic binding, by pattern and queue."""
        return self._run(_rows(TopicBinding, self._st.list_topic_bindings))


class AsyncAdmin(_AdminBase):
    """Asynchronous admin API on an AsyncConnectionPool of its own: Admin's methods, awaited."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._pool: AsyncConnectionPool | None = None
        self.queues = AsyncPgqrsQueues(self._lazy_pool, config.schema)
        self.workers = AsyncPgqrsWorkers(self._lazy_pool, config.schema)
        self.messages = AsyncPgqrsMessages(self._lazy_pool, config.schema)
        self.archive = AsyncPgqrsArchiveTable(self._lazy_pool, config.schema)

    @property
    def pool(self) -> AsyncConnectionPool:
        """The connection pool (created on first use, opened by open())."""
        if self._pool is None:
            self._pool = create_async_pool(self.config)
        return self._pool

    def _lazy_pool(self) -> AsyncConnectionPool:
        return self.pool

    async def open(self) -> AsyncAdmin:
        """Open the pool and wait for a first connection; returns self.

        Raises ConnectionFailed when no connection can be made (with libpq's reason).
        """
        await probe_connection_async(self.config)
        with wrap_errors():
            await self.pool.open(wait=True, timeout=self.config.connection_timeout_seconds)
        return self

    async def close(self) -> None:
        """Close the pool (open() makes a new one); returns None."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def __aenter__(self) -> AsyncAdmin:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, procedure: Procedure[T], *, transaction: bool = False) -> T:
        return await run_async(self.pool, procedure, transaction=transaction)

    # -- install ------------------------------------------------------------

    async def install(
        self,
        method: _install.Method = "auto",
        *,
        role_prefix: str | None = None,
        reuse_roles: bool = False,
        allow_writable_schema: bool = False,
    ) -> InstallResult:
        """Install pgqrs, or upgrade an older install to this package's version (idempotent).

        method: "extension" (CREATE EXTENSION, schema pgqrs only), "direct" (the same SQL run into
        the schema) or "auto" (the extension where the server has its files, else direct).
        role_prefix: the group roles are <role_prefix>_producer, _consumer and _admin (default: the
        schema's name). reuse_roles: take over existing roles of those names that pgqrs did not make.
        allow_writable_schema: install directly into a schema where roles other than its owner may
        create objects.

        Returns an InstallResult: the method used, the version, whether anything changed, and the
        version upgraded from. Raises InvalidArgument (bad method or role prefix, or "extension"
        for another schema), InstallRefused (CREATE EXTENSION not allowed to this role, or a
        writable schema), RoleConflict (roles of those names exist and are not pgqrs's) and
        VersionMismatch (no upgrade path, or a newer install than this package).
        """
        procedure = _install.install(
            self._st,
            method,
            role_prefix=role_prefix,
            reuse_roles=reuse_roles,
            allow_writable_schema=allow_writable_schema,
        )
        return await self._run(procedure, transaction=True)

    async def uninstall(self, force: bool = False) -> None:
        """Remove pgqrs from the schema (DROP EXTENSION, or every object of a direct install).

        Returns None. Raises NotInstalled when pgqrs is not installed in the schema, and
        QueueNotEmpty while queues hold messages (queued or archived), unless force.
        """
        return await self._run(_install.uninstall(self._st, force), transaction=True)

    async def verify(self) -> VerifyReport:
        """Check every pgqrs object and the version, and compare the installed definitions with
        the shipped ones (in a transaction that is rolled back).

        Returns a VerifyReport: ``ok`` and the problems found. A missing install is a report
        that is not ok, not an error.
        """
        return await self._run(_install.verify(self._st), transaction=True)

    async def version(self) -> str:
        """The installed version of pgqrs (SQL ``version()``). Raises NotInstalled if there is none."""
        return await self._run(_scalar(str, self._st.version))

    # -- queues -------------------------------------------------------------

    async def create_queue(
        self,
        name: str,
        max_attempts: int | None = None,
        if_not_exists: bool = False,
        notify: bool = False,
        *,
        max_payload_bytes: int | None = None,
        group_concurrency: int | None = None,
        rate_limit: float | None = None,
    ) -> int:
        """Create a queue; returns its id (the existing queue's with if_not_exists).

        max_attempts: deliveries after which a message is dead-lettered (None: no limit).
        notify: enqueues wake listening workers at once. max_payload_bytes: the largest
        payload an enqueue accepts (None: 1 MiB). group_concurrency: messages of one group
        key in flight at once (None: 1). rate_limit: deliveries a second over all consumers
        (None: no limit). Raises QueueExists (unless if_not_exists), InvalidQueueName and
        InvalidArgument (a setting out of range).
        """
        return await self._run(_create_queue(self._st, name, max_attempts, if_not_exists, notify,
                                             max_payload_bytes, group_concurrency, rate_limit))

    async def alter_queue(
        self,
        name: str,
        *,
        max_attempts: int | None = None,
        notify: bool | None = None,
        max_payload_bytes: int | None = None,
        group_concurrency: int | None = None,
        rate_limit: float | None = None,
    ) -> None:
        """Change the settings create_queue takes; None leaves a setting as it is, and
        max_attempts=0 / rate_limit=0 remove the limit. Raises QueueNotFound and
        InvalidArgument (a setting out of range).
        """
        return await self._run(_none(self._st.alter_queue, name, max_attempts, notify, max_payload_bytes,
                               group_concurrency, rate_limit))

    async def drop_queue(self, name: str, force: bool = False, if_exists: bool = False) -> bool:
        """Remove a queue; returns True, or False when it did not exist and if_exists is set.

        Raises QueueNotFound (unless if_exists), InvalidQueueName, and QueueNotEmpty while the
        queue holds messages, archived messages or active workers, unless force.
        """
        return await self._run(_scalar(bool, self._st.drop_queue, name, force, if_exists))

    async def purge_queue(self, name: str) -> int:
        """Delete the queue's messages (not its archive); returns how many. Raises QueueNotFound."""
        return await self._run(_scalar(int, self._st.purge_queue, name))

    async def set_queue_notify(self, name: str, notify: bool) -> None:
        """Turn the queue's enqueue notifications on or off; returns None. Raises QueueNotFound."""
        return await self._run(_none(self._st.set_queue_notify, name, notify))

    async def pause_queue(self, name: str) -> None:
        """Stop deliveries from the queue: dequeues return nothing until resume_queue (enqueues go on).

        Returns None. Raises QueueNotFound.
        """
        return await self._run(_none(self._st.pause_queue, name))

    async def resume_queue(self, name: str) -> None:
        """Deliver again from a paused queue (and wake its listening workers); returns None.
        Raises QueueNotFound."""
        return await self._run(_none(self._st.resume_queue, name))

    async def notify_channel(self, name: str) -> str:
        """The channel to LISTEN on for the queue's enqueue notifications. Raises QueueNotFound."""
        return await self._run(_scalar(str, self._st.notify_channel, name))

    async def list_queues(self) -> list[Queue]:
        """Every queue, by name."""
        return await self._run(_rows(Queue, self._st.list_queues))

    async def get_queue(self, name: str) -> Queue:
        """The queue of that name. Raises QueueNotFound."""
        return await self._run(_get_queue(self._st, name))

    async def metrics(self, name: str) -> QueueMetrics:
        """The queue's metrics (a row of the queue_metrics view). Raises QueueNotFound."""
        return await self._run(_record(QueueMetrics, self._st.metrics, name))

    async def metrics_all(self) -> list[QueueMetrics]:
        """The metrics of every queue, one row each."""
        return await self._run(_rows(QueueMetrics, self._st.metrics_all))

    async def messages_enqueued(self) -> int:
        """Messages enqueued into all queues since the install (rolled-back enqueues count): it
        only grows, so two readings give the enqueue rate."""
        return await self._run(_scalar(int, self._st.messages_enqueued))

    # -- workers ------------------------------------------------------------

    async def list_workers(self, queue: str | None = None) -> list[WorkerHealth]:
        """The workers of every queue, or of one, by id. Raises QueueNotFound for an unknown queue."""
        if queue is None:
            return await self._run(_list_workers(self._st, None))
        return await self._run(_queue_scoped(self._st, queue, _list_workers(self._st, queue), []))

    async def get_worker(self, worker_id: int) -> WorkerHealth:
        """The worker with that id, with its heartbeat age and the messages it holds.
        Raises WorkerNotFound."""
        return await self._run(_get_worker(self._st, worker_id))

    async def register_worker(self, queue: str, hostname: str, port: int | None) -> int:
        """Register a worker process of the queue; returns its id.

        Raises QueueNotFound and InvalidArgument (a hostname or port out of range).
        """
        return await self._run(_scalar(int, self._st.register_worker, queue, hostname, port))

    async def heartbeat(self, worker_id: int) -> None:
        """Record that the worker is alive; returns None.

        Raises WorkerNotFound, and WorkerNotActive for a worker that was stopped or reaped.
        """
        return await self._run(_none(self._st.heartbeat, worker_id))

    async def stop_worker(self, worker_id: int) -> int:
        """Mark a worker stopped; returns how many messages it held that became visible again.
        Raises WorkerNotFound."""
        return await self._run(_scalar(int, self._st.stop_worker, worker_id))

    async def reap_workers(self, stale_after_seconds: int, queue: str | None = None) -> int:
        """Mark the workers of queue silent for stale_after_seconds (5 at least) dead and make their
        messages visible; returns how many. Without queue, of every queue (which needs the admin's
        rights). Raises InvalidArgument (stale_after_seconds below 5) and QueueNotFound."""
        return await self._run(_scalar(int, self._st.reap_workers, stale_after_seconds, queue))

    async def purge_workers(self, older_than_seconds: int = 86400) -> int:
        """Delete the rows of stopped and dead workers that ended older_than_seconds ago or more;
        returns how many. Raises InvalidArgument (a negative age)."""
        return await self._run(_scalar(int, self._st.purge_workers, older_than_seconds))

    # -- archive and dead letters ---------------------------------------------

    async def purge_archive(self, queue: str, older_than_seconds: int | None = None, include_dead_letters: bool = False) -> int:
        """Delete the queue's archived messages (all, or those archived older_than_seconds ago or
        more; dead letters only with include_dead_letters); returns how many.
        Raises QueueNotFound and InvalidArgument (a negative age)."""
        return await self._run(_scalar(int, self._st.purge_archive, queue, older_than_seconds, include_dead_letters))

    async def list_archive(self, queue: str, limit: int = 100) -> list[ArchivedMessage]:
        """Up to limit archived messages of the queue (dead letters too), oldest id first.
        Raises QueueNotFound."""
        return await self._run(_rows(ArchivedMessage, self._st.list_archive, queue, limit))

    async def dead_letters(self, queue: str, limit: int = 100) -> list[ArchivedMessage]:
        """Up to limit dead letters of the queue. Raises QueueNotFound and InvalidArgument (limit below 1)."""
        return await self._run(_rows(ArchivedMessage, self._st.dead_letters, queue, limit))

    async def replay_dead_letters(self, queue: str, ids: Sequence[int] | None = None) -> list[int]:
        """Enqueue dead letters of the queue again (those with ids, or all); returns the ids of the
        messages replayed. Raises QueueNotFound."""
        return await self._run(_scalars(int, self._st.replay_dead_letters, queue, _replay_ids(ids)))

    async def purge_dead_letters(self, queue: str, ids: Sequence[int] | None = None) -> list[int]:
        """Delete dead letters of the queue (those with ids, or all); returns the ids deleted.
        Raises QueueNotFound."""
        return await self._run(_scalars(int, self._st.purge_dead_letters, queue, _replay_ids(ids)))

    # -- messages (reads) ---------------------------------------------------

    async def get_message(self, queue: str, msg_id: int) -> Message | None:
        """The unfinished message (ready, leased or delayed) with that id, or None; nothing is
        leased. Raises QueueNotFound."""
        return await self._run(_row(Message, self._st.get_message, queue, msg_id))

    async def list_messages(self, queue: str, limit: int = 100, newest_first: bool = False) -> list[Message]:
        """Up to limit unfinished messages of the queue, oldest id first (or the newest first);
        nothing is leased. Raises QueueNotFound."""
        return await self._run(_rows(Message, self._st.list_messages, queue, limit, newest_first))

    async def get_archived(self, queue: str, msg_id: int) -> ArchivedMessage | None:
        """The archived message with that id, or None. Raises QueueNotFound."""
        return await self._run(_row(ArchivedMessage, self._st.get_archived, queue, msg_id))

    async def count_messages(self, queue: str) -> int:
        """How many unfinished messages the queue holds. Raises QueueNotFound."""
        return await self._run(_scalar(int, self._st.count_messages, queue))

    async def count_archive(self, queue: str) -> int:
        """How many archived messages (dead letters too) the queue has. Raises QueueNotFound."""
        return await self._run(_scalar(int, self._st.count_archive, queue))

    # -- schedules and topics -------------------------------------------------

    async def create_schedule(
        self, name: str, queue: str, cron: str, payload: Any = None, time_zone: str = "UTC"
    ) -> int:
        """Enqueue payload (default ``{}``) into the queue at every time the five-field cron
        expression names, in time_zone; a schedule of that name is replaced. Returns its id.
        run_schedules() (every ``pgqrs worker run``, or pg_cron) does the enqueueing.
        Raises QueueNotFound, InvalidArgument (a bad name, cron expression or time zone) and
        InvalidPayload."""
        body = validate_payload({} if payload is None else payload)
        return await self._run(_scalar(int, self._st.create_schedule, name, queue, cron, body, time_zone))

    async def drop_schedule(self, name: str) -> bool:
        """Remove a schedule; whether there was one."""
        return await self._run(_scalar(bool, self._st.drop_schedule, name))

    async def list_schedules(self) -> list[Schedule]:
        """Every schedule, by name, with its next and last run."""
        return await self._run(_rows(Schedule, self._st.list_schedules))

    async def run_schedules(self) -> int:
        """Enqueue every due schedule once (however many callers at once); how many messages."""
        return await self._run(_scalar(int, self._st.run_schedules))

    async def bind_topic(self, pattern: str, queue: str) -> bool:
        """Bind the queue to a topic pattern (words separated by "."; "*" one word, "#" any number);
        whether the binding is new. Raises QueueNotFound and InvalidArgument (a bad pattern)."""
        return await self._run(_scalar(bool, self._st.bind_topic, pattern, queue))

    async def unbind_topic(self, pattern: str, queue: str) -> bool:
        """Remove a topic binding; whether there was one. Raises QueueNotFound."""
        return await self._run(_scalar(bool, self._st.unbind_topic, pattern, queue))

    async def list_topic_bindings(self) -> list[TopicBinding]:
        """Every topic binding, by pattern and queue."""
        return await self._run(_rows(TopicBinding, self._st.list_topic_bindings))
