"""The `pgqrs` command line, against the real server: every command in both formats,
JSON-lines input, the errors a user meets, and help on every command."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import click
import psycopg
import pytest
from click.testing import CliRunner
from conftest import PGQRS_SCRIPT, unique

from pgqrs.cli import cli


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No PGQRS_* variable or ./pgqrs.yaml from the outside changes what a test sees."""
    for name in list(os.environ):
        if name.startswith("PGQRS_") and name != "PGQRS_PG_BIN":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # click 8.1
    except TypeError:
        return CliRunner()  # click >= 8.2 keeps stdout and stderr apart


class Pgqrs:
    """Runs `pgqrs --dsn DSN [--format F] ARGS...` in-process with CliRunner."""

    def __init__(self, dsn: str | None):
        self.dsn = dsn
        self.runner = _runner()

    def invoke(self, *args: str, fmt: str | None = None, input: str | None = None, env: dict | None = None):
        base = ["--dsn", self.dsn] if self.dsn else []
        if fmt:
            base += ["--format", fmt]
        return self.runner.invoke(cli, [*base, *map(str, args)], input=input, env=env)

    def ok(self, *args, **kwargs):
        result = self.invoke(*args, **kwargs)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        assert result.stderr == ""
        return result.stdout

    def table(self, *args, **kwargs) -> str:
        return self.ok(*args, fmt="table", **kwargs)

    def json(self, *args, **kwargs):
        return json.loads(self.ok(*args, fmt="json", **kwargs))

    def fails(self, *args, code: int = 1, stdout: bool = False, **kwargs) -> str:
        """Runs a failing command; returns its error line (the server's Detail and Hint may follow it)."""
        result = self.invoke(*args, **kwargs)
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        assert isinstance(result.exception, SystemExit), result.exception  # no traceback
        lines = result.stderr.strip().splitlines()
        if code == 1:
            assert lines[0].startswith("Error: "), result.stderr
            assert all(line.startswith(("Detail: ", "Hint: ")) for line in lines[1:]), result.stderr
            assert "Traceback" not in result.stderr
            return lines[0]
        if not stdout:
            assert result.stdout == ""
        return lines[-1]


@pytest.fixture
def pgqrs(dsn) -> Pgqrs:
    return Pgqrs(dsn)


@pytest.fixture
def conn(dsn):
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection


def lines_with(text: str, *words: str) -> list[str]:
    return [line for line in text.splitlines() if all(word in line for word in words)]


# -- install / verify / uninstall ----------------------------------------------


def test_install_verify_uninstall_on_an_empty_database(empty_dsn):
    pgqrs = Pgqrs(empty_dsn)
    verify = pgqrs.invoke("--format", "json", "verify")
    assert verify.exit_code == 1
    report = json.loads(verify.stdout)
    assert report["ok"] is False and report["problems"]
    assert len(verify.stderr.strip().splitlines()) == 1 and verify.stderr.startswith("Error: ")
    # table format lists the problems on stdout, then one error line
    line = pgqrs.fails("verify", stdout=True)
    assert "not installed" in line
    text = pgqrs.invoke("verify").stdout
    assert all(problem in text for problem in report["problems"])

    out = pgqrs.table("install")
    assert out.startswith("installed pgqrs ") and "extension" in out
    again = pgqrs.json("install")
    assert again["method"] == "extension" and again["changed"] is False and again["schema"] == "pgqrs"
    assert "already installed" in pgqrs.table("install")

    assert pgqrs.json("verify")["ok"] is True
    assert pgqrs.table("verify").startswith(f"ok: pgqrs {again['version']} in schema pgqrs")

    assert pgqrs.json("uninstall") == {"schema": "pgqrs", "uninstalled": True}
    pgqrs.fails("verify", stdout=True)
    assert "installed pgqrs" in pgqrs.table("install")
    assert "uninstalled pgqrs from schema pgqrs" in pgqrs.table("uninstall")


