"""Fast wake-up in SQL: enqueue notifications and the long-poll dequeue."""

from __future__ import annotations

import threading
import time

import psycopg
from psycopg import sql


def notifications(listener: psycopg.Connection, seconds: float = 0.3) -> list[str]:
    return [n.channel for n in listener.notifies(timeout=seconds)]


def test_enqueue_notifies_once_per_call_only_when_asked(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn, psycopg.connect(dsn, autocommit=True) as listener:
        conn.execute("SELECT pgqrs.create_queue('loud', notify => true)")
        conn.execute("SELECT pgqrs.create_queue('quiet')")
        channel = conn.execute("SELECT pgqrs.notify_channel('loud')").fetchone()[0]
        quiet = conn.execute("SELECT pgqrs.notify_channel('quiet')").fetchone()[0]
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(quiet)))

        conn.execute("SELECT pgqrs.enqueue('loud', '{}')")
        assert notifications(listener) == [channel]
        conn.execute("SELECT pgqrs.enqueue_batch('loud', ARRAY['{}', '{}', '{}']::jsonb[])")
        assert notifications(listener) == [channel]
        with conn.transaction():  # several enqueues, one transaction: one notification
            for _ in range(3):
                conn.execute("SELECT pgqrs.enqueue('loud', '{}')")
        assert notifications(listener) == [channel]
        conn.execute("SELECT pgqrs.enqueue('loud', '{}', 60)")  # delayed: nothing to wake up for
        conn.execute("SELECT pgqrs.enqueue_batch('loud', ARRAY[]::jsonb[])")
        conn.execute("SELECT pgqrs.enqueue('quiet', '{}')")
        assert notifications(listener) == []
        conn.execute("SELECT pgqrs.set_queue_notify('loud', false)")
        conn.execute("SELECT pgqrs.enqueue('loud', '{}')")
        assert notifications(listener) == []


def test_long_poll_returns_as_soon_as_a_message_arrives(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pgqrs.create_queue('poll')")

    result: dict[str, object] = {}

    def consume() -> None:
        with psycopg.connect(dsn, autocommit=True) as consumer:
            started = time.monotonic()
            result["rows"] = consumer.execute(
                "SELECT payload FROM pgqrs.dequeue('poll', 1, 30, wait_seconds => 10)").fetchall()
            result["waited"] = time.monotonic() - started

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.5)
    with psycopg.connect(dsn, autocommit=True) as producer:
        producer.execute("SELECT pgqrs.enqueue('poll', '{\"n\": 1}')")
    thread.join(timeout=15)
    assert result["rows"] == [({"n": 1},)]
    assert 0.5 <= result["waited"] < 2, result["waited"]


def test_library_long_poll_and_channel(admin):
    from pgqrs import Consumer

    admin.create_queue("polled", notify=True)
    consumer = Consumer(admin.pool, "polled", admin.config)
    assert consumer.notify_channel() == admin.notify_channel("polled")
    started = time.monotonic()
    assert consumer.dequeue_batch(5, wait_seconds=1) == []
    assert time.monotonic() - started >= 1
    admin.set_queue_notify("polled", False)
    assert admin.get_queue("polled").notify is False
