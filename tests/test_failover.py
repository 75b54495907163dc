"""Failover with pg_auto_failover: a monitor, a primary and a standby on this machine, pgqrs on the
primary, producers and a worker on a DSN that names both nodes (target_session_attrs=read-write).
Under load the primary dies at once (its keeper, postmaster and backends SIGKILLed); the monitor
promotes the standby; the producers and the worker carry on by themselves.

Counted per message, as tests/test_faults.py counts (its handler, log and checks):

- synchronous standby: every enqueue that returned is archived, no handler ran twice, nothing
  left in the queue. An enqueue that raised OutcomeUnknown (the connection broke under it) may be
  there or not: counted, never sent again.
- asynchronous standby: what a failover can lose is measured and printed (acknowledged enqueues
  gone, acknowledged jobs back in the queue and run again); asserted only what holds anyway:
  nothing processed that was never sent, the queue drains, the clients carry on.

A planned switchover (`pg_autoctl perform switchover`) is counted as the synchronous failover.

The short version runs in CI (one failover, two producers of 250 messages). The long one is
bench/run.sh's: PGQRS_FAILOVER_ROUNDS failovers (each killed node rejoins as the next standby)
and PGQRS_FAILOVER_MESSAGES per producer.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import test_faults
from autofailover import Formation, formation, wait_until
from conftest import pgqrs_cli
from test_faults import archive_of, check_exactly_once, check_producer_messages, remaining, sql, worker_stats

lab = test_faults.lab  # the fixture: worker and producer processes, killed at the end

ROUNDS = int(os.environ.get("PGQRS_FAILOVER_ROUNDS", "1"))
MESSAGES = int(os.environ.get("PGQRS_FAILOVER_MESSAGES", "250"))
PRODUCERS = 2
#: The worker's lease: longer than a failover takes (about 10 s with the formation's settings), so
#: a job running through one keeps its lease and is acknowledged once, by the worker that ran it.
LEASE_SECONDS = 30

# A producer process on the library's Producer: sends `total` messages, seq first..first+total-1.
# Logs "ok SEQ ID T" for each enqueue that returned, "unknown SEQ T" for one that raised
# OutcomeUnknown (it may have committed: not sent again), and "retry SEQ" for ConnectionFailed
# (nothing was sent: the same message is sent again).
PRODUCER = '''
    import os, sys, time
    from pgqrs import Config, ConnectionFailed, OutcomeUnknown, Producer, create_pool
    queue, first, total, pause, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    config = Config(dsn=os.environ["PGQRS_DSN"], max_connections=2, connection_timeout_seconds=3)
    out = open(log, "a", buffering=1)
    with create_pool(config) as pool:
        producer = Producer(pool, queue, config)
        for seq in range(first, first + total):
            while True:
                try:
                    msg_id = producer.enqueue({"seq": seq})
                except OutcomeUnknown:
                    out.write(f"unknown {seq} {time.time()}\\n")
                except ConnectionFailed:
                    out.write(f"retry {seq}\\n")
                    time.sleep(0.2)
                    continue
                else:
                    out.write(f"ok {seq} {msg_id} {time.time()}\\n")
                break
            time.sleep(pause)
    out.write("finished\\n")
'''


class ProducerLog:
    """What the producers' logs say: committed enqueues, unknown outcomes, retries, finished."""

    def __init__(self, paths: list[Path]) -> None:
        self.ok: dict[int, int] = {}  # seq -> id
        self.ok_at: list[float] = []
        self.unknown: set[int] = set()
        self.retries = 0
        self.finished = 0
        for path in paths:
            if not path.exists():
                continue
            for line in path.read_text().splitlines():
                kind, *rest = line.split()
                if kind == "ok":
                    self.ok[int(rest[0])] = int(rest[1])
                    self.ok_at.append(float(rest[2]))
                elif kind == "unknown":
                    self.unknown.add(int(rest[0]))
                elif kind == "retry":
                    self.retries += 1
                elif kind == "finished":
                    self.finished += 1

    def first_ok_after(self, moment: float) -> float | None:
        later = [t for t in self.ok_at if t > moment]
        return min(later) if later else None