def test_install_direct_into_another_schema(empty_dsn):
    pgqrs = Pgqrs(empty_dsn)
    result = pgqrs.json("--schema", "tenant_a", "install")
    assert result["method"] == "direct" and result["schema"] == "tenant_a" and result["changed"] is True
    assert "direct" in pgqrs.table("-s", "tenant_a", "install")
    assert pgqrs.json("-s", "tenant_a", "verify")["ok"] is True
    pgqrs.ok("-s", "tenant_a", "queue", "create", "q")
    assert [q["queue_name"] for q in pgqrs.json("-s", "tenant_a", "queue", "list")] == ["q"]


def test_uninstall_refuses_while_queues_remain_unless_forced(pgqrs):
    pgqrs.ok("queue", "create", "q")
    pgqrs.ok("message", "send", "q", '{"a": 1}')
    pgqrs.fails("uninstall")
    pgqrs.ok("queue", "purge", "q")
    pgqrs.ok("message", "send", "q", '{"later": 1}', "--delay", "600")  # a delayed message counts too
    assert "still holds" in pgqrs.fails("uninstall")
    assert pgqrs.json("uninstall", "--force")["uninstalled"] is True
    assert "not installed" in pgqrs.fails("queue", "list")


# -- queue ----------------------------------------------------------------------


def test_queue_create_list_delete(pgqrs):
    assert pgqrs.table("queue", "list") == "no queues\n"
    assert pgqrs.json("queue", "list") == []

    created = pgqrs.json("queue", "create", "emails", "--max-attempts", "3")
    assert created["queue"] == "emails" and isinstance(created["id"], int)
    assert pgqrs.table("queue", "create", "reports").startswith("queue reports (id ")
    assert "already exists" in pgqrs.fails("queue", "create", "emails")
    assert pgqrs.json("queue", "create", "emails", "--if-not-exists")["id"] == created["id"]

    queues = pgqrs.json("queue", "list")
    assert [(q["queue_name"], q["max_attempts"]) for q in queues] == [("emails", 3), ("reports", None)]
    table = pgqrs.table("queue", "list")
    header, *rows = table.splitlines()
    assert header.split() == ["id", "queue", "max", "attempts", "per", "key", "rate", "limit", "created", "paused"]
    assert len(rows) == 2 and lines_with(table, "emails", " 3 ") and rows[0].split()[-1] == "no"

    pgqrs.ok("message", "send", "emails", '{"x": 1}')
    pgqrs.fails("queue", "delete", "emails")
    assert pgqrs.json("queue", "delete", "emails", "--force") == {"queue": "emails", "deleted": True}
    assert pgqrs.table("queue", "delete", "reports") == "deleted queue reports\n"
    assert pgqrs.json("queue", "list") == []


def test_queue_purge(pgqrs):
    pgqrs.ok("queue", "create", "q")
    pgqrs.ok("message", "send", "q", input='{"n": 1}\n{"n": 2}\n{"n": 3}\n')
    assert pgqrs.json("queue", "purge", "q") == {"queue": "q", "purged": 3}
    assert pgqrs.table("queue", "purge", "q") == "purged 0 message(s) from queue q\n"


