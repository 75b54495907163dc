"""What install, verify, uninstall and the API run, as whom, and what another role can make them run.

Real roles and real sessions: a non-superuser role that may CREATE in the install schema plants
operators and function overloads there; a superuser then installs, verifies, uses and uninstalls
pgqrs, and the planted code must never run. Also: the refusal of writable schemas, the group
roles an install makes, uninstall racing an enqueue, a database owner's install, the admin
group's deletes and reaping by queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
import time
import uuid

import psycopg
import pytest
from psycopg import sql
from pytest_postgresql.janitor import DatabaseJanitor

from pgqrs import (
    Admin,
    Config,
    Consumer,
    DatabaseError,
    InstallRefused,
    InvalidArgument,
    Producer,
    QueueNotEmpty,
    RoleConflict,
    Worker,
)
from pgqrs.install import MAX_ROLE_PREFIX_LENGTH, validate_role_prefix
from conftest import pgqrs_cli, unique
from conftest import sql as execute

GROUPS = ("producer", "consumer", "admin")


def wait_for(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Roles:
    """LOGIN roles made for a test, and group roles its installs made; all dropped at the end,
    with what they own or were granted in each database they were used in."""

    def __init__(self) -> None:
        self.made: list[tuple[str, str]] = []  # (dsn of a database, role)

    def login(self, dsn: str, *attributes: str) -> tuple[str, str]:
        """A new LOGIN role: (its name, dsn as that role)."""
        name, password = unique("r"), uuid.uuid4().hex
        execute(dsn, sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} {}").format(
            sql.Identifier(name), sql.Literal(password), sql.SQL(" ".join(attributes))))
        self.made.append((dsn, name))
        return name, f"{dsn} user={name} password={password}"

    def track_groups(self, dsn: str, prefix: str) -> None:
        self.made.extend((dsn, f"{prefix}_{group}") for group in GROUPS)

    def drop(self) -> None:
        for dsn, name in reversed(self.made):
            with contextlib.suppress(psycopg.OperationalError):  # its database may be gone already
                with psycopg.connect(dsn, autocommit=True) as conn:
                    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone():
                        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        for dsn, name in self.made:
            with contextlib.suppress(psycopg.OperationalError):
                execute(dsn, sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def roles():
    made = Roles()
    yield made
    made.drop()


@dataclasses.dataclass
class Writable:
    schema: str
    superuser: str  # dsn
    planter: str  # dsn of a role that is not a superuser


@pytest.fixture
def writable_schema(empty_dsn, roles):
    """A schema owned by the superuser in which PUBLIC may CREATE, as public was before PostgreSQL
    15, and a non-superuser role that plants objects in it; the planted code counts its calls in
    a sequence (which no rollback undoes), then raises."""
    schema = unique("shared")
    roles.track_groups(empty_dsn, schema)  # what a direct install into it names its group roles after
    execute(empty_dsn, sql.SQL("CREATE SCHEMA {s}; GRANT USAGE, CREATE ON SCHEMA {s} TO PUBLIC").format(
        s=sql.Identifier(schema)))
    _, planter = roles.login(empty_dsn)
    execute(planter, sql.SQL("CREATE SEQUENCE {s}.trap_calls; GRANT USAGE ON SEQUENCE {s}.trap_calls TO PUBLIC").format(
        s=sql.Identifier(schema)))
    yield Writable(schema, empty_dsn, planter)
    execute(empty_dsn, sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def trap_body(schema: str) -> str:
    return (f"BEGIN PERFORM pg_catalog.nextval('{schema}.trap_calls'); "
            "RAISE EXCEPTION 'planted code ran as %', current_user; END")


def plant_function(planter: str, schema: str, signature: str, returns: str) -> None:
    """As the planter: schema.signature, a function that records the call and raises."""
    execute(planter, f"CREATE FUNCTION {schema}.{signature} RETURNS {returns} LANGUAGE plpgsql "
                     f"AS $$ {trap_body(schema)} $$")


def trap_calls(dsn: str, schema: str) -> int:
    last_value, is_called = execute(dsn, f"SELECT last_value, is_called FROM {schema}.trap_calls")[0]
    return last_value if is_called else 0


# Operators that beat pg_catalog's for the arguments a catalogue query or a statement passes:
# 'text' || name resolves to ||(name, name), a schema found before pg_catalog wins the rest.
PLANTED_OPERATORS = [
    ("||", "text", "name", "text"), ("||", "name", "name", "text"), ("||", "text", "text", "text"),
    ("=", "text", "text", "boolean"), ("=", "name", "name", "boolean"), ("=", "bigint", "bigint", "boolean"),
    ("=", "oid", "oid", "boolean"), ("+", "bigint", "bigint", "bigint"), ("<>", "oid", "oid", "boolean"),
]


def plant_operators(planter: str, schema: str) -> None:
    for n, (op, left, right, returns) in enumerate(PLANTED_OPERATORS):
        plant_function(planter, schema, f"trap_{n}(l {left}, r {right})", returns)
        execute(planter, f"CREATE OPERATOR {schema}.{op} (LEFTARG = {left}, RIGHTARG = {right}, "
                         f"FUNCTION = {schema}.trap_{n})")


def use_every_call(admin: Admin, config: Config) -> int:
    """Every kind of statement the API sends; returns the id of a message left in the queue."""
    admin.create_queue("q", max_attempts=3)
    wid = admin.register_worker("q", "host", 1)
    admin.heartbeat(wid)
    producer = Producer(admin.pool, "q", config)
    first = producer.enqueue({"n": 1})
    ids = producer.batch_enqueue([{"n": 2}, {"n": 3}, {"n": 4}])
    consumer = Consumer(admin.pool, "q", config, worker_id=wid)
    leased = consumer.dequeue_batch(3)
    assert [m.id for m in leased] == [first, *ids[:2]]
    assert consumer.extend_visibility(first, 60) is not None
    assert consumer.archive(first) and consumer.delete(ids[0]) and consumer.release(ids[1])
    assert admin.get_queue("q").max_attempts == 3 and [q.queue_name for q in admin.list_queues()] == ["q"]
    assert admin.count_messages("q") == 2 and admin.count_archive("q") == 1
    assert admin.get_message("q", ids[2]).payload == {"n": 4} and admin.get_archived("q", first).id == first
    assert [m.id for m in admin.list_messages("q")] == ids[1:] and [a.id for a in admin.list_archive("q")] == [first]
    assert admin.metrics("q").ready == 2 and [m.queue_name for m in admin.metrics_all()] == ["q"]
    assert [w.worker_id for w in admin.list_workers("q")] == [wid] and admin.get_worker(wid).status == "active"
    assert admin.queues.count() == 1 and admin.workers.count_by_fk(admin.get_queue("q").id) == 1
    assert admin.workers.get(wid).id == wid and [a.id for a in admin.archive.list()] == [first]
    assert admin.purge_archive("q", older_than_seconds=3600) == 0
    assert admin.stop_worker(wid) == 0
    return ids[2]


@pytest.mark.parametrize("search_path", ["{schema}", "{schema},pg_catalog"])
def test_planted_operators_never_run(writable_schema, search_path):
    """With the writable install schema on the caller's search_path (pg_catalog implicitly first, or
    after it), a superuser's install, verify, API calls, re-install and uninstall use pg_catalog's
    operators only; so do `pgqrs install` and `pgqrs verify`."""
    schema = writable_schema.schema
    plant_operators(writable_schema.planter, schema)
    superuser = f"{writable_schema.superuser} options='-csearch_path={search_path.format(schema=schema)}'"
    config = Config(dsn=superuser, schema=schema, max_connections=2)
    with Admin(config) as admin:
        assert admin.install(method="direct", allow_writable_schema=True).changed
        report = admin.verify()
        assert report.ok, report.problems
        left = use_every_call(admin, config)
        assert not admin.install(allow_writable_schema=True).changed
        with pytest.raises(QueueNotEmpty):
            admin.uninstall()
        assert admin.get_message("q", left) is not None
        admin.uninstall(force=True)
    for args in (["install", "--allow-writable-schema"], ["verify"], ["uninstall"]):
        result = pgqrs_cli(superuser, "--schema", schema, *args)
        assert result.returncode == 0, result.stderr
    assert trap_calls(superuser, schema) == 0


# Overloads with smallint where the real functions take integer or bigint: psycopg sends small
# Python ints as smallint, so a statement without casts would call these.
PLANTED_OVERLOADS = [
    ("create_queue(queue_name text, max_attempts smallint, if_not_exists boolean, notify boolean)", "bigint"),
    ("enqueue(queue_name text, payload jsonb, delay_seconds smallint)", "bigint"),
    ("register_worker(queue_name text, hostname text, port smallint)", "bigint"),
    ("heartbeat(worker_id smallint)", "void"),
    ("stop_worker(worker_id smallint)", "bigint"),
    ("delete(queue_name text, msg_id smallint, worker_id smallint)", "boolean"),
    ("archive(queue_name text, msg_id smallint, worker_id smallint)", "boolean"),
    ("release(queue_name text, msg_id smallint, delay_seconds smallint, worker_id smallint)", "boolean"),
    ("extend_visibility(queue_name text, msg_id smallint, seconds smallint, worker_id smallint)", "timestamptz"),
    ("purge_archive(queue_name text, older_than_seconds smallint, include_dead_letters boolean)", "bigint"),
    ("purge_workers(older_than_seconds smallint)", "bigint"),
]


def test_planted_overloads_are_not_called(writable_schema):
    """A direct install into a schema others may CREATE in (asked for explicitly): the API's
    casts make every call reach pgqrs's own function, and verify names the strangers."""
    schema, planter = writable_schema.schema, writable_schema.planter
    config = Config(dsn=writable_schema.superuser, schema=schema, max_connections=2)
    with Admin(config) as admin:
        admin.install(allow_writable_schema=True)
        for signature, returns in PLANTED_OVERLOADS:
            plant_function(planter, schema, signature, returns)
        plant_function(planter, schema, "dequeue(queue_name text, qty smallint, vt_seconds smallint, "
                       "worker_id bigint, wait_seconds smallint)", f"SETOF {schema}.pgqrs_messages")
        left = use_every_call(admin, config)
        assert admin.purge_workers(0) == 1
        rows = execute(config.dsn, f"SELECT id FROM {schema}.pgqrs_messages")
        assert left in [row[0] for row in rows]
        assert trap_calls(config.dsn, schema) == 0
        problems = admin.verify().problems
        version = admin.version()
    assert f"function {schema}.enqueue(text, jsonb, smallint) is not part of pgqrs {version}" in problems


