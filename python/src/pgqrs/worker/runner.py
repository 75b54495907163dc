"""The runner: the Worker, which coordinates the parts of one run.

A run opens the worker's pool, registers (membership), reads the queue's
settings, and starts three side tasks: heartbeats (membership), batched acks
(acks) and, unless polling only, the notification listener (listener). The
runner's own loop leases messages into free slots of the executor, which runs
each handler while its lease is extended (leases). The side tasks are
supervised: when one dies of an unexpected error the run stops leasing, finishes
or gives back what it holds, deregisters and raises :class:`SideTaskFailed`,
rather than lease on without heartbeats until its peers reap it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypedDict

from ..config import Config
from ..db import probe_connection_async
from ..errors import PgqrsError, WorkerNotActive, WorkerNotFound
from ..types import Message
from .acks import Acknowledger
from .calls import Calls, QueueSettings, pool_config
from .executor import Executor
from .handler import Handler, load_handler
from .leases import LeaseKeeper
from .listener import Listener
from .membership import Membership
from .retry import RetryStopped, retry
from .settings import WorkerSettings
from .signals import StopSignal, handling_signals
from .state import WorkerStats

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["SideTaskFailed", "Worker", "WorkerOptions"]

logger = logging.getLogger("pgqrs.worker")


class SideTaskFailed(PgqrsError):
    """A task the worker cannot run without (heartbeats, acks, the listener) died of an unexpected error."""


class WorkerOptions(TypedDict, total=False):
    """The keyword arguments of :class:`Worker`: the fields of :class:`WorkerSettings`."""

    concurrency: int
    batch_size: int | None
    lock_time_seconds: int | None
    poll_interval_seconds: float
    heartbeat_interval_seconds: float
    stale_after_seconds: int
    on_success: Literal["archive", "delete"]
    retry_backoff: Callable[[int], float]
    shutdown_grace_seconds: float
    listen: bool
    job_timeout_seconds: float | None
    reap: bool
    long_poll_seconds: int
    run_schedules: bool


class Worker:
    """Runs ``handler(message)`` over the messages of ``queue``; see the :mod:`pgqrs.worker` docstring.

    The handler gets a :class:`pgqrs.Message`. Returning means done, raising means failed.
    What it returns (unless None) is stored as the message's result (``complete()``), which
    ``Producer.wait_for`` returns; a result that is not JSON fails the job. A message
    cancelled while its handler runs (``Producer.cancel``) cancels an async handler; a plain
    function finds :func:`pgqrs.cancel_requested` true. Either way the message ends cancelled.
    How the worker runs is a :class:`WorkerSettings`, given as ``settings`` or as its fields
    by keyword (``Worker(config, "emails", send, concurrency=8)``), or both (the keywords win):

    - ``concurrency``: handlers running at once; ``batch_size``: most messages leased per
      dequeue (default ``concurrency``; never more than the free slots).
    - ``lock_time_seconds``: the lease (default ``config.default_lock_time_seconds``),
      extended every third of it while the handler runs.
    - ``poll_interval_seconds``: how often an empty queue is polled; ``listen``: also wake up
      on the queue's notifications (a dedicated connection, not from the pool);
      ``long_poll_seconds``: wait that long inside ``dequeue()`` instead (poll-only set-ups).
    - ``heartbeat_interval_seconds``, ``stale_after_seconds``: heartbeats, and the silence after
      which a worker counts as dead (5 s at least); with ``reap`` the worker reaps the dead
      workers of its own queue on each heartbeat, and with ``run_schedules`` it runs the
      due schedules (``run_schedules()``: one index probe when none is due).
    - ``on_success``: ``"archive"`` or ``"delete"``; ``retry_backoff(attempt) -> seconds``:
      the delay before a failed message is delivered again (attempt = its ``read_ct``).
    - ``job_timeout_seconds``: a handler running longer fails (async ones are cancelled);
      ``shutdown_grace_seconds``: how long stop() waits for running handlers before it
      releases their messages.

    ``run()`` blocks and handles SIGTERM / SIGINT (a second one skips the grace period);
    ``await run_async()`` runs on the current loop; ``stop()`` may be called from any thread.
    Both return the :class:`WorkerStats`, or raise :class:`SideTaskFailed` after a side task
    died (once the worker has shut down); ``worker_id`` is the current registration.
    """

    #: The part that keeps the registration and heartbeats (a subclass of :class:`Membership` may
    #: stand in, to heartbeat differently or to see what the worker does when heartbeats break).
    membership_type: ClassVar[type[Membership]] = Membership

    def __init__(
        self,
        config: Config,
        queue: str,
        handler: Handler | str,
        settings: WorkerSettings | None = None,
        **options: Unpack[WorkerOptions],
    ) -> None:
        if isinstance(handler, str):
            handler = load_handler(handler)
        if not callable(handler):
            raise TypeError("handler must be callable")
        if settings is None:
            settings = WorkerSettings(**options)
        elif options:
            settings = dataclasses.replace(settings, **options)
        self.config = config
        self.queue = queue
        self.handler: Handler = handler
        self.settings = settings.resolve(config)
        self.stats = WorkerStats()
        self.hostname = f"{socket.gethostname()}/{os.getpid()}"
        self._stop = StopSignal()
        self._running = False
        self._run: _Run | None = None  # the current (or last) run

    # -- the settings, as attributes -------------------------------------------

    @property
    def concurrency(self) -> int:
        return self.settings.concurrency

    @property
    def batch_size(self) -> int:
        return self.settings.batch

    @property
    def lock_time_seconds(self) -> int:
        return self.settings.lease_seconds

    @property
    def poll_interval_seconds(self) -> float:
        return self.settings.poll_interval_seconds

    @property
    def heartbeat_interval_seconds(self) -> float:
        return self.settings.heartbeat_interval_seconds

    @property
    def stale_after_seconds(self) -> int:
        return self.settings.stale_after_seconds

    @property
    def on_success(self) -> Literal["archive", "delete"]:
        return self.settings.on_success

    @property
    def retry_backoff(self) -> Callable[[int], float]:
        return self.settings.retry_backoff

    @property
    def shutdown_grace_seconds(self) -> float:
        return self.settings.shutdown_grace_seconds

    @property
    def listen(self) -> bool:
        return self.settings.listen

    @property
    def job_timeout_seconds(self) -> float | None:
        return self.settings.job_timeout_seconds

    @property
    def reap(self) -> bool:
        return self.settings.reap

    @property
    def long_poll_seconds(self) -> int:
        return self.settings.long_poll_seconds

    @property
    def worker_id(self) -> int | None:
        """The current registration (None before the first one)."""
        return None if self._run is None else self._run.membership.worker_id

    # -- control ---------------------------------------------------------------

    def stop(self, *, force: bool = False) -> None:
        """Stop leasing and shut down (thread-safe). ``force`` skips the grace period."""
        self._stop.request(force=force)

    def run(self) -> WorkerStats:
        """Run until SIGTERM / SIGINT (or stop()), then shut down gracefully. Blocks."""

        async def main() -> WorkerStats:
            with handling_signals(self._stop, self.settings.shutdown_grace_seconds):
                return await self.run_async()

        return asyncio.run(main())

    async def run_async(self) -> WorkerStats:
        """Run on the current event loop until stop(); no signal handlers installed."""
        if self._running:
            raise RuntimeError("this worker is already running")
        self._running = True
        self._stop.bind(asyncio.get_running_loop())
        run = self._run = _Run(self)
        try:
            await run.run()
        finally:
            self._stop.unbind()
            self._running = False
            logger.info("worker %s stopped: %s", self.worker_id, self.stats)
        return self.stats


class _Run:
    """One run of a worker: its pool, its parts, and the lease loop that coordinates them."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.settings = settings = worker.settings
        self.stop = worker._stop
        self.stats = worker.stats
        # The worker's connections: its pool and the listener's own, with TCP keepalives.
        self.config = pool_config(worker.config, settings.concurrency)
        self.calls = Calls.create(self.config, worker.queue)
        self.membership = worker.membership_type(self.calls, settings, worker.hostname, self.stats, self.stop)
        self.leases = LeaseKeeper(self.calls, settings.lease_seconds, self.stats)
        self.acks = Acknowledger(self.calls, settings, self.stats, max_attempts=None)
        self.executor = Executor(
            worker.handler,
            concurrency=settings.concurrency,
            job_timeout_seconds=settings.job_timeout_seconds,
            keep_lease=self.leases.keep,
            settle=self.acks.settle,
        )
        self.leases.on_cancelled = self.executor.cancel
        self.wake = asyncio.Event()  # a notification came (or anything worth a new dequeue)
        self.listener = Listener(self.config, worker.queue, self.calls.notify_channel, self.wake.set, self.stats)
        self.side_tasks: dict[asyncio.Task[None], str] = {}
        self.failure: tuple[str, BaseException] | None = None

    async def run(self) -> None:
        pool = self.calls.pool
        try:
            # A wrong DSN, password or database fails here at once; outages after the start are retried.
            await probe_connection_async(self.config)
            await pool.open(wait=False)
            await self.membership.register()
            if self.membership.worker_id is None:  # stopped before it could register
                return
            await self._load_queue_settings()
            self._start_side_task("heartbeat", self.membership.heartbeats)
            self._start_side_task("acknowledgement", self.acks.run)
            if self.settings.listen:
                self._start_side_task("notification listener", self.listener.run)
            try:
                await self._lease_supervised()
            finally:
                await self._shutdown()
                for task in self.side_tasks:  # one that died while the worker shut down
                    if task.done() and self.failure is None:
                        self._side_task_ended(task)
        finally:
            for task in self.side_tasks:
                task.cancel()
            await asyncio.gather(*self.side_tasks, return_exceptions=True)
            await pool.close()
        if self.failure is not None:
            name, exc = self.failure
            raise SideTaskFailed(f"the worker's {name} task failed: {exc!r}") from exc

    # -- start -------------------------------------------------------------------

    async def _load_queue_settings(self) -> None:
        queue = self.worker.queue

        def on_retry(exc: Exception, delay: float) -> None:
            self.stats.reconnects += 1
            logger.warning("reading the settings of queue %r failed (%s); retrying", queue, exc)

        try:
            settings: QueueSettings | None = await retry(
                self.calls.queue_settings, on_retry=on_retry, deadline=time.monotonic() + 5
            )
        except PgqrsError as exc:
            logger.warning(
                "cannot read the settings of queue %r (%s); failed messages that reach its max_attempts "
                "are reported as released",
                queue,
                exc,
            )
            return
        if settings is None:
            return
        self.acks.max_attempts = settings.max_attempts
        if self.settings.listen and not settings.notify:
            logger.info(
                "queue %r does not send notifications (create_queue(..., notify => true)); polling every %s s",
                queue,
                self.settings.poll_interval_seconds,
            )

    def _start_side_task(self, name: str, body: Callable[[], Any]) -> None:
        task: asyncio.Task[None] = asyncio.create_task(body(), name=f"pgqrs-{name.replace(' ', '-')}")
        self.side_tasks[task] = name

    # -- supervision -------------------------------------------------------------

    async def _lease_supervised(self) -> None:
        """Run the lease loop; stop it when a side task dies (they run until cancelled)."""
        lease = asyncio.create_task(self._lease_loop(), name="pgqrs-lease")
        watched = set(self.side_tasks)
        try:
            while watched:
                done, _ = await asyncio.wait({lease, *watched}, return_when=asyncio.FIRST_COMPLETED)
                if lease in done:
                    break
                for task in done:
                    watched.discard(task)
                    self._side_task_ended(task)
            await lease
        except BaseException:
            lease.cancel()
            raise

    def _side_task_ended(self, task: asyncio.Task[None]) -> None:
        name = self.side_tasks[task]
        exc: BaseException
        if task.cancelled():
            exc = asyncio.CancelledError()
        else:
            exc = task.exception() or RuntimeError("returned, which it never should")
        if self.failure is None:
            self.failure = (name, exc)
        logger.error(
            "worker %s: the %s task failed (%r); stopping: no more leasing, running jobs get %.0f s "
            "to finish before they are released",
            self.membership.worker_id,
            name,
            exc,
            self.settings.shutdown_grace_seconds,
        )
        logger.debug("the %s task failed", name, exc_info=exc)
        self.stop.request()

    # -- leasing -------------------------------------------------------------------

    async def _lease_loop(self) -> None:
        settings, executor, stop = self.settings, self.executor, self.stop
        idle = False
        while not stop.is_set():
            free = executor.free
            if free <= 0:
                executor.slot_free.clear()
                await stop.sleep(settings.poll_interval_seconds, executor.slot_free)
                continue
            qty = min(free, settings.batch)
            worker_id = self.membership.worker_id
            assert worker_id is not None
            # Cleared before the dequeue: a notification during it makes the wait below return at once.
            self.wake.clear()
            # Long poll only once the queue was found empty, so a busy queue never waits.
            wait = settings.long_poll_seconds if idle else 0
            try:
                messages = await retry(
                    functools.partial(self.calls.dequeue, qty, settings.lease_seconds, worker_id, wait),
                    on_retry=self._dequeue_failed,
                    sleep=stop.sleep,
                )
            except RetryStopped:
                break
            except (WorkerNotActive, WorkerNotFound):
                await self.membership.register(lost=worker_id)
                continue
            self._started(messages, worker_id)
            idle = len(messages) < qty
            if idle and not settings.long_poll_seconds:
                # Drained: wait for a notification, the poll interval or a stop.
                await stop.sleep(settings.poll_interval_seconds, self.wake)
            # With long polls the next dequeue does the waiting, inside the server.

    def _dequeue_failed(self, exc: Exception, delay: float) -> None:
        self.stats.reconnects += 1
        logger.warning("dequeue failed (%s); retrying in %.1f s", exc, delay)

    def _started(self, messages: list[Message], worker_id: int) -> None:
        self.stats.leased += len(messages)
        for message in messages:
            self.executor.start(message, worker_id)

    # -- shutdown ------------------------------------------------------------------

    async def _shutdown(self) -> None:
        """Finish or give back what is held, then deregister."""
        unfinished = await self.executor.drain(self.settings.shutdown_grace_seconds, self.stop.force)
        if unfinished:
            self.stats.abandoned += len(unfinished)
            logger.warning(
                "grace period over: releasing %d unfinished messages %s",
                len(unfinished),
                [job.message.id for job in unfinished],
            )
            await self.acks.release_unfinished(unfinished)
        await self.membership.deregister()
