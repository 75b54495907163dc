#!/usr/bin/env python3
"""How long the dashboard takes with many queues and messages (a measurement, never a test).

Starts a throwaway PostgreSQL server (initdb in a temporary directory, its own port), creates
pgqrs there (CREATE EXTENSION: the extension's files must be installed in that server, as
`make install` or `make test` does), fills QUEUES queues with MESSAGES messages in all through
enqueue_batch, then starts `pgqrs dashboard` (the console script beside this Python) and prints:

- what one reading of the metrics costs (metrics_all(), which the dashboard's sampler runs once
  per --sample-interval, however many pages are open);
- how long the overview and the other pages take to load (served from the latest reading, or
  for a queue's page, from that queue's rows only).

Run it as an ordinary user (PostgreSQL refuses root), for example:

    runuser -u postgres -- /opt/pgqrs-venv/bin/python tools/dashboard_bench.py
    ... tools/dashboard_bench.py --queues 100 --messages 100000      # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(pg_bin: Path) -> Iterator[str]:
    base = Path(tempfile.mkdtemp(prefix="pgqrs-dashboard-bench-"))
    port = free_port()
    try:
        subprocess.run([str(pg_bin / "initdb"), "-D", str(base / "data"), "-A", "trust", "-U", "postgres",
                        "--no-sync"], check=True, capture_output=True)
        subprocess.run([str(pg_bin / "pg_ctl"), "-D", str(base / "data"), "-l", str(base / "server.log"), "-w",
                        "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
                              "-c synchronous_commit=off -c shared_buffers=1GB -c max_wal_size=8GB",
                        "start"], check=True, capture_output=True)
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    finally:
        subprocess.run([str(pg_bin / "pg_ctl"), "-D", str(base / "data"), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def fill(dsn: str, queues: int, messages: int) -> None:
    per_queue, rest = divmod(messages, queues)
    started = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pgqrs")
        conn.execute("SELECT pgqrs.create_queue('q' || i) FROM generate_series(1, %s) i", [queues])
        batch = 10_000
        for i in range(1, queues + 1):
            left = per_queue + (1 if i <= rest else 0)
            while left > 0:
                n = min(batch, left)
                conn.execute("SELECT count(*) FROM pgqrs.enqueue_batch(%s, array_fill('{\"n\": 1}'::jsonb, ARRAY[%s]))",
                             [f"q{i}", n])
                left -= n
            if i % 100 == 0:
                print(f"  {i} queues filled ({time.monotonic() - started:.0f} s)", file=sys.stderr)
        conn.execute("VACUUM ANALYZE")
    print(f"filled {queues} queues with {messages:,} messages in {time.monotonic() - started:.0f} s",
          file=sys.stderr)


def timed(call: object, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times)


def get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=120) as resp:
        resp.read()
        assert resp.status == 200, (url, resp.status)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-bin", type=Path, default=Path("/usr/lib/postgresql/15/bin"))
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    script = Path(sys.executable).with_name("pgqrs")

    with server(args.pg_bin) as dsn:
        fill(dsn, args.queues, args.messages)
        with psycopg.connect(dsn, autocommit=True) as conn:
            median, worst = timed(lambda: conn.execute("SELECT * FROM pgqrs.metrics_all()").fetchall(), args.runs)
        print(f"one reading of the metrics (metrics_all(), {args.queues} queues, {args.messages:,} messages): "
              f"median {median * 1000:.0f} ms, max {worst * 1000:.0f} ms")

        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PGQRS_")}
        proc = subprocess.Popen([str(script), "--dsn", dsn, "dashboard", "--port", str(port),
                                 "--sample-interval", "5"], env=env, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 300
            while True:
                with contextlib.suppress(OSError):
                    get(url + "/api/health")
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    print("the dashboard did not start", file=sys.stderr)
                    return 1
                time.sleep(0.2)
            for path in ("/", "/partials/queues", "/api/queues", "/queues/q1", "/api/queues/q1", "/workers"):
                median, worst = timed(lambda path=path: get(url + path), args.runs)  # type: ignore[misc]
                print(f"GET {path}: median {median * 1000:.1f} ms, max {worst * 1000:.1f} ms")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
