"""The worker runner in-process: handlers, acks, retries, dead letters, leases, wake-up, shutdown.

The queue is set up and inspected with plain SQL, so each assertion reads what
the database holds. Real processes and real faults are in test_faults.py.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
import uuid

import psycopg
import pytest
from psycopg.sql import SQL as Q
from psycopg.sql import Identifier
from click.testing import CliRunner

from pgqrs import Config
from pgqrs.worker import HandlerNotFound, Worker, load_handler
from pgqrs.worker_cli import run as run_command


def sql(dsn: str, query, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def setup_queue(dsn: str, name: str, count: int = 0, *, max_attempts: int | None = None, notify: bool = False,
                payload: dict | None = None) -> list[int]:
    sql(dsn, "SELECT pgqrs.create_queue(%s, max_attempts => %s, notify => %s)", (name, max_attempts, notify))
    if not count:
        return []
    payloads = [psycopg.types.json.Jsonb({**(payload or {}), "n": i}) for i in range(count)]
    return [r[0] for r in sql(dsn, "SELECT pgqrs.enqueue_batch(%s, %s)", (name, payloads))]


def archived(dsn: str, queue: str) -> dict[int, tuple]:
    """id -> (read_ct, worker_id, dead_lettered) of the queue's archive."""
    rows = sql(dsn, """SELECT a.id, a.read_ct, a.worker_id, a.dead_lettered FROM pgqrs.pgqrs_archive a
                       JOIN pgqrs.pgqrs_queues q ON q.id = a.queue_id WHERE q.queue_name = %s""", (queue,))
    return {r[0]: r[1:] for r in rows}


def remaining(dsn: str, queue: str) -> int:
    return sql(dsn, """SELECT (SELECT count(*) FROM pgqrs.pgqrs_messages m WHERE m.queue_id = q.id)
                            + (SELECT count(*) FROM pgqrs.pgqrs_delayed d WHERE d.queue_id = q.id)
                       FROM pgqrs.pgqrs_queues q WHERE q.queue_name = %s""", (queue,))[0][0]


async def until(predicate, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def run_until(worker: Worker, predicate, timeout: float = 20.0, what: str = "condition"):
    """Run the worker until predicate() holds, stop it, and return its stats."""
    task = asyncio.create_task(worker.run_async())
    try:
        await until(lambda: predicate() or task.done(), timeout, what)
        if task.done():
            return task.result()  # raises what the worker raised
    finally:
        worker.stop()
    return await asyncio.wait_for(task, timeout=worker.shutdown_grace_seconds + 15)


def worker_rows(dsn: str, queue: str) -> list[tuple]:
    return sql(dsn, """SELECT w.id, w.status FROM pgqrs.pgqrs_workers w
                       JOIN pgqrs.pgqrs_queues q ON q.id = w.queue_id WHERE q.queue_name = %s ORDER BY w.id""",
               (queue,))


async def test_sync_handler_archives_each_message_once(dsn):
    ids = setup_queue(dsn, "jobs", 50)
    seen: list[int] = []
    lock = threading.Lock()

    def handler(message):
        with lock:
            seen.append(message.payload["n"])

    worker = Worker(Config.from_dsn(dsn), "jobs", handler, concurrency=4, poll_interval_seconds=0.2)
    stats = await run_until(worker, lambda: len(archived(dsn, "jobs")) == 50, what="50 archived")

    arch = archived(dsn, "jobs")
    assert sorted(arch) == sorted(ids)
    assert sorted(seen) == list(range(50))  # processed: 50, duplicated: 0, lost: 0
    assert all(read_ct == 1 and wid == worker.worker_id and not dead for read_ct, wid, dead in arch.values())
    assert remaining(dsn, "jobs") == 0
    assert (stats.succeeded, stats.acked, stats.ack_refused, stats.failed) == (50, 50, 0, 0)
    assert worker_rows(dsn, "jobs") == [(worker.worker_id, "stopped")]  # deregistered


async def test_async_handler_with_delete_runs_concurrently(dsn):
    setup_queue(dsn, "deleting", 12)
    running = 0
    peak = 0
    done: list[int] = []

    async def handler(message):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.2)
        running -= 1
        done.append(message.id)

    worker = Worker(Config.from_dsn(dsn), "deleting", handler, concurrency=4, on_success="delete",
                    poll_interval_seconds=0.2)
    stats = await run_until(worker, lambda: remaining(dsn, "deleting") == 0 and len(done) == 12)
    assert len(set(done)) == 12
    assert peak == 4  # never more than `concurrency`, and it used all of them
    assert archived(dsn, "deleting") == {}  # deleted, not archived
    assert stats.acked == 12


