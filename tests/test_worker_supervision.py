"""A side task that dies stops the worker: no more leasing, what it holds is finished or given back.

The heartbeat is made to fail through the worker's one seam for it
(``Worker.membership_type``), with a bug-like exception; the database is real.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import psycopg
import pytest
from click.testing import CliRunner

from pgqrs import Config
from pgqrs.cli import cli
from pgqrs.worker import Membership, SideTaskFailed, Worker


def sql(dsn: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def setup_queue(dsn: str, name: str, count: int) -> list[int]:
    sql(dsn, "SELECT pgqrs.create_queue(%s)", (name,))
    payloads = [psycopg.types.json.Jsonb({"n": i}) for i in range(count)]
    return [r[0] for r in sql(dsn, "SELECT pgqrs.enqueue_batch(%s, %s)", (name, payloads))]


def archived_ids(dsn: str, queue: str) -> set[int]:
    return {r[0] for r in sql(dsn, """SELECT a.id FROM pgqrs.pgqrs_archive a
                                      JOIN pgqrs.pgqrs_queues q ON q.id = a.queue_id WHERE q.queue_name = %s""",
                                (queue,))}


def worker_statuses(dsn: str, queue: str) -> list[str]:
    return [r[0] for r in sql(dsn, """SELECT w.status FROM pgqrs.pgqrs_workers w
                                      JOIN pgqrs.pgqrs_queues q ON q.id = w.queue_id WHERE q.queue_name = %s""",
                              (queue,))]


class HeartbeatBug(RuntimeError):
    """What a bug in the heartbeat looks like: not a database error."""


def failing_heartbeats(after: threading.Event) -> type[Membership]:
    """A Membership whose heartbeats raise HeartbeatBug once ``after`` is set."""

    class FailingHeartbeats(Membership):
        async def heartbeat(self) -> bool:
            if after.is_set():
                raise HeartbeatBug("heartbeat broke")
            return await super().heartbeat()

    return FailingHeartbeats


async def test_dead_heartbeat_stops_leasing_and_says_why(dsn, caplog):
    ids = setup_queue(dsn, "orphan", 10)
    started = threading.Event()
    handled: list[int] = []

    def handler(message):
        started.set()
        time.sleep(1.5)  # still running when the heartbeat dies: it finishes within the grace period
        handled.append(message.id)

    class BrokenWorker(Worker):
        membership_type = failing_heartbeats(after=started)

    worker = BrokenWorker(Config.from_dsn(dsn), "orphan", handler, concurrency=1, poll_interval_seconds=0.1,
                          heartbeat_interval_seconds=0.2, stale_after_seconds=5, shutdown_grace_seconds=10)
    caplog.set_level(logging.INFO, logger="pgqrs.worker")
    with pytest.raises(SideTaskFailed, match="heartbeat task failed: HeartbeatBug") as raised:
        await asyncio.wait_for(worker.run_async(), timeout=30)
    assert isinstance(raised.value.__cause__, HeartbeatBug)

    # It stopped leasing: the job it held was finished and archived, nothing else was taken.
    assert handled == [ids[0]]
    assert archived_ids(dsn, "orphan") == {ids[0]}
    assert worker.stats.leased == 1 and worker.stats.acked == 1
    held = sql(dsn, "SELECT count(*) FROM pgqrs.pgqrs_messages WHERE worker_id IS NOT NULL OR read_ct > 0")
    assert held == [(0,)]
    assert worker_statuses(dsn, "orphan") == ["stopped"]  # deregistered, not left for its peers to reap

    # Why, in one line.
    reasons = [r for r in caplog.records if r.levelno == logging.ERROR and "heartbeat task failed" in r.getMessage()]
    assert len(reasons) == 1
    assert "HeartbeatBug('heartbeat broke')" in reasons[0].getMessage()
    assert "\n" not in reasons[0].getMessage() and reasons[0].exc_info is None


def test_dead_heartbeat_exits_the_cli_non_zero(dsn, monkeypatch):
    setup_queue(dsn, "cli_orphan", 0)
    broken = threading.Event()
    broken.set()
    monkeypatch.setattr(Worker, "membership_type", failing_heartbeats(after=broken))
    result = CliRunner().invoke(cli, ["--dsn", dsn, "worker", "run", "cli_orphan", "os.path:basename",
                                      "--heartbeat-interval", "0.2", "--stale-after", "5"])
    assert result.exit_code == 1, result.output
    assert "Error: the worker's heartbeat task failed: HeartbeatBug('heartbeat broke')" in result.output
    assert "Traceback" not in result.output
    assert worker_statuses(dsn, "cli_orphan") == ["stopped"]
