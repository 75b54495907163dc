"""pgqrs behind PL/Proxy: the proxy's cost per call, and throughput with 1, 2 and 4 nodes.

Starts throwaway PostgreSQL servers (sockets only) as nodes, and a proxy database on a
server of its own, installed with `pgqrs shard install` (pgqrs.shard.install). pgbench is
the client, as in bench.py:

- per call: enqueue, and dequeue 1 + delete, with 1 client and with --clients clients,
  through the proxy and directly on the partition's database (one node, one partition);
- scaling: the same with 1, 2 and 4 nodes holding 4 partitions, over 8 queues;
- moving: how long `shard move` of a partition with a backlog takes (its cut-over).

Throughput is counted in the databases (messages enqueued, messages gone). Every server runs
on this machine, so the nodes share its cores: the scaling figures show what the proxy adds,
not what more machines give (docs/operations/sharding.md has the arithmetic for that).
Prints a table and writes shard.json; it checks that every case runs, never a speed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from pgqrs import shard

PAYLOAD = '{"to": "user@example.com", "subject": "Welcome", "template": "welcome_v2", "user_id": 123456}'
QUEUES = 8
SCRIPTS = {
    "enqueue": f"\\set n random(0, {QUEUES - 1})\nSELECT pgqrs.enqueue('b' || :n, '{PAYLOAD}');\n",
    "consume": f"\\set n random(0, {QUEUES - 1})\n"
               "SELECT coalesce(array_agg(id), '{}') AS ids FROM pgqrs.dequeue('b' || :n, 1, 300) \\gset\n"
               "SELECT pgqrs.delete('b' || :n, (':ids'::bigint[])[1]);\n",
}


@contextlib.contextmanager
def server(bindir: Path, base: Path, name: str) -> Iterator[str]:
    """A server on a socket in base/name; yields its DSN (database postgres)."""
    home = base / name
    subprocess.run([bindir / "initdb", "-D", home / "data", "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, stdout=subprocess.DEVNULL)
    options = (f"-p 5432 -k {home} -c listen_addresses='' -c max_connections=200 -c shared_buffers=256MB "
               "-c synchronous_commit=off")
    subprocess.run([bindir / "pg_ctl", "-D", home / "data", "-l", home / "log", "-w", "-o", options, "start"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        yield f"host={home} port=5432 user=postgres dbname=postgres"
    finally:
        subprocess.run([bindir / "pg_ctl", "-D", home / "data", "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def enqueued(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT pgqrs.messages_enqueued()").fetchone()[0]


def backlog(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT coalesce(sum(ready + in_flight), 0)::bigint FROM pgqrs.metrics_all()").fetchone()[0]


def fill(dsn: str, total: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for n in range(QUEUES):
            for chunk in range(0, total // QUEUES, 10_000):  # max_batch_size() per call
                conn.execute(f"SELECT count(*) FROM pgqrs.enqueue_batch('b{n}', array_fill('{PAYLOAD}'::jsonb, "
                             "ARRAY[%s]))", [min(10_000, total // QUEUES - chunk)])


def pgbench(bindir: Path, dsn: str, script: str, clients: int, seconds: float, work: Path) -> float:
    """Runs the script; the average latency per transaction in ms."""
    path = work / "script.sql"
    path.write_text(script)
    parts = dict(item.split("=", 1) for item in dsn.split())
    done = subprocess.run([bindir / "pgbench", "-n", "-f", path, "-c", str(clients), "-j", str(min(clients, 2)),
                           "-T", str(max(1, round(seconds))), "-h", parts["host"], "-p", parts["port"],
                           "-U", parts["user"], parts["dbname"]], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"pgbench failed: {done.stderr.strip()}")
    return float(re.search(r"latency average = ([\d.]+) ms", done.stdout).group(1))


def measure(bindir: Path, dsn: str, case: str, clients: int, seconds: float, work: Path, fill_to: int) -> dict:
    """msgs/s (counted in the database) and latency of one case on one DSN."""
    if case == "consume":
        fill(dsn, fill_to)
        before = backlog(dsn)
    else:
        before = enqueued(dsn)
    start = time.monotonic()
    latency = pgbench(bindir, dsn, SCRIPTS[case], clients, seconds, work)
    elapsed = time.monotonic() - start
    moved = before - backlog(dsn) if case == "consume" else enqueued(dsn) - before
    return {"msgs_per_s": round(moved / elapsed), "latency_ms": latency}


def move_time(bindir: Path, proxy: str, target: str, backlog: int) -> dict:
    """How long `shard move` takes for the partition of queue b0 with a backlog (the cut-over: calls
    to the partition fail meanwhile)."""
    fill(proxy, backlog * QUEUES)  # b0 gets `backlog`
    with psycopg.connect(proxy, autocommit=True) as conn:
        number = conn.execute("SELECT pg_catalog.hashtext('b0') & 3").fetchone()[0]
    start = time.monotonic()
    result = shard.move(proxy, number, target, pg_bin=str(bindir))
    return {"seconds": round(time.monotonic() - start, 2), "rows": result.rows}


def cluster(bindir: Path, base: Path, nodes: int, partitions: int, stack: contextlib.ExitStack) -> tuple[str, str]:
    """(proxy DSN, DSN of partition 0) of a new cluster with its queues b0..b7."""
    proxy_server = stack.enter_context(server(bindir, base, "proxy"))
    node_dsns = [stack.enter_context(server(bindir, base, f"node{n}")) for n in range(nodes)]
    with psycopg.connect(proxy_server, autocommit=True) as conn:
        conn.execute("CREATE DATABASE proxy")
    proxy = proxy_server.replace("dbname=postgres", "dbname=proxy")
    plan = shard.install(proxy, "pgqrs", node_dsns, partitions)
    with psycopg.connect(proxy, autocommit=True) as conn:
        for n in range(QUEUES):
            conn.execute("SELECT pgqrs.create_queue(%s)", [f"b{n}"])
    return proxy, f"{plan[0].conninfo} user=postgres"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a second per case: checks that every case runs")
    parser.add_argument("--duration", type=float, default=15, help="seconds per case (default 15)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--pg-bin", default=os.environ.get("PGQRS_PG_BIN", "/usr/lib/postgresql/15/bin"))
    parser.add_argument("--out", default="bench/results", help="directory for shard.json")
    args = parser.parse_args()
    bindir, seconds = Path(args.pg_bin), 1 if args.smoke else args.duration
    fill_to = 2_000 if args.smoke else int(6_000 * seconds)
    results: dict = {"per_call": {}, "scaling": {}}
    with tempfile.TemporaryDirectory(prefix="pgqrs-shard-bench.") as tmp:
        work = Path(tmp)
        # Per call: one node, one partition, the same database through the proxy and directly.
        with contextlib.ExitStack() as stack:
            proxy, direct = cluster(bindir, work / "c1", 1, 1, stack)
            for case in SCRIPTS:
                for clients in (1, args.clients):
                    for way, dsn in (("direct", direct), ("proxy", proxy)):
                        results["per_call"][f"{case} {clients} {way}"] = measure(
                            bindir, dsn, case, clients, seconds, work, fill_to)
        for nodes in (1, 2, 4):
            with contextlib.ExitStack() as stack:
                proxy, _ = cluster(bindir, work / f"s{nodes}", nodes, 4, stack)
                for case in SCRIPTS:
                    results["scaling"][f"{case} {nodes}"] = measure(bindir, proxy, case, args.clients, seconds, work,
                                                                    fill_to)
                if nodes == 2:
                    results["move"] = move_time(bindir, proxy, stack.enter_context(server(bindir, work / "s2", "new")),
                                                fill_to)
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": sys.version.split()[0],
            "seconds_per_case": seconds, "clients": args.clients, "smoke": args.smoke,
            "command": "bench/run.sh (bench/shard.py" + (" --smoke)" if args.smoke else ")")}
    print(f"pgqrs behind PL/Proxy ({meta['machine']}, {seconds:g} s per case, every server on this machine)")
    print(f"{'per call':<26}{'direct msgs/s':>14}{'proxy msgs/s':>14}{'direct ms':>11}{'proxy ms':>10}")
    for case in SCRIPTS:
        for clients in (1, args.clients):
            d, p = (results["per_call"][f"{case} {clients} {way}"] for way in ("direct", "proxy"))
            print(f"{case + f', {clients} client(s)':<26}{d['msgs_per_s']:>14,}{p['msgs_per_s']:>14,}"
                  f"{d['latency_ms']:>11.3f}{p['latency_ms']:>10.3f}")
    print(f"{'through the proxy, ' + str(args.clients) + ' clients':<32}{'1 node':>10}{'2 nodes':>10}{'4 nodes':>10}")
    for case in SCRIPTS:
        print(f"{case + ' msgs/s':<32}" + "".join(f"{results['scaling'][f'{case} {n}']['msgs_per_s']:>10,}"
                                                   for n in (1, 2, 4)))
    moved = results["move"]
    print(f"shard move of a partition holding {moved['rows']['pgqrs_messages']:,} messages and "
          f"{moved['rows']['pgqrs_archive']:,} archived: {moved['seconds']:g} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "shard.json").write_text(json.dumps({"meta": meta, **results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
