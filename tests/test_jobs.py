"""Results and waiting for them, cancellation, schedules and topics: the Python API, the
worker runner (in-process and as real `pgqrs worker run` processes) and the CLI.

The SQL behaviour itself, errors and races included, is in extension/test (results, cancel,
schedules, topics and their isolation specs); here the layers on top are checked against a
real server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import pytest

from conftest import PGQRS_SCRIPT, cli_env, pgqrs_cli, sql
from pgqrs import (
    Admin,
    AsyncProducer,
    Config,
    Consumer,
    MessageCancelled,
    MessageStatus,
    Producer,
    QueueNotFound,
    Worker,
    cancel_requested,
    create_async_pool,
)
from pgqrs.errors import InvalidArgument, InvalidPayload


async def until(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def run_until(worker: Worker, predicate, timeout: float = 30.0, what: str = "condition"):
    """Run the worker until predicate() holds, stop it, and return its stats."""
    task = asyncio.create_task(worker.run_async())
    try:
        await until(lambda: predicate() or task.done(), timeout, what)
        if task.done():
            return task.result()
    finally:
        worker.stop()
    return await asyncio.wait_for(task, timeout=worker.shutdown_grace_seconds + 15)


def status(dsn: str, queue: str, msg_id: int) -> tuple:
    return sql(dsn, "SELECT state, result FROM pgqrs.message_status(%s, %s)", (queue, msg_id))[0]


# -- results and waiting: the Python API ---------------------------------------------------


def test_complete_then_wait_for_returns_the_result(admin):
    admin.create_queue("results")
    producer = Producer(admin.pool, "results", admin.config)
    consumer = Consumer(admin.pool, "results", admin.config)
    msg_id = producer.enqueue({"n": 21})
    assert producer.message_status(msg_id) == MessageStatus("ready", 0, None, None, False)
    assert consumer.dequeue().id == msg_id
    assert producer.message_status(msg_id).state == "in_flight"
    assert consumer.complete(msg_id, {"double": 42})
    done = producer.wait_for(msg_id, timeout=5)
    assert (done.state, done.read_ct, done.result, done.finished) == ("done", 1, {"double": 42}, True)
    assert done.finished_at is not None
    assert not consumer.complete(msg_id, {"again": True})  # finished already
    assert admin.get_archived("results", msg_id).result == {"double": 42}


def test_wait_for_returns_the_state_when_the_time_is_up_and_unknown_at_once(admin):
    admin.create_queue("waits")
    producer = Producer(admin.pool, "waits", admin.config)
    msg_id = producer.enqueue({})
    started = time.monotonic()
    waited = producer.wait_for(msg_id, timeout=1)
    assert (waited.state, waited.finished) == ("ready", False)
    assert time.monotonic() - started >= 1
    assert producer.wait_for(msg_id + 1000, timeout=30).state == "unknown"
    with pytest.raises(ValueError):
        producer.wait_for(msg_id, timeout=-1)
    with pytest.raises(QueueNotFound):
        Producer(admin.pool, "nope", admin.config).wait_for(1, 1)


def test_wait_for_wakes_when_another_session_completes(admin, dsn):
    admin.create_queue("wake")
    producer = Producer(admin.pool, "wake", admin.config)
    msg_id = producer.enqueue({"n": 1})

    def finish_later() -> None:
        time.sleep(0.5)
        sql(dsn, "SELECT pgqrs.complete('wake', id, '{\"ok\": true}') FROM pgqrs.dequeue('wake')")

    thread = threading.Thread(target=finish_later)
    thread.start()
    result = producer.wait_for(msg_id, timeout=30)
    thread.join()
    assert (result.state, result.result) == ("done", {"ok": True})


def test_a_result_that_is_not_json_or_too_large_is_refused(admin, dsn):
    admin.create_queue("big")
    sql(dsn, "SELECT pgqrs.alter_queue('big', max_payload_bytes => 100)")
    producer = Producer(admin.pool, "big", admin.config)
    consumer = Consumer(admin.pool, "big", admin.config)
    msg_id = producer.enqueue({})
    with pytest.raises(InvalidPayload):
        consumer.complete(msg_id, {"when": object()})
    with pytest.raises(InvalidPayload):
        consumer.complete(msg_id, {"x": "y" * 200})
    assert producer.message_status(msg_id).state == "ready"  # nothing half-done


async def test_async_producer_waits_and_cancels(config, admin):
    admin.create_queue("async_results")
    async with create_async_pool(config) as pool:
        producer = AsyncProducer(pool, "async_results", config)
        first, second = await producer.enqueue({"n": 1}), await producer.enqueue({"n": 2})
        assert await producer.cancel(first)
        assert not await producer.cancel(first)
        cancelled = await producer.wait_for(first, timeout=5)
        assert (cancelled.state, cancelled.finished) == ("cancelled", True)
        assert (await producer.message_status(second)).state == "ready"


# -- cancellation: the Python API ------------------------------------------------------------


def test_a_cancelled_lease_is_not_extended_and_ends_cancelled(admin):
    admin.create_queue("leased")
    worker_id = admin.register_worker("leased", "host", 1)
    producer = Producer(admin.pool, "leased", admin.config)
    consumer = Consumer(admin.pool, "leased", admin.config, worker_id=worker_id)
    msg_id = producer.enqueue({})
    assert consumer.dequeue(lock_time_seconds=60).id == msg_id
    assert consumer.extend_visibility(msg_id, 60) is not None
    assert producer.cancel(msg_id)
    assert producer.message_status(msg_id).cancel_requested
    with pytest.raises(MessageCancelled):
        consumer.extend_visibility(msg_id, 60)
    with pytest.raises(MessageCancelled):
        producer.extend_visibility(msg_id, 60)
    assert consumer.complete(msg_id, {"ignored": True})
    assert producer.message_status(msg_id).state == "cancelled"
    assert producer.message_status(msg_id).result is None
    assert consumer.dequeue() is None


# -- the worker: results and cancellation ----------------------------------------------------


async def test_worker_stores_what_the_handler_returns(dsn, admin):
    admin.create_queue("doubles")
    producer = Producer(admin.pool, "doubles", admin.config)
    ids = producer.batch_enqueue([{"n": n} for n in range(20)])

    async def handler(message):
        return {"double": message.payload["n"] * 2}

    worker = Worker(Config.from_dsn(dsn), "doubles", handler, concurrency=4, poll_interval_seconds=0.1)
    stats = await run_until(worker, lambda: admin.metrics("doubles").archived == 20, what="20 archived")
    results = [producer.wait_for(msg_id, timeout=5) for msg_id in ids]
    assert [(r.state, r.result) for r in results] == [("done", {"double": n * 2}) for n in range(20)]
    assert (stats.succeeded, stats.acked, stats.failed) == (20, 20, 0)


async def test_a_handler_result_that_is_not_json_fails_the_job(dsn, admin, caplog):
    admin.create_queue("unjson", max_attempts=1)
    msg_id = Producer(admin.pool, "unjson", admin.config).enqueue({})
    worker = Worker(Config.from_dsn(dsn), "unjson", lambda m: {1, 2}, poll_interval_seconds=0.1)
    with caplog.at_level(logging.ERROR, logger="pgqrs.worker"):
        stats = await run_until(worker, lambda: admin.metrics("unjson").dead_lettered == 1, what="a dead letter")
    assert status(dsn, "unjson", msg_id) == ("dead", None)
    assert stats.failed == 1
    assert any("cannot be stored as the result" in r.getMessage() and "not JSON-serialisable" in r.getMessage()
               for r in caplog.records)


async def test_cancelling_a_running_async_job_stops_it(dsn, admin):
    admin.create_queue("long_async")
    producer = Producer(admin.pool, "long_async", admin.config)
    msg_id = producer.enqueue({})
    started, stopped = asyncio.Event(), []

    async def handler(message):
        started.set()
        try:
            await asyncio.sleep(600)
        except asyncio.CancelledError:
            stopped.append(message.id)
            raise
        return {"finished": True}

    worker = Worker(Config.from_dsn(dsn), "long_async", handler, lock_time_seconds=3, poll_interval_seconds=0.1)
    task = asyncio.create_task(worker.run_async())
    try:
        await asyncio.wait_for(started.wait(), 20)
        assert producer.cancel(msg_id)
        await until(lambda: status(dsn, "long_async", msg_id)[0] == "cancelled", what="cancelled")
    finally:
        worker.stop()
    stats = await asyncio.wait_for(task, 30)
    assert stopped == [msg_id]
    assert (stats.cancelled, stats.failed, stats.released) == (1, 0, 0)
    assert status(dsn, "long_async", msg_id) == ("cancelled", None)
    assert admin.metrics("long_async").ready == 0  # not retried


async def test_a_sync_handler_reads_the_cancel_flag(dsn, admin):
    admin.create_queue("long_sync")
    producer = Producer(admin.pool, "long_sync", admin.config)
    msg_id = producer.enqueue({})
    started = threading.Event()
    seen: list[bool] = []

    def handler(message):
        started.set()
        deadline = time.monotonic() + 60
        while not cancel_requested() and time.monotonic() < deadline:
            time.sleep(0.05)
        seen.append(cancel_requested())
        return {"partial": True}

    assert not cancel_requested()  # outside a handler
    worker = Worker(Config.from_dsn(dsn), "long_sync", handler, lock_time_seconds=3, poll_interval_seconds=0.1)
    task = asyncio.create_task(worker.run_async())
    try:
        await until(started.is_set, what="the handler to start")
        assert producer.cancel(msg_id)
        await until(lambda: status(dsn, "long_sync", msg_id)[0] == "cancelled", what="cancelled")
    finally:
        worker.stop()
    stats = await asyncio.wait_for(task, 30)
    assert seen == [True]
    assert stats.cancelled == 1
    assert status(dsn, "long_sync", msg_id) == ("cancelled", None)  # its result is not kept


# -- schedules and topics: the Python API and the worker ------------------------------------


def test_schedules_through_admin(admin):
    admin.create_queue("reports")
    schedule_id = admin.create_schedule("nightly", "reports", "30 2 * * *", {"report": "daily"}, "Europe/Paris")
    assert admin.create_schedule("nightly", "reports", "0 3 * * MON-FRI") == schedule_id  # replaced
    (schedule,) = admin.list_schedules()
    assert (schedule.schedule_name, schedule.queue_name, schedule.cron, schedule.time_zone, schedule.payload) == (
        "nightly", "reports", "0 3 * * MON-FRI", "UTC", {})
    assert schedule.last_run_at is None and schedule.next_run_at is not None
    assert admin.run_schedules() == 0
    with pytest.raises(InvalidArgument):
        admin.create_schedule("bad", "reports", "0 25 * * *")
    assert admin.drop_schedule("nightly") and not admin.drop_schedule("nightly")
    assert admin.list_schedules() == []


async def test_the_worker_runs_due_schedules_on_its_heartbeats(dsn, admin):
    admin.create_queue("ticks")
    admin.create_queue("elsewhere")
    admin.create_schedule("tick", "elsewhere", "0 0 1 1 *", {"tick": True})  # made due by hand, not by the clock
    sql(dsn, "UPDATE pgqrs.pgqrs_schedules SET next_run_at = now() - interval '1 second'")
    worker = Worker(Config.from_dsn(dsn), "ticks", lambda m: None, heartbeat_interval_seconds=0.2,
                    poll_interval_seconds=0.1)
    stats = await run_until(worker, lambda: admin.metrics("elsewhere").ready == 1, what="the scheduled message")
    assert stats.schedules_run == 1
    assert [m.payload for m in admin.list_messages("elsewhere")] == [{"tick": True}]
    assert admin.list_schedules()[0].next_run_at > admin.list_schedules()[0].last_run_at


async def test_a_worker_with_schedules_off_leaves_them(dsn, admin):
    admin.create_queue("quiet_ticks")
    admin.create_schedule("tock", "quiet_ticks", "* * * * *")
    sql(dsn, "UPDATE pgqrs.pgqrs_schedules SET next_run_at = now() - interval '1 second'")
    worker = Worker(Config.from_dsn(dsn), "quiet_ticks", lambda m: None, heartbeat_interval_seconds=0.2,
                    poll_interval_seconds=0.1, run_schedules=False)
    beats = []
    stats = await run_until(worker, lambda: beats.append(1) or len(beats) > 40, what="a few heartbeats")
    assert stats.schedules_run == 0
    assert admin.metrics("quiet_ticks").ready == 0


def test_topics_through_admin_and_producer(admin):
    for name in ("billing", "audit"):
        admin.create_queue(name)
    assert admin.bind_topic("orders.*", "billing") and admin.bind_topic("#", "audit")
    assert not admin.bind_topic("orders.*", "billing")
    assert [(b.pattern, b.queue_name) for b in admin.list_topic_bindings()] == [("#", "audit"), ("orders.*", "billing")]
    producer = Producer(admin.pool, "billing", admin.config)
    assert producer.publish("orders.paid", {"order": 7}) == 2
    assert producer.publish("users.created", {"user": 1}) == 1
    assert [m.payload for m in admin.list_messages("audit")] == [{"order": 7}, {"user": 1}]
    assert admin.unbind_topic("#", "audit") and not admin.unbind_topic("#", "audit")
    assert producer.publish("users.created", {}) == 0
    with pytest.raises(InvalidArgument):
        producer.publish("orders.*", {})


# -- real processes --------------------------------------------------------------------------

HANDLERS = textwrap.dedent("""
    import os

    def double(message):
        return {"double": message.payload["n"] * 2, "pid": os.getpid()}

    def nothing(message):
        return None
