"""Table classes: plain reads of the pgqrs tables, deletes by id (through the SQL API where it keeps rules)."""

from __future__ import annotations

import pytest

from pgqrs import AsyncConsumer, AsyncProducer, Producer, QueueNotEmpty


def test_table_classes(admin):
    qid = admin.create_queue("t")
    other = admin.create_queue("u")
    ids = Producer(admin.pool, "t", admin.config).batch_enqueue([1, 2, 3])
    wid = admin.register_worker("t", "h", 1)
    assert admin.queues.count() == 2
    assert admin.queues.get(qid).queue_name == "t"
    assert admin.queues.count_by_fk(qid) == 1
    assert [q.id for q in admin.queues.list()] == [qid, other]
    assert admin.messages.count() == 3
    assert admin.messages.count_by_fk(qid) == 3
    assert admin.messages.count_by_fk(other) == 0
    assert [m.id for m in admin.messages.filter_by_fk(qid, limit=2)] == ids[:2]
    assert admin.messages.get(ids[0]).payload == 1
    assert admin.messages.delete(ids[0]) is True
    assert admin.messages.delete(ids[0]) is False
    assert admin.workers.get(wid).hostname == "h"
    assert admin.workers.count_by_fk(qid) == 1
    assert admin.workers.delete(wid) is True
    assert admin.workers.get(wid) is None
    with pytest.raises(QueueNotEmpty):
        admin.queues.delete(qid)
    assert admin.queues.delete(other) is True
    assert admin.queues.delete(other) is False
    assert admin.archive.count() == 0
    assert admin.archive.list() == []
    delayed = Producer(admin.pool, "t", admin.config).enqueue({"later": 1}, delay_seconds=3600)
    assert admin.messages.get(delayed).payload == {"later": 1}  # delayed ones are messages too
    assert admin.messages.delete(delayed) is True


async def test_async_table_classes(async_admin):
    qid = await async_admin.create_queue("at")
    pool = async_admin.pool
    ids = await AsyncProducer(pool, "at", async_admin.config).batch_enqueue(["a", "b"])
    assert await async_admin.queues.count() == 1
    assert (await async_admin.queues.get(qid)).queue_name == "at"
    assert await async_admin.messages.count_by_fk(qid) == 2
    assert [m.id for m in await async_admin.messages.filter_by_fk(qid)] == ids
    assert [m.id for m in await async_admin.messages.list()] == ids
    msg = await AsyncConsumer(pool, "at", async_admin.config).dequeue()
    await AsyncConsumer(pool, "at", async_admin.config).archive(msg.id)
    assert (await async_admin.archive.get(msg.id)).payload == "a"
    assert await async_admin.archive.count_by_fk(qid) == 1
    assert await async_admin.archive.delete(msg.id) is True
    assert await async_admin.workers.count() == 0
    assert await async_admin.messages.delete(ids[1]) is True
    assert await async_admin.queues.delete(qid) is True