def running(procs: list) -> bool:
    """True while every process runs or ended well; a failure (a traceback, say) fails the test at once."""
    for proc in procs:
        code = proc.popen.poll()
        assert code in (None, 0), f"process {proc.pid} exited with {code}:\n{proc.output()[-3000:]}"
    return True


def failover(group: Formation, lab, producers: list, logs: list[Path], round_: int, planned: bool) -> dict:
    """Once some load went through the primary, kill it (or, planned, switch over); returns how long
    until writes, and enqueues, went on."""
    target = lab.runs.done_count() + 50
    wait_until(lambda: running(producers) and lab.runs.done_count() >= target, 120, "50 messages processed first")
    old = group.primary()
    started_at = time.time()
    if planned:
        group.switchover()
    else:
        group.kill(old)
    done_at = time.time()  # an enqueue that returned before this may have been the old primary's last
    new = group.primary()
    assert new is not old
    writable = time.time() - started_at
    first_ok = wait_until(lambda: running(producers) and ProducerLog(logs).first_ok_after(done_at), 120,
                          "an enqueue after the failover")
    what = f"switchover from {old.name}" if planned else f"{old.name} killed"
    print(f"failover {round_}: {what}, {new.name} takes writes after {writable:.1f} s, "
          f"producers enqueue again after {first_ok - started_at:.1f} s")
    return {"round": round_, "old": old.name, "new": new.name, "writable_after_s": round(writable, 1),
            "producers_after_s": round(first_ok - started_at, 1)}


def run_failovers(group: Formation, lab, tmp_path: Path, rounds: int, *, planned: bool = False) -> dict:
    """Load and `rounds` failovers (hard ones, or planned switchovers); returns what was counted and measured."""
    sql(group.dsn, "SELECT pgqrs.create_queue('ha', notify => true)")
    worker = lab.worker(group.dsn, "ha", "--concurrency", "4", "--poll-interval", "0.5", "--lock-time",
                        str(LEASE_SECONDS), "--heartbeat-interval", "1", "--stale-after", "60")
    logs = [tmp_path / f"producer{i}.out" for i in range(PRODUCERS)]
    pause = 0.02
    producers = [lab.python(group.dsn, PRODUCER, "ha", str(1 + i * 1_000_000), str(MESSAGES), str(pause), str(path))
                 for i, path in enumerate(logs)]
    recoveries = []
    for round_ in range(1, rounds + 1):
        recoveries.append(failover(group, lab, producers, logs, round_, planned))
        if round_ < rounds:
            if not planned:  # the next round needs a standby again; a switchover leaves the old primary one
                group.restart(group.node(recoveries[-1]["old"]))
            wait_until(lambda: sorted(group.states().values()) == [("primary", "primary"), ("secondary", "secondary")],
                       120, "the formation to settle again")

    wait_until(lambda: ProducerLog(logs).finished == PRODUCERS, 120 + MESSAGES * pause * 2, "the producers to finish")
    assert [p.popen.wait(10) for p in producers] == [0] * PRODUCERS
    sent = ProducerLog(logs)
    assert len(sent.ok) + len(sent.unknown) == PRODUCERS * MESSAGES  # each message once: returned or unknown
    return {"worker": worker, "sent": sent, "recoveries": recoveries}


def seen_by_the_worker(worker) -> str:
    """What the worker's last log line counted through the failovers, and whether it registered again."""
    stats = worker_stats(worker.output())
    registered_again = worker.output().count("registered again")
    return (f"worker: reconnects {stats['reconnects']}, acked {stats['acked']}, ack refused {stats['ack_refused']}, "
            f"leases lost {stats['leases_lost']}, registered again {registered_again}")


