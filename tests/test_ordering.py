"""Priorities, FIFO per group key, group_concurrency and rate limits from Python, the CLI and the
worker runner (the SQL itself is tested by the ordering regress test and the isolation specs)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from conftest import PGQRS_SCRIPT, cli_env, pgqrs_cli
from pgqrs import AsyncProducer, Consumer, InvalidArgument, InvalidPayload, Producer


@pytest.fixture
def producer(admin):
    admin.create_queue("jobs")
    return Producer(admin.pool, "jobs", admin.config)


def test_enqueue_with_priority_and_group_key(producer, admin):
    consumer = Consumer(admin.pool, "jobs", admin.config)
    low = producer.enqueue({"n": "low"}, priority=-1)
    keyed = [producer.enqueue({"n": f"k{i}"}, group_key="customer-42") for i in range(2)]
    high = producer.enqueue({"n": "high"}, priority=7)
    assert [m.id for m in consumer.dequeue_batch(10)] == [high, keyed[0], low]  # keyed[1] waits for keyed[0]
    assert admin.metrics("jobs").waiting == 1
    assert consumer.delete(keyed[0]) is True
    assert [m.id for m in consumer.dequeue_batch(10)] == [keyed[1]]
    with pytest.raises(InvalidArgument, match="priority must be between"):
        producer.enqueue({}, priority=40000)
    with pytest.raises(InvalidPayload, match="group_key must have 1 to 255 characters"):
        producer.enqueue({}, group_key="")


def test_batches_take_values_per_message(producer, admin, dsn):
    consumer = Consumer(admin.pool, "jobs", admin.config)
    ids = producer.batch_enqueue([{"n": i} for i in range(4)], priorities=[0, 5, 0, 5], group_keys=["a", None, "a", None])
    assert ids == sorted(ids)
    assert [m.payload["n"] for m in consumer.dequeue_batch(10)] == [1, 3, 0]  # 2 waits for 0, its key's first
    with pytest.raises(InvalidArgument, match="priorities must have one element per payload"):
        producer.batch_enqueue([{}, {}], priorities=[1])
    # enqueue_many slices the values with the payloads, batch by batch.
    many = producer.enqueue_many([{"m": i} for i in range(5)], batch_size=2, group_keys=["b"] * 5)
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT group_key, rank IS NULL FROM pgqrs.pgqrs_messages WHERE id = ANY(%s) ORDER BY id",
                            [many]).fetchall()
    assert rows == [("b", False)] + [("b", True)] * 4  # the key's first takes its place, the others wait
    with pytest.raises(InvalidArgument, match="group_keys must have one element per payload"):
        producer.enqueue_many([{}], group_keys=[])


async def test_async_producer_takes_them_too(async_admin):
    await async_admin.create_queue("async_jobs", group_concurrency=2)
    producer = AsyncProducer(async_admin.pool, "async_jobs", async_admin.config)
    await producer.batch_enqueue([{}, {}, {}], group_keys=["k", "k", "k"])
    await producer.enqueue({}, priority=3, group_key="k")
    metrics = await async_admin.metrics("async_jobs")
    assert (metrics.ready, metrics.waiting, metrics.group_concurrency) == (2, 2, 2)


def test_queue_settings_in_the_api(admin):
    admin.create_queue("limited", group_concurrency=3, rate_limit=50)
    [queue] = [q for q in admin.list_queues() if q.queue_name == "limited"]
    assert (queue.group_concurrency, queue.rate_limit) == (3, 50.0)
    admin.alter_queue("limited", rate_limit=0, group_concurrency=1)
    metrics = admin.metrics("limited")
    assert (metrics.group_concurrency, metrics.rate_limit) == (1, None)
    with pytest.raises(InvalidArgument, match="group_concurrency must be at least 1"):
        admin.alter_queue("limited", group_concurrency=0)


def test_rate_limit_holds_over_all_sessions(admin, dsn):
    """Eight sessions dequeue one message at a time from a queue limited to 20 a second: however
    they race, the bucket lets through at most its burst (20) plus 20 a second, plus one message
    per session that read the count at the same moment as another."""
    admin.create_queue("rated", rate_limit=20)
    Producer(admin.pool, "rated", admin.config).batch_enqueue([{}] * 500)
    delivered = []
    start = time.monotonic()
    stop = start + 2.0

    def consume() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            while time.monotonic() < stop:
                delivered.extend(conn.execute("SELECT id FROM pgqrs.dequeue('rated', 1, 300)").fetchall())

    threads = [threading.Thread(target=consume) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    assert 20 <= len(delivered) <= 20 + 20 * elapsed + 8


def test_cli_sends_with_priority_and_key_and_sets_the_queue(dsn, tmp_path):
    assert pgqrs_cli(dsn, "queue", "create", "cli_jobs", "--group-concurrency", "2", "--rate-limit", "100").returncode == 0
    listed = json.loads(pgqrs_cli(dsn, "--format", "json", "queue", "list").stdout)
    assert [(q["group_concurrency"], q["rate_limit"]) for q in listed if q["queue_name"] == "cli_jobs"] == [(2, 100.0)]
    altered = pgqrs_cli(dsn, "--format", "json", "queue", "alter", "cli_jobs", "--rate-limit", "0")
    assert altered.returncode == 0 and json.loads(altered.stdout)["rate_limit"] is None
    sent = pgqrs_cli(dsn, "--format", "json", "message", "send", "cli_jobs", '{"n": 1}', "--priority", "9",
                     "--group-key", "customer-1")
    assert sent.returncode == 0, sent.stderr
    lines = tmp_path / "jobs.jsonl"
    lines.write_text('{"n": 2}\n{"n": 3}\n')
    assert pgqrs_cli(dsn, "message", "send", "cli_jobs", "--file", str(lines), "--group-key", "customer-1").returncode == 0
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT payload ->> 'n', priority, group_key, rank IS NULL FROM pgqrs.pgqrs_messages "
                            "ORDER BY id").fetchall()
    assert rows == [("1", 9, "customer-1", False), ("2", 0, "customer-1", False), ("3", 0, "customer-1", True)]
    bad = pgqrs_cli(dsn, "message", "send", "cli_jobs", "{}", "--priority", "40000")
    assert bad.returncode == 2 and "40000" in bad.stderr
    metrics = json.loads(pgqrs_cli(dsn, "--format", "json", "queue", "metrics", "cli_jobs").stdout)
    assert metrics["waiting"] == 1


HANDLER = """
import json, os, time

