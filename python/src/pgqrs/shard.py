"""pgqrs over several PostgreSQL servers, with PL/Proxy: `pgqrs shard install|verify|status|move`.

A partition is a database with pgqrs installed (``<schema>_p0`` ... on the nodes, round-robin). The
proxy database holds the ``plproxy`` extension, the cluster (a foreign server of PL/Proxy's wrapper
whose options ``p0``, ``p1``, ... are the partitions' connection strings, without credentials; those
are in the user mapping) and a schema of the same name as the nodes' with the node API: every
function under the same name, argument names and defaults, generated from a partition's own catalog,
so that a function added to pgqrs comes through by running `shard install` again. How each function
is routed is declared once, in :data:`ROUTES`.

Ids are unique over the cluster: partition N's sequences start at (N << 40) + 1 (a message's rank,
``id - priority * 2^47``, needs ids below 2^47: room for 128 partitions), and a worker id names its
partition (:func:`partition_of`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .admin import Admin
from .config import Config, validate_schema
from .errors import InvalidArgument, NotInstalled, wrap_errors

__all__ = [
    "ROUTES",
    "PARTITION_BITS",
    "MoveResult",
    "Partition",
    "PartitionStatus",
    "install",
    "move",
    "partition_of",
    "status",
    "verify",
]

logger = logging.getLogger("pgqrs.shard")

Route = Literal["queue", "worker", "all", "queue_or_all", "any"]

#: How the proxy routes each public function of a node (a node function without a rule stops
#: `shard install`, and a test):
#:   queue         the partition of hashtext(queue_name): everything about one queue lives there
#:   worker        the partition that owns the worker id (its top bits, see partition_of())
#:   all           every partition; sets are joined, counts summed, booleans OR-ed
#:   queue_or_all  queue's partition when queue_name is given, else every partition
#:   any           any partition (the same answer everywhere: version, limits)
ROUTES: dict[str, Route] = {
    **dict.fromkeys(
        ["create_queue", "alter_queue", "drop_queue", "purge_queue", "set_queue_notify", "pause_queue",
         "resume_queue", "notify_channel", "enqueue", "enqueue_batch", "dequeue", "delete", "delete_batch",
         "archive", "archive_batch", "extend_visibility", "release", "complete", "cancel", "message_status",
         "wait_for", "metrics", "queue_messages", "queue_message", "archived_messages", "archived_message",
         "dead_letters", "replay_dead_letters", "purge_dead_letters", "purge_archive", "register_worker",
         "create_schedule", "bind_topic", "unbind_topic"],
        "queue"),
    "heartbeat": "worker",
    "stop_worker": "worker",
    "reap_workers": "queue_or_all",
    **dict.fromkeys(["metrics_all", "messages_enqueued", "purge_workers", "run_schedules", "drop_schedule",
                     "publish"], "all"),
    **dict.fromkeys(["version", "max_batch_size", "max_wait_seconds"], "any"),
}

#: Partition N's ids start at N << PARTITION_BITS.
PARTITION_BITS = 40
MAX_PARTITIONS = 128  # ids stay below 2^47
DEFAULT_PARTITIONS = 8
_MARKER = "pgqrs proxy schema of cluster "  # the proxy schema's comment, then the cluster's name
_SAFE = "SET search_path = pg_catalog, pg_temp"
# The id sequences (pgqrs_messages_id_seq, ...), not the queues' scan positions (pgqrs_position_<id>),
# which hold ranks.
_ID_SEQUENCE = r"s.sequencename::pg_catalog.text OPERATOR(pg_catalog.~) '_id_seq$'"


def partition_of(worker_id: int) -> int:
    """The partition that owns an id (a worker's, a message's, a queue's)."""
    return worker_id >> PARTITION_BITS


@dataclasses.dataclass(frozen=True)
class Partition:
    """One partition: its number and where it lives (a connection string without credentials)."""

    number: int
    conninfo: str

    @property
    def node(self) -> str:
        """host:port of the server holding it."""
        parts = conninfo_to_dict(self.conninfo)
        return f"{parts.get('host', 'localhost')}:{parts.get('port', '5432')}"

    @property
    def database(self) -> str:
        return str(conninfo_to_dict(self.conninfo)["dbname"])


@dataclasses.dataclass(frozen=True)
class PartitionStatus:
    """What `pgqrs shard status` shows for a partition."""

    partition: int
    node: str
    database: str
    queues: list[str]
    error: str | None = None  # why the partition did not answer (its queues are then unknown: [])


def cluster_name(schema: str) -> str:
    """The PL/Proxy cluster (foreign server) of a proxy schema."""
    return f"{schema}_cluster"


def _credentials(dsn: str) -> dict[str, str]:
    parts = conninfo_to_dict(dsn)
    return {key: str(parts[key]) for key in ("user", "password") if parts.get(key)}


def _located(node_dsn: str, dbname: str) -> str:
    """The node's connection string for another database, without user and password."""
    parts = {k: v for k, v in conninfo_to_dict(node_dsn).items() if k not in ("user", "password", "dbname")}
    return make_conninfo("", **parts, dbname=dbname)


def _with(conninfo: str, credentials: dict[str, str]) -> str:
    return make_conninfo(conninfo, **credentials)


# -- the cluster as the proxy database records it ---------------------------------------


def _cluster(conn: psycopg.Connection[Any], schema: str) -> tuple[list[Partition], dict[str, str]] | None:
    """The partitions and the user mapping's credentials of the proxy's cluster; None before install."""
    row = conn.execute(
        "SELECT s.srvoptions, m.umoptions FROM pg_catalog.pg_foreign_server s"
        " LEFT JOIN pg_catalog.pg_user_mappings m ON m.srvid OPERATOR(pg_catalog.=) s.oid"
        "  AND m.usename OPERATOR(pg_catalog.=) CURRENT_USER"
        " WHERE s.srvname OPERATOR(pg_catalog.=) %s",
        [cluster_name(schema)],
    ).fetchone()
    if row is None:
        return None
    options = dict(option.split("=", 1) for option in row[0] or [])
    partitions = sorted(
        (Partition(int(key[1:]), value) for key, value in options.items() if re.fullmatch(r"p\d+", key)),
        key=lambda p: p.number,
    )
    return partitions, dict(option.split("=", 1) for option in row[1] or [])


def _require_cluster(conn: psycopg.Connection[Any], schema: str) -> tuple[list[Partition], dict[str, str]]:
    cluster = _cluster(conn, schema)
    if cluster is None:
        raise NotInstalled(
            f"no pgqrs cluster {cluster_name(schema)} in this database",
            hint="Run `pgqrs shard install --node DSN --node DSN ...` against the proxy database first.",
        )
    return cluster


# -- install ---------------------------------------------------------------------------


def _plan(nodes: Sequence[str], count: int, schema: str) -> list[Partition]:
    if not nodes:
        raise InvalidArgument("a new cluster needs its nodes: --node DSN, once per server")
    if count < len(nodes) or count > MAX_PARTITIONS or count & (count - 1):
        raise InvalidArgument(
            f"partitions must be a power of two from the number of nodes ({len(nodes)}) to {MAX_PARTITIONS},"
            f" got {count}")
    credentials = {_located(node, "x"): _credentials(node) for node in nodes}
    if len({tuple(sorted(c.items())) for c in credentials.values()}) > 1:
        raise InvalidArgument(
            "every --node must log in with the same user and password (the proxy's user mapping holds one)")
    if len(credentials) < len(nodes):
        raise InvalidArgument("the same node is given twice")
    return [Partition(n, _located(nodes[n % len(nodes)], f"{schema}_p{n}")) for n in range(count)]


def _create_database(node_dsn: str, dbname: str) -> None:
    with psycopg.connect(node_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) %s",
                              [dbname]).fetchone()
        if exists is None:
            logger.info("creating database %s", dbname)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def _install_partition(partition: Partition, credentials: dict[str, str], node_dsn: str | None,
                       schema: str) -> None:
    """pgqrs in the partition's database (made when missing), its sequences in the partition's range."""
    dsn = _with(partition.conninfo, credentials)
    if node_dsn is not None:
        _create_database(node_dsn, partition.database)
    # The partitions of one server share its group roles.
    with Admin(Config(dsn=dsn, schema=schema, max_connections=1)) as admin:
        admin.install(reuse_roles=True)
    start = partition.number << PARTITION_BITS
    with psycopg.connect(dsn, autocommit=True) as conn:
        # Moved once, when below the range (a partition that has ids keeps them), to its first id:
        # (N << 40) + 1, as partition 0 starts at 1, so that the low bits count (messages_enqueued()).
        conn.execute(
            "SELECT pg_catalog.setval(pg_catalog.format('%%I.%%I', s.schemaname, s.sequencename)::pg_catalog.regclass,"
            " %s, false) FROM pg_catalog.pg_sequences s WHERE s.schemaname OPERATOR(pg_catalog.=) %s"
            f" AND {_ID_SEQUENCE} AND coalesce(s.last_value, 0) OPERATOR(pg_catalog.<) %s",
            [start + 1, schema, start])


