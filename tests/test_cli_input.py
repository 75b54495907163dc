"""What the `pgqrs` command line does with bad input, run as a real process against the real server:
JSON-lines sends are all or nothing (and name the line), numbers are bounded to their SQL types,
nothing ends in a traceback, the server's Detail, Hint and warnings reach stderr. Then the same
answers from the Python API as from SQL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from conftest import PGQRS_SCRIPT, cli_env, pgqrs_cli

import pgqrs
from pgqrs import AsyncProducer, Producer, wrap_errors


def error_lines(proc: subprocess.CompletedProcess[str], code: int) -> list[str]:
    """The stderr lines of a failed run: one Error line first, no traceback."""
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines and lines[0].startswith("Error: "), proc.stderr
    return lines


def count(dsn: str) -> int:
    """Messages in the database, ready or delayed."""
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM pgqrs.pgqrs_messages) "
                            "+ (SELECT count(*) FROM pgqrs.pgqrs_delayed)").fetchone()[0]


@pytest.fixture
def queue(dsn) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pgqrs.create_queue('q')")
    return "q"


# -- 1. a JSON-lines send is one transaction --------------------------------------------------

DEEP = "[" * 3000 + "]" * 3000
BAD_LINES = {
    "nan": b'{"n": NaN}',
    "infinity": b'{"n": -Infinity}',
    "json null": b"null",
    "nul character": b'{"s": "\\u0000"}',
    "lone surrogate": b'"\\ud800"',
    "invalid utf-8": b'{"s": "\xff\xfe"}',
    "syntax": b'{"s": 1,}',
    "3000 deep": DEEP.encode(),
}


def _file_with(tmp_path: Path, bad: bytes, at: int = 250, lines: int = 300) -> Path:
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(b"".join(bad + b"\n" if n == at else b'{"n": %d}\n' % n for n in range(1, lines + 1)))
    return path


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
@pytest.mark.parametrize("source", ["file", "stdin"])
def test_a_bad_line_sends_nothing_and_is_named(dsn, queue, tmp_path, kind, source):
    path = _file_with(tmp_path, BAD_LINES[kind])
    if source == "file":
        proc = pgqrs_cli(dsn, "--format", "json", "message", "send", queue, "--file", str(path))
        where = str(path)
    else:
        proc = pgqrs_cli(dsn, "--format", "json", "message", "send", queue, "--file", "-", input=path.read_bytes())
        where = "stdin"
    lines = error_lines(proc, 1)
    assert len(lines) == 1 and lines[0].startswith(f"Error: {where}:250: "), lines
    assert "nothing was sent" in lines[0]
    assert proc.stdout == ""
    assert count(dsn) == 0


def test_the_same_file_without_the_bad_line_is_sent_whole(dsn, queue, tmp_path):
    path = _file_with(tmp_path, b'{"n": 250, "big": 1e400, "exact": 0.10000000000000000000001}')
    sent = json.loads(pgqrs_cli(dsn, "--format", "json", "message", "send", queue, "--file", str(path)).stdout)
    assert sent["count"] == 300 and count(dsn) == 300
    with psycopg.connect(dsn) as conn:  # the numbers as written, not as a float would round them
        row = conn.execute("SELECT payload->'big' = '1e400'::jsonb, payload->>'exact' FROM pgqrs.pgqrs_messages "
                           "WHERE payload->>'n' = '250'").fetchone()
    assert row == (True, "0.10000000000000000000001")


def test_a_payload_over_the_queue_limit_rolls_back_every_batch(dsn, queue, tmp_path):
    """The server refuses line 250 (over max_payload_bytes, 1 MiB by default) after 200 rows went in
    batches of 100: all of them are rolled back, and its payloads[50] is reported as the file's line."""
    big = json.dumps({"s": os.urandom(1_100_000).hex()}).encode()
    path = _file_with(tmp_path, big)
    proc = pgqrs_cli(dsn, "message", "send", queue, "--file", str(path), env=cli_env(PGQRS_DEFAULT_BATCH_SIZE="100"))
    lines = error_lines(proc, 1)
    assert lines[0].startswith(f"Error: {path}:250: payload is ") and "max_payload_bytes" in lines[0], lines
    assert count(dsn) == 0


def _sending(conn: psycopg.Connection, pid: int) -> bool:
    """Whether a backend other than ours, in the test's database, has written rows it has not committed."""
    return conn.execute(
        "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
    ).fetchone()[0]


