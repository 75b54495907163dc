"""Outcomes: archive (or delete) what succeeded, in batches; release what failed, with a backoff."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..errors import InvalidPayload, PgqrsError
from .calls import Calls
from .executor import HandlerTimeout
from .retry import retry
from .settings import WorkerSettings
from .state import Job, WorkerStats

__all__ = ["Acknowledger"]

logger = logging.getLogger("pgqrs.worker")

T = TypeVar("T")

_AckRequest = tuple[int, int, "asyncio.Future[bool]"]  # message id, worker id, whether it was done


class Acknowledger:
    """Settles each finished job. Every call passes the job's worker id, so a late one after a lost lease
    changes nothing.

    Acks are queued and sent by :meth:`run` (a side task of the run) in batches: whatever
    finished while the last batch was in flight. A failed message is released for a retry
    after ``retry_backoff(read_ct)`` seconds; with the queue's ``max_attempts`` known, its
    last failure is reported as dead-lettered (the SQL ``release`` does the dead-lettering).
    """

    def __init__(self, calls: Calls, settings: WorkerSettings, stats: WorkerStats, max_attempts: int | None) -> None:
        self.calls, self.settings, self.stats, self.max_attempts = calls, settings, stats, max_attempts
        self._queue: asyncio.Queue[_AckRequest] = asyncio.Queue()

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]], deadline: float | None = None) -> T:
        def on_retry(exc: Exception, delay: float) -> None:
            self.stats.reconnects += 1
            logger.warning("%s failed (%s); retrying", what, exc)

        return await retry(call, on_retry=on_retry, deadline=deadline)

    async def settle(self, job: Job, error: Exception | None) -> None:
        """Ack a job whose handler returned (``error`` None), with its result when it returned
        one, or release one whose handler failed. A job whose message was cancelled is acked
        whatever its handler did: the message ends cancelled (the SQL sees to it)."""
        message = job.message
        if job.cancelled.is_set():
            self.stats.cancelled += 1
            done = await self.ack(job)
            logger.info("message %s: cancelled%s", message.id, "" if done else " (its lease was lost already)")
            return
        if error is not None:
            self.stats.failed += 1
            await self.fail(job, error)
            return
        if job.result is not None and self.settings.on_success == "archive":
            await self._complete(job)
            return
        self.stats.succeeded += 1
        if await self.ack(job):
            self.stats.acked += 1
        else:
            self.stats.ack_refused += 1
            logger.warning(
                "message %s: handler done but the %s was refused: the lease was lost "
                "(expired and taken by another worker, or this worker was reaped)",
                message.id,
                self.settings.on_success,
            )

    async def _complete(self, job: Job) -> None:
        """Archive the job's message with what its handler returned (one call: results do not batch).
        A result that is not JSON, or over the queue's max_payload_bytes, fails the job."""
        message = job.message
        try:
            done = await self._retrying(
                f"complete of message {message.id}",
                functools.partial(self.calls.complete, message.id, job.result, job.worker_id),
            )
        except InvalidPayload as exc:
            self.stats.failed += 1
            await self.fail(job, InvalidPayload(f"the handler's return value cannot be stored as the result: {exc}"))
            return
        except PgqrsError as exc:
            logger.error("complete of message %s failed (%s); it comes back when its lease runs out", message.id, exc)
            return
        self.stats.succeeded += 1
        if done:
            self.stats.acked += 1
        else:
            self.stats.ack_refused += 1
            logger.warning("message %s: handler done but complete was refused: the lease was lost", message.id)

    async def ack(self, job: Job) -> bool:
        """Queue the job's ack for the next batch; whether it was done (False: the lease was lost)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((job.message.id, job.worker_id, future))
        return await future

    async def run(self) -> None:
        """Acknowledge queued messages in batches until cancelled."""
        on_success = self.settings.on_success
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 1000:
                batch.append(self._queue.get_nowait())
            by_worker: dict[int, list[tuple[int, asyncio.Future[bool]]]] = {}
            for msg_id, worker_id, future in batch:
                by_worker.setdefault(worker_id, []).append((msg_id, future))
            for worker_id, items in by_worker.items():
                ids = [msg_id for msg_id, _ in items]
                try:
                    # An ack that committed but whose reply was lost comes back
                    # refused on the retry: counted as refused, never applied twice.
                    done = await self._retrying(
                        f"{on_success} of {len(ids)} messages",
                        functools.partial(self.calls.ack, ids, worker_id, on_success),
                    )
                except Exception as exc:  # never let the acker die: jobs wait on it
                    logger.error("%s of messages %s failed: %s", on_success, ids, exc)
                    done = set()
                for msg_id, future in items:
                    if not future.done():
                        future.set_result(msg_id in done)

    async def fail(self, job: Job, exc: BaseException) -> None:
        """Release a failed message for a retry after the backoff (the last attempt dead-letters it)."""
        message = job.message
        attempt = message.read_ct
        delay = max(0, math.ceil(self.settings.retry_backoff(attempt)))
        last = self.max_attempts is not None and attempt >= self.max_attempts
        if isinstance(exc, (HandlerTimeout, InvalidPayload)):  # said in full by the message
            logger.error("message %s (attempt %s): %s", message.id, attempt, exc)
        else:
            logger.error("message %s (attempt %s): handler raised %r", message.id, attempt, exc, exc_info=exc)
        try:
            released = await self._retrying(
                f"release of message {message.id}", functools.partial(self.calls.release, message.id, delay, job.worker_id)
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

    async def release_unfinished(self, jobs: list[Job]) -> None:
        """Give back, at once, the messages of jobs that did not finish; tried for 5 s in all."""
        deadline = time.monotonic() + 5
        for job in jobs:
            try:
                await self._retrying(
                    f"release of message {job.message.id}",
                    functools.partial(self.calls.release, job.message.id, 0, job.worker_id),
                    deadline,
                )
            except PgqrsError:
                pass