def test_direct_install_refuses_a_schema_others_may_create_in(writable_schema, roles):
    schema, superuser = writable_schema.schema, writable_schema.superuser
    with Admin(Config(dsn=superuser, schema=schema)) as admin:
        with pytest.raises(InstallRefused, match=f'schema "{schema}" lets PUBLIC create objects') as refused:
            admin.install()
        assert "allow_writable_schema=True" in refused.value.hint
        assert admin.verify().version is None  # nothing was installed

    refused_cli = pgqrs_cli(superuser, "--schema", schema, "install")
    assert refused_cli.returncode == 1 and refused_cli.stdout == ""
    assert f'schema "{schema}" lets PUBLIC create objects' in refused_cli.stderr
    assert "--allow-writable-schema" in refused_cli.stderr
    allowed = pgqrs_cli(superuser, "--schema", schema, "--format", "json", "install", "--allow-writable-schema")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["method"] == "direct"

    # One role other than the owner is enough.
    other = unique("narrow")
    roles.track_groups(superuser, other)
    grantee, _ = roles.login(superuser)
    execute(superuser, sql.SQL("CREATE SCHEMA {s}; GRANT CREATE ON SCHEMA {s} TO {r}").format(
        s=sql.Identifier(other), r=sql.Identifier(grantee)))
    with Admin(Config(dsn=superuser, schema=other)) as admin:
        with pytest.raises(InstallRefused, match=f"lets {grantee} create objects"):
            admin.install()
        execute(superuser, sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(
            sql.Identifier(other), sql.Identifier(grantee)))
        assert admin.install().method == "direct"
        admin.uninstall()


