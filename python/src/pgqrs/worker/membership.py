"""Membership: the worker's registration, its heartbeats, registering again after PQ009, reaping its queue."""

from __future__ import annotations

import asyncio
import logging
import time

from ..errors import PgqrsError, WorkerNotActive, WorkerNotFound
from .calls import Calls
from .retry import RetryStopped, is_transient, retry
from .settings import WorkerSettings
from .signals import StopSignal
from .state import WorkerStats

__all__ = ["Membership"]

logger = logging.getLogger("pgqrs.worker")


class Membership:
    """Keeps the worker registered on its queue.

    ``worker_id`` is the current registration. A heartbeat or a dequeue that finds
    it stopped or reaped (PQ009 / PQ008) calls :meth:`register` with the lost id,
    and the worker carries on under a new one. With ``reap`` each heartbeat that
    went through also reaps the dead workers of the queue, so a crashed peer's
    messages come back after ``stale_after_seconds``; with ``run_schedules`` it
    also enqueues what the schedules have due (each slot once, whichever worker
    gets there first).
    """

    def __init__(
        self, calls: Calls, settings: WorkerSettings, hostname: str, stats: WorkerStats, stop: StopSignal
    ) -> None:
        self.calls, self.settings, self.hostname, self.stats, self.stop = calls, settings, hostname, stats, stop
        self.worker_id: int | None = None
        self._lock = asyncio.Lock()

    def _count_retry(self, exc: Exception, delay: float) -> None:
        self.stats.reconnects += 1
        logger.warning("cannot register with the database yet (%s); retrying", exc)

    async def register(self, lost: int | None = None) -> None:
        """Register (again, if ``lost`` is the id that was stopped or reaped); retries until stopped."""
        async with self._lock:
            if lost is not None and self.worker_id != lost:
                return  # another task registered again already
            if self.stop.is_set():
                return
            try:
                worker_id = await retry(
                    lambda: self.calls.register(self.hostname, 0), on_retry=self._count_retry, sleep=self.stop.sleep
                )
            except RetryStopped:
                return
            if lost is None:
                logger.info("worker %s registered on queue %r as %s", worker_id, self.calls.queue, self.hostname)
            else:
                logger.warning(
                    "worker %s was stopped or reaped (missed heartbeats?); registered again as worker %s; "
                    "acknowledgements of the messages it held will be refused",
                    lost,
                    worker_id,
                )
            self.worker_id = worker_id

    async def heartbeat(self) -> bool:
        """One heartbeat; whether it went through. Database errors are logged, never raised."""
        worker_id = self.worker_id
        assert worker_id is not None, "heartbeat before registration"
        try:
            await self.calls.heartbeat(worker_id)
            return True
        except (WorkerNotActive, WorkerNotFound):
            try:
                await self.register(lost=worker_id)
            except PgqrsError as exc:
                logger.error("worker %s cannot register again: %s", worker_id, exc)
        except PgqrsError as exc:
            if is_transient(exc):
                self.stats.reconnects += 1
            logger.warning("heartbeat of worker %s failed: %s", worker_id, exc)
        return False

    async def reap(self) -> None:
        """Reap the dead workers of the queue (logged, never raised)."""
        try:
            released = await self.calls.reap(self.settings.stale_after_seconds)
            if released:
                logger.warning("reaped dead workers: %s messages released", released)
        except PgqrsError as exc:
            logger.warning("reaping dead workers failed: %s", exc)

    async def run_schedules(self) -> None:
        """Enqueue what the database's schedules have due (logged, never raised)."""
        try:
            enqueued = await self.calls.run_schedules()
        except PgqrsError as exc:
            logger.warning("running the schedules failed: %s", exc)
            return
        if enqueued:
            self.stats.schedules_run += enqueued
            logger.info("schedules: %s messages enqueued", enqueued)

    async def heartbeats(self) -> None:
        """Heartbeat every ``heartbeat_interval_seconds`` until cancelled (a side task of the run).

        Anything but a database error ends it, and the worker with it: a worker that
        cannot heartbeat must not go on leasing until its peers reap it.
        """
        interval = self.settings.heartbeat_interval_seconds
        next_reap = 0.0  # at once: the messages of a worker that crashed come back now
        while True:
            # Reap only right after a heartbeat of our own went through: after an outage longer
            # than stale_after, a worker that reaped first would count itself dead.
            alive = await self.heartbeat()
            if alive and self.settings.reap and time.monotonic() >= next_reap:
                await self.reap()
                next_reap = time.monotonic() + interval
            if alive and self.settings.run_schedules:
                await self.run_schedules()
            await asyncio.sleep(interval)

    async def deregister(self) -> None:
        """Mark the registration stopped (which gives back anything still held); retried for 5 s."""
        worker_id = self.worker_id
        if worker_id is None:
            return

        def on_retry(exc: Exception, delay: float) -> None:
            self.stats.reconnects += 1
            logger.warning("%s failed (%s); retrying", f"deregistering worker {worker_id}", exc)

        try:
            # stop_worker also gives back anything still held, so nothing waits for a lease to run out.
            released = await retry(
                lambda: self.calls.stop_worker(worker_id), on_retry=on_retry, deadline=time.monotonic() + 5
            )
            if released:
                logger.warning("worker %s stopped; %s messages it held released", worker_id, released)
        except PgqrsError as exc:
            logger.warning(
                "could not deregister worker %s (%s); it will be reaped after %s s without heartbeat",
                worker_id,
                exc,
                self.settings.stale_after_seconds,
            )
