"""Producer and Consumer (sync): enqueue, leases, acknowledgements, fencing, validation."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from pgqrs import (
    BatchTooLarge,
    Consumer,
    InvalidArgument,
    InvalidPayload,
    Message,
    PayloadTooLarge,
    Producer,
    QueueNotFound,
    WorkerNotActive,
    WorkerNotFound,
)
from pgqrs.producer import TokenBucket


@pytest.fixture
def queue(admin):
    admin.create_queue("jobs")
    return "jobs"


@pytest.fixture
def producer(admin, queue):
    return Producer(admin.pool, queue, admin.config)


@pytest.fixture
def consumer(admin, queue):
    return Consumer(admin.pool, queue, admin.config)


def test_enqueue_dequeue_archive(producer, consumer, admin):
    msg_id = producer.enqueue({"to": "a@example.com"})
    msg = consumer.dequeue()
    assert isinstance(msg, Message)
    assert (msg.id, msg.payload, msg.read_ct, msg.worker_id) == (msg_id, {"to": "a@example.com"}, 1, None)
    assert msg.vt > msg.dequeued_at
    assert consumer.dequeue() is None  # leased
    assert consumer.archive(msg_id) is True
    assert consumer.archive(msg_id) is False
    assert admin.metrics("jobs").archived == 1
    assert msg.to_dict()["enqueued_at"] == msg.enqueued_at.isoformat()


def test_batch_fifo_and_delete_batch(producer, consumer):
    ids = producer.batch_enqueue([{"i": i} for i in range(5)])
    assert ids == sorted(ids) and len(ids) == 5
    assert producer.batch_enqueue([]) == []
    batch = consumer.dequeue_batch(3)
    assert [m.id for m in batch] == ids[:3]
    assert consumer.delete_batch([ids[2], 999999, ids[0]]) == [True, False, True]
    assert consumer.delete(ids[1]) is True
    assert consumer.delete(ids[1]) is False
    rest = consumer.dequeue_batch()  # default: config.default_max_batch_size
    assert [m.id for m in rest] == ids[3:]
    assert consumer.archive_batch([ids[3], ids[4], 424242]) == [True, True, False]
    assert consumer.archive_batch([]) == []


def test_lock_time_and_release(producer, consumer):
    msg_id = producer.enqueue("x")
    assert consumer.dequeue(lock_time_seconds=0).id == msg_id
    again = consumer.dequeue(lock_time_seconds=60)  # a lease of 0 seconds ran out at once
    assert again.id == msg_id and again.read_ct == 2
    assert consumer.release(msg_id) is True
    assert consumer.release(msg_id) is False  # not leased any more
    assert consumer.dequeue().id == msg_id
    assert consumer.release(msg_id, delay_seconds=3600) is True
    assert consumer.dequeue() is None


def test_delayed_and_extend_visibility(producer, consumer, admin):
    msg_id = producer.enqueue_delayed({"later": True}, 3600)
    assert consumer.dequeue() is None
    assert admin.metrics("jobs").delayed == 1
    now_id = producer.enqueue({"now": True}, delay_seconds=0)
    msg = consumer.dequeue()
    assert msg.id == now_id
    vt = consumer.extend_visibility(now_id, 600)
    assert isinstance(vt, dt.datetime) and vt > msg.vt
    assert producer.extend_visibility(now_id, 700) > vt
    assert consumer.extend_visibility(123456789, 10) is None
    assert admin.get_message("jobs", msg_id).payload == {"later": True}


def test_worker_fencing(admin, producer):
    w1 = admin.register_worker("jobs", "h1", 1)
    w2 = admin.register_worker("jobs", "h2", 2)
    c1 = Consumer(admin.pool, "jobs", admin.config, worker_id=w1)
    c2 = Consumer(admin.pool, "jobs", admin.config, worker_id=w2)
    msg_id = producer.enqueue({"job": 1})
    assert c1.dequeue(lock_time_seconds=0).worker_id == w1
    assert c2.dequeue(lock_time_seconds=60).id == msg_id  # w1's lease ran out
    assert c1.archive(msg_id) is False  # late: fenced off
    assert c1.delete(msg_id) is False
    assert c1.extend_visibility(msg_id, 10) is None
    assert c1.release(msg_id) is False
    assert c1.delete_batch([msg_id]) == [False]
    assert c2.archive(msg_id) is True
    admin.stop_worker(w1)
    with pytest.raises(WorkerNotActive):
        c1.dequeue()
    with pytest.raises(WorkerNotFound):
        Consumer(admin.pool, "jobs", admin.config, worker_id=987654).dequeue()


@pytest.mark.parametrize(
    "payload",
    [None, {1, 2}, object(), float("nan"), {"x": math.inf}],
    ids=["none", "set", "object", "nan", "inf"],
)
def test_payload_validation(producer, payload):
    with pytest.raises(InvalidPayload):
        producer.enqueue(payload)
    with pytest.raises(InvalidPayload):
        producer.batch_enqueue([{"ok": 1}, payload])


def test_payload_size_limit(admin, queue):
    small = Producer(admin.pool, queue, admin.config, max_payload_bytes=20)
    assert small.enqueue({"a": "12345"})
    with pytest.raises(PayloadTooLarge, match="more than the limit of 20"):
        small.enqueue({"a": "x" * 50})
    with pytest.raises(InvalidPayload):  # PayloadTooLarge is an InvalidPayload
        small.batch_enqueue(["x" * 50])
    assert admin.count_messages(queue) == 1  # nothing of the failed batch was sent


def test_json_values_round_trip(producer, consumer):
    payloads = [1, "text", [1, "two", None], {"nested": {"ü": True}}, 2.5]
    ids = producer.batch_enqueue(payloads)
    assert [m.payload for m in consumer.dequeue_batch(10)] == payloads
    assert len(ids) == len(payloads)


def test_argument_errors(producer, consumer, admin):
    with pytest.raises(InvalidArgument, match="delay_seconds"):
        producer.enqueue({}, delay_seconds=-1)
    with pytest.raises(InvalidArgument, match="qty"):
        consumer.dequeue_batch(0)
    with pytest.raises(BatchTooLarge):
        consumer.dequeue_batch(10_001)
    with pytest.raises(BatchTooLarge):
        producer.batch_enqueue([1] * 10_001)
    with pytest.raises(QueueNotFound, match='"missing"'):
        Producer(admin.pool, "missing", admin.config).enqueue({})
    with pytest.raises(QueueNotFound):
        Consumer(admin.pool, "missing", admin.config).dequeue()
    assert admin.count_messages("jobs") == 0


def test_dead_letters_through_consumer(admin, producer):
    admin.create_queue("fragile", max_attempts=2)
    p = Producer(admin.pool, "fragile", admin.config)
    c = Consumer(admin.pool, "fragile", admin.config)
    msg_id = p.enqueue({"bad": True})
    for _ in range(2):
        assert c.dequeue(lock_time_seconds=0).id == msg_id
    assert c.dequeue() is None
    assert [d.id for d in admin.dead_letters("fragile")] == [msg_id]


def test_rate_limit_bucket():
    bucket = TokenBucket(10)
    assert bucket.reserve(10) == 0.0  # a full burst is free
    wait = bucket.reserve(5)
    assert 0.4 < wait <= 0.5


def test_rate_limited_producer_sleeps(admin, queue, monkeypatch):
    slept = []
    monkeypatch.setattr("pgqrs.producer.time.sleep", slept.append)
    producer = Producer(admin.pool, queue, admin.config, rate_limit_per_second=2)
    for _ in range(4):
        producer.enqueue({})
    assert len(slept) == 2 and all(s > 0 for s in slept)

