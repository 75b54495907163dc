"""A long poll (dequeue with wait_seconds) that something changes under: two real sessions, the
poll in a thread, the change made from another connection while it waits."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest


def _poll_in_thread(dsn: str, query: str, params: list) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            started = time.monotonic()
            try:
                outcome["rows"] = conn.execute(query, params).fetchall()
            except psycopg.Error as exc:
                outcome["sqlstate"] = exc.sqlstate
            outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _polling(conn: psycopg.Connection) -> None:
    """Wait until another session is inside pgqrs.dequeue."""
    for _ in range(200):
        if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%%pgqrs.dequeue%%' "
                        "AND pid <> pg_backend_pid() AND state = 'active'").fetchone()[0]:
            return
        time.sleep(0.02)
    pytest.fail("the long poll never started")


def test_a_worker_stopped_during_its_long_poll_leases_nothing(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pgqrs.create_queue('poll')")
        worker = conn.execute("SELECT pgqrs.register_worker('poll', 'h', 1)").fetchone()[0]
        thread, outcome = _poll_in_thread(
            dsn, "SELECT id FROM pgqrs.dequeue('poll', 1, 600, %s::bigint, wait_seconds => 20)", [worker])
        _polling(conn)
        assert conn.execute("SELECT pgqrs.stop_worker(%s::bigint)", [worker]).fetchone()[0] == 0
        conn.execute("SELECT pgqrs.enqueue('poll', '{}')")
        thread.join(30)
        assert outcome.get("sqlstate") == "PQ009", outcome  # the stopped worker's poll ends, leasing nothing
        assert outcome["seconds"] < 15
        assert conn.execute("SELECT count(*) FROM pgqrs.pgqrs_messages WHERE worker_id IS NOT NULL").fetchone()[0] == 0


def test_a_long_poll_obeys_a_pause_issued_while_it_waits(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pgqrs.create_queue('poll')")
        thread, outcome = _poll_in_thread(dsn, "SELECT id FROM pgqrs.dequeue('poll', 1, 600, wait_seconds => 2)", [])
        _polling(conn)
        conn.execute("SELECT pgqrs.pause_queue('poll')")
        conn.execute("SELECT pgqrs.enqueue('poll', '{}')")
        thread.join(30)
        assert outcome.get("rows") == [], outcome
        assert conn.execute("SELECT ready FROM pgqrs.metrics('poll')").fetchone()[0] == 1