@dataclasses.dataclass(frozen=True)
class _Function:
    name: str
    arguments: str  # pg_get_function_arguments(): names, types and defaults
    identity: str  # pg_get_function_identity_arguments(): names and types
    result: str
    returns_set: bool
    roles: list[str]  # granted EXECUTE


@dataclasses.dataclass(frozen=True)
class _Relation:
    name: str
    columns: list[tuple[str, str]]  # name, format_type()
    roles: list[str]  # granted SELECT (a table or a view; empty for a composite type)


@dataclasses.dataclass(frozen=True)
class _Catalog:
    """What a pgqrs schema declares (a partition's: the proxy schema is made of it)."""

    functions: list[_Function]
    relations: list[_Relation]  # tables and views
    types: list[_Relation]  # composite types of their own (message_state)

    def roles(self) -> list[str]:
        return sorted({r for f in self.functions for r in f.roles} | {r for rel in self.relations for r in rel.roles})


def _granted(acl: str, owner: str, privilege: str) -> str:
    """SQL: the names of the roles but the owner that hold privilege in acl, as a text[]."""
    return (f"coalesce((SELECT pg_catalog.array_agg(DISTINCT r.rolname::text) FROM pg_catalog.aclexplode({acl}) a"
            " JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee"
            f" WHERE a.grantee OPERATOR(pg_catalog.<>) {owner}"
            f" AND a.privilege_type OPERATOR(pg_catalog.=) '{privilege}'), '{{}}')")