def test_the_search_path_is_pinned_for_the_install_transaction_only(empty_dsn, roles):
    schema = unique("pinned")
    roles.track_groups(empty_dsn, schema)
    with Admin(Config(dsn=f"{empty_dsn} options='-csearch_path=public'", schema=schema, max_connections=1)) as admin:
        admin.install()
        with admin.pool.connection() as conn:
            assert conn.execute("SHOW search_path").fetchone()[0] == "public"
        admin.uninstall()


def test_uninstall_waits_for_an_enqueue_in_flight_and_then_refuses(dsn):
    """The losing order: uninstall starts while an enqueue's transaction is open; the enqueue commits."""
    config = Config(dsn=dsn, max_connections=2)
    with Admin(config) as admin:
        admin.create_queue("q")
    producer = psycopg.connect(dsn)  # a transaction of its own, left open
    msg_id = producer.execute("SELECT pgqrs.enqueue('q', '{\"n\": 1}')").fetchone()[0]
    outcome: list[object] = []

    def uninstall() -> None:
        try:
            with Admin(config) as admin:
                admin.uninstall()
            outcome.append("uninstalled")
        except Exception as exc:  # noqa: BLE001 - the assertion below looks at it
            outcome.append(exc)

    thread = threading.Thread(target=uninstall)
    thread.start()
    blocked_by_producer = (
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND %s = ANY (pg_blocking_pids(pid)))"
    )
    try:
        wait_for(lambda: execute(dsn, blocked_by_producer, [producer.info.backend_pid])[0][0],
                 "uninstall to wait for the enqueue's locks")
        producer.commit()
    finally:
        thread.join(60)
        producer.close()
    assert len(outcome) == 1 and isinstance(outcome[0], QueueNotEmpty), outcome
    assert execute(dsn, "SELECT count(*) FROM pgqrs.pgqrs_messages WHERE id = %s", [msg_id]) == [(1,)]
    assert execute(dsn, "SELECT count(*) FROM pg_extension WHERE extname = 'pgqrs'") == [(1,)]


