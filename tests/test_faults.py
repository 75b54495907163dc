"""Fault injection against real processes: the worker runner under crashes, restarts and kills.

Every worker here is a real process (`pgqrs worker run`) running the handler
`faultjobs:record`, which appends
"start ID PID" and "done ID PID" lines to a log file. Each scenario counts, per
message: processed (done lines), duplicated (more than one done line), lost
(committed but never archived), and reads the archive for how often it was
delivered (read_ct).

What "exactly once" means here, under at-least-once delivery: every committed
message is acknowledged (archived) exactly once and nothing is left in the
queue. A handler may run more than once only for a message whose lease was
lost (its read_ct shows the extra delivery); each test says which it allows.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psycopg
import pytest
from conftest import free_port
from psycopg.types.json import Jsonb

PYTHON = sys.executable
PGQRS = str(Path(PYTHON).with_name("pgqrs"))


WORKER = [PGQRS, "worker", "run"]

HANDLER_MODULE = textwrap.dedent('''
    """Test handler: records each run, sleeps, fails or hangs as the payload says."""
    import os
    import time

    LOG = os.environ["FAULT_LOG"]


    def _write(line):
        # O_APPEND: lines from several processes never interleave.
        fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


    def record(message):
        payload = message.payload if isinstance(message.payload, dict) else {}
        _write(f"start {message.id} {os.getpid()}\\n")
        if payload.get("sleep"):
            time.sleep(payload["sleep"])
        if payload.get("fail"):
            raise RuntimeError(f"job {message.id} failed on purpose")
        if payload.get("hang"):
            time.sleep(3600)
        _write(f"done {message.id} {os.getpid()}\\n")
''')


# -- helpers ------------------------------------------------------------------


def sql(dsn: str, query: str, params: tuple | list = ()) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def enqueue_many(dsn: str, queue: str, payloads: list[dict]) -> list[int]:
    ids: list[int] = []
    for start in range(0, len(payloads), 10_000):
        chunk = [Jsonb(p) for p in payloads[start:start + 10_000]]
        ids += [r[0] for r in sql(dsn, "SELECT pgqrs.enqueue_batch(%s, %s)", (queue, chunk))]
    return ids


def archive_of(dsn: str, queue: str) -> dict[int, tuple]:
    """id -> (read_ct, worker_id, dead_lettered, payload)."""
    rows = sql(dsn, """SELECT a.id, a.read_ct, a.worker_id, a.dead_lettered, a.payload
                       FROM pgqrs.pgqrs_archive a JOIN pgqrs.pgqrs_queues q ON q.id = a.queue_id
                       WHERE q.queue_name = %s""", (queue,))
    return {r[0]: r[1:] for r in rows}


def archived_count(dsn: str, queue: str) -> int:
    return sql(dsn, """SELECT count(*) FROM pgqrs.pgqrs_archive a JOIN pgqrs.pgqrs_queues q ON q.id = a.queue_id
                       WHERE q.queue_name = %s""", (queue,))[0][0]


def remaining(dsn: str, queue: str) -> int:
    return sql(dsn, """SELECT (SELECT count(*) FROM pgqrs.pgqrs_messages m WHERE m.queue_id = q.id)
                            + (SELECT count(*) FROM pgqrs.pgqrs_delayed d WHERE d.queue_id = q.id)
                       FROM pgqrs.pgqrs_queues q WHERE q.queue_name = %s""", (queue,))[0][0]


def worker_id_of(dsn: str, pid: int) -> list[int]:
    return [r[0] for r in sql(dsn, "SELECT id FROM pgqrs.pgqrs_workers WHERE hostname LIKE %s ORDER BY id",
                              (f"%/{pid}",))]


class Runs:
    """The handler's log: which process started and finished which message."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> tuple[collections.Counter, dict[int, list[int]]]:
        starts: collections.Counter = collections.Counter()
        done: dict[int, list[int]] = collections.defaultdict(list)
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                kind, msg_id, pid = line.split()
                if kind == "start":
                    starts[int(msg_id)] += 1
                else:
                    done[int(msg_id)].append(int(pid))
        return starts, done

    def done_count(self) -> int:
        return sum(len(pids) for pids in self.read()[1].values())


