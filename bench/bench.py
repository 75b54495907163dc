"""pgqrs side by side with pgmq and plain SQL, pgbench as the client.

Starts a throwaway PostgreSQL server, installs pgqrs (CREATE EXTENSION), pgmq (the SQL
that ships in the `pgmq` PyPI package) and a bare table for the plain-SQL baseline, each in
its own database, and runs every scenario against each with the same pgbench settings and
the same payload. Prints a table of msgs/s with the ratios pgqrs/pgmq and pgqrs/raw, and
writes it as JSON and as a PNG chart.

Throughput is counted in the database (rows added, or rows gone from the queue), not from
pgbench's transaction rate, so a scenario that runs out of work cannot inflate its figure.

Run it through bench/run.sh (`make bench`), which installs what it needs and runs this as
an ordinary user: PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import psycopg

PAYLOAD = '{"to": "user@example.com", "subject": "Welcome", "template": "welcome_v2", "user_id": 123456}'
SYSTEMS = ("pgqrs", "pgmq", "raw")
OTHER_QUEUES = 3  # queues beside the measured one, each with its own backlog

# The same operations, written the way each system is used.
SQL = {
    "pgqrs": {
        "enqueue": f"SELECT pgqrs.enqueue('bench', '{PAYLOAD}');",
        # A new key each time (a collision in 10^15 is as good as none): the cost of taking one.
        "enqueue_deduped": "\\set key random(1, 1000000000000000)\n"
                           f"SELECT pgqrs.enqueue('bench', '{PAYLOAD}', dedupe_key => 'job:' || :key);",
        "enqueue_batch": f"SELECT count(*) FROM pgqrs.enqueue_batch('bench', array_fill('{PAYLOAD}'::jsonb, ARRAY[{{n}}]));",
        # The statement Producer.batch_enqueue sends (statements.py): n payloads as one JSON array.
        "enqueue_batch_json": "SELECT id FROM pgqrs.enqueue_batch(queue_name => 'bench'::text, payloads => ARRAY("
                              "SELECT e FROM pg_catalog.jsonb_array_elements('[{payloads}]'::jsonb) WITH ORDINALITY "
                              "AS a (e, n) ORDER BY n), delay_seconds => 0) WITH ORDINALITY AS t (id, n) ORDER BY n;",
        "enqueue_delayed_batch": f"SELECT count(*) FROM pgqrs.enqueue_batch('bench', array_fill('{PAYLOAD}'::jsonb, ARRAY[{{n}}]), 86400);",
        "enqueue_priority_batch": f"SELECT count(*) FROM pgqrs.enqueue_batch('bench', array_fill('{PAYLOAD}'::jsonb, ARRAY[{{n}}]), "
                                  "priorities => ARRAY(SELECT (random() * 9)::integer FROM generate_series(1, {n})));",
        "enqueue_keyed_batch": f"SELECT count(*) FROM pgqrs.enqueue_batch('bench', array_fill('{PAYLOAD}'::jsonb, ARRAY[{{n}}]), "
                               "group_keys => ARRAY(SELECT 'k' || (g % {keys}) FROM generate_series(1, {n}) g));",
        "dequeue": "SELECT coalesce(array_agg(id), '{{}}') AS ids FROM pgqrs.dequeue('bench', {n}, 300) \\gset",
        "dequeue_grouped": "SELECT coalesce(array_agg(id), '{{}}') AS ids FROM pgqrs.dequeue('bench', {n}, 300) \\gset",
        "delete": "SELECT pgqrs.delete('bench', (':ids'::bigint[])[1]);",
        "delete_batch": "SELECT count(*) FROM pgqrs.delete_batch('bench', ':ids'::bigint[]);",
        "archive": "SELECT pgqrs.archive('bench', (':ids'::bigint[])[1]);",
        "archive_batch": "SELECT count(*) FROM pgqrs.archive_batch('bench', ':ids'::bigint[]);",
        "backlog": "SELECT count(*) FROM pgqrs.pgqrs_messages m JOIN pgqrs.pgqrs_queues q ON q.id = m.queue_id "
                   "WHERE q.queue_name = 'bench'",
        "archived": "SELECT count(*) FROM pgqrs.pgqrs_archive",
    },
    "pgmq": {
        "enqueue": f"SELECT pgmq.send('bench', '{PAYLOAD}');",
        "enqueue_batch": f"SELECT count(*) FROM pgmq.send_batch('bench', array_fill('{PAYLOAD}'::jsonb, ARRAY[{{n}}]));",
        "enqueue_delayed_batch": f"SELECT count(*) FROM pgmq.send_batch('bench', array_fill('{PAYLOAD}'::jsonb, ARRAY[{{n}}]), 86400);",
        "enqueue_keyed_batch": f"SELECT count(*) FROM pgmq.send_batch('bench', array_fill('{PAYLOAD}'::jsonb, ARRAY[{{n}}]), "
                               "ARRAY(SELECT jsonb_build_object('x-pgmq-group', 'k' || (g % {keys})) "
                               "FROM generate_series(1, {n}) g));",
        "dequeue": "SELECT coalesce(array_agg(msg_id), '{{}}') AS ids FROM pgmq.read('bench', 300, {n}) \\gset",
        # FIFO per group (the x-pgmq-group header), pgmq's nearest to group keys.
        "dequeue_grouped": "SELECT coalesce(array_agg(msg_id), '{{}}') AS ids FROM pgmq.read_grouped('bench', 300, {n}) \\gset",
        "delete": "SELECT pgmq.delete('bench', (':ids'::bigint[])[1]);",
        "delete_batch": "SELECT count(*) FROM pgmq.delete('bench', ':ids'::bigint[]);",
        "archive": "SELECT pgmq.archive('bench', (':ids'::bigint[])[1]);",
        "archive_batch": "SELECT count(*) FROM pgmq.archive('bench', ':ids'::bigint[]);",
        "backlog": "SELECT count(*) FROM pgmq.q_bench",
        "archived": "SELECT count(*) FROM pgmq.a_bench",
    },
    "raw": {
        "enqueue": f"INSERT INTO raw_messages (queue_id, payload) VALUES (1, '{PAYLOAD}');",
        "enqueue_batch": f"INSERT INTO raw_messages (queue_id, payload) SELECT 1, '{PAYLOAD}' FROM generate_series(1, {{n}});",
        "enqueue_delayed_batch": f"INSERT INTO raw_messages (queue_id, payload, vt) SELECT 1, '{PAYLOAD}', now() + interval '1 day' FROM generate_series(1, {{n}});",
        "dequeue": "WITH c AS (SELECT id FROM raw_messages WHERE queue_id = 1 AND vt <= now() ORDER BY id LIMIT {n} "
                   "FOR UPDATE SKIP LOCKED), u AS (UPDATE raw_messages r SET vt = now() + interval '300 seconds', "
                   "read_ct = r.read_ct + 1 FROM c WHERE r.queue_id = 1 AND r.id = c.id RETURNING r.id) "
                   "SELECT coalesce(array_agg(id), '{{}}') AS ids FROM u \\gset",
        "delete": "DELETE FROM raw_messages WHERE queue_id = 1 AND id = (':ids'::bigint[])[1];",
        "delete_batch": "DELETE FROM raw_messages WHERE queue_id = 1 AND id = ANY (':ids'::bigint[]);",
        "archive": "WITH d AS (DELETE FROM raw_messages WHERE queue_id = 1 AND id = (':ids'::bigint[])[1] RETURNING *) "
                   "INSERT INTO raw_archive SELECT *, now() FROM d;",
        "archive_batch": "WITH d AS (DELETE FROM raw_messages WHERE queue_id = 1 AND id = ANY (':ids'::bigint[]) "
                         "RETURNING *) INSERT INTO raw_archive SELECT *, now() FROM d;",
        "backlog": "SELECT count(*) FROM raw_messages WHERE queue_id = 1",
        "archived": "SELECT count(*) FROM raw_archive",
    },
}

RAW_SCHEMA = """
CREATE TABLE raw_messages (
    id bigserial, queue_id bigint NOT NULL, payload jsonb NOT NULL,
    enqueued_at timestamptz NOT NULL DEFAULT now(), vt timestamptz NOT NULL DEFAULT now(),
    read_ct integer NOT NULL DEFAULT 0, PRIMARY KEY (queue_id, id));
