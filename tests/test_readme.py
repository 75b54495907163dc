"""The README's examples run as tests, so they cannot drift from the code (the guides' run in
test_docs.py, and the jobs page's are checked against their comments here too)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import psycopg

README = Path(__file__).resolve().parent.parent / "README.md"


def blocks(section: str, language: str) -> list[str]:
    """The fenced code blocks of one language in one `## ` section of the README."""
    text = README.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start: end if end != -1 else None]
    return re.findall(rf"```{language}\n(.*?)```", body, flags=re.S)


def test_sql_quick_start_runs_in_psql_as_described(dsn, pg_bin):
    sql = blocks("SQL quick start", "sql")
    assert len(sql) == 1
    result = subprocess.run([pg_bin / "psql", "-X", "-v", "ON_ERROR_STOP=1", dsn],
                            input="\n".join(sql), text=True, capture_output=True)
    assert result.returncode == 0, result.stderr
    # "enqueue returns the message's id (1 in a new database)", then archive returns true.
    assert re.search(r"archive \n-+\n t\n", result.stdout)
    with psycopg.connect(dsn) as conn:
        metrics = conn.execute(
            "SELECT ready, in_flight, archived FROM pgqrs.queue_metrics WHERE queue_name = 'emails'").fetchone()
    assert metrics == (0, 0, 1)


def test_python_usage_runs_as_shown(empty_dsn, monkeypatch, tmp_path, capsys):
    python = blocks("Python usage", "python")
    assert python, "the README has a Python example"
    monkeypatch.chdir(tmp_path)
    for var in ("PGQRS_SCHEMA", "PGQRS_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PGQRS_DSN", empty_dsn)
    exec(compile(python[0], "README.md", "exec"), {})
    assert capsys.readouterr().out.split() == ["ada@example.com", "1"]


def test_command_line_walk_through_runs_as_shown(empty_dsn, tmp_path):
    """Every `pgqrs` line of the README's walk-through, through the installed console script."""
    script = Path(sys.executable).with_name("pgqrs")
    (sh,) = blocks("Command line", "sh")
    commands = [shlex.split(line.split("  #")[0]) for line in sh.splitlines() if line.startswith("pgqrs ")]
    assert len(commands) >= 8
    (tmp_path / "jobs.jsonl").write_text('{"to": "cy@example.com"}\n{"to": "di@example.com"}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGQRS_")} | {"PGQRS_DSN": empty_dsn}
    outputs = []
    for command in commands:
        done = subprocess.run([script, *command[1:]], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        outputs.append(done.stdout)
    assert [q["queue_name"] for q in json.loads(outputs[-1])] == ["emails"]


JOBS = README.parent / "docs" / "semantics" / "jobs.md"


def page_blocks(page: Path, language: str) -> list[str]:
    """The fenced code blocks of one language on a page of the guides."""
    return re.findall(rf"```{language}\n(.*?)```", page.read_text(), flags=re.S)


def test_jobs_sql_examples_run_in_psql_as_described(dsn, pg_bin):
    """The unique jobs, results, cancellation, schedules and topics page: every SQL block but the
    pg_cron line (tests/test_cron.py runs that one) gives what its comments say."""
    sql = [block for block in page_blocks(JOBS, "sql") if "cron.schedule" not in block]
    assert len(sql) == 6
    result = subprocess.run([pg_bin / "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", dsn],
                            input="\n".join(sql), text=True, capture_output=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[1:3] == ["t", "1"]  # the second enqueue of the key returned the first's id; one message
    assert "delayed" in lines  # run_at in the future
    assert 'done|{"thumbnail": "cat-small.png"}' in lines  # wait_for returned the result
    assert "cancelled" in lines  # the cancelled message's state
    assert "nightly-report|30 2 * * MON-FRI|Europe/Paris|t" in lines
    assert "orders.*|billing" in lines and "#|audit" in lines
    with psycopg.connect(dsn) as conn:
        published = conn.execute(
            "SELECT q.queue_name, count(*) FROM pgqrs.pgqrs_messages m JOIN pgqrs.pgqrs_queues q ON q.id = m.queue_id"
            " WHERE q.queue_name IN ('billing', 'audit') GROUP BY 1 ORDER BY 1").fetchall()
    assert published == [("audit", 2), ("billing", 1)]


def test_jobs_python_examples_run_as_shown(empty_dsn, monkeypatch, tmp_path, capsys):
    python = page_blocks(JOBS, "python")
    assert len(python) == 6
    monkeypatch.chdir(tmp_path)
    for var in ("PGQRS_SCHEMA", "PGQRS_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PGQRS_DSN", empty_dsn)
    namespaces = []
    for block in python:
        namespace: dict = {}
        exec(compile(block, str(JOBS), "exec"), namespace)
        namespaces.append(namespace)
    assert capsys.readouterr().out.split("\n") == ["done cat-small.png", "['weekly'] 0", "1", ""]
    assert namespaces[3]["resize"](None) == {"done": True}  # outside a worker nothing is cancelled
