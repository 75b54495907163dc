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
restart, terminated backend) are retried with backoff and jitter; the pool
replaces broken connections and the listener reconnects and LISTENs again. A
worker that finds itself reaped (PQ009) registers again. Workers reap the dead
ones of their queue on every heartbeat, so a crashed worker's messages come
back after ``stale_after_seconds`` rather than after the lease. When the
heartbeat, acknowledgement or listener task dies of an unexpected error, the
worker stops leasing, shuts down as on SIGTERM and raises
:class:`SideTaskFailed`.

Results and cancels: what a handler returns (unless None) is stored as the
message's result (``complete()``); a value that is not JSON, or too large, fails
the job with a log line saying so. A message cancelled while its handler runs is
found out when its lease is next extended (``extend_visibility()`` says so): an
async handler is cancelled, a plain function finds ``cancel_requested()`` true,
and the message ends cancelled, never retried. Each heartbeat also runs the due
schedules (``run_schedules()``), so schedules need no process of their own.

Delivery is at least once: a handler can run again for a message whose lease
was lost (worker paused or cut off longer than the lease, or reaped). Handlers
should be idempotent.

The parts, one job each:

| module | job |
| --- | --- |
| ``runner`` | the :class:`Worker` and the coordinator of a run: start, lease loop, supervision, shutdown |
| ``settings`` | :class:`WorkerSettings`, the validated settings |
| ``membership`` | registration, heartbeats, registering again after PQ009, reaping its queue |
| ``listener`` | LISTEN/NOTIFY wake-up |
| ``leases`` | extending the leases of running jobs |
| ``executor`` | running async and sync handlers, timeouts, concurrency |
| ``acks`` | archiving or deleting in batches, releasing failed messages |
| ``signals`` | the stop state; SIGTERM / SIGINT as graceful shutdown |
| ``retry`` | the one jittered backoff, for every call that is retried |
| ``calls`` | the worker's statements on its pool |
"""

from __future__ import annotations

from .executor import HandlerTimeout, cancel_requested
from .handler import Handler, HandlerNotFound, load_handler
from .membership import Membership
from .retry import is_transient
from .runner import SideTaskFailed, Worker, WorkerOptions
from .settings import MIN_STALE_AFTER_SECONDS, WorkerSettings, default_retry_backoff
from .state import WorkerStats

__all__ = [
    "Worker",
    "WorkerStats",
    "HandlerNotFound",
    "HandlerTimeout",
    "load_handler",
    "cancel_requested",
    "default_retry_backoff",
    "WorkerSettings",
    "WorkerOptions",
    "SideTaskFailed",
    "Membership",
    "Handler",
    "MIN_STALE_AFTER_SECONDS",
    "is_transient",
]