def check_exactly_once(dsn: str, queue: str, committed: set[int], runs: Runs, *,
                       may_redeliver: bool) -> dict[str, int]:
    """Every committed message archived once, nothing left; handler re-runs only where a lease was lost."""
    archive = archive_of(dsn, queue)
    _, done = runs.read()
    lost = committed - set(archive)
    unprocessed = committed - set(done)
    duplicated = {i: len(pids) for i, pids in done.items() if len(pids) > 1}
    counts = {
        "committed": len(committed),
        "archived": len(archive),
        "processed": len(set(done) & committed),
        "duplicated": len(duplicated),
        "lost": len(lost),
        "left_in_queue": remaining(dsn, queue),
    }
    assert lost == set(), counts
    assert unprocessed == set(), counts
    assert counts["left_in_queue"] == 0, counts
    assert not any(dead for _, _, dead, _ in archive.values()), counts
    # A handler ran again only for a message that was delivered again (lost lease).
    for msg_id, runs_of_msg in duplicated.items():
        assert runs_of_msg <= archive[msg_id][0], (msg_id, runs_of_msg, archive[msg_id])
    if not may_redeliver:
        assert duplicated == {}, counts
        assert all(read_ct == 1 for read_ct, *_ in archive.values()), counts
    return counts


class Proc:
    """A worker (or producer) process with its output in a file."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        self._out = open(log, "ab")
        self.popen = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self._out, stderr=subprocess.STDOUT)
        self.pid = self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, and the exit code (the test fails if it does not exit in time)."""
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            raise AssertionError(f"process {self.pid} did not stop within {timeout} s:\n{self.output()[-3000:]}")

    def cleanup(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)
                self.popen.kill()
            self.popen.wait(10)
        self._out.close()