_COLUMNS = ("SELECT pg_catalog.array_agg(ARRAY[a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod)]"
            " ORDER BY a.attnum) FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid"
            " AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped")
_IN_SCHEMA = "OPERATOR(pg_catalog.=) pg_catalog.to_regnamespace(%s)"


def _read_catalog(dsn: str, schema: str) -> _Catalog:
    nsp = [sql.Identifier(schema).as_string(None)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        functions = conn.execute(
            "SELECT p.proname::text, pg_catalog.pg_get_function_arguments(p.oid),"
            " pg_catalog.pg_get_function_identity_arguments(p.oid), pg_catalog.pg_get_function_result(p.oid),"
            f" p.proretset, {_granted('p.proacl', 'p.proowner', 'EXECUTE')} FROM pg_catalog.pg_proc p"
            f" WHERE p.pronamespace {_IN_SCHEMA} AND p.proname !~ '^_' ORDER BY p.proname", nsp).fetchall()
        relations = conn.execute(
            f"SELECT c.relname::text, ({_COLUMNS}), {_granted('c.relacl', 'c.relowner', 'SELECT')},"
            f" c.relkind OPERATOR(pg_catalog.=) 'c' FROM pg_catalog.pg_class c WHERE c.relnamespace {_IN_SCHEMA}"
            " AND c.relkind IN ('r', 'p', 'v', 'c') ORDER BY c.relname", nsp).fetchall()
    every = [(_Relation(name, [(c[0], c[1]) for c in columns], list(roles)), is_type)
             for name, columns, roles, is_type in relations]
    return _Catalog([_Function(n, a, i, r, s, list(g)) for n, a, i, r, s, g in functions],
                    [rel for rel, is_type in every if not is_type], [rel for rel, is_type in every if is_type])


def unrouted(functions: Sequence[str]) -> list[str]:
    """The node functions that ROUTES has no rule for."""
    return sorted(set(functions) - set(ROUTES))


def _proxy_body(cluster: str, run_on: str, target: str | None = None, select: str | None = None) -> sql.Literal:
    lines = [f"CLUSTER '{cluster}';", f"RUN ON {run_on};"]
    if target is not None:
        lines.append(f"TARGET {target};")
    if select is not None:
        lines.append(f"{select};")
    return sql.Literal("\n".join(lines) + "\n")


def _column_list(columns: Sequence[tuple[str, str]]) -> sql.Composed:
    # The types are the node catalog's format_type(): SQL text of the server's own.
    return sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in columns)