def test_ctrl_c_mid_send_rolls_everything_back(dsn, queue, tmp_path):
    path = tmp_path / "million.jsonl"
    path.write_bytes(b"".join(b'{"n": %d}\n' % n for n in range(1_000_000)))
    # As a terminal's Ctrl-C finds it: with SIGINT's default action, even where the test runner was
    # started with SIGINT ignored (a background job), which the CLI would rightly keep ignored.
    proc = subprocess.Popen([str(PGQRS_SCRIPT), "--dsn", dsn, "message", "send", queue, "--file", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            while not _sending(conn, proc.pid):  # the first batches are in, uncommitted
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (stdout, stderr)
    lines = stderr.decode().splitlines()
    assert lines == ["Error: interrupted: nothing was sent to queue q"], stderr
    assert stdout == b""
    assert count(dsn) == 0


# -- 2. numbers are bounded to the SQL types they feed ----------------------------------------

HUGE = "9" * 10_000

OUT_OF_RANGE = [
    ["message", "send", "q", "{}", "--delay", "3000000000"],
    ["message", "send", "q", "{}", "--delay", "-1"],
    ["message", "delete", "q", "99999999999999999999"],
    ["message", "delete", "q", "0"],
    ["message", "show", "q", "9223372036854775808"],
    ["message", "read", "q", "--count", "3000000000"],
    ["message", "read", "q", "--lock-time", "2147483648"],
    ["message", "dequeue", "q", "--lock-time", "0"],
    ["queue", "create", "q2", "--max-attempts", "2147483648"],
    ["worker", "show", "99999999999999999999"],
    ["worker", "stop", "9223372036854775808"],
    ["worker", "reap", "--stale-after", "2147483648"],
    ["worker", "reap", "--stale-after", "-5"],
    ["worker", "purge", "--older-than", "3000000000"],
    ["archive", "list", "q", "--limit", "2147483648"],
    ["archive", "purge", "q", "--older-than", "2147483648"],
    ["archive", "replay", "q", "1", "99999999999999999999"],
    ["worker", "run", "q", "os:getcwd", "--concurrency", "3000000000"],
    ["worker", "run", "q", "os:getcwd", "--long-poll", "2147483648"],
    ["worker", "run", "q", "os:getcwd", "--stale-after", "2147483648"],
    ["worker", "run", "q", "os:getcwd", "--poll-interval", "nan"],
    ["worker", "run", "q", "os:getcwd", "--grace", "inf"],
    ["message", "delete", "q", HUGE],
]


@pytest.mark.parametrize("args", OUT_OF_RANGE, ids=lambda args: " ".join(a[:20] for a in args))
def test_numbers_out_of_range_are_usage_errors(dsn, queue, args):
    proc = pgqrs_cli(dsn, *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "not installed" not in proc.stderr
    assert "Invalid value" in proc.stderr
    assert len(proc.stderr) < 500  # a huge value is cut, not echoed whole
    assert count(dsn) == 0


def test_numbers_at_the_bounds_reach_the_server(dsn, queue):
    assert pgqrs_cli(dsn, "message", "send", "q", "{}", "--delay", "2147483647").returncode == 0
    missing = error_lines(pgqrs_cli(dsn, "message", "delete", "q", "9223372036854775807"), 1)
    assert missing == ["Error: message 9223372036854775807 not found in queue q"]


# -- 3. one Error line, never a traceback ----------------------------------------------------------


def test_a_3000_deep_argument_is_one_error_line(dsn, queue):
    lines = error_lines(pgqrs_cli(dsn, "message", "send", "q", DEEP), 1)
    assert lines == ["Error: payload is nested too deeply to be checked as JSON"]
    assert count(dsn) == 0


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"connection_timeout_seconds: .nan\n", "must be a finite number"),
        (b"connection_timeout_seconds: .inf\n", "must be a finite number"),
        (b"max_connections: .inf\n", "must be an integer"),
        (b"default_lock_time_seconds: 3000000000\n", "must be at most 2147483647"),
        (b"max_connections: " + HUGE.encode() + b"\n", "cannot be read"),
        (b"schema: caf\xe9\n", "is not UTF-8 text"),
        (b"dsn: " + b"[" * 3000 + b"\n", "nested too deeply"),
    ],
)
def test_bad_config_files_are_usage_errors(dsn, tmp_path, content, words):
    (tmp_path / "pgqrs.yaml").write_bytes(f"dsn: '{dsn}'\n".encode() + content)
    lines = error_lines(pgqrs_cli(None, "queue", "list", cwd=tmp_path), 2)
    assert len(lines) == 1 and words in lines[0] and "pgqrs.yaml" in lines[0], lines
    assert len(lines[0]) < 300


def test_a_config_path_that_is_a_directory(dsn, tmp_path):
    lines = error_lines(pgqrs_cli(dsn, "-c", str(tmp_path), "queue", "list"), 2)
    assert lines == [f"Error: config file {str(tmp_path)!r} (from flag) is a directory, not a file"]