def test_queue_metrics(pgqrs, conn):
    assert pgqrs.table("queue", "metrics") == "no queues\n"
    pgqrs.ok("queue", "create", "alpha")
    pgqrs.ok("queue", "create", "beta")
    pgqrs.ok("message", "send", "alpha", input="1\n2\n3\n")
    pgqrs.ok("message", "send", "alpha", "4", "--delay", "300")
    pgqrs.ok("message", "read", "alpha")  # one in flight
    conn.execute("UPDATE pgqrs.pgqrs_messages SET enqueued_at = enqueued_at - interval '192 seconds'")

    one = pgqrs.json("queue", "metrics", "alpha")
    assert (one["queue_name"], one["ready"], one["in_flight"], one["delayed"]) == ("alpha", 2, 1, 1)
    assert 190 <= one["oldest_ready_age"] < 250
    every = pgqrs.json("queue", "metrics")
    assert [m["queue_name"] for m in every] == ["alpha", "beta"]
    assert every[1]["ready"] == 0 and every[1]["oldest_ready_age"] is None

    table = pgqrs.table("queue", "metrics")
    header, alpha, beta = table.splitlines()
    assert header.split() == ["queue", "ready", "in", "flight", "delayed", "archived", "dead", "waiting", "oldest",
                              "ready", "paused"]
    assert alpha.split()[:7] == ["alpha", "2", "1", "1", "0", "0", "0"] and alpha.split()[7].startswith("3m1")
    assert beta.split() == ["beta", "0", "0", "0", "0", "0", "0", "-", "no"]
    assert len(header) >= len(alpha.rstrip()) - 1  # aligned under the header
    single = pgqrs.table("queue", "metrics", "alpha").splitlines()
    assert single[0] == header and single[1] == alpha


def test_queue_pause_resume(pgqrs):
    pgqrs.ok("queue", "create", "alpha")
    pgqrs.ok("message", "send", "alpha", "1")
    assert pgqrs.table("queue", "pause", "alpha") == "paused queue alpha\n"
    assert pgqrs.json("queue", "metrics", "alpha")["paused"] is True
    assert pgqrs.json("message", "dequeue", "alpha") is None  # paused: nothing delivered
    assert pgqrs.json("queue", "list")[0]["paused"] is True
    assert pgqrs.json("queue", "resume", "alpha") == {"queue": "alpha", "paused": False}
    assert pgqrs.json("message", "dequeue", "alpha")["payload"] == 1
    assert pgqrs.fails("queue", "pause", "nope") == 'Error: queue "nope" does not exist'


# -- message ----------------------------------------------------------------------


def test_message_send_dequeue_delete(pgqrs):
    pgqrs.ok("queue", "create", "q")
    sent = pgqrs.json("message", "send", "q", '{"a": 1}')
    assert sent["queue"] == "q" and isinstance(sent["id"], int)
    second = pgqrs.table("message", "send", "q", '{"b": 2}')
    assert second.startswith("sent message ") and second.endswith(" to queue q\n")
    pgqrs.ok("message", "send", "q", '{"c": 3}', "--delay", "30")

    msg = pgqrs.json("message", "dequeue", "q", "--lock-time", "60")
    assert msg["id"] == sent["id"] and msg["payload"] == {"a": 1} and msg["read_ct"] == 1
    shown = pgqrs.table("message", "dequeue", "q")
    assert lines_with(shown, "payload", '{"b": 2}') and lines_with(shown, "reads", "1")
    assert pgqrs.json("message", "dequeue", "q") is None  # the third is delayed
    assert pgqrs.table("message", "dequeue", "q") == "no message ready in queue q\n"

    assert pgqrs.json("message", "delete", "q", msg["id"]) == {"queue": "q", "id": msg["id"], "deleted": True}
    other = pgqrs.json("message", "show", "q", sent["id"] + 1)["id"]
    assert pgqrs.table("message", "delete", "q", other) == f"deleted message {other}\n"
    assert "not found" in pgqrs.fails("message", "delete", "q", msg["id"])
    assert pgqrs.json("message", "count", "q")["count"] == 1