def _proxy_ddl(catalog: _Catalog, schema: str, count: int) -> Iterator[sql.Composed]:
    """The statements that make the proxy schema (in an empty schema), grants included."""
    s, cluster, safe = sql.Identifier(schema), cluster_name(schema), sql.SQL(_SAFE)
    missing = unrouted([f.name for f in catalog.functions])
    if missing:
        raise InvalidArgument(f"no routing rule for node function(s) {', '.join(missing)}",
                              hint="This package is older than the nodes' pgqrs: upgrade it.")

    def grant(what: str, obj: sql.Composable, roles: list[str]) -> Iterator[sql.Composed]:
        for role in roles:
            yield sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(what), obj, sql.Identifier(role))

    # PL/Proxy reads no quoted names in its statements: install() allows plain lower-case schema names only.
    yield sql.SQL("CREATE FUNCTION {}._partition_of(worker_id bigint) RETURNS integer LANGUAGE sql IMMUTABLE {}"
                  " AS {}").format(s, safe, sql.Literal(
                      f"SELECT (worker_id OPERATOR(pg_catalog.>>) {PARTITION_BITS})::integer"))
    yield sql.SQL("CREATE FUNCTION {}._queue_partitions(queue_name text) RETURNS SETOF integer LANGUAGE sql"
                  " IMMUTABLE {} AS {}").format(s, safe, sql.Literal(
                      "SELECT pg_catalog.hashtext(queue_name) WHERE queue_name IS NOT NULL UNION ALL "
                      f"SELECT pg_catalog.generate_series(0, {count - 1}) WHERE queue_name IS NULL"))
    for composite in catalog.types:
        yield sql.SQL("CREATE TYPE {}.{} AS ({})").format(
            s, sql.Identifier(composite.name), _column_list(composite.columns))
    # Tables and views: a view of every partition's rows (read-only), of the same row type.
    for rel in catalog.relations:
        rows = sql.SQL("{}.{}").format(s, sql.Identifier(f"_rows_{rel.name}"))
        select = "SELECT " + ", ".join(f"r.{sql.Identifier(c).as_string(None)}" for c, _ in rel.columns) + \
            f" FROM {schema}.{rel.name} r"
        yield sql.SQL("CREATE FUNCTION {}() RETURNS TABLE ({}) LANGUAGE plproxy SECURITY DEFINER {} AS {}").format(
            rows, _column_list(rel.columns), safe, _proxy_body(cluster, "ALL", select=select))
        view = sql.SQL("{}.{}").format(s, sql.Identifier(rel.name))
        yield sql.SQL("CREATE VIEW {} AS SELECT * FROM {}()").format(view, rows)
        yield from grant("SELECT", view, rel.roles)
        # A view's functions run with its reader's rights: the reader of the view may run them.
        yield from grant("EXECUTE", sql.SQL("FUNCTION {}()").format(rows), rel.roles)
    for f in catalog.functions:
        route = ROUTES[f.name]
        run_on = {"queue": "pg_catalog.hashtext(queue_name)", "worker": f"{schema}._partition_of(worker_id)",
                  "any": "ANY", "all": "ALL", "queue_or_all": f"{schema}._queue_partitions(queue_name)"}[route]
        fn = sql.SQL("{}.{}").format(s, sql.Identifier(f.name))
        head = sql.SQL("CREATE FUNCTION {}({}) RETURNS {}").format(fn, sql.SQL(f.arguments), sql.SQL(f.result))
        if f.returns_set or route in ("queue", "worker", "any"):
            yield sql.SQL("{} LANGUAGE plproxy SECURITY DEFINER {} AS {}").format(
                head, safe, _proxy_body(cluster, run_on))
        else:
            # PL/Proxy runs on several partitions only a set-returning function: one answer per
            # partition from _each_<name>, combined by the function of the node's name.
            each = f"{schema}._each_{f.name}"
            yield sql.SQL("CREATE FUNCTION {}.{}({}) RETURNS SETOF {} LANGUAGE plproxy SECURITY DEFINER {}"
                          " AS {}").format(s, sql.Identifier(f"_each_{f.name}"), sql.SQL(f.identity),
                                           sql.SQL(f.result), safe,
                                           _proxy_body(cluster, run_on, target=f"{schema}.{f.name}"))
            combine = "pg_catalog.bool_or(r)" if f.result == "boolean" else f"pg_catalog.sum(r)::{f.result}"
            placeholders = ", ".join(f"${n + 1}" for n in range(len(f.identity.split(","))) if f.identity)
            yield sql.SQL("{} LANGUAGE sql SECURITY DEFINER {} AS {}").format(
                head, safe, sql.Literal(f"SELECT {combine} FROM {each}({placeholders}) AS r"))
        yield from grant("EXECUTE", sql.SQL("FUNCTION {}({})").format(fn, sql.SQL(f.identity)), f.roles)
    # As on the nodes: no function for PUBLIC, only those granted above.
    yield sql.SQL("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {} FROM PUBLIC").format(s)


