"""Row types: frozen dataclasses that psycopg fills by column name (class_row)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Literal

__all__ = [
    "Message",
    "ArchivedMessage",
    "Queue",
    "WorkerRecord",
    "QueueMetrics",
    "WorkerHealth",
    "InstallResult",
    "VerifyReport",
    "MessageStatus",
    "FINISHED_STATES",
    "Schedule",
    "TopicBinding",
]


def _jsonable(value: Any) -> Any:
    """JSON-friendly form: datetimes as ISO 8601, intervals as seconds."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


class _Row:
    def to_dict(self) -> dict[str, Any]:
        """The fields, ready for json.dumps."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class Message(_Row):
    """A message of a queue: its JSON payload, when it was enqueued, when it is visible (vt),
    how often it was delivered, and the worker that leased it last."""

    id: int
    queue_id: int
    payload: Any
    enqueued_at: dt.datetime
    vt: dt.datetime
    read_ct: int
    dequeued_at: dt.datetime | None
    worker_id: int | None


@dataclasses.dataclass(frozen=True)
class ArchivedMessage(Message):
    """A message in the archive: the message's fields, then the archive's own."""

    archived_at: dt.datetime
    processing_duration: dt.timedelta | None
    dead_lettered: bool
    result: Any = None  # what the handler returned (complete); None: archived without one
    cancelled: bool = False  # finished by cancel()


@dataclasses.dataclass(frozen=True)
class Queue(_Row):
    """A row of pgqrs_queues."""

    id: int
    queue_name: str
    max_attempts: int | None
    created_at: dt.datetime
    notify: bool = False  # enqueues send a notification on the queue's channel
    paused: bool = False  # dequeues deliver nothing (Admin.pause_queue)
    max_payload_bytes: int = 1048576  # the largest payload an enqueue accepts
    group_concurrency: int = 1  # messages of one group key in flight at once
    rate_limit: float | None = None  # deliveries a second over all consumers (None: no limit)


@dataclasses.dataclass(frozen=True)
class WorkerRecord(_Row):
    """A row of pgqrs_workers (status: active, stopped or dead)."""

    id: int
    queue_id: int
    hostname: str
    port: int | None
    status: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    stopped_at: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class QueueMetrics(_Row):
    """A row of the queue_metrics view: one queue's counts at measured_at."""

    queue_name: str
    ready: int
    in_flight: int
    delayed: int
    archived: int
    dead_lettered: int
    oldest_ready_age: dt.timedelta | None
    measured_at: dt.datetime
    paused: bool = False
    waiting: int = 0  # messages waiting for their group key
    group_concurrency: int = 1
    rate_limit: float | None = None


@dataclasses.dataclass(frozen=True)
class WorkerHealth(_Row):
    """A row of the worker_health view: a worker, its heartbeat's age and the messages it holds."""

    worker_id: int
    queue_name: str
    hostname: str
    port: int | None
    status: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    heartbeat_age: dt.timedelta
    stopped_at: dt.datetime | None
    messages_held: int


@dataclasses.dataclass(frozen=True)
class InstallResult(_Row):
    """What Admin.install() did: how, where, which version, whether anything changed."""

    method: Literal["extension", "direct"]
    schema: str
    version: str
    changed: bool
    previous_version: str | None = None  # set when an older install was upgraded


@dataclasses.dataclass(frozen=True)
class VerifyReport(_Row):
    """What Admin.verify() found: ok when problems is empty."""

    ok: bool
    schema: str
    version: str | None
    expected_version: str
    problems: list[str] = dataclasses.field(default_factory=list)


#: The states in which a message is finished: it will not change again.
FINISHED_STATES = frozenset({"done", "dead", "cancelled"})


@dataclasses.dataclass(frozen=True)
class MessageStatus(_Row):
    """Where a message is in its life (message_status / wait_for).

    state: ``ready``, ``delayed`` (also: waiting for a retry), ``in_flight`` (leased), ``done``
    (archived or completed), ``dead`` (dead-lettered), ``cancelled``, or ``unknown`` (deleted,
    purged or never enqueued). ``result`` is what complete() stored, ``finished_at`` when it
    was archived, ``cancel_requested`` whether a cancel waits for its lease to end.
    """

    state: Literal["ready", "delayed", "in_flight", "done", "dead", "cancelled", "unknown"]
    read_ct: int | None
    result: Any
    finished_at: dt.datetime | None
    cancel_requested: bool

    @property
    def finished(self) -> bool:
        """Whether the message is done, dead or cancelled."""
        return self.state in FINISHED_STATES


@dataclasses.dataclass(frozen=True)
class Schedule(_Row):
    """A row of the schedules view: what is enqueued where, when (cron, in time_zone)."""

    schedule_name: str
    queue_name: str
    cron: str
    time_zone: str
    next_run_at: dt.datetime
    last_run_at: dt.datetime | None
    payload: Any
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class TopicBinding(_Row):
    """A row of the topic_bindings view: publish() of a topic the pattern matches enqueues into the queue."""

    pattern: str
    queue_name: str
    created_at: dt.datetime