def test_bad_numbers_in_the_environment(dsn, tmp_path):
    lines = error_lines(pgqrs_cli(dsn, "queue", "list", env=cli_env(PGQRS_CONNECTION_TIMEOUT="nan")), 2)
    assert "PGQRS_CONNECTION_TIMEOUT must be a finite number" in lines[0]
    lines = error_lines(pgqrs_cli(dsn, "queue", "list", env=cli_env(PGQRS_MAX_CONNECTIONS="x" * 10_000)), 2)
    assert "PGQRS_MAX_CONNECTIONS must be an integer" in lines[0] and lines[0].endswith("...")
    assert len(lines[0]) < 300


# -- 4. the server's Detail, Hint, notices and warnings ----------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_detail_and_hint_of_a_server_error(dsn, queue, fmt):
    assert pgqrs_cli(dsn, "message", "send", "q", "{}").returncode == 0
    proc = pgqrs_cli(dsn, "--format", fmt, "queue", "delete", "q")
    lines = error_lines(proc, 1)
    assert lines[0] == 'Error: queue "q" is not empty'
    assert [line.split(":")[0] for line in lines[1:]] == ["Detail", "Hint"]
    assert "1 messages" in lines[1] and "force" in lines[2]
    assert proc.stdout == ""


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_server_warnings_reach_stderr_and_stdout_stays_clean(dsn, fmt):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("""
            CREATE FUNCTION public.warn_on_queue() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE WARNING 'queue % made', NEW.queue_name USING DETAIL = 'by a trigger', HINT = 'look here';
                RAISE NOTICE 'only with --log-level info';
                RETURN NEW;
            END $$""")
        conn.execute("CREATE TRIGGER warn AFTER INSERT ON pgqrs.pgqrs_queues "
                      "FOR EACH ROW EXECUTE FUNCTION public.warn_on_queue()")
    proc = pgqrs_cli(dsn, "--format", fmt, "queue", "create", "w")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == ["Warning: queue w made", "Detail: by a trigger", "Hint: look here"]
    if fmt == "json":
        assert json.loads(proc.stdout)["queue"] == "w"
    verbose = pgqrs_cli(dsn, "--log-level", "info", "queue", "create", "w2")
    assert "Notice: only with --log-level info" in verbose.stderr.splitlines()
    quiet = pgqrs_cli(dsn, "--log-level", "error", "queue", "create", "w3")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_install_without_createrole_warns_that_no_grants_were_made(schema_owner):
    """The installing role may not create the roles of schema tenant: a WARNING, shown, and JSON on stdout."""
    proc = pgqrs_cli(schema_owner, "--format", "json", "-s", "tenant", "install")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["schema"] == "tenant"
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("Warning: ")]
    assert warnings and "no grants" in warnings[0], proc.stderr


# -- 5. the Python API answers as SQL does ---------------------------------------------------------


def _outcome(call) -> tuple:
    """("ok",) or ("error", class name, SQLSTATE): what a call answered."""
    try:
        with wrap_errors():
            call()
    except pgqrs.PgqrsError as exc:
        return ("error", type(exc).__name__, exc.sqlstate)
    return ("ok",)