async def test_failure_is_released_with_backoff_then_retried(dsn):
    [msg_id] = setup_queue(dsn, "flaky", 1)
    attempts: list[float] = []

    def handler(message):
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise RuntimeError("temporary failure")

    worker = Worker(Config.from_dsn(dsn), "flaky", handler, poll_interval_seconds=0.1,
                    retry_backoff=lambda attempt: attempt)  # 1 s, then 2 s
    stats = await run_until(worker, lambda: msg_id in archived(dsn, "flaky"))
    assert len(attempts) == 3
    assert archived(dsn, "flaky")[msg_id][0] == 3  # read_ct: three deliveries
    assert attempts[1] - attempts[0] >= 0.9 and attempts[2] - attempts[1] >= 1.9  # the backoff was honoured
    assert (stats.failed, stats.released, stats.acked) == (2, 2, 1)


async def test_dead_letter_after_max_attempts(dsn):
    ids = setup_queue(dsn, "poison", 3, max_attempts=2)
    calls = collections.Counter()

    def handler(message):
        calls[message.id] += 1
        raise ValueError(f"cannot handle {message.payload}")

    worker = Worker(Config.from_dsn(dsn), "poison", handler, poll_interval_seconds=0.1, retry_backoff=lambda a: 0)
    stats = await run_until(worker, lambda: len(archived(dsn, "poison")) == 3, what="3 dead letters")
    arch = archived(dsn, "poison")
    assert all(arch[i][2] for i in ids)  # dead_lettered
    assert all(arch[i][0] == 2 for i in ids)
    assert calls == {i: 2 for i in ids}  # never delivered past the limit
    assert remaining(dsn, "poison") == 0
    assert stats.dead_lettered == 3


async def test_hanging_async_handler_times_out_and_is_retried(dsn):
    [msg_id] = setup_queue(dsn, "hang", 1, max_attempts=2)
    cancelled = 0

    async def handler(message):
        nonlocal cancelled
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled += 1
            raise

    worker = Worker(Config.from_dsn(dsn), "hang", handler, poll_interval_seconds=0.1, job_timeout_seconds=0.5,
                    retry_backoff=lambda a: 0)
    stats = await run_until(worker, lambda: msg_id in archived(dsn, "hang"))
    assert archived(dsn, "hang")[msg_id][2] is True  # dead-lettered after 2 timeouts
    assert cancelled == 2 and stats.failed == 2


async def test_long_job_keeps_its_lease(dsn):
    [msg_id] = setup_queue(dsn, "long", 1)
    other_saw: list = []

    def handler(message):
        # More than two leases: without extension another consumer would take it.
        deadline = time.monotonic() + 4.5
        while time.monotonic() < deadline:
            other_saw.extend(sql(dsn, "SELECT id FROM pgqrs.dequeue('long', 1, 30)"))
            time.sleep(0.3)

    worker = Worker(Config.from_dsn(dsn), "long", handler, lock_time_seconds=2, poll_interval_seconds=0.1)
    stats = await run_until(worker, lambda: msg_id in archived(dsn, "long"))
    assert other_saw == []
    assert archived(dsn, "long")[msg_id][:2] == (1, worker.worker_id)
    assert stats.leases_lost == 0 and stats.acked == 1


async def test_grace_period_releases_a_hung_sync_handler(dsn):
    [msg_id] = setup_queue(dsn, "stuck", 1)
    started = threading.Event()

    def handler(message):
        started.set()
        time.sleep(3600)  # never returns; the thread is a daemon and is left behind

    worker = Worker(Config.from_dsn(dsn), "stuck", handler, poll_interval_seconds=0.1, shutdown_grace_seconds=0.5)
    task = asyncio.create_task(worker.run_async())
    await until(started.is_set, what="handler started")
    t0 = time.monotonic()
    worker.stop()
    stats = await asyncio.wait_for(task, timeout=10)
    assert time.monotonic() - t0 < 5
    assert stats.abandoned == 1
    # Back in the queue, visible at once, held by nobody: the next worker gets it.
    rows = sql(dsn, "SELECT worker_id, vt <= clock_timestamp() FROM pgqrs.pgqrs_messages WHERE id = %s", (msg_id,))
    assert rows == [(None, True)]
    assert worker_rows(dsn, "stuck") == [(worker.worker_id, "stopped")]