CREATE TABLE raw_archive (LIKE raw_messages, archived_at timestamptz);
"""


@dataclass
class Scenario:
    name: str
    title: str
    script: list[str]          # operation names, {n} filled with batch
    batch: int = 1
    backlog: int = 0           # visible messages before the run
    delayed_head: int = 0      # delayed messages enqueued before the backlog
    counts: str = "consumed"   # "consumed" (backlog shrinks), "enqueued" (grows) or "archived"
    hold_xmin: bool = False    # after `baseline` seconds, two sessions keep transactions open (see hold)
    baseline: float = 0.0
    duration: float = 0.0      # 0: the run's default
    transactions: int = 0      # per client, instead of a duration: the same work whatever the backlog
    client: str = "pgbench"    # "python": the pgqrs Python package, compared with the pgbench figure
    burst: bool = False        # the clients start on empty tables; the backlog comes later (burst_after)
    compare_to: str = ""       # the scenario whose pgqrs figure this one's is compared with (python: the same SQL)
    systems: tuple[str, ...] = SYSTEMS
    loader: str = "enqueue_batch"  # the operation that loads the backlog
    keys: int = 0              # with loader enqueue_keyed_batch: how many group keys the backlog spreads over
    rate_limit: float = 0      # pgqrs: the queue's rate_limit during the run (0: none)


@dataclass
class Result:
    system: str
    scenario: str
    msgs_per_s: float
    seconds: float
    messages: int
    progress: list[float] = field(default_factory=list)  # pgbench -P 5 tps, per interval
    sizes: dict[str, int] = field(default_factory=dict)    # pressure: hot tables' bytes at start, end, after


# Pressure scenarios run this long without a held transaction first (a smoke run: less):
# their rate then is the starting rate, which the rate of their last 20 s is compared with.
BASELINE_SECONDS = 20
# The tables whose size the pressure scenarios report, per system.
HOT_TABLES = {"pgqrs": ["pgqrs.pgqrs_messages"], "pgmq": ["pgmq.q_bench"], "raw": ["raw_messages"]}


def scenarios(smoke: bool, duration: float, pressure_seconds: float, long: bool) -> list[Scenario]:
    big = 20_000 if smoke else 1_000_000
    delayed = 2_000 if smoke else 100_000
    backlog = 20_000 if smoke else 100_000
    small = 2_000 if smoke else 10_000
    held = 600 if long else pressure_seconds  # --long: ten minutes each
    baseline = 2 if smoke else BASELINE_SECONDS
    pressure_backlog = 20_000 if smoke else int(5_000 * (baseline + held))
    burst = 20_000 if smoke else 400_000
    flat_tx = 100 if smoke else 1_000
    batch_tx = 10 if smoke else 300
    batch_backlog = 8 * batch_tx * 100 + 10_000
    return [
        Scenario("enqueue", "enqueue, 1 per transaction", ["enqueue"], counts="enqueued"),
        Scenario("enqueue_batch", "enqueue_batch of 100", ["enqueue_batch"], batch=100, counts="enqueued"),
        Scenario("dedupe", "enqueue with a new dedupe key, 1 per transaction", ["enqueue_deduped"],
                 counts="enqueued", systems=("pgqrs",), compare_to="enqueue"),
        Scenario("consume", "dequeue 1, then delete", ["dequeue", "delete"], backlog=backlog),
        # A fixed amount of work, so the backlog cannot run out before the clock does.
        Scenario("consume_batch", "dequeue 100, then delete_batch", ["dequeue", "delete_batch"], batch=100,
                 backlog=batch_backlog, transactions=batch_tx),
        Scenario("consume_archive", "dequeue 1, then archive", ["dequeue", "archive"], backlog=backlog,
                 counts="archived"),
        # The same 8 x flat_tx messages consumed from a small and from a big backlog.
        Scenario("flat_small", f"consume, backlog {small:,}", ["dequeue", "delete"], backlog=small,
                 transactions=flat_tx),
        Scenario("flat_big", f"consume, backlog {big:,} ({delayed:,} delayed at the head)", ["dequeue", "delete"],
                 backlog=big - delayed, delayed_head=delayed, transactions=flat_tx),
        Scenario("pressure", f"consume, transactions held open {held:g} s", ["dequeue", "delete"],
                 backlog=pressure_backlog, hold_xmin=True, baseline=baseline, duration=held),
        Scenario("pressure_archive", f"consume with archive, transactions held open {held if long else held / 2:g} s",
                 ["dequeue", "archive"], backlog=pressure_backlog, counts="archived", hold_xmin=True,
                 baseline=baseline, duration=held if long else held / 2),
        Scenario("pressure_enqueue", f"enqueue, transactions held open {held if long else held / 2:g} s", ["enqueue"],
                 counts="enqueued", hold_xmin=True, baseline=baseline, duration=held if long else held / 2),
        # Consumers that planned their statements on an empty table, then a burst of work.
        Scenario("burst", f"dequeue 10 + delete_batch, {burst:,} arriving after {burst_after(duration):g} s",
                 ["dequeue", "delete_batch"], batch=10, backlog=burst, burst=True),
        # Job semantics: the same dequeues with priorities, group keys and a rate limit.
        Scenario("priorities", "consume, priorities over 10 levels", ["dequeue", "delete"], backlog=backlog,
                 loader="enqueue_priority_batch", systems=("pgqrs",), compare_to="consume"),
        Scenario("plain10", f"dequeue 10 + delete_batch, backlog {big:,}", ["dequeue", "delete_batch"], batch=10,
                 backlog=big),
        Scenario("keys_many", f"the same, {big:,} in {big // 100:,} group keys", ["dequeue_grouped", "delete_batch"],
                 batch=10, backlog=big, loader="enqueue_keyed_batch", keys=big // 100, systems=("pgqrs", "pgmq"),
                 compare_to="plain10"),
        Scenario("keys_few", f"the same, {big:,} in 10 group keys", ["dequeue_grouped", "delete_batch"],
                 batch=10, backlog=big, loader="enqueue_keyed_batch", keys=10, systems=("pgqrs", "pgmq"),
                 compare_to="plain10"),
        Scenario("keys_few_small", f"the same, {small:,} in 10 group keys", ["dequeue_grouped", "delete_batch"],
                 batch=10, backlog=small, loader="enqueue_keyed_batch", keys=10, systems=("pgqrs",),
                 compare_to="keys_few"),
        # 40 s, so that the bucket's first second (a second's worth at once) weighs 2.5% at most.
        # Batches, so that the clients could take far more than the limit.
        Scenario("rate_limited", f"dequeue 10 + delete_batch, rate_limit 1,000/s, {duration if smoke else 40:g} s",
                 ["dequeue", "delete_batch"], batch=10, backlog=backlog, rate_limit=1000, systems=("pgqrs",),
                 duration=0 if smoke else 40),
        Scenario("enqueue_batch_json", "enqueue_batch of 100, one JSON array (as Python)",
                 ["enqueue_batch_json"], batch=100, counts="enqueued", systems=("pgqrs",)),
        Scenario("py_enqueue_batch", "Python: Producer.batch_enqueue of 100", [], batch=100, counts="enqueued",
                 client="python", compare_to="enqueue_batch_json"),
        Scenario("py_consume_batch", "Python: Consumer.dequeue_batch 100 + delete_batch", [], batch=100,
                 backlog=batch_backlog, client="python", compare_to="consume_batch"),
        Scenario("py_worker", "Python: pgqrs.Worker, 8 at a time, no-op handler", [], batch=8,
                 backlog=backlog * 2, client="worker", compare_to="consume"),
    ]


class Server:
    """A throwaway PostgreSQL cluster on its own port and data directory."""

    def __init__(self, bindir: Path, port: int, synchronous_commit: str):
        self.bindir, self.port, self.synchronous_commit = bindir, port, synchronous_commit
        self.dir = Path(tempfile.mkdtemp(prefix="pgqrs-bench."))

    def __enter__(self) -> "Server":
        subprocess.run([self.bindir / "initdb", "-D", self.dir / "data", "-A", "trust", "-U", "postgres",
                        "--no-sync"], check=True, stdout=subprocess.DEVNULL)
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses='' -c max_connections=50 "
                   f"-c shared_buffers=1GB -c max_wal_size=4GB -c synchronous_commit={self.synchronous_commit}")
        subprocess.run([self.bindir / "pg_ctl", "-D", self.dir / "data", "-l", self.dir / "log", "-w",
                        "-o", options, "start"], check=True, stdout=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run([self.bindir / "pg_ctl", "-D", self.dir / "data", "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", str(self.dir)])

    def dsn(self, dbname: str) -> str:
        return f"host={self.dir} port={self.port} user=postgres dbname={dbname}"

    def connect(self, dbname: str) -> psycopg.Connection:
        return psycopg.connect(self.dsn(dbname), autocommit=True)


def install(server: Server) -> None:
    with server.connect("postgres") as conn:
        for system in SYSTEMS:
            conn.execute(f"CREATE DATABASE bench_{system}")
    with server.connect("bench_pgqrs") as conn:
        conn.execute("CREATE EXTENSION pgqrs")
        for name in ["bench", *(f"other{i}" for i in range(OTHER_QUEUES))]:
            conn.execute("SELECT pgqrs.create_queue(%s)", [name])
    with server.connect("bench_pgmq") as conn:
        conn.execute(files("pgmq").joinpath("sql", "pgmq.sql").read_text())
        for name in ["bench", *(f"other{i}" for i in range(OTHER_QUEUES))]:
            conn.execute("SELECT pgmq.create(%s)", [name])
    with server.connect("bench_raw") as conn:
        conn.execute(RAW_SCHEMA)


def reset(server: Server, system: str, scenario: Scenario) -> None:
    """Empties the measured queue, loads the scenario's backlog, and lets vacuum catch up."""
    with server.connect(f"bench_{system}") as conn:
        if system == "pgqrs":
            conn.execute("TRUNCATE pgqrs.pgqrs_messages, pgqrs.pgqrs_archive, pgqrs.pgqrs_groups")
            conn.execute("SELECT pgqrs.alter_queue('bench', rate_limit => %s)", [scenario.rate_limit])
        elif system == "pgmq":
            conn.execute("TRUNCATE pgmq.q_bench, pgmq.a_bench")
        else:
            conn.execute("TRUNCATE raw_messages, raw_archive")
        if scenario.burst:  # empty tables, vacuumed and analyzed empty: the backlog comes later
            conn.execute("VACUUM ANALYZE")
            return
        # The other queues keep a backlog of their own in the shared tables.
        other = SQL[system]["enqueue_batch"].replace("{n}", "10000")
        for i in range(OTHER_QUEUES):
            conn.execute(other.replace("'bench'", f"'other{i}'").replace("VALUES (1", f"VALUES ({i + 2}")
                         .replace("SELECT 1,", f"SELECT {i + 2},"))
        load(conn, system, "enqueue_delayed_batch", scenario.delayed_head)
        load(conn, system, scenario.loader, scenario.backlog, scenario.keys)
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def burst_after(duration: float) -> float:
    """Seconds the clients of a burst scenario run on empty tables before the work comes."""
    return min(2.0, duration / 4)


