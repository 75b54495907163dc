"""Admin: queue lifecycle, metrics, workers, archive, dead letters, message reads (sync)."""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg
import pytest

from pgqrs import (
    Admin,
    ArchivedMessage,
    Config,
    Consumer,
    InvalidArgument,
    InvalidQueueName,
    Message,
    Producer,
    Queue,
    QueueExists,
    QueueMetrics,
    QueueNotEmpty,
    QueueNotFound,
    WorkerHealth,
    WorkerNotActive,
    WorkerNotFound,
)
from pgqrs.install import script_version

CURRENT = script_version()  # the version this package installs


def test_constructor_does_not_connect():
    admin = Admin(Config(dsn="host=192.0.2.1 port=1 connect_timeout=1"))
    assert admin._pool is None  # nothing happened yet
    admin.close()


def test_version(admin):
    assert admin.version() == CURRENT


def test_queue_lifecycle(admin):
    qid = admin.create_queue("jobs", max_attempts=3)
    assert isinstance(qid, int)
    with pytest.raises(QueueExists, match='queue "jobs" already exists'):
        admin.create_queue("jobs")
    assert admin.create_queue("jobs", if_not_exists=True) == qid
    queue = admin.get_queue("jobs")
    assert queue == Queue(qid, "jobs", 3, queue.created_at)
    assert [q.queue_name for q in admin.list_queues()] == ["jobs"]
    with pytest.raises(QueueNotFound, match='"nope"'):
        admin.get_queue("nope")
    with pytest.raises(InvalidQueueName):
        admin.create_queue("bad name!")
    with pytest.raises(InvalidArgument):
        admin.create_queue("zero", max_attempts=0)

    Producer(admin.pool, "jobs", admin.config).enqueue({"n": 1})
    with pytest.raises(QueueNotEmpty) as excinfo:
        admin.drop_queue("jobs")
    assert "1 messages" in excinfo.value.detail
    assert admin.purge_queue("jobs") == 1
    assert admin.drop_queue("jobs") is True
    assert admin.drop_queue("jobs", if_exists=True) is False
    with pytest.raises(QueueNotFound):
        admin.drop_queue("jobs")


def test_drop_queue_force(admin):
    admin.create_queue("q")
    Producer(admin.pool, "q", admin.config).batch_enqueue([1, 2, 3])
    assert admin.drop_queue("q", force=True) is True
    assert admin.list_queues() == []


def test_metrics(admin):
    admin.create_queue("a")
    admin.create_queue("b")
    producer = Producer(admin.pool, "a", admin.config)
    producer.batch_enqueue([{"i": i} for i in range(3)])
    producer.enqueue({"later": True}, delay_seconds=3600)
    consumer = Consumer(admin.pool, "a", admin.config)
    msg = consumer.dequeue()
    consumer.archive(msg.id)
    consumer.dequeue()
    m = admin.metrics("a")
    assert isinstance(m, QueueMetrics)
    assert (m.queue_name, m.ready, m.in_flight, m.delayed, m.archived, m.dead_lettered) == ("a", 1, 1, 1, 1, 0)
    assert isinstance(m.oldest_ready_age, dt.timedelta)
    assert m.to_dict()["oldest_ready_age"] >= 0
    assert [x.queue_name for x in admin.metrics_all()] == ["a", "b"]
    with pytest.raises(QueueNotFound):
        admin.metrics("c")


def test_workers(admin):
    admin.create_queue("w")
    wid = admin.register_worker("w", "host-1", 8080)
    admin.heartbeat(wid)
    health = admin.get_worker(wid)
    assert isinstance(health, WorkerHealth)
    assert (health.queue_name, health.hostname, health.port, health.status, health.messages_held) == (
        "w", "host-1", 8080, "active", 0)
    Producer(admin.pool, "w", admin.config).enqueue({"x": 1})
    Consumer(admin.pool, "w", admin.config, worker_id=wid).dequeue()
    assert admin.get_worker(wid).messages_held == 1
    assert [h.worker_id for h in admin.list_workers()] == [wid]
    assert [h.worker_id for h in admin.list_workers("w")] == [wid]
    with pytest.raises(QueueNotFound):
        admin.list_workers("other")
    admin.create_queue("idle")
    assert admin.list_workers("idle") == []
    assert admin.stop_worker(wid) == 1
    assert admin.get_worker(wid).status == "stopped"
    assert admin.metrics("w").ready == 1
    with pytest.raises(WorkerNotActive):
        admin.heartbeat(wid)
    with pytest.raises(WorkerNotFound):
        admin.get_worker(999999)
    with pytest.raises(WorkerNotFound):
        admin.heartbeat(999999)
    assert admin.purge_workers(0) == 1
    assert admin.list_workers() == []


