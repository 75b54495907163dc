"""pg_dump / pg_restore keep everything pgqrs holds, in both dump formats."""

from __future__ import annotations

import subprocess
import uuid

import psycopg
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from conftest import fill, snapshot

@pytest.fixture
def restore_target(postgresql_proc):
    dbname = f"restored_{uuid.uuid4().hex[:8]}"
    with DatabaseJanitor(user=postgresql_proc.user, host=postgresql_proc.host, port=postgresql_proc.port,
                         dbname=dbname, password=postgresql_proc.password):
        yield dbname


@pytest.mark.parametrize("dump_format", ["custom", "plain"])
def test_dump_and_restore_keeps_everything(postgresql, postgresql_proc, restore_target, pg_bin, tmp_path, dump_format):
    postgresql.autocommit = True
    fill(postgresql)
    before = snapshot(postgresql)
    metrics_before = postgresql.execute(
        "SELECT queue_name, ready, in_flight, delayed, archived, dead_lettered FROM pgqrs.queue_metrics ORDER BY 1"
    ).fetchall()
    assert [m[1:] for m in metrics_before] == [(0, 0, 0, 0, 1), (2, 2, 1, 2, 0)]

    server = ["-h", postgresql_proc.host, "-p", str(postgresql_proc.port), "-U", postgresql_proc.user]
    dump = tmp_path / "dump"
    source = postgresql.info.dbname
    subprocess.run([pg_bin / "pg_dump", *server, f"--format={dump_format}", "-f", dump, source], check=True)
    if dump_format == "custom":
        subprocess.run([pg_bin / "pg_restore", *server, "--exit-on-error", "-d", restore_target, dump], check=True)
    else:
        subprocess.run([pg_bin / "psql", *server, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", restore_target,
                        "-f", dump], check=True, stdout=subprocess.DEVNULL)

    with psycopg.connect(host=postgresql_proc.host, port=postgresql_proc.port, user=postgresql_proc.user,
                         dbname=restore_target, autocommit=True) as restored:
        assert snapshot(restored) == before
        # Sequences continue after the highest ids.
        assert before["delayed"], "the dump holds a delayed message"
        max_id = max(m["id"] for m in before["messages"] + before["delayed"] + before["archive"])
        assert restored.execute("SELECT pgqrs.enqueue('mail', '{}')").fetchone()[0] > max_id
        assert restored.execute("SELECT pgqrs.create_queue('new')").fetchone()[0] > max(q["id"] for q in before["queues"])
        assert restored.execute("SELECT pgqrs.register_worker('new', 'h', 1)").fetchone()[0] > max(
            w["id"] for w in before["workers"])
        # The extension still works: leases, fencing and dead letters survived.
        assert restored.execute("SELECT count(*) FROM pgqrs.dequeue('mail', 10)").fetchone()[0] == 3
        assert restored.execute("SELECT count(*) FROM pgqrs.replay_dead_letters('fragile')").fetchone()[0] == 1
        assert restored.execute("SELECT pgqrs.version()").fetchone()[0] == postgresql.execute(
            "SELECT pgqrs.version()").fetchone()[0]
