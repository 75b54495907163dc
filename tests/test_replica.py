"""Read replicas: a hot standby of a pg_auto_failover formation answers every read of pgqrs (the
metrics, message_status, the listings) with what the primary holds, the CLI's reading commands
and the dashboard work on it, and every call that writes fails with SQLSTATE 25006
(read_only_sql_transaction): ReadOnlyServer in Python, one `Error:` line and exit code 7 from
the CLI.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from autofailover import PG_AUTOCTL, Formation, formation, wait_until
from conftest import fill, pgqrs_cli
from pgqrs import Admin, Config, Consumer, Producer, ReadOnlyServer
from pgqrs._output import EXIT_READ_ONLY
from test_dashboard import run_dashboard


@pytest.fixture(scope="module")
def replica() -> Iterator[tuple[Formation, str, str]]:
    """A formation with conftest.fill's queues on the primary, caught up on the standby:
    (formation, primary's DSN, standby's DSN)."""
    assert Path(PG_AUTOCTL).exists(), (
        "pg_autoctl is not installed (Debian package postgresql-15-auto-failover; `make test` as root installs it)")
    with formation() as group:
        primary = group.primary()
        [standby] = [node for node in group.nodes if node is not primary]
        with psycopg.connect(primary.dsn, autocommit=True) as conn:
            fill(conn)
            conn.execute("SELECT pgqrs.create_schedule('nightly', 'mail', '0 3 * * *')")
            conn.execute("SELECT pgqrs.bind_topic('mail.#', 'mail')")
            lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        wait_until(lambda: _one(standby.dsn, "SELECT pg_last_wal_replay_lsn() >= %s", [lsn]), 30,
                   "the standby to replay the primary's writes")
        assert _one(standby.dsn, "SELECT pg_is_in_recovery()")
        yield group, primary.dsn, standby.dsn


def _one(dsn: str, query: str, params: list | None = None):
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, params).fetchone()[0]


def _rows(dsn: str, query: str) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query).fetchall()


# Every read of the SQL API, as an application or the dashboard calls it. Columns of the time of
# the reading (now(), ages) are left out, so the standby's answer equals the primary's.
READS = {
    "queue_metrics": "SELECT queue_name, ready, in_flight, delayed, archived, dead_lettered FROM pgqrs.queue_metrics"
                     " ORDER BY queue_name",
    "metrics": "SELECT queue_name, ready, in_flight, delayed, archived, dead_lettered FROM pgqrs.metrics('mail')",
    "metrics_all": "SELECT queue_name, ready, archived FROM pgqrs.metrics_all() ORDER BY queue_name",
    "message_status": "SELECT m.id, s.state, s.read_ct FROM generate_series(1, 9) m(id),"
                      " pgqrs.message_status('mail', m.id) s ORDER BY m.id",
    "wait_for": "SELECT state FROM pgqrs.wait_for('mail', 1, 1)",  # done: at once
    "wait_for_unfinished": "SELECT state FROM pgqrs.wait_for('mail', 5, 1)",  # ready: after its second
    "queue_messages": "SELECT id, read_ct, worker_id FROM pgqrs.queue_messages('mail') ORDER BY id",
    "queue_message": "SELECT id, read_ct FROM pgqrs.queue_message('mail', 3)",
    "archived_messages": "SELECT id, read_ct FROM pgqrs.archived_messages('mail') ORDER BY id",
    "archived_message": "SELECT id, read_ct FROM pgqrs.archived_message('mail', 1)",
    "dead_letters": "SELECT id, read_ct, dead_lettered FROM pgqrs.dead_letters('fragile')",
    "messages": "SELECT id, queue_id, state FROM pgqrs.messages ORDER BY id",
    "worker_health": "SELECT hostname, status, messages_held FROM pgqrs.worker_health ORDER BY hostname",
    "schedules": "SELECT schedule_name, queue_name, cron FROM pgqrs.schedules",
    "topic_bindings": "SELECT pattern, queue_name FROM pgqrs.topic_bindings",
    "notify_channel": "SELECT pgqrs.notify_channel('mail')",
    "version": "SELECT pgqrs.version(), pgqrs.max_batch_size(), pgqrs.max_wait_seconds()",
}


@pytest.mark.parametrize("name", READS)
def test_every_read_works_on_the_standby_and_matches_the_primary(replica, name):
    _, primary, standby = replica
    on_standby = _rows(standby, READS[name])
    assert on_standby == _rows(primary, READS[name])
    assert on_standby  # something to compare: fill() made rows of each kind


def test_messages_enqueued_on_the_standby_runs_ahead_by_at_most_32(replica):
    """The id sequence's position, as WAL logs it: 32 values ahead of what the primary handed out, at most
    (so on a standby the dashboard's enqueue rate moves in steps of up to 32)."""
    _, primary, standby = replica
    on_primary = _one(primary, "SELECT pgqrs.messages_enqueued()")
    assert on_primary <= _one(standby, "SELECT pgqrs.messages_enqueued()") <= on_primary + 32


# Every call that writes, with arguments that would change something on the primary.
WRITES = {
    "create_queue": "SELECT pgqrs.create_queue('other')",
    "alter_queue": "SELECT pgqrs.alter_queue('mail', max_attempts => 3)",
    "drop_queue": "SELECT pgqrs.drop_queue('mail', force => true)",
    "purge_queue": "SELECT pgqrs.purge_queue('mail')",
    "pause_queue": "SELECT pgqrs.pause_queue('mail')",
    "resume_queue": "SELECT pgqrs.resume_queue('mail')",
    "set_queue_notify": "SELECT pgqrs.set_queue_notify('mail', true)",
    "enqueue": "SELECT pgqrs.enqueue('mail', '{}')",
    "enqueue_batch": "SELECT pgqrs.enqueue_batch('mail', ARRAY['{}'::jsonb])",
    "publish": "SELECT pgqrs.publish('mail.new', '{}')",
    "dequeue": "SELECT * FROM pgqrs.dequeue('mail', 1)",
    "delete": "SELECT pgqrs.delete('mail', 5)",
    "delete_batch": "SELECT pgqrs.delete_batch('mail', ARRAY[5, 6])",
    "archive": "SELECT pgqrs.archive('mail', 5)",
    "archive_batch": "SELECT pgqrs.archive_batch('mail', ARRAY[5, 6])",
    "complete": "SELECT pgqrs.complete('mail', 5, '{\"ok\": true}')",
    "extend_visibility": "SELECT pgqrs.extend_visibility('mail', 3, 60)",
    "release": "SELECT pgqrs.release('mail', 3)",
    "cancel": "SELECT pgqrs.cancel('mail', 5)",
    "register_worker": "SELECT pgqrs.register_worker('mail', 'host-c', 1)",
    "heartbeat": "SELECT pgqrs.heartbeat((SELECT min(id) FROM pgqrs.pgqrs_workers))",
    "stop_worker": "SELECT pgqrs.stop_worker((SELECT min(id) FROM pgqrs.pgqrs_workers))",
    "reap_workers": "SELECT pgqrs.reap_workers(5)",
    "purge_workers": "SELECT pgqrs.purge_workers(0)",
    "purge_archive": "SELECT pgqrs.purge_archive('mail')",
    "replay_dead_letters": "SELECT pgqrs.replay_dead_letters('fragile')",
    "purge_dead_letters": "SELECT pgqrs.purge_dead_letters('fragile')",
    "create_schedule": "SELECT pgqrs.create_schedule('hourly', 'mail', '0 * * * *')",
    "drop_schedule": "SELECT pgqrs.drop_schedule('nightly')",
    "run_schedules": "SELECT pgqrs.run_schedules()",
    "bind_topic": "SELECT pgqrs.bind_topic('other.#', 'mail')",
    "unbind_topic": "SELECT pgqrs.unbind_topic('mail.#', 'mail')",
}


@pytest.mark.parametrize("name", WRITES)
def test_every_write_fails_on_the_standby_with_25006(replica, name):
    _, _, standby = replica
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        _rows(standby, WRITES[name])


def test_python_reads_and_a_clear_error_for_writes(replica):
    _, primary, standby = replica
    config = Config(dsn=standby, max_connections=2, connection_timeout_seconds=10)
    with Admin(config) as admin:
        assert admin.metrics("mail").ready == Admin(Config(dsn=primary)).open().metrics("mail").ready
        assert {q.queue_name for q in admin.metrics_all()} == {"mail", "fragile"}
        assert Producer(admin.pool, "mail", config).message_status(1).state == "done"
        with pytest.raises(ReadOnlyServer, match="the server is read-only") as excinfo:
            Producer(admin.pool, "mail", config).enqueue({"n": 1})
        assert excinfo.value.hint and "primary" in excinfo.value.hint
        with pytest.raises(ReadOnlyServer):
            Consumer(admin.pool, "mail", config).dequeue()


# The CLI's reading commands; those whose output holds the time of the reading (ages) are only run.
READING_COMMANDS = [
    ["queue", "list"],
    ["message", "count", "mail"],
    ["message", "show", "mail", "3"],
    ["message", "status", "mail", "1"],
    ["archive", "list", "mail"],
    ["schedule", "list"],
    ["topic", "list"],
    ["verify"],
]
TIMED_COMMANDS = [
    ["queue", "metrics"],
    ["--format", "json", "queue", "metrics"],
    ["queue", "metrics", "--format", "prometheus"],
    ["worker", "list"],
]


@pytest.mark.parametrize("args", READING_COMMANDS + TIMED_COMMANDS, ids=" ".join)
def test_cli_reading_commands_work_on_the_standby(replica, args):
    _, primary, standby = replica
    proc = pgqrs_cli(standby, *args)
    assert proc.returncode == 0, proc.stderr
    if args in READING_COMMANDS:
        assert proc.stdout == pgqrs_cli(primary, *args).stdout


@pytest.mark.parametrize("args", [["message", "send", "mail", "{}"], ["queue", "create", "other"],
                                  ["message", "dequeue", "mail"], ["queue", "pause", "mail"]], ids=" ".join)
def test_cli_writing_commands_fail_on_the_standby_with_one_line_and_exit_7(replica, args):
    _, _, standby = replica
    proc = pgqrs_cli(standby, *args)
    assert proc.returncode == EXIT_READ_ONLY == 7, proc.stderr
    error, *rest = proc.stderr.splitlines()
    assert error.startswith("Error: the server is read-only (cannot execute "), proc.stderr
    assert rest == ["Hint: Writes need the primary: connect to it, or give every host with "
                    "target_session_attrs=read-write."]
    assert "Traceback" not in proc.stderr


def test_queue_metrics_json_on_the_standby_is_the_primarys(replica):
    _, primary, standby = replica
    on_standby = json.loads(pgqrs_cli(standby, "--format", "json", "queue", "metrics").stdout)
    keep = ("queue_name", "ready", "in_flight", "delayed", "archived", "dead_lettered")
    assert [{k: q[k] for k in keep} for q in on_standby] == \
        [{k: q[k] for k in keep} for q in json.loads(pgqrs_cli(primary, "--format", "json", "queue", "metrics").stdout)]


def test_the_dashboard_serves_its_pages_from_the_standby(replica, tmp_path):
    _, _, standby = replica
    with run_dashboard(standby, tmp_path) as dash:
        for path in ["/", "/queues/mail", "/queues/fragile", "/workers", "/partials/queues",
                     "/partials/queues/mail/metrics", "/partials/workers"]:
            status, _, body = dash.get(path)
            assert status == 200, (path, status, body[:500])
        assert dash.api("/api/health")["ok"] is True
        assert {q["queue_name"] for q in dash.api("/api/queues")["queues"]} == {"mail", "fragile"}
        mail = dash.api("/api/queues/mail")
        assert mail["metrics"]["in_flight"] == 2 and mail["errors"] == {}
        assert [m["payload"] for m in dash.api("/api/queues/fragile")["dead_letters"]] == [{"doomed": True}]
        assert dash.api("/api/queues/mail/archive/1")["id"] == 1
        assert sorted(w["messages_held"] for w in dash.api("/api/workers")["workers"]) == [0, 2]
        time.sleep(1.5)  # a few readings of the sampler, every 0.5 s
        assert len(dash.api("/api/throughput")["t"]) >= 2
        assert "Traceback" not in dash.log.read_text()