def load(conn: psycopg.Connection, system: str, operation: str, total: int, keys: int = 0) -> None:
    while total > 0:
        n = min(total, 10_000)
        conn.execute(SQL[system][operation].replace("{n}", str(n)).replace("{keys}", str(keys)))
        total -= n


def count(server: Server, system: str, what: str) -> int:
    with server.connect(f"bench_{system}") as conn:
        return conn.execute(SQL[system][what]).fetchone()[0]


def run(server: Server, system: str, scenario: Scenario, args: argparse.Namespace) -> Result:
    reset(server, system, scenario)
    script = Path(server.dir) / f"{system}_{scenario.name}.sql"
    payloads = ",".join([PAYLOAD.replace("'", "''")] * scenario.batch)
    script.write_text("\n".join(SQL[system][op].replace("{n}", str(scenario.batch)).replace("{{}}", "{}")
                                .replace("{payloads}", payloads) for op in scenario.script) + "\n")
    what = {"consumed": "backlog", "enqueued": "backlog", "archived": "archived"}[scenario.counts]
    before = count(server, system, what)
    holders: list[psycopg.Connection] = []
    sizes: dict[str, int] = {}
    duration = (scenario.duration + scenario.baseline) or args.duration
    limit = ["-t", str(scenario.transactions)] if scenario.transactions else ["-T", str(int(duration))]
    try:
        started = time.monotonic()
        pgbench = subprocess.Popen(
            pgbench_command(server, system, script, args, *limit, "-P", "5"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if scenario.burst:
            time.sleep(burst_after(duration))
            with server.connect(f"bench_{system}") as conn:
                load(conn, system, "enqueue_batch", scenario.backlog)
            before += scenario.backlog
        if scenario.hold_xmin:
            time.sleep(scenario.baseline)
            sizes["start"] = table_bytes(server, system)
            holders = hold(server, system)
            time.sleep(scenario.duration - 1)
            sizes["end"] = table_bytes(server, system)
        stdout, stderr = pgbench.communicate()
        out = subprocess.CompletedProcess(pgbench.args, pgbench.returncode, stdout, stderr)
        seconds = time.monotonic() - started
    finally:
        for holder in holders:
            holder.rollback()
            holder.close()
    if out.returncode != 0:
        sys.exit(f"pgbench failed for {system}/{scenario.name}:\n{out.stdout}\n{out.stderr}")
    after = count(server, system, what)
    messages = before - after if scenario.counts == "consumed" else after - before
    progress = [float(m) for m in re.findall(r"progress: [\d.]+ s, ([\d.]+) tps", out.stderr)]
    if holders:
        sizes["after"] = reused_bytes(server, system, script, args, seconds=min(10, scenario.baseline))
    if not scenario.transactions:
        seconds = float(re.search(r"duration: (\d+) s", out.stdout).group(1))
        seconds -= burst_after(seconds) if scenario.burst else 0
    return Result(system, scenario.name, messages / seconds, seconds, messages, progress, sizes)


def pgbench_command(server: Server, system: str, script: Path, args: argparse.Namespace, *options: str) -> list:
    """The pgbench command line that runs script on the system's database with the run's clients."""
    return [server.bindir / "pgbench", "-n", "-c", str(args.clients), "-j", str(args.jobs), *options,
            "-f", script, "-h", str(server.dir), "-p", str(server.port), "-U", "postgres", f"bench_{system}"]


def hold(server: Server, system: str) -> list[psycopg.Connection]:
    """The two kinds of transaction that keep vacuum from removing what the queue consumed:
    one idle in transaction with an xid, and a REPEATABLE READ snapshot without one. Neither
    touches the queue's tables."""
    with_xid = server.connect(f"bench_{system}")
    with_xid.autocommit = False
    with_xid.execute("SELECT txid_current()")
    snapshot = server.connect(f"bench_{system}")
    snapshot.autocommit = False
    snapshot.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    snapshot.execute("SELECT count(*) FROM pg_class")  # takes the snapshot
    return [with_xid, snapshot]


def table_bytes(server: Server, system: str) -> int:
    """The hot tables' size with their indexes (and, for pgqrs, its TOAST and sibling tables)."""
    with server.connect(f"bench_{system}") as conn:
        return sum(conn.execute("SELECT pg_total_relation_size(%s::regclass)", [t]).fetchone()[0]
                   for t in HOT_TABLES[system])


def reused_bytes(server: Server, system: str, script: Path, args: argparse.Namespace, seconds: float) -> int:
    """After the held transactions ended: a plain VACUUM (what autovacuum does, never FULL),
    then some seconds more of the same work; the size then shows whether the space was reused."""
    with server.connect(f"bench_{system}") as conn:
        for table in HOT_TABLES[system]:
            conn.execute(f"VACUUM {table}")
    subprocess.run(pgbench_command(server, system, script, args, "-T", str(int(seconds))), check=True, capture_output=True)
    return table_bytes(server, system)


def run_python(server: Server, scenario: Scenario, args: argparse.Namespace) -> Result:
    """The same work through the Python package: one thread per client, one pool."""
    import dataclasses
    import threading

    from pgqrs import Config, Consumer, Producer, create_pool

    reset(server, "pgqrs", scenario)
    config = dataclasses.replace(Config.from_dsn(server.dsn("bench_pgqrs")), max_connections=args.clients)
    what = "backlog"
    before = count(server, "pgqrs", what)
    payloads = [json.loads(PAYLOAD)] * scenario.batch
    duration = scenario.duration or args.duration
    errors: list[BaseException] = []

    def produce(stop: float) -> None:
        producer = Producer(pool, "bench", config)
        while time.monotonic() < stop:
            producer.batch_enqueue(payloads)

    def consume(stop: float) -> None:
        # Drains the backlog: the time it takes is the measure.
        consumer = Consumer(pool, "bench", config)
        while messages := consumer.dequeue_batch(scenario.batch, 300):
            consumer.delete_batch([m.id for m in messages])

    def guarded(work, stop: float) -> None:
        try:
            work(stop)
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    work = produce if scenario.counts == "enqueued" else consume
    with create_pool(config, min_size=args.clients) as pool:
        pool.wait()
        started = time.monotonic()
        threads = [threading.Thread(target=guarded, args=(work, started + duration)) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - started
    if errors:
        sys.exit(f"python scenario {scenario.name} failed: {errors[0]!r}")
    after = count(server, "pgqrs", what)
    messages = after - before if scenario.counts == "enqueued" else before - after
    return Result("pgqrs", scenario.name, messages / seconds, seconds, messages)


def run_worker(server: Server, scenario: Scenario, args: argparse.Namespace) -> Result:
    """The worker runner draining a backlog with a handler that does nothing."""
    import asyncio
    import threading

    from pgqrs import Config, Worker

    reset(server, "pgqrs", scenario)
    before = count(server, "pgqrs", "backlog")
    worker = Worker(Config.from_dsn(server.dsn("bench_pgqrs")), "bench", lambda message: None,
                    concurrency=scenario.batch, on_success="delete", listen=False, poll_interval_seconds=0.1)
    thread = threading.Thread(target=lambda: asyncio.run(worker.run_async()))
    started = time.monotonic()
    thread.start()
    time.sleep(scenario.duration or args.duration)
    worker.stop()
    thread.join()
    seconds = time.monotonic() - started
    messages = before - count(server, "pgqrs", "backlog")
    return Result("pgqrs", scenario.name, messages / seconds, seconds, messages)


def wakeup_latency(server: Server, mode: str, samples: int) -> dict:
    """From the producer's commit (enqueue returned) to the handler's start, for an idle
    worker, in milliseconds: p50 and p99.

    mode "notify": the queue notifies and the worker listens (polling every 30 s);
    "poll": no notifications, the default 1 s poll; "long_poll": no notifications,
    the worker waits inside dequeue().
    """
    import asyncio
    import random
    import threading

    from pgqrs import Admin, Config, Producer, Worker

    config = Config.from_dsn(server.dsn("bench_pgqrs"))
    queue = f"wake_{mode}"
    begun: dict[int, float] = {}
    arrived = threading.Condition()

    def handler(message) -> None:
        with arrived:
            begun[message.payload["seq"]] = time.monotonic()
            arrived.notify_all()

    with Admin(config) as admin:
        admin.create_queue(queue, notify=mode == "notify", if_not_exists=True)
        worker = Worker(config, queue, handler, concurrency=1, listen=mode == "notify",
                        poll_interval_seconds=30 if mode == "notify" else 1.0,
                        long_poll_seconds=10 if mode == "long_poll" else 0)
        thread = threading.Thread(target=lambda: asyncio.run(worker.run_async()))
        thread.start()
        time.sleep(1)
        producer = Producer(admin.pool, queue, config)
        sent: dict[int, float] = {}
        for seq in range(samples):
            time.sleep(random.uniform(0.05, 0.3))  # idle again, at a random point of the poll cycle
            producer.enqueue({"seq": seq})
            sent[seq] = time.monotonic()  # committed: from here on a worker can see it
            with arrived:
                arrived.wait_for(lambda: seq in begun, timeout=10)
        worker.stop()
        thread.join()
    latencies = sorted(begun[seq] - sent[seq] for seq in sent if seq in begun)
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1)  # noqa: E731
    return {"mode": mode, "samples": len(latencies), "p50_ms": pick(0.5), "p99_ms": pick(0.99)}


def wait_for_latency(server: Server, samples: int) -> dict:
    """From the commit of complete() to the return of a wait_for() already waiting on the
    message, in milliseconds: p50 and p99 (the server polls every 10 ms, then up to every 100 ms)."""
    import random
    import threading

    from pgqrs import Admin, Config, Consumer, Producer

    config = Config.from_dsn(server.dsn("bench_pgqrs"))
    latencies: list[float] = []
    with Admin(config) as admin:
        admin.create_queue("wait_for", if_not_exists=True)
        producer = Producer(admin.pool, "wait_for", config)
        consumer = Consumer(admin.pool, "wait_for", config)
        for seq in range(samples):
            msg_id = producer.enqueue({"seq": seq})
            consumer.dequeue()
            done: dict[str, float] = {}
            waiter = threading.Thread(target=lambda: (producer.wait_for(msg_id, timeout=10),
                                                      done.setdefault("returned", time.monotonic())))
            waiter.start()
            time.sleep(random.uniform(0.05, 0.5))  # the wait has begun, at a random point of its polls
            consumer.complete(msg_id, {"seq": seq})
            committed = time.monotonic()  # complete() returned: committed
            waiter.join()
            latencies.append(done["returned"] - committed)
    latencies.sort()
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1)  # noqa: E731
    return {"samples": len(latencies), "p50_ms": pick(0.5), "p99_ms": pick(0.99)}


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def pressure_ratio(result: Result) -> float | None:
    """Throughput in the last 20 s relative to the first 20 s, which ran before the
    transactions were held (pgbench reports every 5 s)."""
    if len(result.progress) < 8:
        return None
    first, last = result.progress[:4], result.progress[-4:]
    return round(sum(last) / sum(first), 2) if sum(first) else None


def report(results: list[Result], plan: list[Scenario], meta: dict) -> dict:
    table = []
    by = {(r.system, r.scenario): r for r in results}
    for s in plan:
        row = {"scenario": s.name, "title": s.title}
        for system in SYSTEMS:
            r = by.get((system, s.name))
            row[system] = round(r.msgs_per_s) if r else None
            if s.hold_xmin and r:
                row[f"{system}_last_vs_first"] = pressure_ratio(r)
                row[f"{system}_mb"] = {k: round(v / 2**20) for k, v in r.sizes.items()}
        row["pgqrs/pgmq"] = ratio(row["pgqrs"], row["pgmq"])
        row["pgqrs/raw"] = ratio(row["pgqrs"], row["raw"])
        if s.compare_to:
            other = by.get(("pgqrs", s.compare_to))
            key = "python/pgbench" if s.client != "pgbench" else f"pgqrs/{s.compare_to}"
            row[key] = ratio(row["pgqrs"], other.msgs_per_s if other else None)
        table.append(row)
    flat = {r["scenario"]: r for r in table}
    if "flat_small" in flat and "flat_big" in flat:
        meta["flatness"] = {system: ratio(flat["flat_big"][system], flat["flat_small"][system]) for system in SYSTEMS}
    return {"meta": meta, "results": table}


def print_table(doc: dict) -> None:
    header = f"{'scenario':<52} {'pgqrs':>9} {'pgmq':>9} {'raw':>9} {'pgqrs/pgmq':>11} {'pgqrs/raw':>10}"
    print(header)
    print("-" * len(header))
    for row in doc["results"]:
        cells = [f"{row[s]:>9,}" if row[s] is not None else f"{'-':>9}" for s in SYSTEMS]
        ratios = [f"{row[k]:>11}" if row[k] is not None else f"{'-':>11}" for k in ("pgqrs/pgmq",)]
        ratios += [f"{row['pgqrs/raw']:>10}" if row["pgqrs/raw"] is not None else f"{'-':>10}"]
        print(f"{row['title']:<52} {' '.join(cells)} {' '.join(ratios)}")
        if "python/pgbench" in row:
            print(f"{'    vs pgbench running the same SQL':<52} {row['python/pgbench']}")
        for key in (k for k in row if k.startswith("pgqrs/") and k not in ("pgqrs/pgmq", "pgqrs/raw")):
            print(f"{'    pgqrs vs pgqrs ' + key.split('/', 1)[1]:<52} {row[key]}")
        if any(k.endswith("_last_vs_first") for k in row):
            held = ", ".join(f"{s} {row.get(f'{s}_last_vs_first')}" for s in SYSTEMS)
            print(f"{'    last 20 s / 20 s before the hold':<52} {held}")
            sizes = ", ".join(f"{s} " + "/".join(str(v) for v in row.get(f"{s}_mb", {}).values()) for s in SYSTEMS)
            print(f"{'    MB at hold start/end/after, reused':<52} {sizes}")
    for w in doc.get("wakeup", []):
        print(f"wake-up of an idle worker (commit to handler), {w['mode']:<9}: p50 {w['p50_ms']} ms, p99 {w['p99_ms']} ms"
              f" ({w['samples']} messages)")
    if doc.get("wait_for"):
        w = doc["wait_for"]
        print(f"wait_for() (commit of complete() to its return):         p50 {w['p50_ms']} ms, p99 {w['p99_ms']} ms"
              f" ({w['samples']} messages)")
    if "flatness" in doc["meta"]:
        print("flatness (big backlog / small backlog): "
              + ", ".join(f"{s} {v}" for s, v in doc["meta"]["flatness"].items()))
    print(f"msgs/s, counted in the database; {doc['meta']['clients']} clients, synchronous_commit="
          f"{doc['meta']['synchronous_commit']}; {doc['meta']['machine']}; {doc['meta']['command']}")


def chart(doc: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = doc["results"]
    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 1.3 * len(rows) + 1), squeeze=False)
    for ax, row in zip(axes[:, 0], rows):
        values = [row[s] or 0 for s in SYSTEMS]
        ax.barh(SYSTEMS, values, color=["#2b6cb0", "#a0aec0", "#718096"])
        ax.set_title(row["title"], fontsize=9, loc="left")
        ax.tick_params(labelsize=8)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:,}", va="center", fontsize=7)
    axes[-1, 0].set_xlabel("msgs/s")
    fig.suptitle(f"pgqrs vs pgmq vs plain SQL ({doc['meta']['machine']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="seconds, not minutes: checks that every scenario runs")
    parser.add_argument("--duration", type=float, default=15, help="seconds per scenario (default 15)")
    parser.add_argument("--pressure-seconds", type=float, default=120,
                        help="how long the consume pressure scenario holds its transactions (the others: half)")
    parser.add_argument("--long", action="store_true", help="the pressure scenarios hold for ten minutes each")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", help="comma-separated scenario names (and wakeup, wait_for: the latencies)")
    parser.add_argument("--port", type=int, default=55499)
    parser.add_argument("--synchronous-commit", choices=["on", "off"], default="on",
                        help="on (PostgreSQL's default): every commit waits for its WAL flush; off: measures "
                             "the queue's own CPU cost")
    parser.add_argument("--pg-bin", default=os.environ.get("PGQRS_PG_BIN", "/usr/lib/postgresql/15/bin"))
    parser.add_argument("--out", default="bench/results", help="directory for latest.json and latest.png")
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.pressure_seconds = 2, 10

    plan = scenarios(args.smoke, args.duration, args.pressure_seconds, args.long)
    # --only also names the latency measurements, "wakeup" and "wait_for" (without it: all of them).
    only = set(args.only.split(",")) if args.only else None
    if only is not None:
        plan = [s for s in plan if s.name in only]
    bindir = Path(args.pg_bin)
    version = subprocess.run([bindir / "postgres", "--version"], capture_output=True, text=True).stdout.strip()
    meta = {
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, {version}",
        "command": "bench/run.sh " + " ".join(sys.argv[1:]),
        "clients": args.clients,
        "synchronous_commit": args.synchronous_commit,
        "duration_s": args.duration,
        "date": time.strftime("%Y-%m-%d"),
    }
    results = []
    with Server(bindir, args.port, args.synchronous_commit) as server:
        install(server)
        for scenario in plan:
            if scenario.client == "python":
                runs = [lambda: run_python(server, scenario, args)]
            elif scenario.client == "worker":
                runs = [lambda: run_worker(server, scenario, args)]
            else:
                runs = [lambda system=system: run(server, system, scenario, args) for system in scenario.systems]
            for one in runs:
                result = one()
                print(f"  {scenario.name:<16} {result.system:<6} {result.msgs_per_s:>10,.0f} msgs/s", file=sys.stderr)
                results.append(result)
        samples = 5 if args.smoke else 40
        wakeups = ([wakeup_latency(server, mode, samples) for mode in ("notify", "long_poll", "poll")]
                   if only is None or "wakeup" in only else [])
        waited = wait_for_latency(server, samples) if only is None or "wait_for" in only else {}
    doc = report(results, plan, meta)
    doc["wakeup"] = wakeups
    doc["wait_for"] = waited
    print_table(doc)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(doc, indent=2) + "\n")
    chart(doc, out / "latest.png")
    print(f"wrote {out / 'latest.json'} and {out / 'latest.png'}")


if __name__ == "__main__":
    main()
