"""Maintenance scheduled with pg_cron, where it is installed: reaping and archive retention."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from conftest import PG_BIN

pytestmark = pytest.mark.skipif(
    not (Path(PG_BIN).parent / "lib" / "pg_cron.so").exists(), reason="pg_cron is not installed"
)

# The schedule of docs/operations/monitoring.md, as an operator would run it.
SCHEDULE = """
SELECT cron.schedule('pgqrs-reap', '* * * * *', $$SELECT pgqrs.reap_workers(stale_after_seconds => 60)$$);
SELECT cron.schedule('pgqrs-archive-retention', '* * * * *',
       $$SELECT pgqrs.purge_archive(queue_name, older_than_seconds => 7 * 86400)
         FROM pgqrs.pgqrs_queues$$);
"""


def test_pg_cron_reaps_dead_workers_and_trims_the_archive(own_server):
    with own_server("-c shared_preload_libraries=pg_cron -c cron.database_name=postgres") as (dsn, _, _):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_cron")
            conn.execute("SELECT pgqrs.create_queue('cron')")
            worker = conn.execute("SELECT pgqrs.register_worker('cron', 'gone', 0)").fetchone()[0]
            conn.execute("SELECT pgqrs.enqueue_batch('cron', ARRAY['{}', '{}', '{}']::jsonb[])")
            conn.execute("SELECT count(*) FROM pgqrs.dequeue('cron', 2, 3600, %s)", [worker])
            conn.execute("SELECT pgqrs.archive('cron', id) FROM pgqrs.dequeue('cron', 1)")
            # A worker silent for 10 minutes, and a message archived 8 days ago.
            conn.execute("UPDATE pgqrs.pgqrs_workers SET heartbeat_at = now() - interval '10 minutes'")
            conn.execute("UPDATE pgqrs.pgqrs_archive SET archived_at = now() - interval '8 days'")
            conn.execute(SCHEDULE)

            deadline = time.monotonic() + 75  # pg_cron runs jobs at the start of each minute
            while time.monotonic() < deadline:
                status = conn.execute("SELECT status FROM pgqrs.pgqrs_workers").fetchone()[0]
                archived = conn.execute("SELECT count(*) FROM pgqrs.pgqrs_archive").fetchone()[0]
                if status == "dead" and archived == 0:
                    break
                time.sleep(1)
            assert (status, archived) == ("dead", 0)
            assert conn.execute("SELECT ready, in_flight FROM pgqrs.metrics('cron')").fetchone() == (2, 0)
            failed = conn.execute("SELECT count(*) FROM cron.job_run_details WHERE status <> 'succeeded'")
            assert failed.fetchone()[0] == 0


def test_pg_cron_runs_the_schedules(own_server):
    """The jobs page's line: pg_cron calls run_schedules() every minute, with no worker running."""
    from test_readme import JOBS, page_blocks

    (recipe,) = [block for block in page_blocks(JOBS, "sql") if "cron.schedule" in block]
    with own_server("-c shared_preload_libraries=pg_cron -c cron.database_name=postgres") as (dsn, _, _):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_cron")
            conn.execute("SELECT pgqrs.create_queue('scheduled')")
            conn.execute("SELECT pgqrs.create_schedule('overdue', 'scheduled', '0 0 1 1 *', '{\"job\": 1}')")
            # Due since a minute ago: the next pg_cron run enqueues it, once.
            conn.execute("UPDATE pgqrs.pgqrs_schedules SET next_run_at = now() - interval '1 minute'")
            conn.execute(recipe)

            deadline = time.monotonic() + 75  # pg_cron runs jobs at the start of each minute
            while time.monotonic() < deadline:
                ready = conn.execute("SELECT ready FROM pgqrs.metrics('scheduled')").fetchone()[0]
                if ready:
                    break
                time.sleep(1)
            assert ready == 1
            assert conn.execute("SELECT payload FROM pgqrs.pgqrs_messages").fetchone()[0] == {"job": 1}
            assert conn.execute("SELECT next_run_at > now() FROM pgqrs.schedules").fetchone()[0]
            failed = conn.execute("SELECT count(*) FROM cron.job_run_details WHERE status <> 'succeeded'")
            assert failed.fetchone()[0] == 0