def test_message_read_count_show(pgqrs):
    pgqrs.ok("queue", "create", "q")
    ids = pgqrs.json("message", "send", "q", input='{"n": 1}\n{"n": 2}\n{"n": 3}\n')["ids"]

    read = pgqrs.json("message", "read", "q", "--count", "2", "--lock-time", "120")
    assert [m["id"] for m in read] == ids[:2] and [m["payload"] for m in read] == [{"n": 1}, {"n": 2}]
    table = pgqrs.table("message", "read", "q", "--count", "5")
    header, row = table.splitlines()
    assert header.split()[:3] == ["id", "reads", "enqueued"] and row.split()[0] == str(ids[2])
    assert row.endswith('{"n": 3}')
    assert pgqrs.json("message", "read", "q") == []
    assert pgqrs.table("message", "read", "q") == "no message ready in queue q\n"

    assert pgqrs.json("message", "count", "q") == {"queue": "q", "archive": False, "count": 3}
    assert pgqrs.table("message", "count", "q") == "3\n"
    shown = pgqrs.json("message", "show", "q", ids[0])
    assert shown["id"] == ids[0] and shown["payload"] == {"n": 1}
    assert lines_with(pgqrs.table("message", "show", "q", ids[1]), "payload", '{"n": 2}')
    assert "not found" in pgqrs.fails("message", "show", "q", "999999")


def test_message_read_archive(pgqrs):
    pgqrs.ok("queue", "create", "q")
    ids = pgqrs.json("message", "send", "q", input='"a"\n"b"\n"c"\n')["ids"]
    read = pgqrs.json("message", "read", "q", "--count", "2", "--archive")
    assert [(m["id"], m["archived"]) for m in read] == [(ids[0], True), (ids[1], True)]
    table = pgqrs.table("message", "read", "q", "--archive")
    assert "archived" in table.splitlines()[0] and lines_with(table, str(ids[2]), "yes", '"c"')
    assert pgqrs.json("message", "count", "q")["count"] == 0
    assert pgqrs.json("message", "count", "q", "--archive") == {"queue": "q", "archive": True, "count": 3}
    archived = pgqrs.json("message", "show", "q", ids[0], "--archive")
    assert archived["payload"] == "a" and archived["archived_at"] and archived["dead_lettered"] is False
    assert lines_with(pgqrs.table("message", "show", "q", ids[1], "--archive"), "payload", '"b"')
    assert "not found in queue q" in pgqrs.fails("message", "show", "q", ids[0])  # archived now
    pgqrs.fails("message", "show", "q", "999999", "--archive")


def test_send_json_lines_from_a_file_in_batches(pgqrs, tmp_path):
    pgqrs.ok("queue", "create", "q")
    lines = tmp_path / "jobs.jsonl"
    lines.write_text("".join(json.dumps({"n": n}) + "\n" + ("\n" if n % 10 == 0 else "") for n in range(25)))
    result = pgqrs.json("message", "send", "q", "--file", str(lines), env={"PGQRS_DEFAULT_BATCH_SIZE": "7"})
    assert result["count"] == 25 and len(result["ids"]) == 25 and result["ids"] == sorted(result["ids"])
    assert [m["payload"]["n"] for m in pgqrs.json("message", "read", "q", "--count", "100")] == list(range(25))
    out = pgqrs.table("message", "send", "q", "--file", str(lines), "--delay", "60")
    assert out.startswith("sent 25 message(s) to queue q (ids ")
    assert pgqrs.json("queue", "metrics", "q")["delayed"] == 25


def test_send_json_lines_from_stdin(pgqrs):
    pgqrs.ok("queue", "create", "q")
    assert pgqrs.json("message", "send", "q", input='{"a": 1}\n[1, 2]\n"text"\n')["count"] == 3
    assert pgqrs.json("message", "send", "q", "--file", "-", input="42\n")["count"] == 1
    payloads = [m["payload"] for m in pgqrs.json("message", "read", "q", "--count", "10")]
    assert payloads == [{"a": 1}, [1, 2], "text", 42]
    assert pgqrs.table("message", "send", "q", input="") == "sent 0 message(s) to queue q\n"


def test_progress_bar_only_on_a_terminal(pgqrs, monkeypatch):
    pgqrs.ok("queue", "create", "q")
    lines = "".join(f"{n}\n" for n in range(250))
    assert pgqrs.invoke("message", "send", "q", input=lines).stderr == ""  # not a terminal: no bar
    monkeypatch.setattr("pgqrs.cli._stderr_is_tty", lambda: True)
    result = pgqrs.invoke("--format", "json", "message", "send", "q", input=lines)
    assert result.exit_code == 0 and "sending to q" in result.stderr
    assert json.loads(result.stdout)["count"] == 250