""")


def start_workers(dsn: str, queue: str, handler: str, count: int, cwd: Path, *extra: str) -> list[subprocess.Popen]:
    return [subprocess.Popen([str(PGQRS_SCRIPT), "--dsn", dsn, "worker", "run", queue, handler, *extra],
                             cwd=cwd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(count)]


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for proc in workers:
        proc.send_signal(signal.SIGTERM)
    for proc in workers:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()


def test_a_producer_waits_for_1000_results_of_two_worker_processes(dsn, admin, tmp_path):
    (tmp_path / "jobs_handlers.py").write_text(HANDLERS)
    admin.create_queue("doubling", notify=True)
    producer = Producer(admin.pool, "doubling", admin.config)
    workers = start_workers(dsn, "doubling", "jobs_handlers:double", 2, tmp_path, "--concurrency", "8")
    try:
        ids = producer.enqueue_many({"n": n} for n in range(1000))
        results = [producer.wait_for(msg_id, timeout=120) for msg_id in ids]
    finally:
        stop_workers(workers)
    assert [(r.state, r.result["double"]) for r in results] == [("done", 2 * n) for n in range(1000)]
    assert all(r.read_ct == 1 for r in results)  # each job ran once
    assert len({r.result["pid"] for r in results}) == 2  # both processes took part
    assert admin.metrics("doubling").archived == 1000


def test_three_worker_processes_enqueue_each_scheduled_slot_once(dsn, admin, tmp_path):
    """Three `pgqrs worker run` processes race run_schedules() on every heartbeat; three slots
    falling due (made due by hand rather than waited for) give three messages. The schedule's
    own slots are a year apart, so that none falls due by the clock while the test runs (a
    minute's would whenever the test crosses the start of a minute)."""
    (tmp_path / "jobs_handlers.py").write_text(HANDLERS)
    admin.create_queue("minutely")
    admin.create_queue("work")
    admin.create_schedule("new_year", "minutely", "0 0 1 1 *", {"tick": True})
    workers = start_workers(dsn, "work", "jobs_handlers:nothing", 3, tmp_path, "--heartbeat-interval", "0.2")
    try:
        for slot in range(1, 4):
            sql(dsn, "UPDATE pgqrs.pgqrs_schedules SET next_run_at = now() - interval '1 second'")
            deadline = time.monotonic() + 30
            while admin.metrics("minutely").ready < slot and time.monotonic() < deadline:
                time.sleep(0.05)
            assert admin.metrics("minutely").ready == slot
        time.sleep(1)  # five heartbeats of each worker more: none enqueues the slot again
    finally:
        stop_workers(workers)
    assert admin.metrics("minutely").ready == 3


def test_cancelling_a_job_of_a_worker_process_stops_it(dsn, admin, tmp_path):
    (tmp_path / "slow_handlers.py").write_text(textwrap.dedent("""
        import asyncio, pathlib

        async def slow(message):
            pathlib.Path("started").write_text("1")
            try:
                await asyncio.sleep(600)
            except asyncio.CancelledError:
                pathlib.Path("cancelled").write_text(str(message.id))
                raise
    """))
    admin.create_queue("slow")
    producer = Producer(admin.pool, "slow", admin.config)
    msg_id = producer.enqueue({})
    workers = start_workers(dsn, "slow", "slow_handlers:slow", 1, tmp_path, "--lock-time", "3")
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert producer.cancel(msg_id)
        assert producer.wait_for(msg_id, timeout=30).state == "cancelled"
        deadline = time.monotonic() + 10
        while not (tmp_path / "cancelled").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop_workers(workers)
    assert (tmp_path / "cancelled").read_text() == str(msg_id)
    assert admin.metrics("slow").ready == 0


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_message_status_wait_and_cancel(dsn):
    assert pgqrs_cli(dsn, "queue", "create", "clijobs").returncode == 0
    sent = json.loads(pgqrs_cli(dsn, "--format", "json", "message", "send", "clijobs", '{"n": 1}').stdout)
    msg_id = str(sent["id"])
    shown = pgqrs_cli(dsn, "--format", "json", "message", "status", "clijobs", msg_id)
    assert json.loads(shown.stdout)["state"] == "ready"
    waited = pgqrs_cli(dsn, "--format", "json", "message", "wait", "clijobs", msg_id, "--timeout", "0")
    assert (waited.returncode, json.loads(waited.stdout)["state"]) == (5, "ready")
    sql(dsn, "SELECT pgqrs.complete('clijobs', id, '{\"answer\": 42}') FROM pgqrs.dequeue('clijobs')")
    done = pgqrs_cli(dsn, "--format", "json", "message", "wait", "clijobs", msg_id)
    assert (done.returncode, json.loads(done.stdout)["result"]) == (0, {"answer": 42})
    table = pgqrs_cli(dsn, "message", "status", "clijobs", msg_id)
    assert "done" in table.stdout and '"answer": 42' in table.stdout.replace("'", '"')
    unknown = pgqrs_cli(dsn, "message", "wait", "clijobs", "999999")
    assert unknown.returncode == 6

    second = json.loads(pgqrs_cli(dsn, "--format", "json", "message", "send", "clijobs", "{}").stdout)["id"]
    cancelled = pgqrs_cli(dsn, "message", "cancel", "clijobs", str(second))
    assert (cancelled.returncode, cancelled.stdout.strip()) == (0, f"cancelled message {second}")
    again = pgqrs_cli(dsn, "message", "cancel", "clijobs", str(second))
    assert again.returncode == 1 and "not cancelled" in again.stderr
    assert pgqrs_cli(dsn, "message", "wait", "clijobs", str(second)).returncode == 4
    assert pgqrs_cli(dsn, "message", "status", "nope", "1").returncode == 1


def test_cli_schedules(dsn):
    assert pgqrs_cli(dsn, "queue", "create", "clisched").returncode == 0
    made = pgqrs_cli(dsn, "schedule", "create", "hourly", "clisched", "0 * * * *", '{"job": "h"}',
                     "--time-zone", "Europe/Paris")
    assert made.returncode == 0, made.stderr
    listed = json.loads(pgqrs_cli(dsn, "--format", "json", "schedule", "list").stdout)
    assert [(s["schedule_name"], s["cron"], s["time_zone"], s["payload"]) for s in listed] == [
        ("hourly", "0 * * * *", "Europe/Paris", {"job": "h"})]
    assert "hourly" in pgqrs_cli(dsn, "schedule", "list").stdout
    bad = pgqrs_cli(dsn, "schedule", "create", "bad", "clisched", "* * *")
    assert bad.returncode == 1 and "five fields" in bad.stderr
    sql(dsn, "UPDATE pgqrs.pgqrs_schedules SET next_run_at = now() - interval '1 second'")
    ran = json.loads(pgqrs_cli(dsn, "--format", "json", "schedule", "run").stdout)
    assert ran == {"enqueued": 1}
    assert pgqrs_cli(dsn, "schedule", "delete", "hourly").returncode == 0
    assert pgqrs_cli(dsn, "schedule", "delete", "hourly").returncode == 1


def test_cli_topics(dsn):
    for name in ("clia", "clib"):
        assert pgqrs_cli(dsn, "queue", "create", name).returncode == 0
    assert pgqrs_cli(dsn, "topic", "bind", "orders.*", "clia").returncode == 0
    assert pgqrs_cli(dsn, "topic", "bind", "orders.#", "clib").returncode == 0
    bindings = json.loads(pgqrs_cli(dsn, "--format", "json", "topic", "list").stdout)
    assert [(b["pattern"], b["queue_name"]) for b in bindings] == [("orders.#", "clib"), ("orders.*", "clia")]
    published = pgqrs_cli(dsn, "--format", "json", "topic", "publish", "orders.paid", '{"order": 1}')
    assert json.loads(published.stdout) == {"topic": "orders.paid", "queues": 2}
    assert pgqrs_cli(dsn, "topic", "publish", "orders", "{}").stdout.strip() == "published to 1 queue(s)"
    assert pgqrs_cli(dsn, "topic", "unbind", "orders.*", "clia").returncode == 0
    assert pgqrs_cli(dsn, "topic", "unbind", "orders.*", "clia").returncode == 1
    bad = pgqrs_cli(dsn, "topic", "bind", "orders..x", "clia")
    assert bad.returncode == 1 and "invalid pattern" in bad.stderr