@wrap_errors
def install(proxy_dsn: str, schema: str = "pgqrs", nodes: Sequence[str] = (),
            partitions: int = DEFAULT_PARTITIONS) -> list[Partition]:
    """Install (or bring up to date) a cluster: pgqrs in every partition, the proxy schema in the
    proxy database. Idempotent: an existing cluster keeps its partitions where they are (nodes,
    when given again, must be those it has); its proxy schema is made again from the nodes' catalog.

    Returns the partitions. Raises InvalidArgument (no nodes for a new cluster, a partition count
    that is not a power of two, nodes with different credentials, other nodes than the cluster's,
    a schema in the proxy database that is not a proxy's) and what Admin.install() raises on a node.
    """
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", validate_schema(schema)):
        raise InvalidArgument(f"a sharded schema's name is lower-case letters, digits and _, got {schema!r}")
    with psycopg.connect(proxy_dsn, autocommit=True) as conn:
        existing = _cluster(conn, schema)
        _refuse_foreign_schema(conn, schema)
    if existing is None:
        plan = _plan(nodes, partitions, schema)
        credentials = _credentials(nodes[0])
        node_of = {p.number: nodes[p.number % len(nodes)] for p in plan}
    else:
        plan, credentials = existing
        given = {_located(node, "x") for node in nodes}
        if nodes and given != {_located(p.conninfo, "x") for p in plan}:
            raise InvalidArgument(
                f"cluster {cluster_name(schema)} exists with other nodes; move partitions with `pgqrs shard move`")
        node_of = {}
    for partition in plan:
        node_dsn = node_of.get(partition.number)
        _install_partition(partition, credentials, node_dsn, schema)
    catalog = _read_catalog(_with(plan[0].conninfo, credentials), schema)
    with psycopg.connect(proxy_dsn, autocommit=False) as conn:
        _install_proxy(conn, schema, plan, credentials, catalog, new=existing is None)
        conn.commit()
    return plan


def _refuse_foreign_schema(conn: psycopg.Connection[Any], schema: str) -> None:
    row = conn.execute("SELECT pg_catalog.obj_description(n.oid, 'pg_namespace') FROM pg_catalog.pg_namespace n"
                       " WHERE n.nspname OPERATOR(pg_catalog.=) %s", [schema]).fetchone()
    if row is not None and not (row[0] or "").startswith(_MARKER):
        raise InvalidArgument(
            f'schema "{schema}" of the proxy database is not a pgqrs proxy schema (pgqrs itself, or something else)',
            hint="Give the proxy a database of its own, without pgqrs installed.")


