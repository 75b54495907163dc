"""The one retry helper: exponential backoff with jitter, for every call the worker retries.

Registering, leasing, acknowledging, releasing, deregistering and the listener's
reconnects all go through :func:`retry`. Only errors a retry can cure are retried
(:func:`is_transient`, unless the caller says otherwise); the delays double from
``first`` up to ``cap``, each moved by up to ``jitter`` of itself either way, so
that workers cut off together do not come back in lock step (psycopg_pool's
reconnection attempts work the same way).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
import psycopg_pool

from ..errors import ConnectionFailed, PgqrsError

__all__ = ["Backoff", "RetryStopped", "is_transient", "retry"]

T = TypeVar("T")

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


class Backoff:
    """Delays between attempts: ``first`` doubling up to ``cap``, each with +/- ``jitter`` (a fraction)."""

    def __init__(self, first: float = 0.1, cap: float = 5.0, jitter: float = 0.1) -> None:
        self.first, self.cap, self.jitter = first, cap, jitter
        self._base = first

    def next(self) -> float:
        """The delay before the next attempt (and double the one after, up to the cap)."""
        base, self._base = self._base, min(self._base * 2, self.cap)
        return base * (1 + random.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        """Start again from ``first`` (after an attempt that worked)."""
        self._base = self.first


class RetryStopped(Exception):
    """The wait before another attempt was cut short: the worker is stopping."""


async def _plain_sleep(seconds: float) -> bool:
    await asyncio.sleep(seconds)
    return True


def _transient_pgqrs_error(exc: Exception) -> bool:
    return isinstance(exc, PgqrsError) and is_transient(exc)


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    on_retry: Callable[[Exception, float], None],
    retry_if: Callable[[Exception], bool] = _transient_pgqrs_error,
    deadline: float | None = None,
    backoff: Backoff | None = None,
    sleep: Callable[[float], Awaitable[bool]] = _plain_sleep,
) -> T:
    """``await call()`` until it works; what it raises is retried while ``retry_if(exc)`` holds.

    - ``on_retry(exc, delay)`` is told of each failure that is retried (to log and count it).
    - ``deadline`` (a ``time.monotonic()`` value): past it, the next failure is raised.
    - ``backoff``: the delays, shared with the caller (who may ``reset()`` it); a new one otherwise.
    - ``sleep(seconds)``: waits between attempts; returning False means give up, and
      :class:`RetryStopped` is raised (the worker is stopping).
    """
    delays = backoff if backoff is not None else Backoff()
    while True:
        try:
            result = await call()
        except Exception as exc:
            if not retry_if(exc) or (deadline is not None and time.monotonic() >= deadline):
                raise
            delay = delays.next()
            on_retry(exc, delay)
            if not await sleep(delay):
                raise RetryStopped() from exc
            continue
        delays.reset()
        return result