def test_invalid_json_lines_send_nothing(pgqrs, tmp_path):
    pgqrs.ok("queue", "create", "q")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"ok": 1}\n{"ok": 2}\n{not json}\n')
    line = pgqrs.fails("message", "send", "q", "--file", str(bad))
    assert "not valid JSON" in line and "bad.jsonl:3: " in line
    assert "stdin:2: " in pgqrs.fails("message", "send", "q", input='1\n{"a":\n')
    assert pgqrs.json("message", "count", "q")["count"] == 0
    pgqrs.fails("message", "send", "q", "{}", "--file", str(bad), code=2)  # not both


# -- worker -----------------------------------------------------------------------


def test_worker_commands(pgqrs, conn):
    pgqrs.ok("queue", "create", "q")
    pgqrs.ok("queue", "create", "other")
    assert pgqrs.json("worker", "list") == []
    assert pgqrs.table("worker", "list") == "no workers\n"
    w1 = conn.execute("SELECT pgqrs.register_worker('q', 'host-a', 8080)").fetchone()[0]
    w2 = conn.execute("SELECT pgqrs.register_worker('other', 'host-b', 8081)").fetchone()[0]
    pgqrs.ok("message", "send", "q", input="1\n2\n")
    conn.execute("SELECT * FROM pgqrs.dequeue('q', 2, 600, %s)", [w1])

    workers = pgqrs.json("worker", "list")
    assert {w["worker_id"]: w["messages_held"] for w in workers} == {w1: 2, w2: 0}
    assert [w["worker_id"] for w in pgqrs.json("worker", "list", "--queue", "other")] == [w2]
    table = pgqrs.table("worker", "list", "--queue", "q")
    assert table.splitlines()[0].split()[:5] == ["id", "queue", "host", "port", "status"]
    row = lines_with(table, "host-a")[0].split()
    assert row[:5] == [str(w1), "q", "host-a", "8080", "active"] and row[-1] == "2"

    shown = pgqrs.json("worker", "show", w1)
    assert shown["hostname"] == "host-a" and shown["status"] == "active" and shown["heartbeat_age"] >= 0
    assert lines_with(pgqrs.table("worker", "show", w2), "hostname", "host-b")
    assert "worker" in pgqrs.fails("worker", "show", "999999")

    assert pgqrs.json("worker", "stop", w1) == {"worker_id": w1, "stopped": True, "released": 2}
    assert pgqrs.json("queue", "metrics", "q")["ready"] == 2
    assert pgqrs.json("worker", "show", w1)["status"] == "stopped"
    pgqrs.fails("worker", "stop", "999999")
    w3 = conn.execute("SELECT pgqrs.register_worker('q', 'host-c', 8082)").fetchone()[0]
    assert pgqrs.table("worker", "stop", w3) == f"stopped worker {w3}, released 0 message(s)\n"

    conn.execute("UPDATE pgqrs.pgqrs_workers SET heartbeat_at = now() - interval '1 hour' WHERE id = %s", [w2])
    assert pgqrs.json("worker", "reap", "--stale-after", "60") == {"stale_after_seconds": 60, "queue": None,
                                                                    "released": 0}
    assert pgqrs.json("worker", "show", w2)["status"] == "dead"
    assert "released 0 message(s)" in pgqrs.table("worker", "reap", "--stale-after", "60")
    pgqrs.fails("worker", "reap", code=2)  # --stale-after is required

    assert pgqrs.table("worker", "purge") == "purged 0 worker(s)\n"  # ended less than a day ago
    conn.execute("UPDATE pgqrs.pgqrs_workers SET stopped_at = now() - interval '1 hour'")
    assert pgqrs.json("worker", "purge", "--older-than", "60") == {"older_than_seconds": 60, "purged": 3}
    assert pgqrs.json("worker", "list") == []


