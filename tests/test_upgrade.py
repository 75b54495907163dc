"""Upgrades keep everything and end where a fresh install starts.

0.1.0, the released version frozen in extension/released/, is installed and filled
with queues in every state; then it is upgraded, with ALTER EXTENSION or with
`pgqrs install`, and compared with a fresh install of the current version, object by
object (pgqrs.install.describe: definitions, comments, privileges).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from pgqrs import Admin, Config, Consumer, InstallResult, Producer, VersionMismatch
from pgqrs.db import run
from pgqrs.install import _for_schema, describe, direct_script, script_version

from conftest import REPO, fill, snapshot

CURRENT = script_version()
OLDEST = "0.1.0"
RELEASED = {m["v"]: m.string for m in (re.fullmatch(r"pgqrs--(?P<v>[0-9.]+)\.sql", p.name)
                                      for p in (REPO / "extension" / "released").iterdir()) if m}


def described(config: Config, schema: str) -> dict:
    with Admin(config) as admin:
        return run(admin.pool, describe(schema), transaction=True)


def assert_same_schema(upgraded: dict, fresh: dict) -> None:
    """Equal, or a readable diff of what differs."""
    if upgraded != fresh:
        lines = lambda d: [f"{k[0]} [{k[1]}]: {v}" for k, v in sorted(d.items())]  # noqa: E731
        diff = "\n".join(difflib.unified_diff(lines(fresh), lines(upgraded), "fresh", "upgraded", lineterm=""))
        pytest.fail(f"the upgraded schema differs from a fresh {CURRENT} install:\n{diff}")


def assert_nothing_lost(before: dict, after: dict) -> None:
    """Every row as it was; columns added by the upgrade hold their defaults."""
    for table, rows in before.items():
        assert len(after[table]) == len(rows), table
        for old, new in zip(rows, after[table]):
            assert {key: new[key] for key in old} == old, table
    assert all(q["paused"] is False for q in after["queues"])


def test_the_oldest_release_is_frozen_and_installed():
    assert OLDEST in RELEASED and CURRENT not in RELEASED
    text = (REPO / "extension" / "released" / RELEASED[OLDEST]).read_text()
    assert text.startswith(f"-- pgqrs {OLDEST}:") and "pause_queue" not in text


def still_works(conn: psycopg.Connection, schema: str, leased_by: int) -> None:
    """The old lease is acknowledged by its worker, new messages flow, ids continue, pausing works."""
    conn.execute(sql.SQL("SET search_path = {}, pg_catalog").format(sql.Identifier(schema)))
    leased = conn.execute("SELECT id FROM pgqrs_messages WHERE worker_id = %s ORDER BY id", [leased_by]).fetchall()
    assert [conn.execute("SELECT archive('mail', %s, %s)", [i, leased_by]).fetchone()[0] for (i,) in leased] == [
        True, True]
    highest = conn.execute("SELECT max(id) FROM (SELECT id FROM pgqrs_archive UNION ALL SELECT id FROM pgqrs_delayed"
                           " UNION ALL SELECT id FROM pgqrs_messages) i").fetchone()[0]
    assert conn.execute("SELECT enqueue('mail', '{\"after\": true}')").fetchone()[0] > highest
    conn.execute("SELECT pause_queue('mail')")
    assert conn.execute("SELECT count(*) FROM dequeue('mail', 10)").fetchone()[0] == 0
    conn.execute("SELECT resume_queue('mail')")
    assert conn.execute("SELECT count(*) FROM dequeue('mail', 10)").fetchone()[0] == 3  # 2 ready + the new one
    assert conn.execute("SELECT count(*) FROM dead_letters('fragile')").fetchone()[0] == 1
    conn.execute("RESET search_path")


@pytest.mark.parametrize("how", ["ALTER EXTENSION", "pgqrs install"])
def test_extension_upgrade(empty_dsn, dsn, how):
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE EXTENSION pgqrs VERSION {}").format(sql.Literal(OLDEST)))
        fill(conn)
        before = snapshot(conn)
        worker = before["workers"][0]["id"]
        if how == "ALTER EXTENSION":
            conn.execute("ALTER EXTENSION pgqrs UPDATE")
        else:
            with Admin(Config(dsn=empty_dsn)) as admin:
                assert admin.install() == InstallResult("extension", "pgqrs", CURRENT, True, previous_version=OLDEST)
                assert admin.install() == InstallResult("extension", "pgqrs", CURRENT, False)
        assert conn.execute("SELECT pgqrs.version(), extversion FROM pg_extension WHERE extname = 'pgqrs'").fetchone() == (
            CURRENT, CURRENT)
        assert_nothing_lost(before, snapshot(conn))
        assert positions(conn, "pgqrs") == [(f"pgqrs_position_{q['id']}", False) for q in before["queues"]]
        still_works(conn, "pgqrs", worker)
    assert_same_schema(described(Config(dsn=empty_dsn), "pgqrs"), described(Config(dsn=dsn), "pgqrs"))
    with psycopg.connect(empty_dsn) as upgraded, psycopg.connect(dsn) as fresh:
        assert extension_parts(upgraded) == extension_parts(fresh)
    with Admin(Config(dsn=empty_dsn)) as admin:
        assert admin.verify().problems == []


def positions(conn: psycopg.Connection, schema: str) -> list[tuple[str, bool]]:
    """The queues' scan position sequences in schema, and whether each is a member of the extension."""
    return conn.execute(
        "SELECT c.relname, EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') "
        "FROM pg_class c WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'S' "
        "AND c.relname LIKE 'pgqrs\\_position\\_%%' ORDER BY c.oid", [schema]).fetchall()


