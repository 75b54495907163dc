"""Leases: extending the lease of each running job, so a long handler keeps its message."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..errors import MessageCancelled, PgqrsError
from .calls import Calls
from .state import Job, WorkerStats

__all__ = ["LeaseKeeper"]

logger = logging.getLogger("pgqrs.worker")


class LeaseKeeper:
    """Extends a job's lease by ``lease_seconds`` every third of it, for as long as :meth:`keep` runs."""

    def __init__(
        self, calls: Calls, lease_seconds: int, stats: WorkerStats, on_cancelled: Callable[[Job], None] | None = None
    ) -> None:
        self.calls, self.lease_seconds, self.stats = calls, lease_seconds, stats
        self.on_cancelled = on_cancelled  # told when an extension finds the message cancelled

    async def keep(self, job: Job) -> None:
        """Extend the lease while the job runs (and while its ack is retried); cancelled when it is done.

        A failed extension is tried again at the next period (the lease still has two
        thirds to run); a lost lease is logged once, as the ack will be refused. A message
        cancelled meanwhile ends the extensions and is reported to ``on_cancelled``.
        """
        period = self.lease_seconds / 3
        message = job.message
        lost = False
        while True:
            await asyncio.sleep(period)
            try:
                vt = await self.calls.extend(message.id, self.lease_seconds, job.worker_id)
            except MessageCancelled:
                if self.on_cancelled is not None:
                    self.on_cancelled(job)
                return
            except PgqrsError as exc:
                logger.debug("extending the lease of message %s failed: %s", message.id, exc)
                continue
            if vt is None and not lost:
                lost = True
                self.stats.leases_lost += 1
                logger.warning(
                    "message %s: lease lost while its handler runs (expired and taken by another worker, "
                    "or this worker was reaped); its acknowledgement will be refused",
                    message.id,
                )
            elif vt is not None:
                lost = False  # (again) ours: this worker leased it anew, see Executor.start