def test_a_database_owner_is_pointed_to_the_direct_install(postgresql_proc, roles):
    """CREATE EXTENSION pgqrs is a superuser's; the owner of a database learns that --schema takes the direct path."""
    dbname = unique("owned")
    with DatabaseJanitor(user=postgresql_proc.user, host=postgresql_proc.host, port=postgresql_proc.port,
                         dbname=dbname, password=postgresql_proc.password):
        superuser = f"host={postgresql_proc.host} port={postgresql_proc.port} user=postgres dbname={dbname}"
        owner, dsn = roles.login(superuser)
        roles.track_groups(superuser, "app")
        execute(superuser, sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(dbname), sql.Identifier(owner)))
        with Admin(Config(dsn=dsn)) as admin:
            with pytest.raises(InstallRefused, match="superuser") as refused:
                admin.install()
            assert "--schema" in refused.value.hint
        result = pgqrs_cli(dsn, "install")
        assert result.returncode == 1 and "CREATE EXTENSION" in result.stderr and "--schema" in result.stderr
        direct = pgqrs_cli(dsn, "--schema", "app", "--format", "json", "install")
        assert direct.returncode == 0, direct.stderr
        assert json.loads(direct.stdout)["method"] == "direct"
        assert pgqrs_cli(dsn, "--schema", "app", "verify").returncode == 0
        execute(superuser, "DROP SCHEMA app CASCADE")
        execute(superuser, sql.SQL("ALTER DATABASE {} OWNER TO postgres").format(sql.Identifier(dbname)))


def test_admin_group_deletes_workers_and_archived_messages(dsn, roles):
    """A login role in pgqrs_admin (0.3.0 grants the admin group DELETE on pgqrs_workers and pgqrs_archive)."""
    superuser = Config(dsn=dsn)
    with Admin(superuser) as admin:
        admin.create_queue("q")
        wid = admin.register_worker("q", "host", 1)
        done_wid = admin.register_worker("q", "host", 2)
        admin.stop_worker(done_wid)
        archived, held = Producer(admin.pool, "q", superuser).batch_enqueue([{"n": 1}, {"n": 2}])
        consumer = Consumer(admin.pool, "q", superuser, worker_id=wid)
        assert [m.id for m in consumer.dequeue_batch(2)] == [archived, held]
        assert consumer.archive(archived)
    _, member = roles.login(dsn, "IN ROLE pgqrs_admin")
    with Admin(Config(dsn=member)) as admin:
        assert admin.archive.delete(archived) is True
        assert admin.archive.get(archived) is None
        assert admin.workers.delete(wid) is True  # an active worker: stopped first, its message released
        assert admin.workers.delete(done_wid) is True
        assert admin.workers.list() == []
        assert admin.get_message("q", held).worker_id is None


