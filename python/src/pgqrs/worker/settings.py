"""The worker's settings: one frozen object, validated once."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

from ..config import Config

__all__ = ["MIN_STALE_AFTER_SECONDS", "WorkerSettings", "default_retry_backoff"]

# reap_workers refuses a shorter silence: a heartbeat or two late is not dead.
MIN_STALE_AFTER_SECONDS = 5


def default_retry_backoff(attempt: int) -> float:
    """Seconds before a failed message is retried: 1, 2, 4, ... capped at 5 minutes."""
    return float(min(300, 2 ** max(attempt - 1, 0)))


@dataclasses.dataclass(frozen=True)
class WorkerSettings:
    """How a :class:`~pgqrs.Worker` runs; each field is the ``Worker`` keyword of the same name.

    ``batch_size`` and ``lock_time_seconds`` may stay ``None`` (the concurrency, the
    configured lock time); :meth:`resolve` fills them in. Every value is checked when
    the object is made, so a worker never starts with settings it would refuse later.
    """

    concurrency: int = 4
    batch_size: int | None = None
    lock_time_seconds: int | None = None
    poll_interval_seconds: float = 1.0
    heartbeat_interval_seconds: float = 5.0
    stale_after_seconds: int = 30
    on_success: Literal["archive", "delete"] = "archive"
    retry_backoff: Callable[[int], float] = default_retry_backoff
    shutdown_grace_seconds: float = 30.0
    listen: bool = True
    job_timeout_seconds: float | None = None
    reap: bool = True
    long_poll_seconds: int = 0
    run_schedules: bool = True

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        lock_time = self.lock_time_seconds
        if lock_time is not None:
            if int(lock_time) != lock_time or lock_time < 1:
                raise ValueError(f"lock_time_seconds must be a whole number of seconds >= 1, got {lock_time}")
            object.__setattr__(self, "lock_time_seconds", int(lock_time))
        if self.poll_interval_seconds <= 0:
            raise ValueError(f"poll_interval_seconds must be > 0, got {self.poll_interval_seconds}")
        if self.heartbeat_interval_seconds <= 0:
            raise ValueError(f"heartbeat_interval_seconds must be > 0, got {self.heartbeat_interval_seconds}")
        if self.stale_after_seconds < MIN_STALE_AFTER_SECONDS:
            # The server refuses it too (reap_workers); say so before the first heartbeat.
            raise ValueError(
                f"stale_after_seconds must be at least {MIN_STALE_AFTER_SECONDS}, got {self.stale_after_seconds}"
            )
        if self.stale_after_seconds < 2 * self.heartbeat_interval_seconds:
            # Otherwise a live worker that is a little late could be reaped.
            raise ValueError(
                f"stale_after_seconds ({self.stale_after_seconds}) must be at least twice "
                f"heartbeat_interval_seconds ({self.heartbeat_interval_seconds})"
            )
        if self.on_success not in ("archive", "delete"):
            raise ValueError(f'on_success must be "archive" or "delete", got {self.on_success!r}')
        if self.shutdown_grace_seconds < 0:
            raise ValueError(f"shutdown_grace_seconds must be >= 0, got {self.shutdown_grace_seconds}")
        if int(self.long_poll_seconds) != self.long_poll_seconds or self.long_poll_seconds < 0:
            raise ValueError(
                f"long_poll_seconds must be a whole number of seconds >= 0, got {self.long_poll_seconds}"
            )
        if self.job_timeout_seconds is not None and self.job_timeout_seconds <= 0:
            raise ValueError(f"job_timeout_seconds must be > 0, got {self.job_timeout_seconds}")
        object.__setattr__(self, "stale_after_seconds", int(self.stale_after_seconds))
        object.__setattr__(self, "long_poll_seconds", int(self.long_poll_seconds))

    def resolve(self, config: Config) -> WorkerSettings:
        """These settings with ``batch_size`` and ``lock_time_seconds`` filled in from the concurrency and
        ``config`` (checked like the rest)."""
        return dataclasses.replace(
            self,
            batch_size=self.concurrency if self.batch_size is None else self.batch_size,
            lock_time_seconds=(
                config.default_lock_time_seconds if self.lock_time_seconds is None else self.lock_time_seconds
            ),
        )

    @property
    def batch(self) -> int:
        """Most messages leased per dequeue (the concurrency unless set)."""
        return self.concurrency if self.batch_size is None else self.batch_size

    @property
    def lease_seconds(self) -> int:
        """The lease in seconds, once :meth:`resolve` filled it in."""
        if self.lock_time_seconds is None:
            raise ValueError("lock_time_seconds is not resolved yet: call resolve(config) first")
        return self.lock_time_seconds