# -- archive ------------------------------------------------------------------------


def test_archive_list_purge(pgqrs, conn):
    pgqrs.ok("queue", "create", "q")
    ids = pgqrs.json("message", "send", "q", input='{"n": 1}\n{"n": 2}\n{"n": 3}\n')["ids"]
    pgqrs.ok("message", "read", "q", "--count", "3", "--archive")

    listed = pgqrs.json("archive", "list", "q")
    assert sorted(a["id"] for a in listed) == ids and all(a["dead_lettered"] is False for a in listed)
    assert len(pgqrs.json("archive", "list", "q", "--limit", "2")) == 2
    table = pgqrs.table("archive", "list", "q")
    assert table.splitlines()[0].split()[:4] == ["id", "reads", "enqueued", "archived"]
    assert lines_with(table, str(ids[0]), '{"n": 1}')
    assert pgqrs.table("archive", "list", "q", "--dead-letters") == "no dead letters in queue q\n"

    assert pgqrs.json("archive", "purge", "q", "--older-than", "3600") == {"queue": "q", "purged": 0}
    assert pgqrs.table("archive", "purge", "q") == "purged 3 archived message(s) of queue q\n"
    assert pgqrs.json("archive", "list", "q") == []


def test_dead_letters_list_replay_purge(pgqrs, conn):
    pgqrs.ok("queue", "create", "fragile", "--max-attempts", "1")
    ids = pgqrs.json("message", "send", "fragile", input='{"doomed": 1}\n{"doomed": 2}\n{"doomed": 3}\n')["ids"]
    conn.execute("SELECT * FROM pgqrs.dequeue('fragile', 3, 0)")
    conn.execute("SELECT * FROM pgqrs.dequeue('fragile', 3)")  # buries all three
    assert pgqrs.json("queue", "metrics", "fragile")["dead_lettered"] == 3

    dead = pgqrs.json("archive", "list", "fragile", "--dead-letters")
    assert sorted(d["id"] for d in dead) == ids and all(d["dead_lettered"] for d in dead)
    assert lines_with(pgqrs.table("archive", "list", "fragile", "--dead-letters"), str(ids[0]), "yes")

    replayed = pgqrs.json("archive", "replay", "fragile", ids[0])
    assert replayed["queue"] == "fragile" and len(replayed["replayed"]) == 1
    assert pgqrs.json("message", "count", "fragile")["count"] == 1
    out = pgqrs.table("archive", "replay", "fragile")
    assert out.startswith("replayed 2 dead letter(s) into queue fragile: ")
    assert pgqrs.json("message", "count", "fragile")["count"] == 3

    conn.execute("SELECT * FROM pgqrs.dequeue('fragile', 3, 0)")
    conn.execute("SELECT * FROM pgqrs.dequeue('fragile', 3)")
    assert pgqrs.json("archive", "purge", "fragile")["purged"] == 0  # dead letters kept
    assert pgqrs.json("archive", "purge", "fragile", "--include-dead-letters")["purged"] == 3


# -- configuration, output and logging ------------------------------------------------


def test_dsn_from_env_and_from_a_config_file(dsn, tmp_path):
    nodsn = Pgqrs(None)
    assert "DSN" in nodsn.fails("queue", "list", code=2)  # a configuration error is a usage error
    assert nodsn.json("queue", "list", env={"PGQRS_DSN": dsn}) == []
    config = tmp_path / "custom.yaml"
    config.write_text(f"dsn: '{dsn}'\n")
    assert nodsn.json("--config", str(config), "queue", "list") == []
    (tmp_path / "pgqrs.yaml").write_text(f"dsn: '{dsn}'\nschema: nowhere\n")
    assert nodsn.json("-s", "pgqrs", "queue", "list") == []  # the flag beats the file
    line = nodsn.fails("queue", "list")  # schema "nowhere" from ./pgqrs.yaml: not installed there
    assert "install" in line
    (tmp_path / "broken.yaml").write_text("dsn: [unclosed\n")
    assert "broken.yaml" in nodsn.fails("-c", str(tmp_path / "broken.yaml"), "queue", "list", code=2)
    assert "PGQRS_MAX_CONNECTIONS" in nodsn.fails("queue", "list", code=2,
                                                  env={"PGQRS_DSN": dsn, "PGQRS_MAX_CONNECTIONS": "many"})