def test_reap_workers(admin):
    admin.create_queue("r")
    wid = admin.register_worker("r", "host", 1)
    Producer(admin.pool, "r", admin.config).enqueue({})
    assert Consumer(admin.pool, "r", admin.config, worker_id=wid).dequeue() is not None
    assert admin.reap_workers(3600) == 0
    with admin.pool.connection() as conn:
        conn.execute("UPDATE pgqrs.pgqrs_workers SET heartbeat_at = now() - interval '1 hour'")
    admin.create_queue("other")
    assert admin.reap_workers(60, queue="other") == 0  # one queue: not this worker's
    assert admin.get_worker(wid).status == "active"
    assert admin.reap_workers(60, queue="r") == 1
    assert admin.get_worker(wid).status == "dead"
    with pytest.raises(InvalidArgument, match="at least 5"):
        admin.reap_workers(4)
    with pytest.raises(QueueNotFound):
        admin.reap_workers(60, queue="ghost")


def test_archive_and_messages(admin):
    admin.create_queue("m")
    producer = Producer(admin.pool, "m", admin.config)
    ids = producer.batch_enqueue([{"i": i} for i in range(4)])
    consumer = Consumer(admin.pool, "m", admin.config)
    assert admin.count_messages("m") == 4
    msgs = admin.list_messages("m", limit=2)
    assert [m.id for m in msgs] == ids[:2] and all(isinstance(m, Message) for m in msgs)
    assert admin.get_message("m", ids[0]).payload == {"i": 0}
    assert admin.get_message("m", 424242) is None
    leased = consumer.dequeue_batch(2)
    assert consumer.archive_batch([m.id for m in leased]) == [True, True]
    assert admin.count_archive("m") == 2
    archived = admin.list_archive("m")
    assert [a.id for a in archived] == ids[:2]
    assert isinstance(archived[0], ArchivedMessage) and archived[0].dead_lettered is False
    assert isinstance(archived[0].processing_duration, dt.timedelta)
    assert admin.get_archived("m", ids[0]).payload == {"i": 0}
    assert admin.get_archived("m", ids[3]) is None
    assert isinstance(archived[0].to_dict()["processing_duration"], float)
    assert admin.purge_archive("m", older_than_seconds=3600) == 0
    assert admin.purge_archive("m") == 2
    for method in (admin.list_messages, admin.list_archive, admin.count_messages, admin.count_archive):
        with pytest.raises(QueueNotFound):
            method("ghost")
    with pytest.raises(QueueNotFound):
        admin.get_message("ghost", 1)


def test_dead_letters_and_replay(admin):
    admin.create_queue("dl", max_attempts=1)
    producer = Producer(admin.pool, "dl", admin.config)
    first = producer.enqueue({"doomed": 1})
    consumer = Consumer(admin.pool, "dl", admin.config)
    assert consumer.dequeue(lock_time_seconds=0).id == first
    assert consumer.dequeue() is None  # buried on the way
    dead = admin.dead_letters("dl")
    assert [d.id for d in dead] == [first] and dead[0].dead_lettered
    assert admin.metrics("dl").dead_lettered == 1
    assert admin.purge_archive("dl") == 0  # dead letters are kept unless asked
    assert admin.replay_dead_letters("dl") == [first]
    assert admin.dead_letters("dl") == []
    msg = consumer.dequeue()
    assert msg.id == first and msg.read_ct == 1
    consumer.release(msg.id)  # used up max_attempts: dead-lettered again
    assert admin.replay_dead_letters("dl", ids=[12345]) == []
    assert admin.purge_archive("dl", include_dead_letters=True) == 1


def test_sql_api_by_plain_psycopg_still_agrees(admin, dsn):
    """The library is a thin layer: what it writes, plain SQL reads."""
    admin.create_queue("plain")
    msg_id = Producer(admin.pool, "plain", admin.config).enqueue({"a": [1, 2]})
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT payload FROM pgqrs.pgqrs_messages WHERE id = %s", [msg_id]).fetchone()[0] == {
            "a": [1, 2]}


def test_pause_and_resume(admin, config):
    admin.create_queue("q")
    Producer(admin.pool, "q", config).enqueue({"n": 1})
    consumer = Consumer(admin.pool, "q", config)
    admin.pause_queue("q")
    assert admin.get_queue("q").paused and admin.metrics("q").paused
    assert consumer.dequeue() is None
    # A long poll on a paused queue waits, and delivers as soon as the queue is resumed.
    timer = threading.Timer(0.5, admin.resume_queue, ["q"])
    timer.start()
    started = time.monotonic()
    message = consumer.dequeue(wait_seconds=20)
    timer.join()
    assert message.payload == {"n": 1} and 0.4 < time.monotonic() - started < 10
    assert not admin.metrics("q").paused
    with pytest.raises(QueueNotFound):
        admin.pause_queue("nope")