def _server_options(plan: Sequence[Partition], verb: str) -> sql.Composed:
    return sql.SQL(", ").join(
        sql.SQL("{} {} {}").format(sql.SQL(verb), sql.Identifier(f"p{p.number}"), sql.Literal(p.conninfo))
        for p in plan)


def _install_proxy(conn: psycopg.Connection[Any], schema: str, plan: Sequence[Partition],
                   credentials: dict[str, str], catalog: _Catalog, new: bool) -> None:
    s, server = sql.Identifier(schema), sql.Identifier(cluster_name(schema))
    conn.execute("SELECT pg_catalog.pg_advisory_xact_lock(1886482802, pg_catalog.hashtext('shard install'))")
    conn.execute("CREATE EXTENSION IF NOT EXISTS plproxy")
    if new:
        conn.execute(sql.SQL("CREATE SERVER {} FOREIGN DATA WRAPPER plproxy OPTIONS ({})").format(
            server, _server_options(plan, "")))
    mapping = sql.SQL("OPTIONS ({})").format(sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(k), sql.Literal(v)) for k, v in credentials.items())) \
        if credentials else sql.SQL("")
    conn.execute(sql.SQL("CREATE USER MAPPING IF NOT EXISTS FOR CURRENT_USER SERVER {} {}").format(server, mapping))
    for role in catalog.roles():
        known = conn.execute("SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) %s", [role])
        if known.fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    # The schema holds nothing but what is generated here: made again, in this one transaction.
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(s))
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
    conn.execute(sql.SQL("COMMENT ON SCHEMA {} IS {}").format(s, sql.Literal(_MARKER + cluster_name(schema))))
    for statement in _proxy_ddl(catalog, schema, len(plan)):
        conn.execute(statement)
    for role in catalog.roles():
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, sql.Identifier(role)))


# -- verify and status -------------------------------------------------------------------


@wrap_errors
def verify(proxy_dsn: str, schema: str = "pgqrs") -> list[str]:
    """Check the proxy and every partition: the problems found (none when all is well).

    Each partition must pass `pgqrs verify`, keep its ids in its own range, hold only queues the
    proxy routes to it, and have every function on the proxy with its own arguments and result;
    the proxy must reach every partition.
    """
    problems: list[str] = []
    with psycopg.connect(proxy_dsn, autocommit=True) as conn:
        partitions, credentials = _require_cluster(conn, schema)
        try:  # a view over every partition: fails when one of them does not answer
            conn.execute(sql.SQL("SELECT pg_catalog.count(*) FROM {}.pgqrs_queues").format(sql.Identifier(schema)))
        except psycopg.Error as exc:
            problems.append(f"the proxy does not reach every partition: {exc}")
    proxy = {(f.name, f.arguments, f.result) for f in _read_catalog(proxy_dsn, schema).functions}
    for partition in partitions:
        where = f"partition {partition.number} ({partition.node}/{partition.database})"
        dsn = _with(partition.conninfo, credentials)
        try:
            with Admin(Config(dsn=dsn, schema=schema, max_connections=1)) as admin:
                problems += [f"{where}: {problem}" for problem in admin.verify().problems]
            catalog = _read_catalog(dsn, schema)
            with psycopg.connect(dsn, autocommit=True) as node:
                low, high = partition.number << PARTITION_BITS, (partition.number + 1) << PARTITION_BITS
                for name, value in node.execute(
                        "SELECT s.sequencename::text, s.last_value FROM pg_catalog.pg_sequences s"
                        f" WHERE s.schemaname OPERATOR(pg_catalog.=) %s AND {_ID_SEQUENCE}", [schema]).fetchall():
                    if not (low <= (value or max(low, 1)) < high):
                        problems.append(f"{where}: sequence {name} is at {value}, outside the partition's ids")
                queues = _queues(node, schema)
            with psycopg.connect(proxy_dsn, autocommit=True) as conn:
                # Where the proxy sends each queue's calls (its server's hashtext()): here.
                astray = [name for (name,) in conn.execute(
                    "SELECT q FROM pg_catalog.unnest(%s::text[]) q"
                    " WHERE pg_catalog.hashtext(q) OPERATOR(pg_catalog.&) %s OPERATOR(pg_catalog.<>) %s",
                    [queues, len(partitions) - 1, partition.number]).fetchall()]
            if astray:
                problems.append(f"{where}: holds {', '.join(astray)}, which the proxy routes elsewhere")
        except Exception as exc:  # a partition that does not answer is a problem to report, not a crash
            problems.append(f"{where}: {exc}")
            continue
        stale = sorted(f.name for f in catalog.functions if (f.name, f.arguments, f.result) not in proxy)
        if stale:
            problems.append(f"{where}: the proxy lacks {', '.join(stale)} as the partition has it:"
                            " run `pgqrs shard install` again")
    return problems