def extension_parts(conn: psycopg.Connection) -> tuple[list, list]:
    """The objects that belong to the extension, and the tables and sequences pg_dump keeps."""
    members = conn.execute(
        "SELECT pg_describe_object(d.classid, d.objid, 0) FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid "
        "WHERE e.extname = 'pgqrs' AND d.deptype = 'e' ORDER BY 1").fetchall()
    dumped = conn.execute(
        "SELECT c::regclass::text, cond FROM pg_extension, unnest(extconfig, extcondition) AS x(c, cond) "
        "WHERE extname = 'pgqrs' ORDER BY 1").fetchall()
    return members, dumped


def test_direct_install_upgrades_in_place(schema_owner, empty_dsn):
    """`pgqrs install` runs the packaged upgrade scripts on an older direct install, as its owner."""
    old_script = (REPO / "extension" / "released" / RELEASED[OLDEST]).read_text()
    config = Config(dsn=schema_owner, schema="tenant")
    with psycopg.connect(schema_owner, autocommit=True) as conn:
        conn.execute(_for_schema(old_script, "tenant"))
        assert conn.execute("SELECT tenant.version()").fetchone()[0] == OLDEST
        fill(conn, "tenant")
        before = snapshot(conn, "tenant")
        with Admin(config) as admin:
            assert not admin.verify().ok
            assert admin.install() == InstallResult("direct", "tenant", CURRENT, True, previous_version=OLDEST)
            assert admin.install() == InstallResult("direct", "tenant", CURRENT, False)
            assert admin.verify().problems == []
        assert_nothing_lost(before, snapshot(conn, "tenant"))
        assert positions(conn, "tenant") == [(f"pgqrs_position_{q['id']}", False) for q in before["queues"]]
        still_works(conn, "tenant", before["workers"][0]["id"])
        owner = conn.execute("SELECT current_user").fetchone()[0]

    # A fresh direct install of the current version, by the same role, to compare with.
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA fresh AUTHORIZATION {}").format(sql.Identifier(owner)))
    with psycopg.connect(schema_owner, autocommit=True) as conn:
        conn.execute(direct_script("fresh"))
    assert_same_schema(described(config, "tenant"), described(config, "fresh"))


def test_no_downgrade_and_no_unknown_path(schema_owner):
    config = Config(dsn=schema_owner, schema="tenant")
    with Admin(config) as admin:
        admin.install()
        with admin.pool.connection() as conn:
            conn.execute("CREATE OR REPLACE FUNCTION tenant.version() RETURNS text LANGUAGE sql AS $$ SELECT '99.0.0' $$")
        with pytest.raises(VersionMismatch, match="newer than this package"):
            admin.install()
        report = admin.verify()
        assert report.version == "99.0.0" and f"installed version 99.0.0 differs from this package's {CURRENT}" in (
            report.problems[-1])
        with admin.pool.connection() as conn:
            conn.execute("CREATE OR REPLACE FUNCTION tenant.version() RETURNS text LANGUAGE sql AS $$ SELECT '0.0.1' $$")
        with pytest.raises(VersionMismatch, match="no upgrade path from pgqrs 0.0.1"):
            admin.install()
        assert admin.version() == "0.0.1"  # the refusal changed nothing