@pytest.fixture
def lab(tmp_path):
    """Starts worker and producer processes, all killed at the end of the test."""

    class Lab:
        def __init__(self) -> None:
            (tmp_path / "faultjobs.py").write_text(HANDLER_MODULE)
            self.runs = Runs(tmp_path / "runs.log")
            self.procs: list[Proc] = []

        def env(self, dsn: str) -> dict[str, str]:
            return {**os.environ, "PGQRS_DSN": dsn, "PYTHONPATH": str(tmp_path), "FAULT_LOG": str(self.runs.path),
                    "PGQRS_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}

        def worker(self, dsn: str, queue: str, *options: str) -> Proc:
            proc = Proc([*WORKER, queue, "faultjobs:record", *options], self.env(dsn), tmp_path,
                        tmp_path / f"worker{len(self.procs)}.log")
            self.procs.append(proc)
            return proc

        def python(self, dsn: str, code: str, *args: str) -> Proc:
            proc = Proc([PYTHON, "-c", textwrap.dedent(code), *args], self.env(dsn), tmp_path,
                        tmp_path / f"proc{len(self.procs)}.log")
            self.procs.append(proc)
            return proc

    lab = Lab()
    yield lab
    for proc in lab.procs:
        proc.cleanup()


# A producer process: enqueues `total` messages one by one, through faults.
# It logs "ok SEQ ID" for each enqueue that returned (committed), "err SEQ" for
# each that failed (maybe committed, maybe not), and reconnects after errors.
PRODUCER = '''
    import json, os, sys, time
    import psycopg
    from psycopg.types.json import Jsonb
    dsn, queue, total, pause, log = os.environ["PGQRS_DSN"], sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    out = open(log, "a", buffering=1)
    conn = None
    for seq in range(1, total + 1):
        try:
            if conn is None:
                conn = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
            msg_id = conn.execute("SELECT pgqrs.enqueue(%s, %s)", (queue, Jsonb({**extra, "seq": seq}))).fetchone()[0]
            out.write(f"ok {seq} {msg_id}\\n")
        except psycopg.Error as exc:
            out.write(f"err {seq}\\n")
            if conn is not None:
                conn.close()
            conn = None
            time.sleep(0.2)
        time.sleep(pause)
    out.write("finished\\n")
'''


def worker_stats(output: str) -> dict[str, int]:
    """The counters of the worker's last log line ("worker N stopped: WorkerStats(...)")."""
    match = re.findall(r"stopped: WorkerStats\((.*)\)", output)
    assert match, output[-2000:]
    return {key: int(value) for key, value in (item.split("=") for item in match[-1].split(", "))}


def producer_log(path: Path) -> tuple[dict[int, int], set[int], bool]:
    """(seq -> id of committed enqueues, seqs that failed, finished)."""
    ok: dict[int, int] = {}
    failed: set[int] = set()
    finished = False
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if parts[0] == "ok":
                ok[int(parts[1])] = int(parts[2])
            elif parts[0] == "err":
                failed.add(int(parts[1]))
            elif parts[0] == "finished":
                finished = True
    return ok, failed, finished


def check_producer_messages(dsn: str, queue: str, ok: dict[int, int], failed: set[int]) -> None:
    """Nothing archived that was never sent, and no enqueue archived twice."""
    seqs = [payload["seq"] for *_, payload in archive_of(dsn, queue).values() if "seq" in payload]
    assert len(seqs) == len(set(seqs))
    assert set(seqs) <= set(ok) | failed


# -- a worker killed in the middle of jobs --------------------------------------


@pytest.mark.parametrize("recovery", ["reap", "lease"])
def test_sigkill_mid_job_every_job_is_done_by_another_worker(dsn, lab, recovery):
    """SIGKILL a worker holding jobs: another worker gets them again (after the reap, or after the lease)."""
    sql(dsn, "SELECT pgqrs.create_queue('kill', notify => true)")
    ids = set(enqueue_many(dsn, "kill", [{"sleep": 0.4} for _ in range(60)]))
    if recovery == "reap":
        # Long lease: only reaping (5 s without heartbeat, the least there is) can bring the jobs back in time.
        first_opts = ["--lock-time", "300", "--heartbeat-interval", "1", "--stale-after", "5"]
        second_opts = ["--lock-time", "300", "--heartbeat-interval", "1", "--stale-after", "5"]
    else:
        # Short lease, no reaping within the test: the lease running out brings them back.
        first_opts = ["--lock-time", "2", "--stale-after", "300"]
        second_opts = ["--lock-time", "2", "--stale-after", "300"]

    def in_flight() -> bool:
        starts, done = lab.runs.read()
        return sum(map(len, done.values())) >= 8 and any(i not in done for i in starts)

    first = lab.worker(dsn, "kill", "--concurrency", "4", "--poll-interval", "0.2", *first_opts)
    # Kill while handlers sleep, not in the instant between a handler's end and its acknowledgement.
    wait_for(in_flight, 30, "the first worker to finish some jobs and start more")
    first.signal(signal.SIGKILL)
    first.popen.wait(10)
    [first_id] = worker_id_of(dsn, first.pid)
    held = {r[0] for r in sql(dsn, "SELECT id FROM pgqrs.pgqrs_messages WHERE worker_id = %s", (first_id,))}
    assert held, "the first worker held no jobs when killed"

    t_kill = time.monotonic()
    second = lab.worker(dsn, "kill", "--concurrency", "4", "--poll-interval", "0.2", *second_opts)
    wait_for(lambda: archived_count(dsn, "kill") == len(ids), 60, "every job archived")
    recovered_in = time.monotonic() - t_kill
    assert second.terminate() == 0

    counts = check_exactly_once(dsn, "kill", ids, lab.runs, may_redeliver=True)
    archive = archive_of(dsn, "kill")
    _, done = lab.runs.read()
    # The jobs the first worker held were delivered again and done by the second.
    assert all(archive[i][0] == 2 and second.pid in done[i] for i in held)
    # A handler ran twice only for a job the killed worker held: one that finished
    # there but whose acknowledgement never committed (at-least-once delivery).
    twice = {i for i, pids in done.items() if len(pids) > 1}
    assert twice <= held and all(done[i] == [first.pid, second.pid] for i in twice), (twice, held)
    assert counts["duplicated"] < len(held)  # most held jobs were killed mid-handler
    status = sql(dsn, "SELECT status FROM pgqrs.pgqrs_workers WHERE id = %s", (first_id,))[0][0]
    assert status == ("dead" if recovery == "reap" else "active")  # reaped, or still waiting to be
    assert recovered_in < 45


def test_pgqrs_worker_reap_releases_a_dead_workers_jobs_at_once(dsn, lab):
    """`pgqrs worker reap`: a killed worker's jobs come back at once, without waiting for their 5-minute lease."""
    sql(dsn, "SELECT pgqrs.create_queue('reap')")
    ids = set(enqueue_many(dsn, "reap", [{"sleep": 0.5} for _ in range(8)]))
    opts = ["--concurrency", "4", "--lock-time", "300", "--stale-after", "300", "--poll-interval", "0.2"]
    first = lab.worker(dsn, "reap", *opts)
    wait_for(lambda: sum(lab.runs.read()[0].values()) >= 4, 30, "4 jobs started")
    first.signal(signal.SIGKILL)
    first.popen.wait(10)
    [first_id] = worker_id_of(dsn, first.pid)
    held = sql(dsn, "SELECT count(*) FROM pgqrs.pgqrs_messages WHERE worker_id = %s", (first_id,))[0][0]
    assert held >= 1
    # Silent for an hour, as far as the heartbeats tell (stale_after is 5 s at least).
    sql(dsn, "UPDATE pgqrs.pgqrs_workers SET heartbeat_at = now() - interval '1 hour' WHERE id = %s", (first_id,))
    reap = subprocess.run([PGQRS, "--format", "json", "worker", "reap", "--stale-after", "5", "--queue", "reap"],
                          env=lab.env(dsn), capture_output=True, text=True, timeout=30)
    if "NotImplementedError" in reap.stderr:
        pytest.skip("Admin.reap_workers is not implemented yet")
    assert reap.returncode == 0, reap.stderr
    assert json.loads(reap.stdout)["released"] == held
    # Visible now, held by nobody: a second worker (which reaps nobody: --stale-after 300) takes them at once.
    second = lab.worker(dsn, "reap", *opts)
    wait_for(lambda: archived_count(dsn, "reap") == len(ids), 30, "every job archived")
    assert second.terminate() == 0
    check_exactly_once(dsn, "reap", ids, lab.runs, may_redeliver=True)
    assert sql(dsn, "SELECT status FROM pgqrs.pgqrs_workers WHERE id = %s", (first_id,)) == [("dead",)]


# -- PostgreSQL restarted under a running producer and worker ---------------------


def test_postgres_restart_under_producer_and_worker(own_server, lab, tmp_path):
    """Immediate shutdown and restart mid-stream: every committed message archived exactly once, the
    worker carries on by itself and listens again (its poll interval is 30 s, so only a notification
    can wake it in time after the restart)."""
    with own_server() as (dsn, start, crash):
        sql(dsn, "SELECT pgqrs.create_queue('restart', notify => true)")
        worker = lab.worker(dsn, "restart", "--concurrency", "4", "--poll-interval", "30", "--lock-time", "3",
                            "--heartbeat-interval", "1", "--stale-after", "20")
        produced = tmp_path / "producer.out"
        # Jobs of 30 ms, four at a time, a message every 10 ms: messages are in flight at the crash.
        producer = lab.python(dsn, PRODUCER, "restart", "600", "0.01", str(produced), '{"sleep": 0.03}')

        wait_for(lambda: lab.runs.done_count() >= 100, 60, "100 messages processed before the crash")
        crash()
        time.sleep(1.0)
        start()
        ok_before_restart = len(producer_log(produced)[0])

        wait_for(lambda: producer_log(produced)[2], 90, "the producer to finish")
        assert producer.popen.wait(10) == 0
        ok, failed, _ = producer_log(produced)
        assert len(ok) > ok_before_restart  # the producer carried on after the restart too
        wait_for(lambda: remaining(dsn, "restart") == 0 and set(ok.values()) <= set(archive_of(dsn, "restart")),
                 60, "every committed message archived")

        # Woken by a notification on the re-subscribed channel, not by its 30 s poll.
        sent = time.monotonic()
        [last] = [r[0] for r in sql(dsn, "SELECT pgqrs.enqueue('restart', '{}')")]
        wait_for(lambda: last in archive_of(dsn, "restart"), 15, "the message sent after the restart")
        assert time.monotonic() - sent < 10

        assert worker.popen.poll() is None  # the same process all along
        assert worker.terminate() == 0
        # The lease may have been lost for messages leased just before the crash: those may run twice.
        counts = check_exactly_once(dsn, "restart", set(ok.values()) | {last}, lab.runs, may_redeliver=True)
        check_producer_messages(dsn, "restart", ok, failed)
        assert counts["processed"] == len(ok) + 1
        print("restart:", counts, "failed enqueues:", len(failed))


# -- pg_terminate_backend of the worker's connections under load -------------------


def test_terminated_connections_under_load(dsn, lab, tmp_path):
    """Kill every worker connection (pool and LISTEN) again and again while producing: nothing lost, nothing
    acked twice, and the workers carry on."""
    sql(dsn, "SELECT pgqrs.create_queue('terminate', notify => true)")
    preloaded = set(enqueue_many(dsn, "terminate", [{"n": i} for i in range(1500)]))
    worker_dsn = dsn + " application_name=pgqrs-fault-worker"
    workers = [lab.worker(worker_dsn, "terminate", "--concurrency", "4", "--poll-interval", "0.5",
                          "--lock-time", "3", "--heartbeat-interval", "1", "--stale-after", "20") for _ in range(2)]
    produced = tmp_path / "producer.out"
    lab.python(dsn, PRODUCER, "terminate", "400", "0.005", str(produced))

    wait_for(lambda: lab.runs.done_count() >= 100, 60, "processing to start")
    killed = 0
    for _ in range(6):
        killed += sql(dsn, """SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
                              WHERE datname = current_database() AND application_name = 'pgqrs-fault-worker'""")[0][0]
        time.sleep(0.4)
    assert killed >= 6

    wait_for(lambda: producer_log(produced)[2], 60, "the producer to finish")
    ok, failed, _ = producer_log(produced)
    assert failed == set()  # the producer's connection was left alone
    committed = preloaded | set(ok.values())
    wait_for(lambda: archived_count(dsn, "terminate") >= len(committed) and remaining(dsn, "terminate") == 0,
             90, "every message archived")
    # The listeners are back: one LISTEN connection per worker.
    wait_for(lambda: sql(dsn, """SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgqrs-fault-worker'
                                 AND query ILIKE 'LISTEN%%' OR (application_name = 'pgqrs-fault-worker'
                                 AND query = 'SELECT 1')""")[0][0] >= 2, 30, "listeners reconnected")
    assert [w.terminate() for w in workers] == [0, 0]
    counts = check_exactly_once(dsn, "terminate", committed, lab.runs, may_redeliver=True)
    check_producer_messages(dsn, "terminate", ok, failed)
    print("terminate:", counts, "connections killed:", killed)


# -- many consumers ------------------------------------------------------------------


def test_eight_consumers_twenty_thousand_messages(dsn, lab):
    """8 worker processes over 20,000 messages: every one processed, none twice, none acked twice."""
    sql(dsn, "SELECT pgqrs.create_queue('crowd', notify => true)")
    ids = set(enqueue_many(dsn, "crowd", [{"n": i} for i in range(20_000)]))
    assert len(ids) == 20_000
    workers = [lab.worker(dsn, "crowd", "--concurrency", "8", "--poll-interval", "0.5") for _ in range(8)]
    wait_for(lambda: archived_count(dsn, "crowd") == 20_000, 150, "20,000 messages archived", interval=0.5)
    assert [w.terminate() for w in workers] == [0] * 8
    counts = check_exactly_once(dsn, "crowd", ids, lab.runs, may_redeliver=False)
    assert counts == {"committed": 20_000, "archived": 20_000, "processed": 20_000, "duplicated": 0, "lost": 0,
                      "left_in_queue": 0}
    # The workers' own count of acks (their last log line) adds up too: 20,000, none refused.
    stats = [worker_stats(w.output()) for w in workers]
    assert sum(s["acked"] for s in stats) == 20_000 and sum(s["ack_refused"] for s in stats) == 0
    _, done = lab.runs.read()
    assert len({pid for pids in done.values() for pid in pids}) >= 2  # the work was shared
    # The archive's worker_id says which worker acked each message; it is the one that ran it.
    archive = archive_of(dsn, "crowd")
    pid_of = {wid: pid for w in workers for wid in [*worker_id_of(dsn, w.pid)] for pid in [w.pid]}
    assert all(pid_of[archive[i][1]] == done[i][0] for i in ids)


# -- a lease that runs out mid-job -----------------------------------------------------


def test_lease_lost_mid_job_second_ack_wins(dsn, lab):
    """Freeze a worker (SIGSTOP) past its lease: a second worker takes the job and acks it; the first one,
    thawed, finishes the job and its ack is refused."""
    sql(dsn, "SELECT pgqrs.create_queue('lease')")
    [msg_id] = enqueue_many(dsn, "lease", [{"sleep": 1.5}])
    opts = ["--lock-time", "2", "--poll-interval", "0.2", "--stale-after", "300"]
    first = lab.worker(dsn, "lease", *opts)
    wait_for(lambda: lab.runs.read()[0][msg_id] == 1, 30, "the first worker to start the job")
    first.signal(signal.SIGSTOP)
    try:
        second = lab.worker(dsn, "lease", *opts)
        wait_for(lambda: msg_id in archive_of(dsn, "lease"), 30, "the second worker to ack")
    finally:
        first.signal(signal.SIGCONT)
    wait_for(lambda: "refused" in first.output(), 30, "the first worker's refused ack")
    assert first.terminate() == 0 and second.terminate() == 0

    [second_id] = worker_id_of(dsn, second.pid)
    read_ct, acked_by, dead, _ = archive_of(dsn, "lease")[msg_id]
    assert (read_ct, acked_by, dead) == (2, second_id, False)  # the second worker's ack won
    _, done = lab.runs.read()
    assert sorted(done[msg_id]) == sorted([first.pid, second.pid])  # ran twice: the lease was lost
    assert remaining(dsn, "lease") == 0


# -- behind pgbouncer in transaction mode ----------------------------------------------


@pytest.fixture
def pgbouncer(postgresql_proc, dsn, tmp_path):
    """A real pgbouncer (transaction pooling) in front of the test database; yields its DSN."""
    sockets = Path(tempfile.mkdtemp(prefix="pgqrs-bouncer-"))
    port = free_port()
    dbname = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    ini = tmp_path / "pgbouncer.ini"
    ini.write_text(textwrap.dedent(f"""
        [databases]
        {dbname} = host={postgresql_proc.host} port={postgresql_proc.port} user={postgresql_proc.user} dbname={dbname}
        [pgbouncer]
        listen_addr = 127.0.0.1
        listen_port = {port}
        unix_socket_dir = {sockets}
        auth_type = any
        pool_mode = transaction
        default_pool_size = 3
        max_client_conn = 200
        logfile = {tmp_path / "pgbouncer.log"}
        pidfile = {sockets / "pgbouncer.pid"}
        ignore_startup_parameters = extra_float_digits
    """))
    if not Path("/usr/sbin/pgbouncer").exists():
        pytest.fail("pgbouncer is not installed (Debian package pgbouncer; `make test` as root installs it)")
    proc = subprocess.Popen(["/usr/sbin/pgbouncer", str(ini)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bouncer_dsn = f"host=127.0.0.1 port={port} user={postgresql_proc.user} dbname={dbname}"
    try:
        wait_for(lambda: _connects(bouncer_dsn), 20, "pgbouncer to accept connections", interval=0.2)
        yield bouncer_dsn
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        subprocess.run(["rm", "-rf", str(sockets)], timeout=30)


def _connects(dsn: str) -> bool:
    try:
        sql(dsn, "SELECT 1")
        return True
    except psycopg.Error:
        return False


def test_poll_only_worker_behind_pgbouncer_transaction_mode(dsn, pgbouncer, lab):
    """Two poll-only workers through pgbouncer in transaction mode, more clients than server connections."""
    sql(pgbouncer, "SELECT pgqrs.create_queue('bounced')")
    first = set(enqueue_many(pgbouncer, "bounced", [{"n": i} for i in range(300)]))
    # One polls every 0.2 s, one long-polls inside dequeue(): both work through the pooler.
    workers = [lab.worker(pgbouncer, "bounced", "--no-listen", "--concurrency", "4", "--poll-interval", "0.2"),
               lab.worker(pgbouncer, "bounced", "--no-listen", "--concurrency", "4", "--long-poll", "1")]
    wait_for(lambda: lab.runs.done_count() >= 50, 30, "processing through pgbouncer")
    second = set(enqueue_many(pgbouncer, "bounced", [{"n": i} for i in range(300, 500)]))
    wait_for(lambda: archived_count(dsn, "bounced") == 500, 60, "500 messages archived")
    assert [w.terminate() for w in workers] == [0, 0]
    counts = check_exactly_once(dsn, "bounced", first | second, lab.runs, may_redeliver=False)
    assert counts["processed"] == 500
    # Both deregistered through the pooler as well.
    statuses = {r[0] for r in sql(dsn, "SELECT status FROM pgqrs.pgqrs_workers")}
    assert statuses == {"stopped"}
    for w in workers:
        assert "Traceback" not in w.output(), w.output()[-2000:]


# -- bad input at every door -------------------------------------------------------------


def test_raising_handler_retries_then_dead_letters(dsn, lab):
    sql(dsn, "SELECT pgqrs.create_queue('raising', max_attempts => 3)")
    payloads = [{"fail": i % 4 == 0} for i in range(20)]
    ids = enqueue_many(dsn, "raising", payloads)
    bad = {i for i, p in zip(ids, payloads) if p["fail"]}
    good = set(ids) - bad
    worker = lab.worker(dsn, "raising", "--concurrency", "4", "--poll-interval", "0.2")
    wait_for(lambda: archived_count(dsn, "raising") == 20, 60, "20 archived or dead-lettered")
    assert worker.terminate() == 0

    archive = archive_of(dsn, "raising")
    starts, done = lab.runs.read()
    assert {i for i in ids if archive[i][2]} == bad  # dead letters: exactly the failing jobs
    assert all(archive[i][0] == 3 and starts[i] == 3 for i in bad)  # tried max_attempts times, not more
    assert all(archive[i][0] == 1 and len(done[i]) == 1 for i in good)
    assert remaining(dsn, "raising") == 0
    output = worker.output()
    assert "failed on purpose" in output and "dead-lettered" in output


def test_hanging_handler_times_out_and_is_retried(dsn, lab):
    sql(dsn, "SELECT pgqrs.create_queue('hanging', max_attempts => 2)")
    ids = enqueue_many(dsn, "hanging", [{"hang": True}, {"n": 1}, {"n": 2}, {"hang": True}, {"n": 3}])
    hung = {ids[0], ids[3]}
    worker = lab.worker(dsn, "hanging", "--concurrency", "4", "--poll-interval", "0.2", "--job-timeout", "1")
    wait_for(lambda: archived_count(dsn, "hanging") == 5, 60, "all 5 archived or dead-lettered")
    t0 = time.monotonic()
    assert worker.terminate(timeout=20) == 0  # hung threads do not keep the process alive
    assert time.monotonic() - t0 < 15
    archive = archive_of(dsn, "hanging")
    starts, done = lab.runs.read()
    assert {i for i in ids if archive[i][2]} == hung
    assert all(starts[i] == 2 for i in hung)
    assert all(len(done[i]) == 1 for i in set(ids) - hung)
    assert "did not finish within 1.0 s" in worker.output()


def test_sigterm_releases_a_hung_job_after_the_grace_period(dsn, lab):
    sql(dsn, "SELECT pgqrs.create_queue('grace')")
    [msg_id] = enqueue_many(dsn, "grace", [{"hang": True}])
    worker = lab.worker(dsn, "grace", "--grace", "1", "--poll-interval", "0.2")
    wait_for(lambda: lab.runs.read()[0][msg_id] == 1, 30, "the job to start")
    t0 = time.monotonic()
    assert worker.terminate(timeout=20) == 0
    assert time.monotonic() - t0 < 10
    # Given back, visible now, held by nobody; the worker deregistered.
    assert sql(dsn, "SELECT worker_id, vt <= clock_timestamp(), read_ct FROM pgqrs.pgqrs_messages") == [(None, True, 1)]
    assert sql(dsn, "SELECT status FROM pgqrs.pgqrs_workers") == [("stopped",)]
    assert "releasing 1 unfinished messages" in worker.output()


def test_second_signal_skips_the_grace_period(dsn, lab):
    sql(dsn, "SELECT pgqrs.create_queue('impatient')")
    [msg_id] = enqueue_many(dsn, "impatient", [{"hang": True}])
    worker = lab.worker(dsn, "impatient", "--grace", "600", "--poll-interval", "0.2")
    wait_for(lambda: lab.runs.read()[0][msg_id] == 1, 30, "the job to start")
    worker.signal(signal.SIGTERM)
    time.sleep(0.5)
    assert worker.popen.poll() is None  # waiting for the job, within its 600 s of grace
    t0 = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.popen.wait(15) == 0
    assert time.monotonic() - t0 < 10
    assert sql(dsn, "SELECT worker_id, vt <= clock_timestamp() FROM pgqrs.pgqrs_messages") == [(None, True)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_lets_running_jobs_finish(dsn, lab, signum):
    sql(dsn, "SELECT pgqrs.create_queue('finish')")
    ids = set(enqueue_many(dsn, "finish", [{"sleep": 1.0} for _ in range(4)]))
    worker = lab.worker(dsn, "finish", "--concurrency", "4", "--poll-interval", "0.2")
    wait_for(lambda: sum(lab.runs.read()[0].values()) == 4, 30, "4 jobs started")
    worker.signal(signum)
    assert worker.popen.wait(20) == 0
    assert sql(dsn, "SELECT status FROM pgqrs.pgqrs_workers") == [("stopped",)]
    counts = check_exactly_once(dsn, "finish", ids, lab.runs, may_redeliver=False)
    assert counts["processed"] == 4


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_idle_worker_sleeps_and_wakes_at_once(dsn, lab):
    """Waiting costs next to no CPU, and a new message still starts within moments (LISTEN/NOTIFY)."""
    sql(dsn, "SELECT pgqrs.create_queue('idle', notify => true)")
    worker = lab.worker(dsn, "idle", "--poll-interval", "30")
    wait_for(lambda: worker_id_of(dsn, worker.pid), 30, "registration")
    time.sleep(1.0)
    before = cpu_seconds(worker.pid)
    time.sleep(3.0)
    assert cpu_seconds(worker.pid) - before < 0.3  # under 10 % of a core while idle (typically ~0)
    sent = time.monotonic()
    [msg_id] = [r[0] for r in sql(dsn, "SELECT pgqrs.enqueue('idle', '{}')")]
    wait_for(lambda: msg_id in archive_of(dsn, "idle"), 15, "the message to be processed")
    assert time.monotonic() - sent < 3.0  # not the 30 s poll interval
    assert worker.terminate() == 0


def test_cli_errors_are_one_clear_line(dsn, lab, tmp_path):
    env = lab.env(dsn)
    bad_handler = subprocess.run([*WORKER, "q", "nosuch_module:f"], env=env, cwd=tmp_path, capture_output=True,
                                 text=True, timeout=30)
    assert bad_handler.returncode == 2
    assert 'cannot import module "nosuch_module"' in bad_handler.stderr
    missing = subprocess.run([*WORKER, "nosuch", "faultjobs:record"], env=env, cwd=tmp_path, capture_output=True,
                             text=True, timeout=30)
    assert missing.returncode == 1
    assert 'Error: queue "nosuch" does not exist' in missing.stderr
    assert "Traceback" not in missing.stderr
    closed_port = free_port()
    unreachable = subprocess.run([*WORKER, "q", "faultjobs:record"],
                                 env={**env, "PGQRS_DSN": f"host=127.0.0.1 port={closed_port} dbname=x"},
                                 cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert unreachable.returncode == 1
    assert "Error: could not connect to the database" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
