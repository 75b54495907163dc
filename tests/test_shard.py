"""pgqrs over several servers behind PL/Proxy: `pgqrs shard install|verify|status|move`.

Two PostgreSQL servers of their own (sockets only, no TCP) are the nodes; the proxy
database lives on the first. Every call here goes through the proxy, with real
PL/Proxy, and is checked against what the partitions hold.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
import test_faults
from conftest import PG_BIN, pgqrs_cli, sql, unique
from psycopg.types.json import Jsonb
from test_faults import archive_of, archived_count, check_exactly_once, wait_for

from pgqrs import shard as pgqrs_shard

lab = test_faults.lab  # the fault suite's fixture: worker and producer processes

PASSWORD = "s3cret-not-shown"  # in the node DSNs; the servers trust, so it is never checked


@contextlib.contextmanager
def socket_server(base: Path, name: str):
    """A PostgreSQL server listening on a socket in base/name only; yields its node DSN."""
    data, sockets = base / name / "data", base / name
    subprocess.run([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    options = (f"-p 5432 -k {sockets} -c listen_addresses='' -c fsync=off -c synchronous_commit=off"
               " -c max_connections=300 -c shared_buffers=32MB")
    subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(sockets / "server.log"), "-w", "-t", "60",
                    "-o", options, "start"], check=True, capture_output=True, timeout=90)
    try:
        yield f"host={sockets} port=5432 user=postgres password={PASSWORD} dbname=postgres"
    finally:
        subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)


class Cluster:
    def __init__(self, proxy: str, nodes: list[str], base: Path) -> None:
        self.proxy, self.nodes, self.base = proxy, nodes, base

    def partitions(self) -> list[pgqrs_shard.Partition]:
        with psycopg.connect(self.proxy) as conn:
            partitions, _ = pgqrs_shard._require_cluster(conn, "pgqrs")
        return partitions

    def partition_dsn(self, number: int) -> str:
        return f"{self.partitions()[number].conninfo} user=postgres"

    def partition_of_queue(self, queue: str) -> int:
        return sql(self.proxy, "SELECT pg_catalog.hashtext(%s) & 7", [queue])[0][0]


@pytest.fixture(scope="module")
def cluster():
    """Two nodes and a proxy database, `pgqrs shard install`ed with 8 partitions (the CLI)."""
    base = Path(tempfile.mkdtemp(prefix="pgqrs-shard-"))
    try:
        with socket_server(base, "n1") as node1, socket_server(base, "n2") as node2:
            sql(node1, "CREATE DATABASE proxy")
            proxy = node1.replace("dbname=postgres", "dbname=proxy")
            done = pgqrs_cli(proxy, "shard", "install", "--node", node1, "--node", node2)
            assert done.returncode == 0, done.stderr
            assert "8 partitions on 2 node(s)" in done.stdout
            yield Cluster(proxy, [node1, node2], base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def node_functions(dsn: str, schema: str = "pgqrs") -> dict[str, tuple[str, str]]:
    return {name: (args, result) for name, args, result in sql(dsn, """
        SELECT p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid) FROM pg_proc p
        WHERE p.pronamespace = to_regnamespace(%s) AND p.proname !~ '^_'""", [schema])}


# -- install, verify, status -------------------------------------------------------------


def test_every_node_function_has_a_route(cluster):
    """A function added to pgqrs without a rule in ROUTES fails here (and `shard install` refuses it)."""
    names = set(node_functions(cluster.partition_dsn(0)))
    assert pgqrs_shard.unrouted(sorted(names)) == []
    assert set(pgqrs_shard.ROUTES) - names == set()  # and no rule outlives its function


def test_proxy_has_the_node_api(cluster):
    """Same names, argument names, defaults and result types; the node's views and tables too."""
    node, proxy = cluster.partition_dsn(0), cluster.proxy
    assert node_functions(proxy) == node_functions(node)
    relations = "SELECT c.relname, c.relkind FROM pg_class c WHERE c.relnamespace = 'pgqrs'::regnamespace" \
                " AND c.relkind IN ('r', 'v')"
    assert {name for name, _ in sql(proxy, relations)} == {name for name, _ in sql(node, relations)}
    columns = "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute" \
              " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
    for relation in ("pgqrs.queue_metrics", "pgqrs.pgqrs_messages", "pgqrs.pgqrs_archive", "pgqrs.message_state"):
        assert sql(proxy, columns, [relation]) == sql(node, columns, [relation])