def test_out_writes_the_output_to_a_file(pgqrs, tmp_path):
    pgqrs.ok("queue", "create", "q")
    target = tmp_path / "queues.json"
    assert pgqrs.ok("--out", str(target), "--format", "json", "queue", "list") == ""
    assert [q["queue_name"] for q in json.loads(target.read_text())] == ["q"]
    assert "No such file" in pgqrs.fails("--out", str(tmp_path / "missing" / "out.txt"), "queue", "list")


def test_log_level_and_log_dest(pgqrs, tmp_path):
    logfile = tmp_path / "pgqrs.log"
    pgqrs.ok("--log-level", "debug", "--log-dest", str(logfile), "queue", "list")
    assert "DEBUG" in logfile.read_text()
    assert pgqrs.invoke("--log-level", "loud", "queue", "list").exit_code == 2


# -- errors: one line on stderr, exit 1 --------------------------------------------------


def test_invalid_json_payload(pgqrs):
    pgqrs.ok("queue", "create", "q")
    assert pgqrs.fails("message", "send", "q", "{'a': 1}").startswith("Error: payload is not valid JSON")
    assert pgqrs.fails("--format", "json", "message", "send", "q", "not json").startswith("Error: payload is not valid")
    assert pgqrs.json("message", "count", "q")["count"] == 0


def test_unknown_queue(pgqrs):
    for args in (
        ["message", "send", "nosuch", "{}"],
        ["message", "read", "nosuch"],
        ["message", "dequeue", "nosuch"],
        ["queue", "purge", "nosuch"],
        ["queue", "delete", "nosuch"],
        ["queue", "metrics", "nosuch"],
        ["archive", "list", "nosuch"],
    ):
        assert 'queue "nosuch" does not exist' in pgqrs.fails(*args), args
        assert 'queue "nosuch" does not exist' in pgqrs.fails("--format", "json", *args), args


def test_queue_name_with_quotes_and_a_semicolon(pgqrs, conn):
    evil = "q'; DROP TABLE pgqrs.pgqrs_queues; --"
    assert "invalid queue name" in pgqrs.fails("queue", "create", evil)
    assert "invalid queue name" in pgqrs.fails("message", "send", evil, "{}")
    assert conn.execute("SELECT count(*) FROM pgqrs.pgqrs_queues").fetchone()[0] == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server():
    pgqrs = Pgqrs(f"host=127.0.0.1 port={_closed_port()} dbname=postgres user=postgres")
    started = time.monotonic()
    line = pgqrs.fails("queue", "list", env={"PGQRS_CONNECTION_TIMEOUT": "3"})
    assert "connect" in line.lower()
    assert time.monotonic() - started < 30
    assert "connect" in pgqrs.fails("--format", "json", "install", env={"PGQRS_CONNECTION_TIMEOUT": "3"}).lower()


@pytest.fixture
def password_role(dsn, postgresql_proc):
    """A role that must give its password over TCP (the test server trusts everyone else)."""
    role = unique("pw")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'right-password'")
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
        original = hba.read_text()
        hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + original)
        conn.execute("SELECT pg_reload_conf()")
    base = f"host=127.0.0.1 port={postgresql_proc.port} dbname=postgres user={role}"
    for _ in range(50):  # wait for the reload
        try:
            psycopg.connect(base + " password=wrong").close()
        except psycopg.OperationalError:
            break
        time.sleep(0.1)
    try:
        yield base
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            hba.write_text(original)
            conn.execute("SELECT pg_reload_conf()")
            conn.execute(f"DROP ROLE {role}")


