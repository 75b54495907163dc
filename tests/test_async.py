"""The async twins: every method of AsyncAdmin, AsyncProducer and AsyncConsumer, awaited."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect

import pytest

import pgqrs
from pgqrs import (
    AsyncAdmin,
    AsyncConsumer,
    AsyncProducer,
    Config,
    InstallResult,
    InvalidPayload,
    Message,
    PayloadTooLarge,
    QueueExists,
    QueueNotEmpty,
    QueueNotFound,
    WorkerNotFound,
)
from pgqrs.install import script_version

CURRENT = script_version()  # the version this package installs


async def test_admin_queue_and_worker_methods(async_admin):
    a = async_admin
    assert await a.version() == CURRENT
    assert (await a.verify()).ok
    assert await a.install() == InstallResult("extension", "pgqrs", CURRENT, changed=False)
    qid = await a.create_queue("aq", max_attempts=1)
    with pytest.raises(QueueExists):
        await a.create_queue("aq")
    assert await a.create_queue("aq", if_not_exists=True) == qid
    assert (await a.get_queue("aq")).id == qid
    assert [q.queue_name for q in await a.list_queues()] == ["aq"]
    wid = await a.register_worker("aq", "h", 9)
    await a.heartbeat(wid)
    assert (await a.get_worker(wid)).status == "active"
    assert [w.worker_id for w in await a.list_workers("aq")] == [wid]
    with pytest.raises(WorkerNotFound):
        await a.get_worker(wid + 1000)
    assert await a.reap_workers(3600) == 0
    assert await a.stop_worker(wid) == 0
    assert await a.purge_workers(0) == 1

    producer = AsyncProducer(a.pool, "aq", a.config)
    consumer = AsyncConsumer(a.pool, "aq", a.config)
    ids = await producer.batch_enqueue([{"i": 0}, {"i": 1}])
    assert await a.count_messages("aq") == 2
    assert [m.id for m in await a.list_messages("aq")] == ids
    assert (await a.get_message("aq", ids[0])).payload == {"i": 0}
    m = await consumer.dequeue(lock_time_seconds=0)
    assert await consumer.dequeue() is not None  # the other one
    assert await consumer.dequeue() is None  # m was buried (max_attempts=1)
    dead = await a.dead_letters("aq")
    assert [d.id for d in dead] == [m.id]
    assert await a.replay_dead_letters("aq", [m.id]) == [m.id]
    again = await consumer.dequeue()
    assert await consumer.archive(again.id) is True
    assert await a.count_archive("aq") == 1
    assert [x.id for x in await a.list_archive("aq")] == [again.id]
    assert (await a.get_archived("aq", again.id)).dead_lettered is False
    metrics = await a.metrics("aq")
    assert (metrics.ready, metrics.in_flight, metrics.archived) == (0, 1, 1)
    assert [x.queue_name for x in await a.metrics_all()] == ["aq"]
    assert await a.purge_archive("aq") == 1
    with pytest.raises(QueueNotEmpty):
        await a.drop_queue("aq")
    assert await a.purge_queue("aq") == 1
    assert await a.drop_queue("aq") is True
    assert await a.drop_queue("aq", if_exists=True) is False
    with pytest.raises(QueueNotFound):
        await a.metrics("aq")


async def test_producer_and_consumer(async_admin):
    await async_admin.create_queue("pc")
    pool = async_admin.pool
    producer = AsyncProducer(pool, "pc", async_admin.config, max_payload_bytes=100)
    wid = await async_admin.register_worker("pc", "h", 1)
    consumer = AsyncConsumer(pool, "pc", async_admin.config, worker_id=wid)
    first = await producer.enqueue({"n": 1})
    delayed = await producer.enqueue_delayed({"n": 2}, 3600)
    ids = await producer.batch_enqueue([{"n": 3}, {"n": 4}, {"n": 5}])
    with pytest.raises(PayloadTooLarge):
        await producer.enqueue({"big": "x" * 200})
    with pytest.raises(InvalidPayload):
        await producer.batch_enqueue([{1, 2}])
    msg = await consumer.dequeue()
    assert isinstance(msg, Message) and msg.id == first and msg.worker_id == wid
    vt = await consumer.extend_visibility(first, 120)
    assert isinstance(vt, dt.datetime)
    assert isinstance(await producer.extend_visibility(delayed, 7200), dt.datetime)
    assert await consumer.release(first) is True
    batch = await consumer.dequeue_batch(10, lock_time_seconds=60)
    assert [m.id for m in batch] == [first, *ids]
    assert await consumer.delete(first) is True
    assert await consumer.delete_batch([ids[0], 999]) == [True, False]
    assert await consumer.archive_batch([ids[1], ids[2]]) == [True, True]
    assert await consumer.archive(ids[1]) is False


async def test_concurrent_consumers_never_share_a_message(async_admin):
    await async_admin.create_queue("many")
    pool = async_admin.pool
    await AsyncProducer(pool, "many", async_admin.config).batch_enqueue(list(range(40)))
    consumers = [AsyncConsumer(pool, "many", async_admin.config) for _ in range(4)]

    async def drain(c: AsyncConsumer) -> list[int]:
        got = []
        while batch := await c.dequeue_batch(3):
            got += [m.id for m in batch]
            assert await c.delete_batch([m.id for m in batch]) == [True] * len(batch)
        return got

    results = await asyncio.gather(*(drain(c) for c in consumers))
    seen = [i for r in results for i in r]
    assert len(seen) == len(set(seen)) == 40


async def test_async_constructor_does_not_connect():
    admin = AsyncAdmin(Config(dsn="host=192.0.2.1 connect_timeout=1"))
    assert admin._pool is None
    await admin.close()


@pytest.mark.parametrize(
    ("sync_cls", "async_cls"),
    [
        (pgqrs.Admin, pgqrs.AsyncAdmin),
        (pgqrs.Producer, pgqrs.AsyncProducer),
        (pgqrs.Consumer, pgqrs.AsyncConsumer),
        (pgqrs.PgqrsQueues, pgqrs.AsyncPgqrsQueues),
        (pgqrs.PgqrsWorkers, pgqrs.AsyncPgqrsWorkers),
        (pgqrs.PgqrsMessages, pgqrs.AsyncPgqrsMessages),
        (pgqrs.PgqrsArchiveTable, pgqrs.AsyncPgqrsArchiveTable),
    ],
)
def test_async_twins_match(sync_cls, async_cls):
    """Every public method has an async twin (async def) with the same signature and docstring."""
    names = {n for n, v in vars(sync_cls).items() if callable(v) and not n.startswith("_")}
    for klass in sync_cls.__mro__[1:]:
        names |= {n for n, v in vars(klass).items() if callable(v) and not n.startswith("_") and klass is not object}
    assert names
    for name in sorted(names):
        sync_method, async_method = getattr(sync_cls, name), getattr(async_cls, name)
        assert inspect.iscoroutinefunction(async_method), name
        assert sync_method.__doc__ == async_method.__doc__ and sync_method.__doc__, name
        sync_sig, async_sig = inspect.signature(sync_method), inspect.signature(async_method)
        assert sync_sig.parameters == async_sig.parameters, name
        if name != "open":  # returns self: an Admin, an AsyncAdmin
            assert sync_sig.return_annotation == async_sig.return_annotation, name