async def test_notification_wakes_a_waiting_worker(dsn):
    setup_queue(dsn, "loud", notify=True)
    seen: list[float] = []
    worker = Worker(Config.from_dsn(dsn), "loud", lambda m: seen.append(time.monotonic()),
                    poll_interval_seconds=60)  # only a notification can wake it in time
    task = asyncio.create_task(worker.run_async())
    try:
        await until(lambda: worker_rows(dsn, "loud") != [], what="registration")
        await asyncio.sleep(1.0)  # the worker is now waiting on its first empty poll
        for _ in range(3):
            sent = time.monotonic()
            sql(dsn, "SELECT pgqrs.enqueue('loud', '{}')")
            count = len(seen)
            await until(lambda: len(seen) > count, timeout=10, what="wake-up")
            assert seen[-1] - sent < 2.0  # generous: other tests share the two cores
            await asyncio.sleep(0.3)
    finally:
        worker.stop()
    await asyncio.wait_for(task, timeout=15)


async def test_poll_only_mode_needs_no_notifications(dsn):
    setup_queue(dsn, "quiet", 5)  # notify off
    seen: list[int] = []
    worker = Worker(Config.from_dsn(dsn), "quiet", lambda m: seen.append(m.id), listen=False,
                    poll_interval_seconds=0.2)
    await run_until(worker, lambda: len(archived(dsn, "quiet")) == 5)
    assert len(seen) == 5
    await asyncio.sleep(0)


async def test_long_poll_wakes_a_poll_only_worker(dsn):
    setup_queue(dsn, "longpoll")  # notify off: no LISTEN can help
    seen: list[float] = []
    worker = Worker(Config.from_dsn(dsn), "longpoll", lambda m: seen.append(time.monotonic()), listen=False,
                    poll_interval_seconds=60, long_poll_seconds=2)
    task = asyncio.create_task(worker.run_async())
    try:
        await until(lambda: worker_rows(dsn, "longpoll") != [], what="registration")
        await asyncio.sleep(1.0)
        for _ in range(3):
            sent = time.monotonic()
            sql(dsn, "SELECT pgqrs.enqueue('longpoll', '{}')")
            count = len(seen)
            await until(lambda: len(seen) > count, timeout=10, what="wake-up")
            assert seen[-1] - sent < 2.0  # not the 60 s poll interval
            await asyncio.sleep(0.7)
    finally:
        worker.stop()
    await asyncio.wait_for(task, timeout=15)


async def test_reaped_worker_registers_again_and_its_late_ack_is_refused(dsn):
    [msg_id] = setup_queue(dsn, "reaped", 1)
    release = threading.Event()

    def handler(message):
        release.wait(20)

    worker = Worker(Config.from_dsn(dsn), "reaped", handler, poll_interval_seconds=0.1,
                    heartbeat_interval_seconds=0.5, stale_after_seconds=5, reap=False)
    task = asyncio.create_task(worker.run_async())
    try:
        await until(lambda: sql(dsn, "SELECT worker_id FROM pgqrs.pgqrs_messages")[0][0] is not None
                    if sql(dsn, "SELECT 1 FROM pgqrs.pgqrs_messages") else False, what="lease")
        first = worker.worker_id
        # Mark it dead as a peer would after missed heartbeats: its heartbeat backdated, then reaped,
        # in one transaction, so that no heartbeat of its own gets in between.
        with psycopg.connect(dsn) as conn:
            conn.execute("UPDATE pgqrs.pgqrs_workers SET heartbeat_at = now() - interval '1 hour' WHERE id = %s",
                         [first])
            assert conn.execute("SELECT pgqrs.reap_workers(5)").fetchall() == [(1,)]
        # Another consumer takes the released message and acks it.
        [(taken,)] = sql(dsn, "SELECT id FROM pgqrs.dequeue('reaped', 1, 30)")
        assert taken == msg_id
        assert sql(dsn, "SELECT pgqrs.archive('reaped', %s)", (msg_id,)) == [(True,)]
        await until(lambda: worker.worker_id != first, timeout=10, what="registered again")
        release.set()  # the first worker finishes late: its ack must change nothing
        await until(lambda: worker.stats.ack_refused == 1, timeout=10, what="refused ack")
    finally:
        release.set()
        worker.stop()
    stats = await asyncio.wait_for(task, timeout=15)
    assert stats.acked == 0 and stats.ack_refused == 1
    assert archived(dsn, "reaped")[msg_id][1] is None  # archived by the other consumer, not by the worker
    statuses = dict(worker_rows(dsn, "reaped"))
    assert statuses == {first: "dead", worker.worker_id: "stopped"}