# -- roles ---------------------------------------------------------------------


def test_role_prefix_is_checked_before_anything_runs(empty_dsn):
    assert validate_role_prefix("acme") == "acme"
    longest = "a" * MAX_ROLE_PREFIX_LENGTH
    assert validate_role_prefix(longest) == longest and len(f"{longest}_consumer") == 63
    for bad in ("", "a" * (MAX_ROLE_PREFIX_LENGTH + 1), "two words", "-x", 'quo"te', "\u00e9t\u00e9"):
        with pytest.raises(InvalidArgument, match="invalid role prefix"):
            validate_role_prefix(bad)
    with Admin(Config(dsn=empty_dsn, schema="tenant")) as admin:
        with pytest.raises(InvalidArgument, match="invalid role prefix"):
            admin.install(role_prefix="two words")
        assert admin.verify().version is None
    result = pgqrs_cli(empty_dsn, "--schema", "tenant", "install", "--role-prefix", "two words")
    assert result.returncode == 1 and "invalid role prefix" in result.stderr


def group_roles(dsn: str, prefix: str) -> dict[str, bool]:
    """{group role name: whether it may log in} of the prefix."""
    return dict(execute(dsn, "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY (%s)",
                        [[f"{prefix}_{g}" for g in GROUPS]]))


def test_role_prefix_names_the_group_roles_and_install_gives_back_grants(empty_dsn, roles):
    """<prefix>_producer, _consumer, _admin; an install at the current version re-applies what was
    revoked since (it runs _setup_roles())."""
    schema, prefix = unique("jobs"), unique("acme")
    roles.track_groups(empty_dsn, prefix)
    usage = "SELECT has_schema_privilege(%s, %s, 'USAGE')"
    with Admin(Config(dsn=empty_dsn, schema=schema)) as admin:
        admin.install(role_prefix=prefix)
        assert group_roles(empty_dsn, prefix) == {f"{prefix}_{g}": False for g in GROUPS}
        assert execute(empty_dsn, usage, [f"{prefix}_consumer", schema]) == [(True,)]
        execute(empty_dsn, sql.SQL("REVOKE USAGE ON SCHEMA {} FROM {}").format(
            sql.Identifier(schema), sql.Identifier(f"{prefix}_consumer")))
        assert not admin.install(role_prefix=prefix).changed
        assert execute(empty_dsn, usage, [f"{prefix}_consumer", schema]) == [(True,)]
        with admin.pool.connection() as conn:  # the setting was the install transaction's only
            assert conn.execute("SELECT current_setting('pgqrs.role_prefix', true)").fetchone()[0] in (None, "")


def test_default_prefix_is_the_schema_name(empty_dsn, roles):
    schema = unique("tenant")
    roles.track_groups(empty_dsn, schema)
    with Admin(Config(dsn=empty_dsn, schema=schema)) as admin:
        admin.install()
    assert set(group_roles(empty_dsn, schema)) == {f"{schema}_{g}" for g in GROUPS}


def test_roles_that_pgqrs_did_not_make_conflict_unless_reused(empty_dsn, roles):
    schema, prefix = unique("jobs"), unique("acme")
    roles.track_groups(empty_dsn, prefix)
    execute(empty_dsn, sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(f"{prefix}_consumer")))
    # The test server lets databases share roles (conftest.py); a server's default refuses.
    strict = f"{empty_dsn} options='-c pgqrs.reuse_roles=off'"
    with Admin(Config(dsn=strict, schema=schema)) as admin:
        with pytest.raises(RoleConflict):
            admin.install(role_prefix=prefix)
        assert admin.verify().version is None  # all or nothing
    refused = pgqrs_cli(strict, "--schema", schema, "install", "--role-prefix", prefix)
    assert refused.returncode == 1 and f"{prefix}_consumer" in refused.stderr
    reused = pgqrs_cli(strict, "--schema", schema, "install", "--role-prefix", prefix, "--reuse-roles")
    assert reused.returncode == 0, reused.stderr
    assert set(group_roles(empty_dsn, prefix)) == {f"{prefix}_{g}" for g in GROUPS}