def test_wrong_password(password_role):
    pgqrs = Pgqrs(password_role + " password=wrong")
    line = pgqrs.fails("queue", "list", env={"PGQRS_CONNECTION_TIMEOUT": "3"})
    assert "password authentication failed" in line


def test_not_installed(empty_dsn):
    pgqrs = Pgqrs(empty_dsn)
    assert "install" in pgqrs.fails("queue", "list")
    assert "install" in pgqrs.fails("message", "send", "q", "{}")


def test_usage_errors_exit_2(pgqrs):
    pgqrs.fails("nosuch", code=2)
    pgqrs.fails("message", "read", "q", "--count", "0", code=2)
    pgqrs.fails("message", "delete", "q", "not-a-number", code=2)
    pgqrs.fails("--format", "xml", "queue", "list", code=2)


# -- help -------------------------------------------------------------------------------


def _walk(command: click.Command, path: list[str]):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _walk(sub, [*path, name])


def test_every_command_has_help():
    runner = _runner()
    seen = []
    for path, command in _walk(cli, []):
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.stdout, result.stderr)
        assert result.stdout.startswith("Usage: "), path
        assert command.help and command.help.strip(), path
        assert command.help.strip().splitlines()[0][:30] in result.stdout, path
        seen.append(" ".join(path))
    for expected in ("install", "uninstall", "verify", "queue create", "queue metrics", "message send",
                     "message read", "message dequeue", "message delete", "message count", "message show",
                     "worker list", "worker show", "worker stop", "worker reap", "worker purge",
                     "archive list", "archive purge", "archive replay"):
        assert expected in seen


# -- the installed console script ---------------------------------------------------------


def test_seed_workflow_through_the_console_script(empty_dsn, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGQRS_")} | {"PGQRS_DSN": empty_dsn}

    def sh(*args: str, code: int = 0) -> str:
        proc = subprocess.run([str(PGQRS_SCRIPT), *args], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        if code == 0:
            assert proc.stderr == ""
        return proc.stdout

    assert "installed pgqrs" in sh("install")
    assert sh("verify").startswith("ok: ")
    assert sh("queue", "create", "q").startswith("queue q (id ")
    first = sh("message", "send", "q", '{"a":1}')
    msg_id = int(first.split()[2])
    sh("message", "send", "q", '{"b":2}', "--delay", "30")
    dequeued = sh("message", "dequeue", "q")
    assert lines_with(dequeued, "id", str(msg_id)) and lines_with(dequeued, "payload", '{"a": 1}')
    assert sh("message", "delete", "q", str(msg_id)) == f"deleted message {msg_id}\n"
    header, row = sh("queue", "metrics", "q").splitlines()
    assert row.split()[:6] == ["q", "0", "0", "1", "0", "0"]
    assert [q["queue_name"] for q in json.loads(sh("--format", "json", "queue", "list"))] == ["q"]
    err = subprocess.run([str(PGQRS_SCRIPT), "queue", "purge", "nosuch"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert err.returncode == 1 and err.stdout == ""
    assert err.stderr.splitlines()[0] == 'Error: queue "nosuch" does not exist'


def test_python_m_pgqrs_is_the_cli():
    """`python -m pgqrs` runs the same command line as the console script."""
    module = subprocess.run([sys.executable, "-m", "pgqrs", "--version"], capture_output=True, text=True, timeout=60)
    script = subprocess.run([str(PGQRS_SCRIPT), "--version"], capture_output=True, text=True, timeout=60)
    assert module.returncode == script.returncode == 0, module.stderr
    assert module.stdout == script.stdout and module.stdout.startswith("pgqrs, version ")
    help_text = subprocess.run([sys.executable, "-m", "pgqrs", "--help"], capture_output=True, text=True, timeout=60)
    assert help_text.returncode == 0 and help_text.stdout.startswith("Usage: pgqrs ")