async def test_worker_needs_only_the_consumer_role(dsn):
    ids = setup_queue(dsn, "roles", 5, notify=True)
    role = f"pgqrs_worker_{uuid.uuid4().hex[:8]}"
    sql(dsn, Q("CREATE ROLE {} LOGIN IN ROLE pgqrs_consumer").format(Identifier(role)))
    try:
        worker_dsn = f"{dsn} user={role}"
        worker = Worker(Config.from_dsn(worker_dsn), "roles", lambda m: None, poll_interval_seconds=0.2)
        stats = await run_until(worker, lambda: len(archived(dsn, "roles")) == 5)
        assert sorted(archived(dsn, "roles")) == sorted(ids) and stats.acked == 5
        assert worker_rows(dsn, "roles") == [(worker.worker_id, "stopped")]
    finally:
        sql(dsn, Q("DROP OWNED BY {}").format(Identifier(role)))
        sql(dsn, Q("DROP ROLE {}").format(Identifier(role)))


async def test_consumer_role_worker_reads_max_attempts_and_dead_letters(dsn, caplog):
    # The queue's settings come from metrics(), which every group role may call (pgqrs_queues it may not read).
    [msg_id] = setup_queue(dsn, "roles_dead", 1, max_attempts=1)
    role = f"pgqrs_worker_{uuid.uuid4().hex[:8]}"
    sql(dsn, Q("CREATE ROLE {} LOGIN IN ROLE pgqrs_consumer").format(Identifier(role)))
    caplog.set_level("INFO", logger="pgqrs.worker")
    try:
        def handler(message):
            raise RuntimeError("always fails")

        worker = Worker(Config.from_dsn(f"{dsn} user={role}"), "roles_dead", handler, poll_interval_seconds=0.1,
                        retry_backoff=lambda a: 0)
        stats = await run_until(worker, lambda: msg_id in archived(dsn, "roles_dead"))
        assert archived(dsn, "roles_dead")[msg_id][2] is True
        assert (stats.dead_lettered, stats.released) == (1, 0)
        assert f"message {msg_id} failed 1 times: dead-lettered" in caplog.text
    finally:
        sql(dsn, Q("DROP OWNED BY {}").format(Identifier(role)))
        sql(dsn, Q("DROP ROLE {}").format(Identifier(role)))


async def test_unknown_queue_is_a_clear_error(dsn):
    worker = Worker(Config.from_dsn(dsn), "nosuch", lambda m: None)
    with pytest.raises(Exception, match='queue "nosuch" does not exist'):
        await asyncio.wait_for(worker.run_async(), timeout=15)


def test_stop_from_another_thread_ends_run(dsn):
    setup_queue(dsn, "threaded", 3)
    worker = Worker(Config.from_dsn(dsn), "threaded", lambda m: None, poll_interval_seconds=0.1)
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("stats", worker.run()))
    thread.start()
    deadline = time.monotonic() + 20
    while len(archived(dsn, "threaded")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.stop()
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert result["stats"].acked == 3


def test_load_handler():
    assert load_handler("os.path:join") is __import__("os").path.join
    with pytest.raises(HandlerNotFound, match="expected"):
        load_handler("no_colon")
    with pytest.raises(HandlerNotFound, match="cannot import"):
        load_handler("no_such_module_xyz:f")
    with pytest.raises(HandlerNotFound, match="no attribute"):
        load_handler("os:no_such_function")


@pytest.mark.parametrize("kwargs, match", [
    ({"concurrency": 0}, "concurrency"),
    ({"batch_size": 0}, "batch_size"),
    ({"lock_time_seconds": 0}, "lock_time_seconds"),
    ({"on_success": "keep"}, "on_success"),
    ({"long_poll_seconds": 0.5}, "long_poll_seconds"),
    ({"heartbeat_interval_seconds": 5, "stale_after_seconds": 6}, "stale_after_seconds"),
])
def test_invalid_worker_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Worker(Config.from_dsn("dbname=x"), "q", lambda m: None, **kwargs)


def test_cli_run_help_and_bad_handler():
    runner = CliRunner()
    result = runner.invoke(run_command, ["--help"])
    assert result.exit_code == 0 and "--no-listen" in result.output
    result = runner.invoke(run_command, ["q", "no_such_module_xyz:f"], obj=Config.from_dsn("dbname=x"))
    assert result.exit_code == 2
    assert 'cannot import module "no_such_module_xyz"' in result.output