def test_a_group_role_that_can_log_in_always_conflicts(empty_dsn, roles):
    schema, prefix = unique("jobs"), unique("acme")
    roles.track_groups(empty_dsn, prefix)
    execute(empty_dsn, sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(f"{prefix}_admin")))
    with Admin(Config(dsn=empty_dsn, schema=schema)) as admin:
        with pytest.raises(RoleConflict):
            admin.install(role_prefix=prefix, reuse_roles=True)


# -- reaping -------------------------------------------------------------------


def backdate_heartbeats(dsn: str, worker_ids: list[int]) -> None:
    """As the superuser: the workers went silent an hour ago."""
    execute(dsn, "UPDATE pgqrs.pgqrs_workers SET heartbeat_at = now() - interval '1 hour' WHERE id = ANY (%s)",
            [worker_ids])


def test_reap_workers_by_queue(dsn):
    with Admin(Config(dsn=dsn)) as admin:
        admin.create_queue("a")
        admin.create_queue("b")
        in_a, in_b = admin.register_worker("a", "h", 1), admin.register_worker("b", "h", 1)
        Producer(admin.pool, "a", admin.config).enqueue({"n": 1})
        Consumer(admin.pool, "a", admin.config, worker_id=in_a).dequeue()
        backdate_heartbeats(dsn, [in_a, in_b])
        with pytest.raises(InvalidArgument, match="stale_after_seconds must be at least 5, got 4"):
            admin.reap_workers(4, queue="a")
        assert admin.reap_workers(5, queue="a") == 1
        assert (admin.get_worker(in_a).status, admin.get_worker(in_b).status) == ("dead", "active")
        reaped = pgqrs_cli(dsn, "--format", "json", "worker", "reap", "--stale-after", "5")
        assert reaped.returncode == 0, reaped.stderr
        assert json.loads(reaped.stdout) == {"stale_after_seconds": 5, "queue": None, "released": 0}
        assert admin.get_worker(in_b).status == "dead"
    assert pgqrs_cli(dsn, "worker", "reap", "--stale-after", "4").returncode == 2  # a usage error, before any SQL


def test_only_the_admin_reaps_every_queue(dsn, roles):
    """A consumer's login role reaps one queue; every queue at once is the admin's."""
    execute(dsn, "SELECT pgqrs.create_queue('a')")
    _, consumer_dsn = roles.login(dsn, "IN ROLE pgqrs_consumer")
    with Admin(Config(dsn=consumer_dsn)) as admin:
        assert admin.reap_workers(60, queue="a") == 0
        with pytest.raises(DatabaseError, match="permission denied|admin"):
            admin.reap_workers(60)


def test_worker_settings_refuse_what_the_server_refuses(config):
    with pytest.raises(ValueError, match="stale_after_seconds must be at least 5, got 4"):
        Worker(config, "q", lambda message: None, heartbeat_interval_seconds=1, stale_after_seconds=4)
    assert Worker(config, "q", lambda message: None, heartbeat_interval_seconds=1, stale_after_seconds=5)


def test_a_worker_reaps_only_its_own_queue(dsn, config):
    with Admin(config) as admin:
        admin.create_queue("a")
        admin.create_queue("b")
        dead_a, dead_b = admin.register_worker("a", "h", 1), admin.register_worker("b", "h", 1)
        backdate_heartbeats(dsn, [dead_a, dead_b])
        worker = Worker(config, "a", lambda message: None, heartbeat_interval_seconds=1, stale_after_seconds=5,
                        listen=False)
        thread = threading.Thread(target=asyncio.run, args=(worker.run_async(),))
        thread.start()
        try:
            wait_for(lambda: admin.get_worker(dead_a).status == "dead", "the worker to reap its queue's dead worker")
        finally:
            worker.stop()
            thread.join(60)
        assert admin.get_worker(dead_b).status == "active"