@wrap_errors
def status(proxy_dsn: str, schema: str = "pgqrs") -> list[PartitionStatus]:
    """Every partition, its node (host:port, never credentials), database and queues; a partition
    that does not answer has its error instead of its queues."""
    with psycopg.connect(proxy_dsn, autocommit=True) as conn:
        partitions, credentials = _require_cluster(conn, schema)
    result = []
    for partition in partitions:
        row = PartitionStatus(partition.number, partition.node, partition.database, [])
        try:
            with psycopg.connect(_with(partition.conninfo, credentials), autocommit=True, connect_timeout=10) as node:
                row = dataclasses.replace(row, queues=_queues(node, schema))
        except psycopg.Error as exc:
            row = dataclasses.replace(row, error=" ".join(str(exc).split()))
        result.append(row)
    return result


def _queues(node: psycopg.Connection[Any], schema: str) -> list[str]:
    return [r[0] for r in node.execute(sql.SQL("SELECT queue_name FROM {}.pgqrs_queues ORDER BY queue_name")
                                       .format(sql.Identifier(schema))).fetchall()]


@dataclasses.dataclass(frozen=True)
class MoveResult:
    """What `pgqrs shard move` did: where the partition went, what it copied, where the old copy is kept."""

    partition: int
    source: str
    target: str
    kept_as: str
    rows: dict[str, int]


# The tables whose rows a move must carry over, all of them (checked on both sides).
_COUNTED = ("pgqrs_queues", "pgqrs_workers", "pgqrs_messages", "pgqrs_delayed", "pgqrs_archive", "pgqrs_schedules",
            "pgqrs_topic_bindings")


def _rows(dsn: str, schema: str) -> dict[str, int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {table: conn.execute(sql.SQL("SELECT pg_catalog.count(*) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table))).fetchone()[0] for table in _COUNTED}  # type: ignore[index]


def _rename(conn: psycopg.Connection[Any], database: str, name: str) -> None:
    """ALTER DATABASE ... RENAME, ending the database's sessions first (it must have none)."""
    for _ in range(50):
        conn.execute("SELECT pg_catalog.pg_terminate_backend(a.pid) FROM pg_catalog.pg_stat_activity a"
                     " WHERE a.datname OPERATOR(pg_catalog.=) %s"
                     " AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()", [database])
        try:
            conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(database), sql.Identifier(name)))
            return
        except psycopg.errors.ObjectInUse:  # a session still ending
            time.sleep(0.1)
    raise InvalidArgument(f"database {database} keeps sessions open")


def _allow_connections(conn: psycopg.Connection[Any], database: str, allow: bool) -> None:
    conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
        sql.Identifier(database), sql.Literal(allow)))


