"""Through pgbouncer in transaction pool mode: no session state, no server-side prepared statements.

psycopg prepares a statement after it ran prepare_threshold (5) times on a
connection; behind a transaction pooler that breaks as soon as the next
transaction lands on another server connection. pgqrs's pools switch it off.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from pgqrs import Admin, Config, Consumer, Producer
from pgqrs.db import create_pool
from conftest import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
pytestmark = pytest.mark.skipif(not Path(PGBOUNCER).exists(), reason="pgbouncer is not installed")


@pytest.fixture
def pgbouncer_dsn(dsn, postgresql_proc, tmp_path):
    """A pgbouncer in transaction mode in front of the test server; yields the DSN through it."""
    port = free_port()
    (tmp_path / "users.txt").write_text(f'"{postgresql_proc.user}" ""\n')
    ini = tmp_path / "pgbouncer.ini"
    ini.write_text(
        f"""[databases]
* = host={postgresql_proc.host} port={postgresql_proc.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir = {tmp_path}
auth_type = trust
auth_file = {tmp_path / "users.txt"}
pool_mode = transaction
default_pool_size = 2
max_client_conn = 100
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = {tmp_path / "pgbouncer.log"}
pidfile = {tmp_path / "pgbouncer.pid"}
"""
    )
    proc = subprocess.Popen([PGBOUNCER, str(ini)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    parts = dict(part.split("=", 1) for part in dsn.split())
    bouncer = f"host=127.0.0.1 port={port} user={parts['user']} dbname={parts['dbname']}"
    deadline = time.monotonic() + 15
    while True:
        try:
            psycopg.connect(bouncer, connect_timeout=2).close()
            break
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (tmp_path / "pgbouncer.log").read_text() if (tmp_path / "pgbouncer.log").exists() else ""
                proc.kill()
                output = proc.communicate()[0].decode(errors="replace")
                pytest.fail(f"pgbouncer did not start: {log}{output}")
            time.sleep(0.1)
    try:
        yield bouncer
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_workflow_through_pgbouncer_transaction_mode(pgbouncer_dsn):
    config = Config(dsn=pgbouncer_dsn, max_connections=6, connection_timeout_seconds=10)
    with Admin(config) as admin:
        admin.create_queue("bounced")
        pool = create_pool(config, min_size=6)
        with pool:
            pool.wait(timeout=10)
            producer = Producer(pool, "bounced", config)
            consumer = Consumer(pool, "bounced", config)
            for round_ in range(25):  # far beyond psycopg's prepare_threshold on every connection
                single = producer.enqueue({"round": round_})
                batch = producer.batch_enqueue([{"round": round_, "i": i} for i in range(4)])
                leased = consumer.dequeue_batch(5)
                assert sorted(m.id for m in leased) == sorted([single, *batch])
                assert consumer.archive(leased[0].id) is True
                assert consumer.delete_batch([m.id for m in leased[1:]]) == [True] * 4
                metrics = admin.metrics("bounced")
                assert (metrics.ready, metrics.in_flight, metrics.archived) == (0, 0, round_ + 1)
            assert consumer.dequeue() is None
        assert admin.count_archive("bounced") == 25


def test_pool_connections_never_prepare(config):
    from pgqrs.db import create_pool

    with create_pool(config) as pool, pool.connection() as conn:
        assert conn.prepare_threshold is None and conn.autocommit is True