def test_operator_walkthrough(empty_dsn, pg_bin, tmp_path):
    """As an operator would, with psql, the pgqrs command, pg_dump and pg_restore: install 0.1.0,
    queue work, back up, upgrade, back up again, restore both backups elsewhere, find every message."""
    parts = dict(part.split("=", 1) for part in empty_dsn.split())
    server = ["-h", parts["host"], "-p", parts["port"], "-U", parts["user"]]
    pgqrs_cli = str(Path(sys.executable).with_name("pgqrs"))

    def sh(*argv: object) -> str:
        return subprocess.run([str(a) for a in argv], check=True, capture_output=True, text=True).stdout

    def pgqrs(dbname: str, *argv: str) -> Any:
        out = sh(pgqrs_cli, "--dsn", f"{empty_dsn} dbname={dbname}", "--format", "json", *argv)
        return json.loads(out) if out.strip() else None

    db = parts["dbname"]
    sh(pg_bin / "psql", *server, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db,
       "-c", f"CREATE EXTENSION pgqrs VERSION '{OLDEST}'")
    pgqrs(db, "queue", "create", "mail")
    sent = [pgqrs(db, "message", "send", "mail", json.dumps({"n": n}))["id"] for n in range(3)]
    leased = pgqrs(db, "message", "dequeue", "mail", "--lock-time", "3600")["id"]
    sh(pg_bin / "pg_dump", *server, "--format=custom", "-f", tmp_path / "before.dump", db)

    upgraded = pgqrs(db, "install")
    assert (upgraded["previous_version"], upgraded["version"]) == (OLDEST, CURRENT)
    assert pgqrs(db, "verify")["ok"] is True
    sh(pg_bin / "pg_dump", *server, "--format=custom", "-f", tmp_path / "after.dump", db)

    for backup in ("before", "after"):
        target = f"{db}_{backup}"
        sh(pg_bin / "createdb", *server, target)
        try:
            sh(pg_bin / "pg_restore", *server, "--exit-on-error", "-d", target, tmp_path / f"{backup}.dump")
            assert pgqrs(target, "verify")["version"] == CURRENT  # a 0.1.0 backup restores into the current version
            assert {m["id"] for m in pgqrs(target, "message", "read", "mail", "--count", "10")} == set(sent) - {leased}
            assert pgqrs(target, "message", "show", "mail", str(leased))["read_ct"] == 1  # still leased
            metrics = pgqrs(target, "queue", "metrics", "mail")
            assert (metrics["ready"], metrics["in_flight"], metrics["paused"]) == (0, 3, False)
        finally:
            sh(pg_bin / "dropdb", *server, target)


def test_extension_upgrade_needs_the_new_files_on_the_server(dsn, monkeypatch):
    """A package newer than the server's extension files: a clear error, and nothing changed."""
    import pgqrs.install

    monkeypatch.setattr(pgqrs.install, "script_version", lambda: "9.0.0")
    with Admin(Config(dsn=dsn)) as admin:
        with pytest.raises(VersionMismatch, match="the server has no files for 9.0.0") as raised:
            admin.install()
        assert "make install" in raised.value.hint
        assert admin.version() == CURRENT