def _copy(source: str, target: str, credentials: dict[str, str], pg_bin: str | None) -> None:
    """pg_dump | pg_restore, the password in the environment (never on a command line)."""
    env = {**os.environ, "PGOPTIONS": "-c pgqrs.reuse_roles=on"}
    if "password" in credentials:
        env["PGPASSWORD"] = credentials["password"]
    user = {"user": credentials["user"]} if "user" in credentials else {}
    tool = (lambda name: os.path.join(pg_bin, name)) if pg_bin else (lambda name: shutil.which(name) or name)
    dump = subprocess.Popen([tool("pg_dump"), "--format=custom", "--dbname", make_conninfo(source, **user)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    restore = subprocess.run([tool("pg_restore"), "--exit-on-error", "--dbname", make_conninfo(target, **user)],
                             stdin=dump.stdout, capture_output=True, env=env)
    assert dump.stdout is not None and dump.stderr is not None
    dump.stdout.close()
    dump_error = dump.stderr.read().decode(errors="replace")
    if dump.wait() != 0 or restore.returncode != 0:
        raise InvalidArgument(f"copying the partition failed: {dump_error or restore.stderr.decode(errors='replace')}"
                              .strip())


@wrap_errors
def move(proxy_dsn: str, partition: int, to_dsn: str, schema: str = "pgqrs", pg_bin: str | None = None) -> MoveResult:
    """Move a partition's database to another server while clients run.

    The old database is closed to new sessions, its sessions are ended and it is renamed
    (<database>_moved_<time>, kept, not dropped); it is copied with pg_dump | pg_restore into the target
    server, the copy is counted against it, table by table, and the proxy is pointed at the copy. Calls
    routed to the partition in between fail with ConnectionFailed and are retried by the client; a
    lease travels with its message, so its acknowledgement after the move works. On a failure before
    the proxy is repointed, the old database gets its name back and the copy is dropped.

    Returns a MoveResult. Raises InvalidArgument (no such partition, the partition on that server
    already, other credentials than the cluster's, a database of that name on the target).
    """
    with psycopg.connect(proxy_dsn, autocommit=True) as conn:
        partitions, credentials = _require_cluster(conn, schema)
    if not 0 <= partition < len(partitions):
        raise InvalidArgument(f"no partition {partition}: the cluster has 0 to {len(partitions) - 1}")
    source = partitions[partition]
    target = Partition(partition, _located(to_dsn, source.database))
    if _located(source.conninfo, "x") == _located(to_dsn, "x"):
        raise InvalidArgument(f"partition {partition} is on {source.node} already")
    if _credentials(to_dsn) != credentials:
        raise InvalidArgument("--to must log in with the cluster's user and password (its user mapping's)")
    _create_empty(to_dsn, source.database)
    kept_as = f"{source.database}_moved_{time.strftime('%Y%m%d%H%M%S')}"
    kept = Partition(partition, _located(source.conninfo, kept_as))
    source_admin = _with(_located(source.conninfo, "postgres"), credentials)
    try:
        with psycopg.connect(source_admin, autocommit=True) as conn:
            # No new sessions, the open ones ended, renamed: from here no call reaches it by its name.
            _allow_connections(conn, source.database, False)
            try:
                _rename(conn, source.database, kept_as)
            except BaseException:
                _allow_connections(conn, source.database, True)
                raise
            try:
                _allow_connections(conn, kept_as, True)  # for pg_dump
                _copy(kept.conninfo, target.conninfo, credentials, pg_bin)
                before = _rows(_with(kept.conninfo, credentials), schema)
                after = _rows(_with(target.conninfo, credentials), schema)
                if before != after:
                    raise InvalidArgument(f"the copy of partition {partition} differs: {before} before, {after} after")
                with psycopg.connect(proxy_dsn, autocommit=True) as proxy:
                    proxy.execute(sql.SQL("ALTER SERVER {} OPTIONS ({})").format(
                        sql.Identifier(cluster_name(schema)), _server_options([target], "SET")))
            except BaseException:  # not repointed: the old database serves again, under its name
                _rename(conn, kept_as, source.database)
                _allow_connections(conn, source.database, True)
                raise
    except BaseException:
        with psycopg.connect(to_dsn, autocommit=True) as node:
            node.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(source.database)))
        raise
    with psycopg.connect(source_admin, autocommit=True) as conn:  # kept, closed again
        _allow_connections(conn, kept_as, False)
    return MoveResult(partition, source.node, target.node, kept_as, after)


def _create_empty(node_dsn: str, dbname: str) -> None:
    with psycopg.connect(node_dsn, autocommit=True) as conn:
        if conn.execute("SELECT FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) %s",
                        [dbname]).fetchone() is not None:
            raise InvalidArgument(f"database {dbname} exists on the target already; nothing was moved")
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(dbname)))
