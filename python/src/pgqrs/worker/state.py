"""What the parts of a worker share: its counters and the jobs in hand."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Any

from ..types import Message

__all__ = ["Job", "WorkerStats"]


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
    cancelled: int = 0  # the message was cancelled while its handler ran
    schedules_run: int = 0  # messages enqueued by run_schedules() on heartbeats
    reconnects: int = 0  # transient database errors survived


@dataclasses.dataclass(eq=False)
class Job:
    """One leased message and its handler's task."""

    message: Message
    worker_id: int  # the registration that holds the lease (it changes when the worker registers again)
    task: asyncio.Task[None] | None = None
    finished: bool = False  # acked or released (or tried to): nothing left to give back
    result: Any = None  # what the handler returned
    cancelled: threading.Event = dataclasses.field(default_factory=threading.Event)  # cancel() asked for it
    handler: asyncio.Future[Any] | None = None  # the handler's own task (async) or its thread's future