@pytest.fixture
def sql(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield lambda query, *params: conn.execute(query, params)


@pytest.mark.parametrize(
    ("api", "query", "params", "expected"),
    [
        (lambda a: a.drop_queue(None, if_exists=True), "SELECT pgqrs.drop_queue(NULL, if_exists => true)", (),
         ("error", "InvalidQueueName", "PQ003")),
        (lambda a: a.register_worker("q", "h", None), "SELECT pgqrs.register_worker('q', 'h', NULL)", (), ("ok",)),
        (lambda a: a.register_worker("q", "h" * 1_000_000, 1), "SELECT pgqrs.register_worker('q', %s, 1)",
         ("h" * 1_000_000,), ("error", "InvalidArgument", "PQ004")),
        (lambda a: a.heartbeat(None), "SELECT pgqrs.heartbeat(NULL)", (), ("error", "InvalidArgument", "PQ004")),
    ],
    ids=["drop_queue(None, if_exists)", "register_worker port None", "1 MB hostname", "heartbeat(None)"],
)
def test_api_and_sql_give_the_same_answer(admin, sql, queue, api, query, params, expected):
    assert _outcome(lambda: api(admin)) == expected
    assert _outcome(lambda: sql(query, *params)) == expected


def _deep(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


BAD_PAYLOADS = {
    "None (JSON null)": (None, "is JSON null"),
    "NUL character": ({"s": "a\x00b"}, "U+0000"),
    "NUL in a key": ({"k\x00": 1}, "U+0000"),
    "lone surrogate": ("\ud800", "lone surrogate U+D800"),
    "3000 deep": (_deep(3000), "nested too deeply"),
    "NaN": (float("nan"), "not JSON-serialisable"),
}


@pytest.mark.parametrize("name", sorted(BAD_PAYLOADS))
def test_bad_python_payloads_are_invalid_payload(admin, queue, name):
    payload, words = BAD_PAYLOADS[name]
    producer = Producer(admin.pool, queue, admin.config)
    with pytest.raises(pgqrs.InvalidPayload, match=re.escape(words)) as excinfo:
        producer.enqueue(payload)
    assert excinfo.value.sqlstate == "PQ005"
    with pytest.raises(pgqrs.InvalidPayload, match=r"^payloads\[2\] "):
        producer.batch_enqueue([{"ok": 1}, payload])
    with pytest.raises(pgqrs.InvalidPayload, match=r"^payloads\[3\] "):
        producer.enqueue_many([1, 2, payload], batch_size=1)
    assert admin.count_messages(queue) == 0


@pytest.mark.parametrize("value", [
    "a\x00b", "\\u0000", "\\\x00", "\\\\u0000", "\ud800", "\udc00", "x\udfffy", "\U0001F600", "\u00e9\u2028",
    {"\x00": 1}, {"k": ["\\", "\\u0000x"]}, ["\ud83d\ude00"], "plain",
])
def test_the_encoded_text_check_agrees_with_the_value_check(value):
    """The producer scans the JSON text json.dumps writes; the CLI walks the decoded value."""
    from pgqrs.producer import _string_problem, _text_problem

    assert _text_problem(json.dumps(value, ensure_ascii=False)) == _string_problem(value)


def test_json_null_from_sql_is_invalid_payload(sql, queue):
    assert _outcome(lambda: sql("SELECT pgqrs.enqueue('q', 'null'::jsonb)")) == ("error", "InvalidPayload", "PQ005")


def test_the_size_limit_is_the_queues(admin, sql):
    """No client-side cap below the queue's: 1.5 MB goes to a queue that takes 4 MiB; above it, the server says no."""
    sql("SELECT pgqrs.create_queue('big', max_payload_bytes => 4194304)")
    producer = Producer(admin.pool, "big", admin.config)
    assert producer.enqueue({"s": "x" * 1_500_000})
    with pytest.raises(pgqrs.InvalidPayload, match="max_payload_bytes"):
        producer.enqueue({"s": os.urandom(2_500_000).hex()})


def test_enqueue_many_is_one_transaction(admin, sql, queue):
    """A server refusal in the fourth batch undoes the three before it; the error numbers the whole input."""
    producer = Producer(admin.pool, queue, admin.config)
    seen: list[int] = []
    payloads = [{"n": n} for n in range(10)] + [{"s": os.urandom(1_100_000).hex()}]
    with pytest.raises(pgqrs.InvalidPayload, match=r"payloads\[11\]"):
        producer.enqueue_many(payloads, batch_size=3, on_batch=seen.append)
    assert seen == [3, 6, 9]
    assert admin.count_messages(queue) == 0
    ids = producer.enqueue_many(payloads[:10], batch_size=3)
    assert len(ids) == 10 and ids == sorted(ids) and admin.count_messages(queue) == 10


def test_enqueue_many_rolls_back_on_any_server_error(admin, sql, queue):
    """Independent of what the server checks: an error raised while the third batch goes in undoes the first two."""
    sql("""CREATE FUNCTION public.refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN IF NEW.payload ? 'boom' THEN RAISE EXCEPTION 'boom refused'; END IF; RETURN NEW; END $$""")
    sql("CREATE TRIGGER refuse BEFORE INSERT ON pgqrs.pgqrs_messages FOR EACH ROW EXECUTE FUNCTION public.refuse_boom()")
    producer = Producer(admin.pool, queue, admin.config)
    with pytest.raises(pgqrs.DatabaseError, match="boom refused"):
        producer.enqueue_many([{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}, {"boom": 1}], batch_size=2)
    assert admin.count_messages(queue) == 0
    assert len(producer.enqueue_many([{"n": n} for n in range(5)], batch_size=2)) == 5


async def test_async_producer_checks_and_sends_the_same(async_admin):
    await async_admin.create_queue("aq")
    producer = AsyncProducer(async_admin.pool, "aq", async_admin.config)
    for payload, words in BAD_PAYLOADS.values():
        with pytest.raises(pgqrs.InvalidPayload, match=re.escape(words)):
            await producer.enqueue(payload)
    ids = await producer.enqueue_many([{"n": n} for n in range(7)], batch_size=3)
    assert len(ids) == 7 and await async_admin.count_messages("aq") == 7
