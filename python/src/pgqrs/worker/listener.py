"""The listener: LISTEN on the queue's channel and wake the worker when a message is enqueued.

Notifications are a hint: polling stays the correctness path, so a lost one
costs latency only. The listener has a connection of its own (not from the
pool) and connects again, with backoff, whenever it breaks.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from ..config import Config
from ..db import connection_kwargs
from ..errors import PgqrsError, wrap_errors
from .retry import Backoff, is_transient, retry
from .state import WorkerStats

__all__ = ["Listener"]

logger = logging.getLogger("pgqrs.worker")


class Listener:
    """Calls ``wake()`` on every notification of ``queue`` (and once after each (re)connect).

    ``config`` must carry the worker's DSN (with its TCP settings). :meth:`run` is a side
    task of the run: database errors are retried forever, anything else ends it.
    """

    def __init__(self, config: Config, queue: str, channel_query: sql.Composed, wake: Callable[[], None],
                 stats: WorkerStats) -> None:
        self.config, self.queue, self.channel_query, self.wake, self.stats = config, queue, channel_query, wake, stats
        self._backoff = Backoff()

    def _lost(self, exc: Exception, delay: float) -> None:
        level = logging.WARNING if is_transient(exc) else logging.ERROR
        logger.log(level, "notification listener lost (%s); polling until it reconnects", exc)
        self.stats.reconnects += 1

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after every database error."""
        await retry(self._listen, on_retry=self._lost, retry_if=lambda exc: isinstance(exc, PgqrsError),
                    backoff=self._backoff)

    async def _listen(self) -> None:
        """One connection: LISTEN, then wake on each notification until the connection breaks."""
        conn: psycopg.AsyncConnection[Any] | None = None
        try:
            with wrap_errors():
                conn = await psycopg.AsyncConnection.connect(self.config.dsn, **connection_kwargs(self.config))
                row = await (await conn.execute(self.channel_query, [self.queue])).fetchone()
                if row is None:
                    raise PgqrsError(f"no notification channel for queue {self.queue!r}")
                channel = str(row[0])
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            logger.debug("listening on %s for queue %r", channel, self.queue)
            self._backoff.reset()
            # Whatever was enqueued while nobody listened: look now.
            self.wake()
            while True:
                with wrap_errors():
                    async for _ in conn.notifies(timeout=10.0):
                        self.wake()
                    # Quiet for a while: make sure the connection still works.
                    await conn.execute("SELECT 1")
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
