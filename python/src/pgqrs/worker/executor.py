"""The executor: runs handlers, async ones on the event loop and plain functions in threads,
``concurrency`` at a time, each within ``job_timeout_seconds``."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ..errors import MessageCancelled, PgqrsError
from ..types import Message
from .handler import Handler
from .state import Job

__all__ = ["Executor", "HandlerTimeout", "cancel_requested", "is_async_handler"]

logger = logging.getLogger("pgqrs.worker")

# The job whose handler runs here: in the handler's task (async) or its thread (sync).
_task_job: contextvars.ContextVar[Job | None] = contextvars.ContextVar("pgqrs_job", default=None)
_thread_job = threading.local()


def cancel_requested() -> bool:
    """Whether the message of the handler calling it was cancelled (``Producer.cancel``) while it
    runs: a plain-function handler should then stop soon (an async one is cancelled). False
    outside a handler."""
    job: Job | None = getattr(_thread_job, "job", None) or _task_job.get()
    return job is not None and job.cancelled.is_set()


class HandlerTimeout(PgqrsError):
    """The handler ran longer than job_timeout_seconds."""


def is_async_handler(handler: Handler) -> bool:
    """Whether calling the handler gives an awaitable (a coroutine function, or an object whose __call__ is one)."""
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(type(handler).__call__)


class Executor:
    """Runs one job per leased message, at most ``concurrency`` at once.

    Each job runs the handler while ``keep_lease(job)`` extends its lease, then hands
    the outcome to ``settle(job, error)`` (``error`` None: the handler returned).
    """

    def __init__(
        self,
        handler: Handler,
        *,
        concurrency: int,
        job_timeout_seconds: float | None,
        keep_lease: Callable[[Job], Coroutine[Any, Any, None]],
        settle: Callable[[Job, Exception | None], Awaitable[None]],
    ) -> None:
        self.handler, self.concurrency, self.job_timeout_seconds = handler, concurrency, job_timeout_seconds
        self._keep_lease, self._settle = keep_lease, settle
        self._is_async = is_async_handler(handler)
        self.jobs: dict[int, Job] = {}  # by message id
        self.slot_free = asyncio.Event()  # set each time a job ends

    @property
    def free(self) -> int:
        """Jobs that could start now."""
        return self.concurrency - len(self.jobs)

    def start(self, message: Message, worker_id: int) -> None:
        """Run the handler for a message just leased by ``worker_id``."""
        running = self.jobs.get(message.id)
        if running is not None:
            # Its lease ran out (a late extension, or this worker was reaped and registered again)
            # and this worker leased it again: the running job takes over the new lease, so one
            # handler runs per message and its ack, made with the new worker_id, counts.
            logger.warning("message %s: leased again while its handler still runs; not started twice", message.id)
            running.worker_id = worker_id
            return
        job = Job(message, worker_id)
        self.jobs[message.id] = job
        job.task = asyncio.create_task(self._run(job), name=f"pgqrs-job-{message.id}")

    async def _run(self, job: Job) -> None:
        message = job.message
        keeper = asyncio.create_task(self._keep_lease(job), name=f"pgqrs-lease-{message.id}")
        try:
            try:
                job.result = await self._call_handler(job)
            except asyncio.CancelledError:
                raise  # shutdown past the grace period: the runner releases the message
            except Exception as exc:
                await self._settle(job, exc)
            else:
                await self._settle(job, None)
            job.finished = True
        finally:
            keeper.cancel()
            self.jobs.pop(message.id, None)
            self.slot_free.set()

    def cancel(self, job: Job) -> None:
        """The job's message was cancelled: flag it (cancel_requested()) and cancel an async handler."""
        if job.cancelled.is_set():
            return
        logger.info("message %s: cancelled while its handler runs; stopping it", job.message.id)
        job.cancelled.set()
        if self._is_async and job.handler is not None:
            job.handler.cancel()

    async def _call_handler(self, job: Job) -> Any:
        message = job.message
        future: asyncio.Future[Any]
        if self._is_async:
            token = _task_job.set(job)  # the handler's task copies this context
            try:
                future = asyncio.ensure_future(self.handler(message))
            finally:
                _task_job.reset(token)
        else:
            future = self._in_thread(job)
        job.handler = future
        try:
            done, _ = await asyncio.wait({future}, timeout=self.job_timeout_seconds)
        except asyncio.CancelledError:
            future.cancel()
            raise
        if not done:
            # An async handler is cancelled; a thread cannot be, it is left to finish on its own.
            future.cancel()
            raise HandlerTimeout(f"handler did not finish within {self.job_timeout_seconds} s")
        if future.cancelled() and job.cancelled.is_set():
            raise MessageCancelled(f"message {message.id} was cancelled")
        return future.result()

    def _in_thread(self, job: Job) -> asyncio.Future[Any]:
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

        message = job.message

        def target() -> None:
            result: tuple[bool, Any]
            _thread_job.job = job
            try:
                result = (True, self.handler(message))
            except Exception as exc:
                result = (False, exc)
            except BaseException as exc:  # sys.exit() in a handler fails the job, not the worker
                failure = RuntimeError(f"handler raised {exc!r}")
                failure.__cause__ = exc
                result = (False, failure)
            with contextlib.suppress(RuntimeError):  # loop closed: the worker is gone
                loop.call_soon_threadsafe(settle, *result)

        threading.Thread(target=target, name=f"pgqrs-job-{message.id}", daemon=True).start()
        return future

    async def drain(self, grace_seconds: float, force: asyncio.Event) -> list[Job]:
        """Wait up to ``grace_seconds`` (or until ``force`` is set) for the running jobs; cancel the rest.

        Returns the jobs that did not finish: their messages are still leased and must be given back.
        """
        jobs = list(self.jobs.values())
        if not jobs:
            return []
        logger.info("stopping: waiting up to %.0f s for %d running jobs", grace_seconds, len(jobs))
        tasks: set[asyncio.Future[Any]] = {job.task for job in jobs if job.task is not None}
        deadline = time.monotonic() + grace_seconds
        forced = asyncio.ensure_future(force.wait())
        try:
            while tasks and not forced.done() and time.monotonic() < deadline:
                _, tasks = await asyncio.wait(
                    tasks | {forced}, timeout=deadline - time.monotonic(), return_when=asyncio.FIRST_COMPLETED
                )
                tasks.discard(forced)
        finally:
            forced.cancel()
        unfinished = [job for job in jobs if not job.finished]
        for job in unfinished:
            if job.task is not None:
                job.task.cancel()
        await asyncio.gather(*(job.task for job in jobs if job.task is not None), return_exceptions=True)
        return unfinished
