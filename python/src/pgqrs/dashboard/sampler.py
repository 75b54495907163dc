"""The dashboard's one reader of the queue metrics, and its history of them.

Every ``interval`` seconds (or four times as long as the last reading took, when
that is longer) the sampler reads ``metrics_all()`` once (whatever the number of
people looking), keeps that reading for the pages and the JSON
endpoints, and appends two figures per queue to a ring buffer that holds the
last ``window`` seconds: the messages the queue holds (ready + in flight +
delayed) and its archived + dead-lettered messages. Nothing is written to the
database, and memory stays bounded: at most ``window / interval`` samples, two
64-bit integers per queue each.

With each reading goes one of messages_enqueued(), which only grows: over
all queues, the history gives "enqueued per second" from it, and "finished per
second" as that minus the change in what the queues hold (a purge counts as
finished, a replayed dead letter as not). Per queue there is no enqueue count:
a queue's history gives what it holds and its archived + dead-lettered per
second, exact between two samples without a purge of the archive.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from array import array
from collections import deque
from typing import Any

from ..admin import AsyncAdmin
from ..errors import PgqrsError
from ..types import QueueMetrics

__all__ = ["Reading", "Sampler"]

log = logging.getLogger("pgqrs.dashboard")

#: A reading that takes t seconds is followed by at least BACKOFF * t seconds without one.
BACKOFF = 4.0


@dataclasses.dataclass(frozen=True)
class Reading:
    """One reading of metrics_all(): every queue's row, by name, at the database's time."""

    rows: tuple[QueueMetrics, ...]

    @property
    def measured_at(self) -> Any:
        return self.rows[0].measured_at if self.rows else None

    def get(self, name: str) -> QueueMetrics | None:
        for row in self.rows:
            if row.queue_name == name:
                return row
        return None


@dataclasses.dataclass(frozen=True)
class _Point:
    t: float  # the database's measured_at, as Unix seconds
    index: dict[str, int]  # queue name -> position in the arrays (shared between points while queues stay)
    depth: array[int]  # ready + in_flight + delayed
    finished: array[int]  # archived + dead_lettered
    enqueued: int | None  # messages_enqueued(), over all queues (None: the reading of it failed)


class Sampler:
    """Reads the metrics every ``interval`` seconds and keeps ``window`` seconds of history."""

    def __init__(self, admin: AsyncAdmin, interval: float = 2.0, window: float = 900.0) -> None:
        if interval <= 0:
            raise ValueError("the sample interval must be positive")
        self.admin = admin
        self.interval = interval
        self.window = window
        self.latest: Reading | None = None
        self.error: str | None = None  # why the last reading failed, None after a good one
        self.last_duration = 0.0  # seconds the last reading took
        self._points: deque[_Point] = deque(maxlen=max(2, int(window / interval) + 1))
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    async def sample(self) -> Reading | None:
        """Read the metrics once now; returns the reading, or None when it failed (``error`` says why)."""
        async with self._lock:
            try:
                rows = tuple(await self.admin.metrics_all())
            except PgqrsError as exc:
                self.error = str(exc)
                log.warning("reading the queue metrics failed: %s", exc)
                return None
            try:
                enqueued: int | None = await self.admin.messages_enqueued()
            except PgqrsError as exc:
                enqueued = None
                log.warning("reading messages_enqueued() failed: %s", exc)
            self.error = None
            reading = Reading(rows)
            self.latest = reading
            self._record(rows, enqueued)
            return reading

    def _record(self, rows: tuple[QueueMetrics, ...], enqueued: int | None = None) -> None:
        if not rows:
            return  # no queue: no figure, and no database time to file it under
        names = [row.queue_name for row in rows]
        previous = self._points[-1] if self._points else None
        if previous is not None and len(previous.index) == len(names) and all(
            previous.index.get(name) == i for i, name in enumerate(names)
        ):
            index = previous.index
        else:
            index = {name: i for i, name in enumerate(names)}
        depth = array("q", (row.ready + row.in_flight + row.delayed for row in rows))
        finished = array("q", (row.archived + row.dead_lettered for row in rows))
        t = rows[0].measured_at.timestamp()
        if previous is not None and t <= previous.t:
            return  # the same statement time twice: nothing new to file
        self._points.append(_Point(t, index, depth, finished, enqueued))

    def poke(self) -> None:
        """Take the next reading now (after an action, so that the pages show its effect)."""
        self._wake.set()

    async def run(self) -> None:
        """Sample until cancelled: ``interval`` seconds after each reading ends, or four times as long
        as the reading took when that is longer, so that the sampler keeps at most a fifth of one
        server process busy however many messages the count of a reading has to go through."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await self.sample()
            self.last_duration = loop.time() - started
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(self.interval, BACKOFF * self.last_duration))
            self._wake.clear()

    def history(self, queue: str | None = None) -> dict[str, Any]:
        """The chart's data: times (Unix seconds), messages held, and archived + dead-lettered per
        second over each interval (None for the first point, for a queue not there yet, and for an
        interval in which the archive shrank: a purge, not negative work). Summed over every queue,
        or of one queue; over every queue also enqueued and finished per second (see _flow)."""
        times: list[float] = []
        depth: list[int | None] = []
        rate: list[float | None] = []
        enqueued_rate: list[float | None] = []
        finished_rate: list[float | None] = []
        last: tuple[float, int] | None = None
        counted: tuple[float, int, int] | None = None  # (t, enqueued, held) of the last point with an enqueue count
        for point in self._points:
            if queue is None:
                held = sum(point.depth)
                d: int | None = held
                f: int | None = sum(point.finished)
                e_rate, f_rate = _flow(counted, point.t, point.enqueued, held)
                enqueued_rate.append(e_rate)
                finished_rate.append(f_rate)
                counted = None if point.enqueued is None else (point.t, point.enqueued, held)
            else:
                i = point.index.get(queue)
                d = None if i is None else point.depth[i]
                f = None if i is None else point.finished[i]
            times.append(point.t)
            depth.append(d)
            if f is None:
                rate.append(None)
                last = None
                continue
            if last is None or f < last[1] or point.t <= last[0]:
                rate.append(None)
            else:
                rate.append(round((f - last[1]) / (point.t - last[0]), 3))
            last = (point.t, f)
        flows = {"enqueued_per_second": enqueued_rate, "finished_per_second": finished_rate} if queue is None else {}
        return {
            "queue": queue,
            "interval_seconds": self.interval,
            "last_reading_seconds": round(self.last_duration, 3),
            "window_seconds": self.window,
            "t": times,
            "messages_held": depth,
            "archived_and_dead_per_second": rate,
            **flows,
        }


def _flow(before: tuple[float, int, int] | None, t: float, enqueued: int | None,
          held: int) -> tuple[float | None, float | None]:
    """Over all queues, from the point before (t, enqueued, held) to this one: messages enqueued
    per second, and messages that left the queues per second (enqueued minus the growth of what
    they hold); None where undefined."""
    if before is None or enqueued is None or t <= before[0]:
        return None, None
    seconds = t - before[0]
    enqueued_rate = (enqueued - before[1]) / seconds
    left = enqueued_rate - (held - before[2]) / seconds
    return round(enqueued_rate, 3), (round(left, 3) if left >= 0 else None)