def test_the_package_reads_columns_by_name(dsn):
    """What lets an older package run on a newer extension: columns a later version adds to the
    tables and views change nothing for the package, which names every column it reads."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in ("pgqrs_queues", "pgqrs_workers", "pgqrs_messages", "pgqrs_delayed", "pgqrs_archive"):
            conn.execute(sql.SQL("ALTER TABLE pgqrs.{} ADD COLUMN x_later text DEFAULT 'x'").format(
                sql.Identifier(table)))
        for view in ("queue_metrics", "worker_health"):
            definition = conn.execute("SELECT pg_get_viewdef(%s::regclass)", [f"pgqrs.{view}"]).fetchone()[0]
            head, tail = definition.split("\n   FROM ", 1)
            conn.execute(f"CREATE OR REPLACE VIEW pgqrs.{view} AS {head}, 'x'::text AS x_later\n   FROM {tail}")
    with Admin(Config(dsn=dsn)) as admin:
        admin.create_queue("q", max_attempts=1)
        worker = admin.register_worker("q", "h", 1)
        producer = Producer(admin.pool, "q", admin.config)
        producer.batch_enqueue([{"n": 1}, {"n": 2}])
        producer.enqueue({"n": 3}, delay_seconds=3600)
        consumer = Consumer(admin.pool, "q", admin.config, worker_id=worker)
        first, second = consumer.dequeue_batch(2)
        assert consumer.archive(first.id)
        assert [q.queue_name for q in admin.list_queues()] == ["q"]
        assert admin.metrics("q").in_flight == 1 and admin.metrics_all()[0].delayed == 1
        assert admin.get_worker(worker).messages_held == 1
        assert consumer.release(second.id)  # its one delivery used up: a dead letter
        assert [m.id for m in admin.list_archive("q")] == [first.id, second.id]
        assert [m.id for m in admin.dead_letters("q")] == [second.id]
        assert [m.payload for m in admin.list_messages("q")] == [{"n": 3}]
        assert admin.get_archived("q", first.id).payload == {"n": 1}
        assert admin.get_queue("q").max_attempts == 1


def test_upgrade_while_clients_work(empty_dsn):
    """ALTER EXTENSION UPDATE while a producer and consumers keep their connections open and
    busy (one in explicit transactions, one long-polling): every message is delivered once and
    acknowledged once. The only errors a client may see are those of a call that is running
    while the upgrade commits (the CHANGELOG's upgrade section says so): the message row type
    gained columns (42804), or a helper the old body called was replaced (XX000, cache lookup
    failed); each consumer once at most, the transaction rolled back, nothing lost. The
    producer sees none. After the upgrade the same sessions obey pause_queue, which 0.1.0 did not have."""
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE EXTENSION pgqrs VERSION {}").format(sql.Literal(OLDEST)))
        conn.execute("SELECT pgqrs.create_queue('live')")
    producing, consuming = threading.Event(), threading.Event()
    producing.set()
    consuming.set()
    sent: list[int] = []
    acked: list[int] = []
    errors: list[BaseException] = []
    interrupted: list[psycopg.Error] = []  # calls running across the upgrade's commit

    def client(body):
        def guarded():
            try:
                with psycopg.connect(empty_dsn, autocommit=True) as conn:
                    body(conn)
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                errors.append(exc)
        return threading.Thread(target=guarded)

    def produce(conn: psycopg.Connection) -> None:
        while producing.is_set():
            if len(sent) - len(acked) > 100:  # keep the backlog short: the consumers are slower
                time.sleep(0.01)
                continue
            sent.append(conn.execute("SELECT pgqrs.enqueue('live', %s)", [Jsonb({"n": len(sent)})]).fetchone()[0])
            sent.extend(i for (i,) in conn.execute(
                "SELECT pgqrs.enqueue_batch('live', array_fill('{\"b\": 1}'::jsonb, ARRAY[3]))"))

    def consume(conn: psycopg.Connection, in_transaction: bool, wait_seconds: int) -> None:
        worker = conn.execute("SELECT pgqrs.register_worker('live', 'upgrade', 1)").fetchone()[0]
        idle = 0
        while consuming.is_set() or idle < 2:
            ids = []
            try:
                with conn.transaction() if in_transaction else contextlib.nullcontext():
                    ids = [i for (i,) in conn.execute("SELECT id FROM pgqrs.dequeue('live', 5, 60, %s, %s)",
                                                      [worker, wait_seconds])]
                    done = [i for (i,) in conn.execute("SELECT pgqrs.archive_batch('live', %s, %s)", [ids, worker])]
                    assert sorted(done) == sorted(ids)
                    acked.extend(done)
            except (psycopg.errors.DatatypeMismatch, psycopg.errors.InternalError) as exc:
                interrupted.append(exc)
                if not in_transaction and ids:  # their leases committed: acknowledge them, as a retry would
                    acked.extend(i for (i,) in conn.execute("SELECT pgqrs.archive_batch('live', %s, %s)", [ids, worker]))
                continue
            idle = 0 if ids else idle + 1
            conn.execute("SELECT pgqrs.heartbeat(%s)", [worker])

    threads = [client(produce), client(lambda c: consume(c, True, 0)), client(lambda c: consume(c, False, 1))]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(acked) >= 200 or errors)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")
        conn.execute("ALTER EXTENSION pgqrs UPDATE")
        upgraded_at = len(acked)
        wait_until(lambda: len(acked) >= upgraded_at + 200 or errors)
        conn.execute("SELECT pgqrs.pause_queue('live')")
        time.sleep(1.5)  # a long poll begun before the pause may still deliver
        paused_at = len(acked)
        time.sleep(1.5)
        assert len(acked) == paused_at, "a paused queue delivered"
        conn.execute("SELECT pgqrs.resume_queue('live')")
        wait_until(lambda: len(acked) >= paused_at + 100 or errors)
        producing.clear()
        threads[0].join(30)
        consuming.clear()
        for thread in threads[1:]:
            thread.join(30)
        assert errors == []
        assert len(interrupted) <= 2
        assert all("structure of query does not match function result type" in str(e)
                   or "cache lookup failed for function" in str(e) for e in interrupted), interrupted
        assert not any(t.is_alive() for t in threads)
        assert len(acked) == len(set(acked)) and set(acked) == set(sent)
        assert conn.execute("SELECT count(*), max(read_ct) FROM pgqrs.pgqrs_archive").fetchone() == (len(sent), 1)
        assert conn.execute("SELECT count(*) FROM pgqrs.pgqrs_messages").fetchone()[0] == 0


def wait_until(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