def handle(message):
    with open(os.environ["JOB_LOG"], "a") as log:
        log.write(json.dumps(["start", message.payload["customer"], message.payload["n"], time.monotonic()]) + "\\n")
    time.sleep(0.02)
    with open(os.environ["JOB_LOG"], "a") as log:
        log.write(json.dumps(["end", message.payload["customer"], message.payload["n"], time.monotonic()]) + "\\n")
"""


def test_worker_runs_each_customers_jobs_in_order(dsn, tmp_path):
    """As the README shows: jobs for three customers sent from the CLI with priorities, one
    `pgqrs worker run` with several job slots: each customer's jobs run one after the other, in
    the order they were sent, while the customers' jobs run side by side."""
    assert pgqrs_cli(dsn, "queue", "create", "orders").returncode == 0
    for n in range(6):
        for customer in ("alice", "bob", "carol"):
            priority = "5" if customer == "carol" else "0"
            sent = pgqrs_cli(dsn, "message", "send", "orders", json.dumps({"customer": customer, "n": n}),
                             "--group-key", customer, "--priority", priority)
            assert sent.returncode == 0, sent.stderr
    (tmp_path / "jobs.py").write_text(HANDLER)
    log = tmp_path / "log.jsonl"
    env = {**cli_env(), "JOB_LOG": str(log), "PYTHONPATH": str(tmp_path)}
    worker = subprocess.Popen([str(PGQRS_SCRIPT), "--dsn", dsn, "worker", "run", "orders", "jobs:handle",
                               "--concurrency", "6", "--poll-interval", "0.1"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not log.exists() or log.read_text().count('"end"') < 18:
            assert time.monotonic() < deadline, "the worker did not finish the jobs"
            time.sleep(0.1)
    finally:
        os.kill(worker.pid, signal.SIGTERM)
        worker.wait(30)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    for customer in ("alice", "bob", "carol"):
        mine = [e for e in events if e[1] == customer]
        assert [e[2] for e in mine if e[0] == "start"] == list(range(6))
        # one at a time: every start follows the previous job's end
        assert [e[0] for e in mine] == ["start", "end"] * 6
    # carol's priority puts her first in each dequeue, but the handlers of one dequeue start side by
    # side, in any order: the order of a dequeue is test_enqueue_with_priority_and_group_key's.
    overlapping = any(a[1] != b[1] for a, b in zip(events, events[1:]) if a[0] == b[0] == "start")
    assert overlapping, "customers' jobs should run side by side"


def test_eight_worker_processes_keep_each_keys_order(dsn, tmp_path):
    """Eight `pgqrs worker run` processes on 10 keys of 8 messages: per key, the handlers ran in
    id order, one at a time, whichever process ran them, and every message ran once."""
    assert pgqrs_cli(dsn, "queue", "create", "keyed").returncode == 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT pgqrs.enqueue_batch('keyed', ARRAY(SELECT jsonb_build_object('customer', 'c' || (g % 10), 'n', g / 10)"
            " FROM generate_series(0, 79) g), group_keys => ARRAY(SELECT 'c' || (g % 10) FROM generate_series(0, 79) g))")]
    (tmp_path / "jobs.py").write_text(HANDLER)
    log = tmp_path / "log.jsonl"
    env = {**cli_env(), "JOB_LOG": str(log), "PYTHONPATH": str(tmp_path)}
    workers = [subprocess.Popen([str(PGQRS_SCRIPT), "--dsn", dsn, "worker", "run", "keyed", "jobs:handle",
                                 "--concurrency", "4", "--poll-interval", "0.1"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(8)]
    try:
        deadline = time.monotonic() + 120
        while not log.exists() or log.read_text().count('"end"') < 80:
            assert time.monotonic() < deadline, "the workers did not finish the jobs"
            time.sleep(0.2)
    finally:
        for worker in workers:
            os.kill(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(60)
    events = sorted((json.loads(line) for line in log.read_text().splitlines()), key=lambda e: e[3])
    for customer in (f"c{k}" for k in range(10)):
        mine = [e for e in events if e[1] == customer]
        assert [e[2] for e in mine if e[0] == "start"] == list(range(8)), customer  # in id order, each once
        assert [e[0] for e in mine] == ["start", "end"] * 8, customer  # never two at once
    with psycopg.connect(dsn) as conn:
        archived = conn.execute("SELECT count(*), max(read_ct) FROM pgqrs.pgqrs_archive").fetchone()
    assert archived == (len(ids), 1)
