"""Unique jobs (dedupe keys) and run_at through the Python API and the CLI, against a real server."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest

from conftest import pgqrs_cli, sql
from pgqrs import AsyncProducer, Consumer, Producer, create_async_pool
from pgqrs.errors import InvalidArgument, InvalidPayload

UTC = dt.timezone.utc


def unfinished(dsn: str, queue: str) -> int:
    return sql(dsn, "SELECT count(*) FROM pgqrs.messages m JOIN pgqrs.pgqrs_queues q ON q.id = m.queue_id"
                    " WHERE q.queue_name = %s", (queue,))[0][0]


def test_a_dedupe_key_returns_the_unfinished_message_until_it_is_done(admin, dsn):
    admin.create_queue("uniq")
    producer = Producer(admin.pool, "uniq", admin.config)
    consumer = Consumer(admin.pool, "uniq", admin.config)
    first = producer.enqueue({"n": 1}, dedupe_key="report:7")
    assert producer.enqueue({"n": 2}, dedupe_key="report:7") == first
    assert producer.enqueue({"n": 3}, dedupe_key="report:8") != first
    assert consumer.dequeue().id == first
    assert producer.enqueue({"n": 4}, dedupe_key="report:7") == first  # leased: still held
    assert consumer.complete(first, {"ok": True})
    second = producer.enqueue({"n": 5}, dedupe_key="report:7")
    assert second != first
    assert unfinished(dsn, "uniq") == 2
    # Held for dedupe_seconds after it is done.
    held = producer.enqueue({}, dedupe_key="daily", dedupe_seconds=3600)
    assert consumer.archive(held)
    assert producer.enqueue({}, dedupe_key="daily") == held
    assert producer.message_status(held).state == "done"


def test_batches_collapse_repeated_keys_and_return_holders(admin, dsn):
    admin.create_queue("uniqb")
    producer = Producer(admin.pool, "uniqb", admin.config)
    held = producer.enqueue({"held": True}, dedupe_key="h")
    ids = producer.batch_enqueue([1, 2, 3, 4], dedupe_keys=["a", "h", "a", None])
    assert ids[0] == ids[2] and ids[1] == held and len(set(ids)) == 3
    many = producer.enqueue_many(range(10), batch_size=3, dedupe_keys=["k"] * 10)
    assert len(set(many)) == 1  # a key repeated in a later batch gets the first batch's message
    assert unfinished(dsn, "uniqb") == 4
    with pytest.raises(InvalidArgument, match="dedupe_keys must have one element per payload"):
        producer.batch_enqueue([1, 2], dedupe_keys=["x"])
    with pytest.raises(InvalidPayload, match=r"dedupe_keys\[2\]"):
        producer.batch_enqueue([1, 2], dedupe_keys=["x", ""])
    assert unfinished(dsn, "uniqb") == 4


def test_eight_threads_enqueue_one_key_at_once_and_get_one_message(admin, dsn):
    admin.create_queue("race")
    producer = Producer(admin.pool, "race", admin.config)
    start = threading.Barrier(8)
    got: list[int] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            start.wait()
            for _ in range(20):
                got.append(producer.enqueue({}, dedupe_key="one"))
        except BaseException as exc:  # collected: the test fails on any
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(got) == 160 and len(set(got)) == 1
    assert unfinished(dsn, "race") == 1


def test_run_at_makes_the_message_visible_then(admin):
    admin.create_queue("at")
    producer = Producer(admin.pool, "at", admin.config)
    consumer = Consumer(admin.pool, "at", admin.config)
    later = dt.datetime.now(UTC) + dt.timedelta(hours=1)
    msg_id = producer.enqueue({}, run_at=later)
    assert producer.message_status(msg_id).state == "delayed"
    shown = admin.get_message("at", msg_id)
    assert abs((shown.vt - later).total_seconds()) < 1
    past = producer.enqueue({}, run_at=dt.datetime.now(UTC) - dt.timedelta(minutes=5))
    assert consumer.dequeue().id == past
    assert consumer.release(past, run_at=later)
    assert producer.message_status(past).state == "delayed"
    batch = producer.batch_enqueue([1, 2], run_at=later)
    assert {producer.message_status(i).state for i in batch} == {"delayed"}
    with pytest.raises(InvalidArgument, match="run_at and delay_seconds"):
        producer.enqueue({}, delay_seconds=5, run_at=later)
    with pytest.raises(InvalidArgument, match="time zone"):
        producer.enqueue({}, run_at=dt.datetime(2030, 1, 1))
    with pytest.raises(InvalidArgument, match="time zone"):
        consumer.release(past, run_at=dt.datetime(2030, 1, 1))


async def test_the_async_producer_takes_the_same_options(config, admin):
    admin.create_queue("auniq")
    async with create_async_pool(config) as pool:
        producer = AsyncProducer(pool, "auniq", config)
        first = await producer.enqueue({}, dedupe_key="k", run_at=dt.datetime.now(UTC) + dt.timedelta(minutes=1))
        assert await producer.enqueue({}, dedupe_key="k") == first
        ids = await producer.batch_enqueue([1, 2], dedupe_keys=["k", "z"])
        assert ids[0] == first
        assert len(set(await producer.enqueue_many([1, 2, 3], dedupe_keys=["m", "m", "m"]))) == 1


def test_cli_send_with_a_dedupe_key_and_run_at(dsn):
    assert pgqrs_cli(dsn, "queue", "create", "cliuniq").returncode == 0

    def send(*args: str) -> int:
        proc = pgqrs_cli(dsn, "--format", "json", "message", "send", "cliuniq", *args)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)["id"]

    first = send("{}", "--dedupe-key", "nightly")
    assert send('{"again": true}', "--dedupe-key", "nightly") == first
    at = send("{}", "--run-at", "2099-01-01T00:00:00Z")
    status = json.loads(pgqrs_cli(dsn, "--format", "json", "message", "status", "cliuniq", str(at)).stdout)
    assert status["state"] == "delayed"
    naive = pgqrs_cli(dsn, "message", "send", "cliuniq", "{}", "--run-at", "2099-01-01T00:00:00")
    assert naive.returncode == 2 and "no time zone" in naive.stderr
    both = pgqrs_cli(dsn, "message", "send", "cliuniq", "{}", "--run-at", "2099-01-01T00:00:00Z", "--delay", "5")
    assert both.returncode == 2 and "--delay or --run-at" in both.stderr
    lines = pgqrs_cli(dsn, "message", "send", "cliuniq", "--dedupe-key", "k", input=b"{}\n{}\n")
    assert lines.returncode == 2 and "--dedupe-key takes one PAYLOAD" in lines.stderr
    from_stdin = pgqrs_cli(dsn, "--format", "json", "message", "send", "cliuniq", "--run-at", "2099-01-01T00:00:00+01:00",
                           input=b"1\n2\n")
    assert from_stdin.returncode == 0 and json.loads(from_stdin.stdout)["count"] == 2
