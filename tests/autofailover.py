"""A pg_auto_failover formation of a test's own: a monitor and Postgres nodes on this machine.

Every node, the monitor too, is `pg_autoctl run`: a process group the test owns, killed
at the end. The nodes run the PostgreSQL of PGQRS_PG_BIN, whose extension directory has
pgqrs (`make install`), and pgqrs is installed on the primary (`CREATE EXTENSION`), which
streams it to the standby with everything else. pg_autoctl comes from Debian's package
postgresql-15-auto-failover (`make test` as root installs it).

The monitor's health checks are lowered (MONITOR_SETTINGS) so that a failover takes seconds
instead of the default half-minute; docs/operations/high-availability.md says which and why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
from conftest import PG_BIN, free_port

PG_AUTOCTL = shutil.which("pg_autoctl") or "/usr/bin/pg_autoctl"

#: The monitor's settings for a failover in seconds (the defaults, in ms: 5000, 5000, 2, 2000,
#: 20000, 30000). A node is unhealthy after one failed check of 1 s plus 2 s, and the monitor waits
#: primary_demote_timeout for an unreachable primary to demote itself before it promotes the standby.
MONITOR_SETTINGS = {
    "pgautofailover.health_check_period": "1000",
    "pgautofailover.health_check_timeout": "1000",
    "pgautofailover.health_check_max_retries": "1",
    "pgautofailover.health_check_retry_delay": "500",
    "pgautofailover.node_considered_unhealthy_timeout": "2000",
    "pgautofailover.primary_demote_timeout": "4000",
}
#: The keeper's side of it (seconds; default 20): a primary that lost the monitor and its standby
#: demotes itself after this, so it is gone before the monitor promotes the standby
#: (network_partition_timeout < primary_demote_timeout, as with the defaults).
NODE_SETTINGS = {"timeout.network_partition_timeout": "2"}


def port_range() -> Iterator[int]:
    """Ports for the formation: from PGQRS_TEST_PORT_BASE on, on a machine where ports are shared
    out; else free ones."""
    base = os.environ.get("PGQRS_TEST_PORT_BASE")
    if base:
        yield from range(int(base), int(base) + 100)
    while True:
        yield free_port()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@dataclasses.dataclass
class Node:
    name: str
    port: int
    pgdata: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres connect_timeout=2"


class Formation:
    """A monitor and nodes; ``dsn`` names every node, ``target_session_attrs=read-write``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.ports = port_range()
        self.env = {
            **os.environ,
            "PATH": f"{PG_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            # pg_autoctl keeps its configuration, state and pid files under these: the test's own.
            "XDG_CONFIG_HOME": str(base / "config"),
            "XDG_DATA_HOME": str(base / "share"),
            "XDG_RUNTIME_DIR": str(base / "run"),
        }
        (base / "run").mkdir(parents=True, exist_ok=True)
        self.monitor = Node("monitor", next(self.ports), base / "monitor")
        self.nodes: list[Node] = []

    # -- setting up ------------------------------------------------------------------

    def _autoctl(self, *args: str, timeout: float = 120) -> str:
        proc = subprocess.run([PG_AUTOCTL, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"pg_autoctl {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def _run(self, node: Node) -> None:
        """`pg_autoctl run` for the node, in a process group of its own (killed as one)."""
        log = open(self.base / f"{node.name}.log", "ab")
        node.proc = subprocess.Popen([PG_AUTOCTL, "run", "--pgdata", str(node.pgdata)], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def start_monitor(self) -> None:
        self._autoctl("create", "monitor", "--pgdata", str(self.monitor.pgdata), "--pgport", str(self.monitor.port),
                      "--pgctl", str(PG_BIN / "pg_ctl"), "--hostname", "127.0.0.1", "--listen", "127.0.0.1",
                      "--auth", "trust", "--no-ssl")
        self._run(self.monitor)
        monitor_dsn = self.monitor.dsn.replace("dbname=postgres", "dbname=pg_auto_failover")
        wait_until(lambda: _answers(monitor_dsn), 60, "the monitor to accept connections")
        with psycopg.connect(monitor_dsn, autocommit=True) as conn:
            for name, value in MONITOR_SETTINGS.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            conn.execute("SELECT pg_reload_conf()")
        self.monitor_dsn = monitor_dsn

    def add_node(self, *, replication_quorum: bool = True) -> Node:
        """A node: the first is the primary, the next ones standbys (synchronous unless
        replication_quorum is false). Returns once it has joined, as primary or secondary."""
        node = Node(f"node{len(self.nodes) + 1}", next(self.ports), self.base / f"node{len(self.nodes) + 1}")
        self._autoctl("create", "postgres", "--pgdata", str(node.pgdata), "--pgport", str(node.port),
                      "--pgctl", str(PG_BIN / "pg_ctl"), "--hostname", "127.0.0.1", "--listen", "127.0.0.1",
                      "--name", node.name, "--monitor",
                      f"postgres://autoctl_node@127.0.0.1:{self.monitor.port}/pg_auto_failover",
                      "--auth", "trust", "--no-ssl",
                      "--replication-quorum", "true" if replication_quorum else "false")
        for key, value in NODE_SETTINGS.items():
            self._autoctl("config", "set", "--pgdata", str(node.pgdata), key, value)
        self.nodes.append(node)
        self._run(node)
        wait_until(lambda: self.states().get(node.name) in {("primary", "primary"), ("single", "single"),
                                                            ("secondary", "secondary")},
                   120, f"{node.name} to join the formation")
        return node

    @property
    def dsn(self) -> str:
        """Every node's host and port, and the one that takes writes is the one libpq keeps."""
        hosts = ",".join("127.0.0.1" for _ in self.nodes)
        ports = ",".join(str(node.port) for node in self.nodes)
        return f"host={hosts} port={ports} user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=2"

    # -- looking -----------------------------------------------------------------------

    def states(self) -> dict[str, tuple[str, str]]:
        """Node name -> (reported state, assigned state), as the monitor has them."""
        try:
            rows = _query(self.monitor_dsn, "SELECT nodename, reportedstate::text, goalstate::text FROM pgautofailover.node")
        except psycopg.Error:
            return {}
        return {name: (reported, goal) for name, reported, goal in rows}

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def primary(self) -> Node:
        """The node that takes writes now."""
        port = wait_until(lambda: _writable_port(self.dsn), 60, "a writable primary")
        return next(node for node in self.nodes if node.port == port)

    def show_state(self) -> str:
        return self._autoctl("show", "state", "--pgdata", str(self.monitor.pgdata))

    def events(self) -> str:
        return self._autoctl("show", "events", "--pgdata", str(self.monitor.pgdata), "--count", "30")

    def report(self) -> None:
        """What the monitor saw and the end of every log, printed (for a test that failed: the files go with it)."""
        with contextlib.suppress(Exception):
            print(self.show_state(), self.events(), sep="\n")
        for log in sorted(self.base.glob("*.log")):
            print(f"-- {log.name}", *log.read_text(errors="replace").splitlines()[-40:], sep="\n")

    # -- faults ------------------------------------------------------------------------

    def kill(self, node: Node) -> None:
        """The node dies at once: SIGKILL to its keeper, its postmaster and every backend (one process group)."""
        assert node.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.proc.pid, signal.SIGKILL)
        node.proc.wait(10)
        # What could outlive the group (nothing, unless a process left it): an immediate stop.
        subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(node.pgdata), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)

    def switchover(self) -> None:
        """A planned switchover: the monitor has the primary demoted and the standby promoted, and
        `pg_autoctl perform switchover` returns once the old primary follows the new one."""
        self._autoctl("perform", "switchover", "--pgdata", str(self.monitor.pgdata), timeout=180)

    def restart(self, node: Node) -> None:
        """`pg_autoctl run` again for a node that was killed: it rejoins as a standby (pg_rewind)."""
        self._run(node)
        wait_until(lambda: self.states().get(node.name) == ("secondary", "secondary"), 180,
                   f"{node.name} to rejoin as a standby")

    # -- tearing down --------------------------------------------------------------------

    def stop(self) -> None:
        for node in [*self.nodes, self.monitor]:
            if node.proc is None or node.proc.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.proc.pid, signal.SIGTERM)  # pg_autoctl stops its Postgres (fast)
        for node in [*self.nodes, self.monitor]:
            if node.proc is None:
                continue
            try:
                node.proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.proc.pid, signal.SIGKILL)
                node.proc.wait(10)
            subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(node.pgdata), "-m", "immediate", "stop"],
                           capture_output=True, timeout=60)


