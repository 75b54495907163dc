"""Plans a session made on empty tables stay right for the backlog that comes later.

The functions use generic plans, which a session keeps until the tables'
statistics change. Workers start before the work comes, so their plans are
made on empty tables; with 20,000 messages there afterwards, every statement
must still read only the rows it needs (auto_explain shows what it read).
"""

from __future__ import annotations

import json
import time

import psycopg

TABLES = {"pgqrs_messages", "pgqrs_delayed"}


def lease_and_acknowledge(conn: psycopg.Connection) -> None:
    """Every way of leasing and acknowledging, once (id 0 where the queue gives none)."""
    next_id = "coalesce((SELECT id FROM pgqrs.dequeue('burst', 1, 60)), 0)"
    conn.execute("SELECT pgqrs.delete_batch('burst', ARRAY(SELECT id FROM pgqrs.dequeue('burst', 5, 60)))")
    conn.execute("SELECT pgqrs.archive_batch('burst', ARRAY(SELECT id FROM pgqrs.dequeue('burst', 5, 60)))")
    conn.execute(f"SELECT pgqrs.delete('burst', {next_id})")
    conn.execute(f"SELECT pgqrs.archive('burst', {next_id})")
    conn.execute(f"SELECT pgqrs.extend_visibility('burst', {next_id}, 60)")
    conn.execute(f"SELECT pgqrs.release('burst', {next_id})")


def scans(plan: dict):
    """Every node of a JSON plan that scans a pgqrs table."""
    if plan.get("Relation Name") in TABLES and plan["Node Type"] != "ModifyTable":
        yield plan
    for child in plan.get("Plans", []):
        yield from scans(child)


def test_plans_made_on_empty_tables_read_only_what_they_need(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pgqrs.create_queue('burst', max_attempts => 3)")  # dead-lettering on the way
        conn.execute("VACUUM ANALYZE pgqrs.pgqrs_messages, pgqrs.pgqrs_delayed")
        lease_and_acknowledge(conn)  # plans made here, on empty tables

        for _ in range(2):
            conn.execute("SELECT pgqrs.enqueue_batch('burst', array_fill('{\"n\": 1}'::jsonb, ARRAY[10000]))")
        conn.execute("SELECT pgqrs.enqueue_batch('burst', array_fill('{\"later\": 1}'::jsonb, ARRAY[3000]), 1)")
        time.sleep(1.1)  # the delayed ones are due: the next dequeue moves them

        plans: list[dict] = []
        conn.add_notice_handler(
            lambda notice: plans.append(json.loads(notice.message_primary.split("plan:", 1)[1])["Plan"])
            if "plan:" in (notice.message_primary or "") else None)
        conn.execute("LOAD 'auto_explain'")
        for setting in ("log_min_duration = 0", "log_nested_statements = on", "log_analyze = on",
                        "log_format = json", "log_level = notice"):
            conn.execute(f"SET auto_explain.{setting}")
        lease_and_acknowledge(conn)
        conn.execute("RESET auto_explain.log_min_duration")

    read = [(node["Node Type"], node["Relation Name"], node.get("Index Name"), node["Actual Rows"],
             node.get("Rows Removed by Filter", 0)) for plan in plans for node in scans(plan)]
    assert len(read) > 20, read  # the nested statements were seen
    moved_due = [r for r in read if r[1] == "pgqrs_delayed" and r[3] >= 1000]
    assert moved_due, read  # the dequeue moved the due messages (a thousand at a time)
    wasteful = [r for r in read if r[0] not in ("Index Scan", "Index Only Scan") or r[4] > 50]
    assert wasteful == [], wasteful