def check_nothing_lost(group: Formation, lab, run: dict, label: str) -> None:
    """Every enqueue that returned archived, no handler run twice, the queue empty, the worker the same
    process all along; prints the counts."""
    sent: ProducerLog = run["sent"]
    dsn = group.dsn
    wait_until(lambda: remaining(dsn, "ha") == 0 and set(sent.ok.values()) <= set(archive_of(dsn, "ha")),
               LEASE_SECONDS * 3, "every acknowledged enqueue archived")
    worker = run["worker"]
    assert worker.popen.poll() is None  # the same process all along
    assert worker.terminate() == 0
    counts = check_exactly_once(dsn, "ha", set(sent.ok.values()), lab.runs, may_redeliver=True)
    check_producer_messages(dsn, "ha", sent.ok, sent.unknown)
    # Synchronous: the lease outlived the failover, so no handler ran twice, each archived once.
    assert counts["duplicated"] == 0, counts
    archived_seqs = {payload["seq"] for *_, payload in archive_of(dsn, "ha").values()}
    unknown_kept = len(sent.unknown & archived_seqs)
    # The CLI on the same DSN reads the new primary.
    metrics = json.loads(pgqrs_cli(dsn, "--format", "json", "queue", "metrics").stdout)
    assert [(q["queue_name"], q["archived"]) for q in metrics] == [("ha", len(archived_seqs))]
    print(f"{label}:", counts, f"enqueues returned: {len(sent.ok)}, outcome unknown: {len(sent.unknown)} "
          f"({unknown_kept} of them committed), retried (nothing sent): {sent.retries}", run["recoveries"])
    print(label, seen_by_the_worker(worker))


def test_sync_failover_loses_nothing(lab, tmp_path):
    """Synchronous standby: every enqueue that returned is processed, once; none lost, none acked twice."""
    with formation(replication_quorum=True) as group:
        check_nothing_lost(group, lab, run_failovers(group, lab, tmp_path, ROUNDS), "sync")


def test_planned_switchover_loses_nothing(lab, tmp_path):
    """`pg_autoctl perform switchover` under load (maintenance): the same count as the hard failover."""
    with formation(replication_quorum=True) as group:
        check_nothing_lost(group, lab, run_failovers(group, lab, tmp_path, ROUNDS, planned=True), "switchover")


def test_async_failover_is_measured(lab, tmp_path):
    """Asynchronous standby: what the failover lost is counted and printed; what holds anyway is asserted."""
    with formation(replication_quorum=False) as group:
        run = run_failovers(group, lab, tmp_path, ROUNDS)
        sent: ProducerLog = run["sent"]
        dsn = group.dsn
        # Whatever the new primary holds is processed: the queue drains (leases lost in the failover run out).
        wait_until(lambda: remaining(dsn, "ha") == 0, LEASE_SECONDS * 3, "the queue to drain")
        worker = run["worker"]
        assert worker.popen.poll() is None
        assert worker.terminate() == 0
        check_producer_messages(dsn, "ha", sent.ok, sent.unknown)  # nothing that was never sent
        # By seq, not id: the new primary may hand out again an id whose enqueue it never got.
        archived_seqs = {payload["seq"] for *_, payload in archive_of(dsn, "ha").values()}
        _, done = lab.runs.read()
        lost = set(sent.ok) - archived_seqs
        run_twice = {msg_id for msg_id, pids in done.items() if len(pids) > 1}
        print(f"async: enqueues returned: {len(sent.ok)}, acknowledged and lost: {len(lost)}, "
              f"outcome unknown: {len(sent.unknown)}, handlers run twice (their ack lost): {len(run_twice)}",
              run["recoveries"])
        print("async", seen_by_the_worker(worker))


@pytest.fixture(autouse=True)
def _pg_autoctl_installed():
    from autofailover import PG_AUTOCTL

    if not Path(PG_AUTOCTL).exists():
        pytest.fail("pg_autoctl is not installed (Debian package postgresql-15-auto-failover; "
                    "`make test` as root installs it)")