def test_install_again_is_idempotent_and_verify_passes(cluster):
    queue = unique("again")
    sql(cluster.proxy, "SELECT pgqrs.create_queue(%s)", [queue])
    msg = sql(cluster.proxy, "SELECT pgqrs.enqueue(%s, '{}')", [queue])[0][0]
    sql(cluster.proxy, "SELECT pgqrs.enqueue(%s, '{}', priority => 5)", [queue])  # its rank is negative
    sequences = "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'pgqrs' ORDER BY 1"
    home = cluster.partition_dsn(cluster.partition_of_queue(queue))
    before = sql(home, sequences)
    again = pgqrs_cli(cluster.proxy, "shard", "install")
    assert again.returncode == 0, again.stderr
    assert sql(home, sequences) == before  # ids and the queue's scan position (a rank) stay where they were
    assert sql(cluster.proxy, "SELECT state FROM pgqrs.message_status(%s, %s)", [queue, msg]) == [("ready",)]
    verify = pgqrs_cli(cluster.proxy, "shard", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.startswith("ok")
    # Other nodes than the cluster's are refused: partitions move with `shard move`.
    other = pgqrs_cli(cluster.proxy, "shard", "install", "--node", cluster.nodes[0])
    assert other.returncode == 1 and "exists with other nodes" in other.stderr


def test_verify_finds_a_broken_partition_and_a_queue_out_of_place(cluster):
    dsn = cluster.partition_dsn(5)
    sql(dsn, "ALTER FUNCTION pgqrs.version() RENAME TO version_gone")
    try:
        verify = pgqrs_cli(cluster.proxy, "shard", "verify")
        assert verify.returncode == 1
        assert "partition 5" in verify.stdout
    finally:
        sql(dsn, "ALTER FUNCTION pgqrs.version_gone() RENAME TO version")
    # A queue made on a partition directly, not through the proxy, where the proxy does not look for it.
    queue = next(q for q in (unique("astray") for _ in range(100)) if cluster.partition_of_queue(q) != 5)
    sql(dsn, "SELECT pgqrs.create_queue(%s)", [queue])
    try:
        verify = pgqrs_cli(cluster.proxy, "shard", "verify")
        assert verify.returncode == 1 and f"holds {queue}, which the proxy routes elsewhere" in verify.stdout
    finally:
        sql(dsn, "SELECT pgqrs.drop_queue(%s)", [queue])
    assert pgqrs_cli(cluster.proxy, "shard", "verify").returncode == 0


def test_a_function_added_to_the_nodes_needs_a_route_then_comes_through(cluster, monkeypatch):
    """A node function without a rule stops `shard install` (the proxy stays as it was) and `shard verify`
    names it; given a rule, `shard install` makes it on the proxy with the node's arguments and defaults."""
    added = ("CREATE FUNCTION pgqrs.greet(queue_name text, greeting text DEFAULT 'hello') RETURNS text"
             " LANGUAGE sql AS $$ SELECT greeting || ' ' || queue_name || ' from ' || current_database() $$")
    for number in range(8):
        sql(cluster.partition_dsn(number), added)
    try:
        verify = pgqrs_cli(cluster.proxy, "shard", "verify")
        assert verify.returncode == 1 and "the proxy lacks greet" in verify.stdout
        refused = pgqrs_cli(cluster.proxy, "shard", "install")
        assert refused.returncode == 1 and "no routing rule for node function(s) greet" in refused.stderr
        assert "enqueue" in node_functions(cluster.proxy)  # the proxy as it was
        monkeypatch.setitem(pgqrs_shard.ROUTES, "greet", "queue")
        pgqrs_shard.install(cluster.proxy)
        assert node_functions(cluster.proxy)["greet"] == \
            ("queue_name text, greeting text DEFAULT 'hello'::text", "text")
        home = cluster.partitions()[cluster.partition_of_queue("anyqueue")].database
        assert sql(cluster.proxy, "SELECT pgqrs.greet('anyqueue')") == [(f"hello anyqueue from {home}",)]
        assert sql(cluster.proxy, "SELECT pgqrs.greet('anyqueue', greeting => 'hi')")[0][0].startswith("hi ")
    finally:
        for number in range(8):
            sql(cluster.partition_dsn(number), "DROP FUNCTION pgqrs.greet")
        monkeypatch.delitem(pgqrs_shard.ROUTES, "greet", raising=False)
        pgqrs_shard.install(cluster.proxy)
    assert "greet" not in node_functions(cluster.proxy)


def test_status_shows_partitions_nodes_and_queues_never_a_password(cluster):
    queue = unique("status")
    sql(cluster.proxy, "SELECT pgqrs.create_queue(%s)", [queue])
    shown = pgqrs_cli(cluster.proxy, "--format", "json", "shard", "status")
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert [r["partition"] for r in rows] == list(range(8))
    assert len({r["node"] for r in rows}) == 2  # round-robin over both nodes
    assert [r["node"] for r in rows[:2]] == [r["node"] for r in rows[2:4]]
    assert queue in rows[cluster.partition_of_queue(queue)]["queues"]
    table = pgqrs_cli(cluster.proxy, "shard", "status")
    assert queue in table.stdout
    for text in (shown.stdout, table.stdout, str(sql(cluster.proxy, "SELECT srvoptions FROM pg_foreign_server"))):
        assert PASSWORD not in text


def test_bad_install_arguments_are_refused(cluster, tmp_path):
    fresh = cluster.nodes[0].replace("dbname=postgres", "dbname=proxy2")
    sql(cluster.nodes[0], "CREATE DATABASE proxy2")
    try:
        for args, error in [((), "needs its nodes"),
                            (("--node", cluster.nodes[0], "--partitions", "6"), "power of two"),
                            (("--node", cluster.nodes[0], "--node", cluster.nodes[0]), "given twice"),
                            (("--node", cluster.nodes[0], "--node", cluster.nodes[1].replace(PASSWORD, "other")),
                             "same user and password")]:
            done = pgqrs_cli(fresh, "shard", "install", *args)
            assert done.returncode == 1 and error in done.stderr, (args, done.stderr)
        # Nothing was made on the way.
        assert sql(fresh, "SELECT count(*) FROM pg_foreign_server")[0][0] == 0
        # A proxy database with pgqrs itself installed is not made a proxy.
        sql(fresh, "SET pgqrs.reuse_roles = on; CREATE EXTENSION pgqrs")
        done = pgqrs_cli(fresh, "shard", "install", "--node", cluster.nodes[0])
        assert done.returncode == 1 and "not a pgqrs proxy schema" in done.stderr
    finally:
        sql(cluster.nodes[0], "DROP DATABASE proxy2 WITH (FORCE)")


# -- routing -------------------------------------------------------------------------------


def test_a_queue_lives_on_the_partition_of_its_hash(cluster):
    queues = [unique("route") for _ in range(16)]
    for queue in queues:
        sql(cluster.proxy, "SELECT pgqrs.create_queue(%s)", [queue])
        sql(cluster.proxy, "SELECT pgqrs.enqueue_batch(%s, array_fill('{}'::jsonb, ARRAY[3]))", [queue])
    homes = {queue: cluster.partition_of_queue(queue) for queue in queues}
    nodes = set()
    for number, partition in enumerate(cluster.partitions()):
        held = dict(sql(cluster.partition_dsn(number), """
            SELECT q.queue_name, count(m.id) FROM pgqrs.pgqrs_queues q
            LEFT JOIN pgqrs.pgqrs_messages m ON m.queue_id = q.id GROUP BY 1"""))
        mine = {q for q in queues if homes[q] == number}
        assert {q for q in held if q in queues} == mine
        assert all(held[q] == 3 for q in mine)
        if mine:
            nodes.add(partition.node)
        # Ids are the partition's: its number in the top bits.
        ids = sql(cluster.partition_dsn(number), "SELECT id FROM pgqrs.pgqrs_messages")
        assert all(pgqrs_shard.partition_of(i) == number for (i,) in ids)
    assert len(nodes) == 2  # queues on both nodes


def test_whole_system_calls_combine_every_partition(cluster):
    queues = [unique("all") for _ in range(8)]
    before = sql(cluster.proxy, "SELECT pgqrs.messages_enqueued()")[0][0]
    for queue in queues:
        sql(cluster.proxy, "SELECT pgqrs.create_queue(%s)", [queue])
        sql(cluster.proxy, "SELECT pgqrs.enqueue(%s, '{}')", [queue])
        sql(cluster.proxy, "SELECT pgqrs.bind_topic('orders.*', %s)", [queue])
    assert len({cluster.partition_of_queue(q) for q in queues}) > 1
    assert sql(cluster.proxy, "SELECT pgqrs.messages_enqueued()")[0][0] - before == 8
    metrics = dict(sql(cluster.proxy, "SELECT queue_name, ready FROM pgqrs.metrics_all()"))
    assert all(metrics[q] == 1 for q in queues)
    assert dict(sql(cluster.proxy, "SELECT queue_name, ready FROM pgqrs.queue_metrics")) == metrics
    assert sql(cluster.proxy, "SELECT pgqrs.publish('orders.new', '{\"n\": 1}')") == [(8,)]
    assert all(sql(cluster.proxy, "SELECT ready FROM pgqrs.metrics(%s)", [q]) == [(2,)] for q in queues)
    # A schedule lives with its queue; dropping it by name asks every partition.
    sql(cluster.proxy, "SELECT pgqrs.create_schedule('nightly', %s, '0 3 * * *')", [queues[3]])
    assert sql(cluster.proxy, "SELECT queue_name FROM pgqrs.schedules WHERE schedule_name = 'nightly'") == \
        [(queues[3],)]
    assert sql(cluster.proxy, "SELECT pgqrs.drop_schedule('nightly'), pgqrs.drop_schedule('nightly')") == \
        [(True, False)]
    assert sql(cluster.proxy, "SELECT pgqrs.run_schedules()") == [(0,)]


def test_worker_ids_route_to_their_partition(cluster):
    queues = [unique("wrk") for _ in range(6)]
    workers = {}
    for queue in queues:
        sql(cluster.proxy, "SELECT pgqrs.create_queue(%s)", [queue])
        workers[queue] = sql(cluster.proxy, "SELECT pgqrs.register_worker(%s, 'host', 1)", [queue])[0][0]
        assert pgqrs_shard.partition_of(workers[queue]) == cluster.partition_of_queue(queue)
    for queue, worker in workers.items():
        sql(cluster.proxy, "SELECT pgqrs.enqueue(%s, '{}')", [queue])
        sql(cluster.proxy, "SELECT pgqrs.heartbeat(%s)", [worker])
        [(msg,)] = sql(cluster.proxy, "SELECT id FROM pgqrs.dequeue(%s, 1, 30, %s)", [queue, worker])
        assert sql(cluster.proxy, "SELECT messages_held FROM pgqrs.worker_health WHERE worker_id = %s",
                   [worker]) == [(1,)]
        assert sql(cluster.proxy, "SELECT pgqrs.stop_worker(%s)", [worker]) == [(1,)]  # its lease given back
        assert sql(cluster.proxy, "SELECT state FROM pgqrs.message_status(%s, %s)", [queue, msg]) == [("ready",)]
    # reap_workers: one queue's partition, or every partition.
    alive = sql(cluster.proxy, "SELECT pgqrs.register_worker(%s, 'host', 2)", [queues[0]])[0][0]
    sql(cluster.proxy, "SELECT id FROM pgqrs.dequeue(%s, 1, 30, %s)", [queues[0], alive])
    assert sql(cluster.proxy, "SELECT pgqrs.reap_workers(3600, %s), pgqrs.reap_workers(3600)", [queues[0]]) == \
        [(0, 0)]
    # Its heartbeat an hour old (on its partition): reaping on all partitions finds it.
    sql(cluster.partition_dsn(pgqrs_shard.partition_of(alive)),
        "UPDATE pgqrs.pgqrs_workers SET heartbeat_at = now() - interval '1 hour' WHERE id = %s", [alive])
    assert sql(cluster.proxy, "SELECT pgqrs.reap_workers(60)") == [(1,)]


def test_errors_keep_the_nodes_sqlstate(cluster):
    from pgqrs import Admin, Config, Producer
    from pgqrs.errors import QueueExists, QueueNotFound, WorkerNotFound

    with pytest.raises(psycopg.Error) as raised:
        sql(cluster.proxy, "SELECT pgqrs.enqueue('no_such_queue', '{}')")
    assert raised.value.sqlstate == "PQ001"
    assert 'queue "no_such_queue" does not exist' in raised.value.diag.message_primary
    with Admin(Config(dsn=cluster.proxy, max_connections=2)) as admin:
        queue = unique("err")
        admin.create_queue(queue)
        with pytest.raises(QueueExists):
            admin.create_queue(queue)
        with pytest.raises(QueueNotFound):
            Producer(admin.pool, "no_such_queue", admin.config).enqueue({"a": 1})
        with pytest.raises(WorkerNotFound):
            admin.heartbeat(12345)


def test_a_partition_out_of_reach_is_connection_failed_which_the_worker_retries(cluster):
    """The proxy's own error for a partition it cannot connect to (XX000) becomes ConnectionFailed, a
    transient error for the worker runner; the other partitions go on answering."""
    from pgqrs import Admin, Config, Producer
    from pgqrs.errors import ConnectionFailed
    from pgqrs.worker.retry import is_transient

    queue, other = unique("reach"), None
    while other is None or cluster.partition_of_queue(other) == cluster.partition_of_queue(queue):
        other = unique("reach")
    for name in (queue, other):
        sql(cluster.proxy, "SELECT pgqrs.create_queue(%s)", [name])
    where = cluster.partitions()[cluster.partition_of_queue(queue)]
    node = cluster.nodes[cluster.partition_of_queue(queue) % 2]
    sql(node, f"ALTER DATABASE {where.database} ALLOW_CONNECTIONS false")
    sql(node, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [where.database])
    try:
        with Admin(Config(dsn=cluster.proxy, max_connections=2)) as admin:
            with pytest.raises(ConnectionFailed) as raised:
                Producer(admin.pool, queue, admin.config).enqueue({"n": 1})
            assert is_transient(raised.value)
            assert f"[{where.database}]" in str(raised.value)
            assert Producer(admin.pool, other, admin.config).enqueue({"n": 1}) > 0
        shown = pgqrs_cli(cluster.proxy, "shard", "status")
        assert shown.returncode == 1 and other in shown.stdout  # the others are listed
        assert "does not answer" in shown.stdout and "do not answer" in shown.stderr
    finally:
        sql(node, f"ALTER DATABASE {where.database} ALLOW_CONNECTIONS true")
    assert sql(cluster.proxy, "SELECT pgqrs.enqueue(%s, '{}') > 0", [queue]) == [(True,)]


def test_roles_have_the_nodes_grants_on_the_proxy(cluster):
    role = unique("app")
    sql(cluster.proxy, f"CREATE ROLE {role} LOGIN IN ROLE pgqrs_producer")
    try:
        queue = unique("roles")
        sql(cluster.proxy, "SELECT pgqrs.create_queue(%s)", [queue])
        as_producer = cluster.proxy.replace("user=postgres", f"user={role}")
        assert sql(as_producer, "SELECT pgqrs.enqueue(%s, '{}') > 0", [queue]) == [(True,)]
        assert sql(as_producer, "SELECT count(*) FROM pgqrs.queue_metrics")[0][0] > 0
        for denied in ("SELECT * FROM pgqrs.dequeue(%s)", "SELECT pgqrs.purge_queue(%s)",
                       "SELECT * FROM pgqrs._rows_pgqrs_messages() WHERE %s::text IS NOT NULL"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                sql(as_producer, denied, [queue])
    finally:
        sql(cluster.proxy, f"DROP ROLE {role}")


# -- the Python API, the CLI and workers through the proxy ---------------------------------------


def test_python_api_and_cli_through_the_proxy(cluster):
    from pgqrs import Admin, Config, Consumer, Producer

    queue = unique("api")
    with Admin(Config(dsn=cluster.proxy, max_connections=2)) as admin:
        admin.create_queue(queue, max_attempts=3)
        producer = Producer(admin.pool, queue, admin.config)
        ids = producer.batch_enqueue([{"n": n} for n in range(5)])
        consumer = Consumer(admin.pool, queue, admin.config)
        messages = consumer.dequeue_batch(5)
        assert [m.id for m in messages] == ids
        assert all(consumer.archive(m.id) for m in messages)
        assert admin.metrics(queue).archived == 5
        assert queue in [q.queue_name for q in admin.list_queues()]
    sent = pgqrs_cli(cluster.proxy, "message", "send", queue, '{"via": "cli"}')
    assert sent.returncode == 0, sent.stderr
    metrics = pgqrs_cli(cluster.proxy, "--format", "json", "queue", "metrics", queue)
    assert json.loads(metrics.stdout)["ready"] == 1
    listed = pgqrs_cli(cluster.proxy, "queue", "list")
    assert queue in listed.stdout


def test_eight_workers_through_the_proxy_process_each_message_once(cluster, lab):
    """8 `pgqrs worker run` processes on the proxy, over two queues on different nodes."""
    partitions = cluster.partitions()
    queues: list[str] = []
    while len({partitions[cluster.partition_of_queue(q)].node for q in queues}) < 2 or len(queues) < 2:
        candidate = unique("crowd")
        if not queues or partitions[cluster.partition_of_queue(candidate)].node != \
                partitions[cluster.partition_of_queue(queues[0])].node:
            queues.append(candidate)
    ids: dict[str, set[int]] = {}
    for queue in queues:
        sql(cluster.proxy, "SELECT pgqrs.create_queue(%s)", [queue])
        ids[queue] = {r[0] for r in sql(cluster.proxy, "SELECT pgqrs.enqueue_batch(%s, %s)",
                                        [queue, [Jsonb({"n": n}) for n in range(1000)]])}
    workers = [lab.worker(cluster.proxy, queues[n % 2], "--concurrency", "4", "--poll-interval", "0.2")
               for n in range(8)]
    for queue in queues:
        wait_for(lambda q=queue: archived_count(cluster.proxy, q) == 1000, 120, f"{queue} archived", interval=0.5)
    assert [w.terminate() for w in workers] == [0] * 8
    for queue in queues:
        counts = check_exactly_once(cluster.proxy, queue, ids[queue], lab.runs, may_redeliver=False)
        assert counts["archived"] == counts["processed"] == 1000


def test_cli_shard_commands_have_help():
    for command in ("install", "verify", "status", "move"):
        done = pgqrs_cli(None, "shard", command, "--help")
        assert done.returncode == 0 and "Usage:" in done.stdout


# -- moving a partition while producers and workers run ------------------------------------------


def test_a_move_that_cannot_be_done_changes_nothing(cluster):
    queue = unique("stay")
    number = cluster.partition_of_queue(queue)
    sql(cluster.proxy, "SELECT pgqrs.create_queue(%s)", [queue])
    sql(cluster.proxy, "SELECT pgqrs.enqueue(%s, '{}')", [queue])
    where = cluster.partitions()[number]
    other = cluster.nodes[1 - number % 2]  # the node that does not hold it
    for args, error in [(("--partition", "8", "--to", other), "no partition 8"),
                        (("--partition", str(number), "--to", cluster.nodes[number % 2]), "is on"),
                        (("--partition", str(number), "--to", other.replace(PASSWORD, "other")),
                         "the cluster's user and password")]:
        done = pgqrs_cli(cluster.proxy, "shard", "move", *args)
        assert done.returncode == 1 and error in done.stderr, (args, done.stderr)
    # A copy that fails half-way (no pg_dump there): the old database gets its name back, the copy goes.
    done = pgqrs_cli(cluster.proxy, "shard", "move", "--partition", str(number), "--to", other,
                     "--pg-bin", "/nonexistent")
    assert done.returncode == 1 and "pg_dump" in done.stderr
    assert cluster.partitions()[number] == where
    assert sql(other, "SELECT count(*) FROM pg_database WHERE datname = %s", [where.database]) == [(0,)]
    assert sql(cluster.proxy, "SELECT ready FROM pgqrs.metrics(%s)", [queue]) == [(1,)]
    # A database of that name on the target is refused before anything is touched.
    sql(other, f"CREATE DATABASE {where.database}")
    try:
        done = pgqrs_cli(cluster.proxy, "shard", "move", "--partition", str(number), "--to", other)
        assert done.returncode == 1 and "exists on the target already" in done.stderr
        assert sql(cluster.proxy, "SELECT ready FROM pgqrs.metrics(%s)", [queue]) == [(1,)]
    finally:
        sql(other, f"DROP DATABASE {where.database}")


def test_move_a_partition_under_load(cluster, lab, tmp_path):
    """`shard install` runs again, then a partition moves to a third server, while a producer and 4 workers
    run through the proxy: every committed message is processed once, the copy counts what the old
    database held, and a lease taken before the move is acknowledged after it (and not delivered again)."""
    from test_faults import PRODUCER, check_producer_messages, producer_log

    from pgqrs import Admin, Config, Consumer

    queue = unique("moving")
    number = cluster.partition_of_queue(queue)
    sql(cluster.proxy, "SELECT pgqrs.create_queue(%s)", [queue])
    committed = {r[0] for r in sql(cluster.proxy, "SELECT pgqrs.enqueue_batch(%s, %s)",
                                   [queue, [Jsonb({"n": n}) for n in range(300)]])}
    # A lease taken before the move, by a registered worker, for long enough.
    with Admin(Config(dsn=cluster.proxy, max_connections=2)) as admin:
        holder = admin.register_worker(queue, "holder", None)
        [held] = Consumer(admin.pool, queue, admin.config, worker_id=holder).dequeue_batch(1, lock_time_seconds=600)
    log = tmp_path / "producer.log"
    producer = lab.python(cluster.proxy, PRODUCER, queue, "400", "0.005", str(log))
    workers = [lab.worker(cluster.proxy, queue, "--concurrency", "4", "--poll-interval", "0.2") for _ in range(4)]
    wait_for(lambda: len(producer_log(log)[0]) > 50 and archived_count(cluster.proxy, queue) > 50, 60,
             "the load under way")
    # The proxy schema made again under the load (an upgrade's `shard install`).
    again = pgqrs_cli(cluster.proxy, "shard", "install")
    assert again.returncode == 0, again.stderr
    with socket_server(cluster.base, "n3") as node3:
        moved = pgqrs_cli(cluster.proxy, "--format", "json", "shard", "move", "--partition", str(number),
                          "--to", node3, "--pg-bin", str(PG_BIN))
        assert moved.returncode == 0, moved.stderr
        result = json.loads(moved.stdout)
        assert result["target"].startswith(str(cluster.base / "n3"))
        assert cluster.partitions()[number].node == result["target"]
        # The old database is kept, closed, with what was copied: the same rows, table by table.
        source_node = cluster.nodes[number % 2]
        sql(source_node, f"ALTER DATABASE {result['kept_as']} ALLOW_CONNECTIONS true")
        kept_dsn = source_node.replace("dbname=postgres", f"dbname={result['kept_as']}")
        assert pgqrs_shard._rows(kept_dsn, "pgqrs") == result["rows"]
        assert result["rows"]["pgqrs_messages"] + result["rows"]["pgqrs_delayed"] > 0

        # The lease taken before the move is acknowledged after it, once.
        with Admin(Config(dsn=cluster.proxy, max_connections=2)) as admin:
            assert Consumer(admin.pool, queue, admin.config, worker_id=holder).archive(held.id)
        wait_for(lambda: producer_log(log)[2], 120, "the producer finished")
        ok, failed, _ = producer_log(log)
        committed |= set(ok.values())
        wait_for(lambda: archived_count(cluster.proxy, queue) >= len(committed), 120, "every message archived",
                 interval=0.5)
        assert [w.terminate() for w in workers] == [0] * 4
        assert producer.popen.wait(10) == 0
        check_producer_messages(cluster.proxy, queue, ok, failed)
        committed.discard(held.id)  # archived by the holder, not by a worker
        counts = check_exactly_once(cluster.proxy, queue, committed, lab.runs, may_redeliver=True)
        assert archive_of(cluster.proxy, queue)[held.id][:2] == (1, holder)  # delivered once, acked by its holder
        assert counts["lost"] == 0
        verify = pgqrs_cli(cluster.proxy, "shard", "verify")
        assert verify.returncode == 0, verify.stdout
