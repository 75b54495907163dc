"""The worker runner: runs a handler over a queue's messages.

A Worker registers itself, heartbeats, leases messages in batches and runs up to
``concurrency`` handlers at a time (async handlers awaited on the event loop,
plain functions in threads). While a handler runs its lease is extended; on
success the message is archived (or deleted), on failure it is released with a
backoff delay, and the queue's ``max_attempts`` turns the last failure into a
dead letter (the SQL ``release`` does that). Every call passes the worker's id,
so a late acknowledgement after a lost lease changes nothing.

Wake-up: a dedicated connection LISTENs on the queue's ``notify_channel()``
(queues created with ``notify => true``), and polling every
``poll_interval_seconds`` stays the correctness path: a lost notification only
costs latency. ``listen=False`` polls only, for a pooler in transaction mode.

Recovery: database errors that a retry can cure (lost connection, server
restart, terminated backend) are retried with backoff; the pool replaces broken
connections and the listener reconnects and LISTENs again. A worker that finds
itself reaped (PQ009) registers again. Workers reap the dead ones of their
queue on every heartbeat, so a crashed worker's messages come back after
``stale_after_seconds`` rather than after the lease.

Delivery is at least once: a handler can run again for a message whose lease
was lost (worker paused or cut off longer than the lease, or reaped). Handlers
should be idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import inspect
import logging
import math
import os
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import psycopg
import psycopg_pool
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .config import Config
from .consumer import AsyncConsumer
from .db import connection_kwargs, create_async_pool, probe_connection_async, run_async
from .errors import (
    ConnectionFailed,
    NotInstalled,
    PgqrsError,
    QueueNotFound,
    WorkerNotActive,
    WorkerNotFound,
    wrap_errors,
)
from .statements import Op, statements
from .types import Message, Queue

logger = logging.getLogger(__name__)

__all__ = ["Worker", "WorkerStats", "HandlerNotFound", "HandlerTimeout", "load_handler", "default_retry_backoff"]

Handler = Callable[[Message], Any]

# reap_workers refuses a shorter silence: a heartbeat or two late is not dead.
MIN_STALE_AFTER_SECONDS = 5


class HandlerNotFound(PgqrsError):
    """The handler could not be loaded (expected "module:function")."""


class HandlerTimeout(PgqrsError):
    """The handler ran longer than job_timeout_seconds."""


def default_retry_backoff(attempt: int) -> float:
    """Seconds before a failed message is retried: 1, 2, 4, ... capped at 5 minutes."""
    return float(min(300, 2 ** max(attempt - 1, 0)))


def load_handler(spec: str) -> Handler:
    """The callable named by "package.module:function" (or "module:Class.method")."""
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise HandlerNotFound(f'invalid handler "{spec}": expected "module:function"')
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise HandlerNotFound(f'cannot import module "{module_name}" of handler "{spec}": {exc}') from exc
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise HandlerNotFound(f'handler "{spec}": "{module_name}" has no attribute "{attr_path}"') from exc
    if not callable(target):
        raise HandlerNotFound(f'handler "{spec}" is not callable')
    return target


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


def _with_tcp_settings(dsn: str) -> str:
    given = conninfo_to_dict(dsn)
    return make_conninfo(dsn, **{key: value for key, value in _TCP_SETTINGS.items() if key not in given})


# SQLSTATE classes a retry can cure: connection exception, transaction rollback
# (serialization, deadlock), insufficient resources, operator intervention
# (admin shutdown, crash shutdown, cannot connect now).
_TRANSIENT_CLASSES = ("08", "40", "53", "57")


def is_transient(exc: BaseException) -> bool:
    """Whether the error is one that retrying (on a new connection) can cure."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(
            seen,
            (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout, ConnectionFailed, OSError),
        ):
            return True
        sqlstate = getattr(seen, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in _TRANSIENT_CLASSES:
            return True
        seen = seen.__cause__
    return False


class _Backoff:
    """Exponential delays for reconnecting: 0.1 s doubling up to a cap."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self.first, self.cap, self.current = first, cap, first

    def next(self) -> float:
        delay, self.current = self.current, min(self.current * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.current = self.first


def _one(op: Op) -> Any:
    return (yield op)


class _Calls:
    """The calls the worker makes, one statement each, all on one pool.

    Leasing and acknowledging go through AsyncConsumer (one per worker id, as a
    worker that registers again gets a new id); the worker-lifecycle calls run
    the statements Admin runs, on this pool rather than one of Admin's own.
    """

    def __init__(self, pool: psycopg_pool.AsyncConnectionPool, config: Config, queue: str) -> None:
        self.pool, self.config, self.queue = pool, config, queue
        self._consumers: dict[int, AsyncConsumer] = {}
        self._st = statements(config.schema)
        self.notify_channel = self._st.notify_channel

    def _consumer(self, worker_id: int) -> AsyncConsumer:
        consumer = self._consumers.get(worker_id)
        if consumer is None:
            consumer = self._consumers[worker_id] = AsyncConsumer(self.pool, self.queue, self.config, worker_id=worker_id)
        return consumer

    async def _value(self, stmt: sql.Composable, params: list[Any]) -> Any:
        return await run_async(self.pool, _one(Op(stmt, params, "scalar")))

    async def dequeue(self, qty: int, vt_seconds: int, worker_id: int, wait_seconds: int = 0) -> list[Message]:
        return list(await self._consumer(worker_id).dequeue_batch(qty, vt_seconds, wait_seconds))

    async def ack(self, msg_ids: list[int], worker_id: int, on_success: str) -> set[int]:
        consumer = self._consumer(worker_id)
        if on_success == "archive":
            flags = await consumer.archive_batch(msg_ids)
        else:
            flags = await consumer.delete_batch(msg_ids)
        return {msg_id for msg_id, done in zip(msg_ids, flags) if done}

    async def release(self, msg_id: int, delay_seconds: int, worker_id: int) -> bool:
        return bool(await self._consumer(worker_id).release(msg_id, delay_seconds))

    async def extend(self, msg_id: int, seconds: int, worker_id: int) -> Any:
        return await self._consumer(worker_id).extend_visibility(msg_id, seconds)

    async def register(self, hostname: str, port: int) -> int:
        return int(await self._value(self._st.register_worker, [self.queue, hostname, port]))

    async def heartbeat(self, worker_id: int) -> None:
        await self._value(self._st.heartbeat, [worker_id])

    async def stop_worker(self, worker_id: int) -> int:
        return int(await self._value(self._st.stop_worker, [worker_id]) or 0)

    async def reap(self, stale_after_seconds: int) -> int:
        # Its own queue only: reaping every queue needs the admin's rights, which a worker should not hold.
        return int(await self._value(self._st.reap_workers, [stale_after_seconds, self.queue]) or 0)

    async def queue_settings(self) -> tuple[int | None, bool] | None:
        """(max_attempts, notify), for messages in the log; None where the role may not read queues."""
        try:
            queue = await run_async(self.pool, _one(Op(self._st.get_queue, [self.queue], "one", Queue)))
        except PgqrsError:
            return None
        return (queue.max_attempts, queue.notify) if queue else None


@dataclasses.dataclass
class WorkerStats:
    """What a worker did, logged when it stops."""

    leased: int = 0
    succeeded: int = 0  # handler returned
    failed: int = 0  # handler raised or timed out
    acked: int = 0  # archived or deleted
    ack_refused: int = 0  # the lease was lost before the ack
    released: int = 0  # given back for a retry (or dead-lettered by max_attempts)
    dead_lettered: int = 0  # releases that used up max_attempts (when known)
    abandoned: int = 0  # still running when the grace period ended; released
    leases_lost: int = 0  # extend_visibility found the message gone
    reconnects: int = 0  # transient database errors survived


@dataclasses.dataclass(eq=False)
class _Job:
    message: Message
    worker_id: int
    task: asyncio.Task[None] | None = None
    finished: bool = False  # acked or released (or tried to): nothing left to give back


class Worker:
    """Runs ``handler(message)`` over the messages of ``queue``; see the module docstring.

    The handler gets a :class:`pgqrs.Message`. Returning means done, raising means failed.

    - ``concurrency``: handlers running at once; ``batch_size``: most messages leased per
      dequeue (default ``concurrency``; never more than the free slots).
    - ``lock_time_seconds``: the lease (default ``config.default_lock_time_seconds``),
      extended every third of it while the handler runs.
    - ``poll_interval_seconds``: how often an empty queue is polled; ``listen``: also wake up
      on the queue's notifications (a dedicated connection, not from the pool);
      ``long_poll_seconds``: wait that long inside ``dequeue()`` instead (poll-only set-ups).
    - ``heartbeat_interval_seconds``, ``stale_after_seconds``: heartbeats, and the silence after
      which a worker counts as dead (5 s at least); with ``reap`` the worker reaps the dead
      workers of its own queue on each heartbeat.
    - ``on_success``: ``"archive"`` or ``"delete"``; ``retry_backoff(attempt) -> seconds``:
      the delay before a failed message is delivered again (attempt = its ``read_ct``).
    - ``job_timeout_seconds``: a handler running longer fails (async ones are cancelled);
      ``shutdown_grace_seconds``: how long stop() waits for running handlers before it
      releases their messages.

    ``run()`` blocks and handles SIGTERM / SIGINT (a second one skips the grace period);
    ``await run_async()`` runs on the current loop; ``stop()`` may be called from any thread.
    Both return the :class:`WorkerStats`; ``worker_id`` is the current registration.
    """

    def __init__(
        self,
        config: Config,
        queue: str,
        handler: Handler | str,
        *,
        concurrency: int = 4,
        batch_size: int | None = None,
        lock_time_seconds: int | None = None,
        poll_interval_seconds: float = 1.0,
        heartbeat_interval_seconds: float = 5.0,
        stale_after_seconds: int = 30,
        on_success: Literal["archive", "delete"] = "archive",
        retry_backoff: Callable[[int], float] = default_retry_backoff,
        shutdown_grace_seconds: float = 30.0,
        listen: bool = True,
        job_timeout_seconds: float | None = None,
        reap: bool = True,
        long_poll_seconds: int = 0,
    ) -> None:
        if isinstance(handler, str):
            handler = load_handler(handler)
        if not callable(handler):
            raise TypeError("handler must be callable")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        batch_size = concurrency if batch_size is None else batch_size
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        lock_time = config.default_lock_time_seconds if lock_time_seconds is None else lock_time_seconds
        if int(lock_time) != lock_time or lock_time < 1:
            raise ValueError(f"lock_time_seconds must be a whole number of seconds >= 1, got {lock_time}")
        if poll_interval_seconds <= 0:
            raise ValueError(f"poll_interval_seconds must be > 0, got {poll_interval_seconds}")
        if heartbeat_interval_seconds <= 0:
            raise ValueError(f"heartbeat_interval_seconds must be > 0, got {heartbeat_interval_seconds}")
        if stale_after_seconds < MIN_STALE_AFTER_SECONDS:
            # The server refuses it too (reap_workers); say so before the first heartbeat.
            raise ValueError(f"stale_after_seconds must be at least {MIN_STALE_AFTER_SECONDS}, got {stale_after_seconds}")
        if stale_after_seconds < 2 * heartbeat_interval_seconds:
            # Otherwise a live worker that is a little late could be reaped.
            raise ValueError(
                f"stale_after_seconds ({stale_after_seconds}) must be at least twice "
                f"heartbeat_interval_seconds ({heartbeat_interval_seconds})"
            )
        if on_success not in ("archive", "delete"):
            raise ValueError(f'on_success must be "archive" or "delete", got {on_success!r}')
        if shutdown_grace_seconds < 0:
            raise ValueError(f"shutdown_grace_seconds must be >= 0, got {shutdown_grace_seconds}")
        if int(long_poll_seconds) != long_poll_seconds or long_poll_seconds < 0:
            raise ValueError(f"long_poll_seconds must be a whole number of seconds >= 0, got {long_poll_seconds}")
        if job_timeout_seconds is not None and job_timeout_seconds <= 0:
            raise ValueError(f"job_timeout_seconds must be > 0, got {job_timeout_seconds}")

        self.config = config
        self.queue = queue
        self.handler = handler
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.lock_time_seconds = int(lock_time)
        self.poll_interval_seconds = poll_interval_seconds
        self.heartbeat_interval_seconds = heartbeat_interval_seconds
        self.stale_after_seconds = int(stale_after_seconds)
        self.on_success = on_success
        self.retry_backoff = retry_backoff
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self.listen = listen
        self.job_timeout_seconds = job_timeout_seconds
        self.reap = reap
        self.long_poll_seconds = int(long_poll_seconds)
        self.stats = WorkerStats()
        self.worker_id: int | None = None
        self.hostname = f"{socket.gethostname()}/{os.getpid()}"

        self._is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested = False
        self._force_requested = False
        self._running = False
        self._jobs: dict[int, _Job] = {}
        self._max_attempts: int | None = None

    # -- control -------------------------------------------------------------

    def stop(self, *, force: bool = False) -> None:
        """Stop leasing and shut down (thread-safe). ``force`` skips the grace period."""
        loop = self._loop
        if loop is None:
            self._stop_requested = True
            self._force_requested = self._force_requested or force
            loop = self._loop  # run_async() may have started meanwhile
            if loop is None:
                return
        if loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._request_stop(force)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._request_stop, force)

    def _request_stop(self, force: bool) -> None:
        self._stop_requested = True
        self._force_requested = self._force_requested or force
        if not self._running:  # a signal before run_async() started: it sees the flags
            return
        self._stop_event.set()
        if self._force_requested:
            self._force_event.set()

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self._stop_requested:
            logger.warning("received %s again: stopping now, releasing unfinished messages", name)
            self._request_stop(force=True)
        else:
            logger.info(
                "received %s: stopping (up to %.0f s for running jobs; send it again to stop at once)",
                name,
                self.shutdown_grace_seconds,
            )
            self._request_stop(force=False)

    def run(self) -> WorkerStats:
        """Run until SIGTERM / SIGINT (or stop()), then shut down gracefully. Blocks."""

        async def main() -> WorkerStats:
            loop = asyncio.get_running_loop()
            installed = []
            for signum in (signal.SIGTERM, signal.SIGINT):
                try:
                    loop.add_signal_handler(signum, self._on_signal, signum)
                    installed.append(signum)
                except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                    pass
            try:
                return await self.run_async()
            finally:
                for signum in installed:
                    loop.remove_signal_handler(signum)

        return asyncio.run(main())

    async def run_async(self) -> WorkerStats:
        """Run on the current event loop until stop(); no signal handlers installed."""
        if self._running:
            raise RuntimeError("this worker is already running")
        self._running = True
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._force_event = asyncio.Event()
        self._kick = asyncio.Event()  # a notification came (or anything worth a new dequeue)
        self._slot_free = asyncio.Event()
        self._ack_queue: asyncio.Queue[tuple[int, int, asyncio.Future[bool]]] = asyncio.Queue()
        self._register_lock = asyncio.Lock()
        if self._stop_requested:
            self._request_stop(self._force_requested)

        # Enough connections for leasing, acking, heartbeats and lease extensions, no more.
        self._dsn = _with_tcp_settings(self.config.dsn)
        pool_config = dataclasses.replace(
            self.config,
            dsn=self._dsn,
            max_connections=max(2, min(self.config.max_connections, self.concurrency + 3)),
        )
        pool = create_async_pool(pool_config, min_size=1)
        self._calls = _Calls(pool, self.config, self.queue)
        background: list[asyncio.Task[None]] = []
        try:
            # A wrong DSN, password or database fails here at once; outages after the start are retried.
            await probe_connection_async(pool_config)
            await pool.open(wait=False)
            await self._register()
            if self.worker_id is None:  # stopped before it could register
                return self.stats
            await self._load_queue_settings()
            background.append(asyncio.create_task(self._heartbeat_loop(), name="pgqrs-heartbeat"))
            background.append(asyncio.create_task(self._ack_loop(), name="pgqrs-acker"))
            if self.listen:
                background.append(asyncio.create_task(self._listen_loop(), name="pgqrs-listener"))
            try:
                await self._lease_loop()
            finally:
                await self._shutdown()
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await pool.close()
            self._running = False
            logger.info("worker %s stopped: %s", self.worker_id, self.stats)
        return self.stats

    # -- helpers -------------------------------------------------------------

    async def _sleep(self, seconds: float, *events: asyncio.Event) -> None:
        """Sleep, waking early when the stop event (or another event given) is set."""
        events = events or (self._stop_event,)
        waiters = [asyncio.ensure_future(event.wait()) for event in events]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _retrying(self, what: str, call: Callable[[], Awaitable[Any]], deadline: float | None = None) -> Any:
        """Await call(), retrying transient errors with backoff until it works or the deadline passes."""
        backoff = _Backoff()
        while True:
            try:
                return await call()
            except PgqrsError as exc:
                if not is_transient(exc) or (deadline is not None and time.monotonic() >= deadline):
                    raise
                self.stats.reconnects += 1
                logger.warning("%s failed (%s); retrying", what, exc)
            await asyncio.sleep(backoff.next())

    # -- registration and heartbeats -------------------------------------------

    async def _register(self, lost: int | None = None) -> None:
        """Register (again, if ``lost`` is the id that was stopped or reaped); retries until stopped."""
        async with self._register_lock:
            if lost is not None and self.worker_id != lost:
                return  # another task registered again already
            backoff = _Backoff()
            while not self._stop_event.is_set():
                try:
                    worker_id = await self._calls.register(self.hostname, 0)
                except PgqrsError as exc:
                    if not is_transient(exc):
                        raise
                    self.stats.reconnects += 1
                    logger.warning("cannot register with the database yet (%s); retrying", exc)
                    await self._sleep(backoff.next())
                    continue
                if lost is None:
                    logger.info("worker %s registered on queue %r as %s", worker_id, self.queue, self.hostname)
                else:
                    logger.warning(
                        "worker %s was stopped or reaped (missed heartbeats?); registered again as worker %s; "
                        "acknowledgements of the messages it held will be refused",
                        lost,
                        worker_id,
                    )
                self.worker_id = worker_id
                return

    async def _load_queue_settings(self) -> None:
        settings = await self._calls.queue_settings()
        if settings is None:
            return
        self._max_attempts, notify = settings
        if self.listen and not notify:
            logger.info(
                "queue %r does not send notifications (create_queue(..., notify => true)); polling every %s s",
                self.queue,
                self.poll_interval_seconds,
            )

    async def _heartbeat_loop(self) -> None:
        next_reap = 0.0  # at once: the messages of a worker that crashed come back now
        while True:
            # Reap only right after a heartbeat of our own went through: after an outage longer
            # than stale_after, a worker that reaped first would count itself dead.
            if await self._heartbeat() and self.reap and time.monotonic() >= next_reap:
                try:
                    released = await self._calls.reap(self.stale_after_seconds)
                    if released:
                        logger.warning("reaped dead workers: %s messages released", released)
                except PgqrsError as exc:
                    logger.warning("reaping dead workers failed: %s", exc)
                next_reap = time.monotonic() + self.heartbeat_interval_seconds
            await asyncio.sleep(self.heartbeat_interval_seconds)

    async def _heartbeat(self) -> bool:
        worker_id = self.worker_id
        try:
            await self._calls.heartbeat(worker_id)
            return True
        except (WorkerNotActive, WorkerNotFound):
            try:
                await self._register(lost=worker_id)
            except PgqrsError as exc:
                logger.error("worker %s cannot register again: %s", worker_id, exc)
        except PgqrsError as exc:
            if is_transient(exc):
                self.stats.reconnects += 1
            logger.warning("heartbeat of worker %s failed: %s", worker_id, exc)
        except Exception:  # keep heartbeating whatever happens, or the worker gets reaped
            logger.exception("heartbeat of worker %s failed", worker_id)
        return False

    # -- wake-up ---------------------------------------------------------------

    async def _listen_loop(self) -> None:
        """LISTEN on the queue's channel on a connection of its own; reconnect when it breaks."""
        backoff = _Backoff()
        while True:
            conn: psycopg.AsyncConnection[Any] | None = None
            try:
                with wrap_errors():
                    conn = await psycopg.AsyncConnection.connect(self._dsn, **connection_kwargs(self.config))
                    row = await (await conn.execute(self._calls.notify_channel, [self.queue])).fetchone()
                    channel = row[0]
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                logger.debug("listening on %s for queue %r", channel, self.queue)
                backoff.reset()
                # Whatever was enqueued while nobody listened: look now.
                self._kick.set()
                while True:
                    with wrap_errors():
                        async for _ in conn.notifies(timeout=10.0):
                            self._kick.set()
                        # Quiet for a while: make sure the connection still works.
                        await conn.execute("SELECT 1")
            except asyncio.CancelledError:
                raise
            except PgqrsError as exc:
                level = logging.WARNING if is_transient(exc) else logging.ERROR
                logger.log(level, "notification listener lost (%s); polling until it reconnects", exc)
            except Exception:
                logger.exception("notification listener failed; polling until it reconnects")
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
            self.stats.reconnects += 1
            await asyncio.sleep(backoff.next())

    # -- leasing ---------------------------------------------------------------

    async def _lease_loop(self) -> None:
        backoff = _Backoff()
        idle = False
        while not self._stop_event.is_set():
            free = self.concurrency - len(self._jobs)
            if free <= 0:
                self._slot_free.clear()
                await self._sleep(self.poll_interval_seconds, self._slot_free, self._stop_event)
                continue
            qty = min(free, self.batch_size)
            worker_id = self.worker_id
            assert worker_id is not None
            # Cleared before the dequeue: a notification during it makes the wait below return at once.
            self._kick.clear()
            # Long poll only once the queue was found empty, so a busy queue never waits.
            wait = self.long_poll_seconds if idle else 0
            try:
                messages = await self._calls.dequeue(qty, self.lock_time_seconds, worker_id, wait)
            except (WorkerNotActive, WorkerNotFound):
                await self._register(lost=worker_id)
                continue
            except (QueueNotFound, NotInstalled):
                raise
            except PgqrsError as exc:
                if not is_transient(exc):
                    raise
                self.stats.reconnects += 1
                delay = backoff.next()
                logger.warning("dequeue failed (%s); retrying in %.1f s", exc, delay)
                await self._sleep(delay)
                continue
            backoff.reset()
            self.stats.leased += len(messages)
            for message in messages:
                self._start_job(message, worker_id)
            idle = len(messages) < qty
            if idle and not self.long_poll_seconds:
                # Drained: wait for a notification, the poll interval or a stop.
                await self._sleep(self.poll_interval_seconds, self._kick, self._stop_event)
            # With long polls the next dequeue does the waiting, inside the server.

    def _start_job(self, message: Message, worker_id: int) -> None:
        running = self._jobs.get(message.id)
        if running is not None:
            # Its lease ran out (a late extension, or this worker was reaped and registered again)
            # and this worker leased it again: the running job takes over the new lease, so one
            # handler runs per message and its ack, made with the new worker_id, counts.
            logger.warning("message %s: leased again while its handler still runs; not started twice", message.id)
            running.worker_id = worker_id
            return
        job = _Job(message, worker_id)
        self._jobs[message.id] = job
        job.task = asyncio.create_task(self._run_job(job), name=f"pgqrs-job-{message.id}")

    async def _run_job(self, job: _Job) -> None:
        message = job.message
        keeper = asyncio.create_task(self._keep_lease(job), name=f"pgqrs-lease-{message.id}")
        try:
            try:
                await self._call_handler(message)
            except asyncio.CancelledError:
                raise  # shutdown past the grace period: _shutdown releases the message
            except Exception as exc:
                self.stats.failed += 1
                await self._fail(job, exc)
            else:
                self.stats.succeeded += 1
                if await self._ack(job):
                    self.stats.acked += 1
                else:
                    self.stats.ack_refused += 1
                    logger.warning(
                        "message %s: handler done but the %s was refused: the lease was lost "
                        "(expired and taken by another worker, or this worker was reaped)",
                        message.id,
                        self.on_success,
                    )
            job.finished = True
        finally:
            keeper.cancel()
            self._jobs.pop(message.id, None)
            self._slot_free.set()

    async def _call_handler(self, message: Message) -> Any:
        if self._is_async:
            future: asyncio.Future[Any] = asyncio.ensure_future(self.handler(message))
        else:
            future = self._in_thread(message)
        try:
            done, _ = await asyncio.wait({future}, timeout=self.job_timeout_seconds)
        except asyncio.CancelledError:
            future.cancel()
            raise
        if not done:
            # An async handler is cancelled; a thread cannot be, it is left to finish on its own.
            future.cancel()
            raise HandlerTimeout(f"handler did not finish within {self.job_timeout_seconds} s")
        return future.result()

    def _in_thread(self, message: Message) -> asyncio.Future[Any]:
        # One daemon thread per job (`concurrency` at a time, plus any left
        # behind by a timeout), not a ThreadPoolExecutor: its threads are
        # joined at exit, so one hung handler would keep the process alive.
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def settle(ok: bool, value: Any) -> None:
            if future.done():
                return
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

        def target() -> None:
            try:
                result: tuple[bool, Any] = (True, self.handler(message))
            except Exception as exc:
                result = (False, exc)
            except BaseException as exc:  # noqa: BLE001 - sys.exit() in a handler fails the job, not the worker
                failure = RuntimeError(f"handler raised {exc!r}")
                failure.__cause__ = exc
                result = (False, failure)
            with contextlib.suppress(RuntimeError):  # loop closed: the worker is gone
                loop.call_soon_threadsafe(settle, *result)

        threading.Thread(target=target, name=f"pgqrs-job-{message.id}", daemon=True).start()
        return future

    async def _keep_lease(self, job: _Job) -> None:
        """Extend the lease while the job runs (and while its ack is retried)."""
        period = self.lock_time_seconds / 3
        message = job.message
        lost = False
        while True:
            await asyncio.sleep(period)
            try:
                vt = await self._calls.extend(message.id, self.lock_time_seconds, job.worker_id)
            except PgqrsError as exc:
                logger.debug("extending the lease of message %s failed: %s", message.id, exc)
                continue
            if vt is None and not lost:
                lost = True
                self.stats.leases_lost += 1
                logger.warning(
                    "message %s: lease lost while its handler runs (expired and taken by another worker, "
                    "or this worker was reaped); its acknowledgement will be refused",
                    message.id,
                )
            elif vt is not None:
                lost = False  # (again) ours: this worker leased it anew, see _start_job

    async def _ack(self, job: _Job) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._ack_queue.put_nowait((job.message.id, job.worker_id, future))
        return await future

    async def _ack_loop(self) -> None:
        """Acknowledge finished messages in batches: whatever finished while the last batch was in flight."""
        while True:
            batch = [await self._ack_queue.get()]
            while not self._ack_queue.empty() and len(batch) < 1000:
                batch.append(self._ack_queue.get_nowait())
            by_worker: dict[int, list[tuple[int, asyncio.Future[bool]]]] = {}
            for msg_id, worker_id, future in batch:
                by_worker.setdefault(worker_id, []).append((msg_id, future))
            for worker_id, items in by_worker.items():
                ids = [msg_id for msg_id, _ in items]
                try:
                    # An ack that committed but whose reply was lost comes back
                    # refused on the retry: counted as refused, never applied twice.
                    done = await self._retrying(
                        f"{self.on_success} of {len(ids)} messages",
                        lambda: self._calls.ack(ids, worker_id, self.on_success),
                    )
                except Exception as exc:  # never let the acker die: jobs wait on it
                    logger.error("%s of messages %s failed: %s", self.on_success, ids, exc)
                    done = set()
                for msg_id, future in items:
                    if not future.done():
                        future.set_result(msg_id in done)

    async def _fail(self, job: _Job, exc: BaseException) -> None:
        message = job.message
        attempt = message.read_ct
        delay = max(0, math.ceil(self.retry_backoff(attempt)))
        last = self._max_attempts is not None and attempt >= self._max_attempts
        if isinstance(exc, HandlerTimeout):
            logger.error("message %s (attempt %s): %s", message.id, attempt, exc)
        else:
            logger.error("message %s (attempt %s): handler raised %r", message.id, attempt, exc, exc_info=exc)
        try:
            released = await self._retrying(
                f"release of message {message.id}", lambda: self._calls.release(message.id, delay, job.worker_id)
            )
        except PgqrsError as exc2:
            logger.error("release of message %s failed (%s); it comes back when its lease runs out", message.id, exc2)
            return
        if not released:
            logger.warning("message %s: release refused, the lease was lost already", message.id)
        elif last:
            self.stats.dead_lettered += 1
            logger.error("message %s failed %s times: dead-lettered", message.id, attempt)
        else:
            self.stats.released += 1
            logger.info("message %s released for a retry in %s s", message.id, delay)

    # -- shutdown --------------------------------------------------------------

    async def _shutdown(self) -> None:
        """Finish or give back what is held, then deregister."""
        jobs = list(self._jobs.values())
        if jobs:
            logger.info(
                "stopping: waiting up to %.0f s for %d running jobs", self.shutdown_grace_seconds, len(jobs)
            )
            tasks = {job.task for job in jobs if job.task is not None}
            deadline = time.monotonic() + self.shutdown_grace_seconds
            force = asyncio.ensure_future(self._force_event.wait())
            try:
                while tasks and not force.done() and time.monotonic() < deadline:
                    _, tasks = await asyncio.wait(
                        tasks | {force}, timeout=deadline - time.monotonic(), return_when=asyncio.FIRST_COMPLETED
                    )
                    tasks.discard(force)
            finally:
                force.cancel()
            unfinished = [job for job in jobs if not job.finished]
            for job in unfinished:
                if job.task is not None:
                    job.task.cancel()
            await asyncio.gather(*(job.task for job in jobs if job.task is not None), return_exceptions=True)
            if unfinished:
                self.stats.abandoned += len(unfinished)
                logger.warning(
                    "grace period over: releasing %d unfinished messages %s",
                    len(unfinished),
                    [job.message.id for job in unfinished],
                )
                deadline = time.monotonic() + 5
                for job in unfinished:
                    with contextlib.suppress(PgqrsError):
                        await self._retrying(
                            f"release of message {job.message.id}",
                            lambda job=job: self._calls.release(job.message.id, 0, job.worker_id),
                            deadline,
                        )
        worker_id = self.worker_id
        if worker_id is not None:
            try:
                # stop_worker also gives back anything still held, so nothing waits for a lease to run out.
                released = await self._retrying(
                    f"deregistering worker {worker_id}",
                    lambda: self._calls.stop_worker(worker_id),
                    time.monotonic() + 5,
                )
                if released:
                    logger.warning("worker %s stopped; %s messages it held released", worker_id, released)
            except PgqrsError as exc:
                logger.warning(
                    "could not deregister worker %s (%s); it will be reaped after %s s without heartbeat",
                    worker_id,
                    exc,
                    self.stale_after_seconds,
                )

