"""`pgqrs worker run QUEUE module:function`: the worker runner's command.

The CLI's ``worker`` group (cli.py) registers :func:`run`; the root group builds
the context object that carries the configuration, and turns every error into
the CLI's one ``Error:`` line and exit code, as for any other command.
"""

from __future__ import annotations

import os
import sys
from typing import Protocol

import click

from ._output import POSITIVE, SECONDS, FiniteFloat
from .config import Config
from .worker import HandlerNotFound, Worker, WorkerSettings, load_handler

__all__ = ["run"]


class _HasConfig(Protocol):
    """The root group's context object (cli.State): where to connect."""

    @property
    def config(self) -> Config: ...


@click.command("run")
@click.argument("queue")
@click.argument("handler")
@click.option("--concurrency", type=POSITIVE, default=4, show_default=True,
              help="Jobs run at the same time.")
@click.option("--batch-size", type=POSITIVE, default=None,
              help="Messages leased per dequeue (default: the concurrency).")
@click.option("--lock-time", type=POSITIVE, default=None,
              help="Lease in seconds, extended while a job runs (default: the configured lock time).")
@click.option("--poll-interval", type=FiniteFloat(min_open=True), default=1.0, show_default=True,
              help="Seconds between polls of an empty queue.")
@click.option("--no-listen", is_flag=True,
              help="Poll only, no LISTEN/NOTIFY (behind a pooler in transaction mode).")
@click.option("--delete", is_flag=True, help="Delete processed messages instead of archiving them.")
@click.option("--grace", type=FiniteFloat(), default=30.0, show_default=True,
              help="Seconds running jobs get to finish after SIGTERM / SIGINT before they are released.")
@click.option("--long-poll", type=SECONDS, default=0, show_default=True, metavar="SECONDS",
              help="Wait up to SECONDS inside dequeue() for a message once the queue is empty (fast wake-up "
                   "without LISTEN; holds a connection while it waits).")
@click.option("--heartbeat-interval", type=FiniteFloat(min_open=True), default=5.0, show_default=True,
              help="Seconds between heartbeats (each one also reaps dead workers).")
@click.option("--stale-after", type=POSITIVE, default=30, show_default=True,
              help="Seconds without heartbeat after which a worker counts as dead and its messages are released.")
@click.option("--job-timeout", type=FiniteFloat(min_open=True), default=None,
              help="Seconds after which a running job counts as failed and is released for a retry.")
@click.option("--no-schedules", is_flag=True,
              help="Do not run the database's due schedules on each heartbeat (run_schedules()).")
@click.pass_obj
def run(
    obj: _HasConfig,
    queue: str,
    handler: str,
    concurrency: int,
    batch_size: int | None,
    lock_time: int | None,
    poll_interval: float,
    no_listen: bool,
    delete: bool,
    grace: float,
    long_poll: int,
    heartbeat_interval: float,
    stale_after: int,
    job_timeout: float | None,
    no_schedules: bool,
) -> None:
    """Run HANDLER ("module:function") over the messages of QUEUE until SIGTERM / SIGINT.

    The handler gets a pgqrs.Message. Returning means done (the message is archived,
    or deleted with --delete); raising means failed (released for a retry with
    backoff, dead-lettered after the queue's max_attempts). Async handlers are
    awaited; plain functions run in threads. What the handler returns is stored as the
    message's result. Each heartbeat also enqueues the due schedules of the database.
    """
    # As `python -m` does: a handler module in the current directory can be imported.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        function = load_handler(handler)
    except HandlerNotFound as exc:
        raise click.BadParameter(str(exc), param_hint="HANDLER") from exc
    config = obj.config
    try:
        settings = WorkerSettings(
            concurrency=concurrency,
            batch_size=batch_size,
            lock_time_seconds=lock_time,
            poll_interval_seconds=poll_interval,
            on_success="delete" if delete else "archive",
            shutdown_grace_seconds=grace,
            long_poll_seconds=long_poll,
            heartbeat_interval_seconds=heartbeat_interval,
            stale_after_seconds=stale_after,
            listen=not no_listen,
            job_timeout_seconds=job_timeout,
            run_schedules=not no_schedules,
        ).resolve(config)
    except ValueError as exc:  # options that are fine one by one but not together (--stale-after, --heartbeat-interval)
        raise click.UsageError(str(exc)) from exc
    # Errors from here on (database, configuration, a side task that died) are the root group's to report.
    Worker(config, queue, function, settings).run()