def _query(dsn: str, query: str) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query).fetchall()


def _answers(dsn: str) -> bool:
    try:
        _query(dsn, "SELECT 1")
        return True
    except psycopg.Error:
        return False


def _writable_port(dsn: str) -> int | None:
    try:
        return int(_query(dsn, "SELECT inet_server_port()")[0][0])
    except psycopg.Error:
        return None


@contextlib.contextmanager
def formation(*, standbys: int = 1, replication_quorum: bool = True) -> Iterator[Formation]:
    """A monitor, a primary with pgqrs installed, and standbys, synchronous unless replication_quorum
    is false; everything stopped and removed after."""
    base = Path(tempfile.mkdtemp(prefix="pgqrs-ha-"))
    group = Formation(base)
    try:
        group.start_monitor()
        # Every node alike: after a failover the old primary comes back as the standby.
        primary = group.add_node(replication_quorum=replication_quorum)
        for _ in range(standbys):
            group.add_node(replication_quorum=replication_quorum)
        wait_until(lambda: sorted(group.states().values()) == sorted(
            [("primary", "primary")] + [("secondary", "secondary")] * standbys), 120, "the formation to settle")
        with psycopg.connect(primary.dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pgqrs")
        yield group
    except BaseException:
        group.report()
        raise
    finally:
        group.stop()
        shutil.rmtree(base, ignore_errors=True)
