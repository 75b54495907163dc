"""Install, uninstall and verify pgqrs in a database.

Two ways in: CREATE EXTENSION when the server has the extension files (and the
schema is the control file's), or a direct install of the very same script
(the one the package build put into pgqrs/sql/) into any schema the role owns.
Written as procedures (generators of statements) so Admin and AsyncAdmin share them.

Each procedure first pins ``search_path = pg_catalog, pg_temp`` for its transaction,
and its own statements qualify operators and functions too: the install schema (or
any schema on the caller's path) may be one that other roles can CREATE in, and
nothing that pgqrs runs, with whatever rights its caller has, may pick up an
operator or function planted there.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from importlib import resources
from pathlib import Path
from typing import Literal, cast

from psycopg import sql

from .db import Procedure
from .errors import InstallRefused, InvalidArgument, NotInstalled, QueueNotEmpty, VersionMismatch
from .statements import Op, Statements
from .types import InstallResult, VerifyReport

logger = logging.getLogger(__name__)

__all__ = [
    "EXTENSION_SCHEMA",
    "script_version",
    "install_script",
    "direct_script",
    "upgrade_scripts",
    "install",
    "uninstall",
    "verify",
]

Method = Literal["auto", "extension", "direct"]

# The control file's `schema = pgqrs`: CREATE EXTENSION can only put pgqrs there.
EXTENSION_SCHEMA = "pgqrs"
_BEGIN = "-- pgqrs:extension-only:begin"
_END = "-- pgqrs:extension-only:end"


# Group roles are <prefix>_producer, <prefix>_consumer, <prefix>_admin: names of at most 63 bytes.
_ROLE_PREFIX = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_ROLE_SUFFIX = "_consumer"  # the longest of the three
MAX_ROLE_PREFIX_LENGTH = 63 - len(_ROLE_SUFFIX)

# Pinned for the transaction of each procedure; pg_temp last, so no temporary object stands in either.
_PIN_SEARCH_PATH = Op("SET LOCAL search_path = pg_catalog, pg_temp")

_SCRIPT_NAME = re.compile(r"pgqrs--(?P<version>[0-9.]+)\.sql")
_UPGRADE_NAME = re.compile(r"pgqrs--(?P<source>[0-9.]+)--(?P<target>[0-9.]+)\.sql")


@functools.cache
def _packaged_scripts() -> dict[str, str]:
    """Every script the package holds, by file name: the install script and the upgrade scripts."""
    files = [f for f in resources.files("pgqrs").joinpath("sql").iterdir() if f.name.endswith(".sql")]
    installs = [f for f in files if _SCRIPT_NAME.fullmatch(f.name)]
    if len(installs) != 1:
        raise NotInstalled("the pgqrs package holds no install script (pgqrs/sql/pgqrs--<version>.sql): rebuild it")
    _warn_if_stale(Path(str(installs[0])))
    return {f.name: f.read_text() for f in files}


def _packaged_script() -> tuple[str, str]:
    for name, text in _packaged_scripts().items():
        match = _SCRIPT_NAME.fullmatch(name)
        if match:
            return match["version"], text
    raise AssertionError("unreachable: _packaged_scripts() checks there is one")


def _warn_if_stale(script: Path) -> None:
    """In a source checkout (editable install), say so when the SQL changed since the build."""
    fragments = Path(__file__).resolve().parents[3] / "extension" / "sql"
    if not script.exists() or not (fragments / "fragments.txt").exists():
        return
    newest = max(f.stat().st_mtime for f in fragments.rglob("*.sql"))
    if newest > script.stat().st_mtime:
        logger.warning("%s is older than extension/sql/: reinstall the package to rebuild it", script)


def script_version() -> str:
    """The version of the SQL this package carries (default_version of pgqrs.control).
    Raises NotInstalled when the package holds no install script (a broken build)."""
    return _packaged_script()[0]


def install_script() -> str:
    """The extension's install script, as built from extension/sql/fragments.txt.
    Raises NotInstalled when the package holds none (a broken build)."""
    return _packaged_script()[1]


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def upgrade_scripts(source: str, target: str) -> list[tuple[str, str]]:
    """The upgrade scripts, in order, from version source to target: [(file name, text)].
    Raises VersionMismatch when the package has no path between the two."""
    steps = {}
    for name, text in _packaged_scripts().items():
        match = _UPGRADE_NAME.fullmatch(name)
        if match:
            steps[match["source"]] = (match["target"], name, text)
    path, version = [], source
    while version != target:
        if version not in steps or _version_key(steps[version][0]) > _version_key(target):
            raise VersionMismatch(
                f"this package has no upgrade path from pgqrs {source} to {target}",
                hint="Upgrade with a package version that ships every step in between.",
            )
        version, name, text = steps[version]
        path.append((name, text))
    return path


def _for_schema(script: str, schema: str) -> str:
    """A script made fit for a direct install: no psql guard, no extension-only part, the schema filled in."""
    lines, skipping = [], False
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith("\\echo"):
            continue
        if stripped == _BEGIN:
            skipping = True
        elif stripped == _END:
            skipping = False
        elif not skipping:
            lines.append(line)
    return "\n".join(lines).replace("@extschema@", sql.Identifier(schema).as_string(None)) + "\n"


def direct_script(schema: str) -> str:
    """The install script for a direct install into schema (the schema's name filled in)."""
    return _for_schema(install_script(), schema)


@functools.cache
def _objects() -> dict[str, list[str]]:
    """pgqrs's tables, views and function signatures, from the manifest the package build writes
    beside the install script."""
    text = resources.files("pgqrs").joinpath("sql").joinpath("manifest.json").read_text()
    objects: dict[str, list[str]] = json.loads(text)
    return objects


def _qualified(schema: str, name_and_args: str) -> str:
    quoted = sql.Identifier(schema).as_string(None)
    return f"{quoted}.{name_and_args.replace('@extschema@', quoted)}"


_EXTENSION_ROW = Op(
    "SELECT e.extversion, n.nspname FROM pg_catalog.pg_extension e "
    "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace "
    "WHERE e.extname OPERATOR(pg_catalog.=) 'pgqrs'",
    fetch="one",
)
_AVAILABLE = Op(
    "SELECT EXISTS (SELECT FROM pg_catalog.pg_available_extensions WHERE name OPERATOR(pg_catalog.=) 'pgqrs')",
    fetch="scalar",
)
# CREATE EXTENSION of an extension marked superuser (not trusted, or trusted without CREATE on
# the database) is refused to everyone else, database owners included.
_MAY_CREATE_EXTENSION = Op(
    "SELECT r.rolsuper OR NOT v.superuser OR (v.trusted AND pg_catalog.has_database_privilege("
    "pg_catalog.current_database(), 'CREATE')) "
    "FROM pg_catalog.pg_available_extensions e "
    "JOIN pg_catalog.pg_available_extension_versions v ON v.name OPERATOR(pg_catalog.=) e.name "
    "AND v.version OPERATOR(pg_catalog.=) e.default_version "
    "JOIN pg_catalog.pg_roles r ON r.rolname OPERATOR(pg_catalog.=) CURRENT_USER "
    "WHERE e.name OPERATOR(pg_catalog.=) 'pgqrs'",
    fetch="scalar",
)
# Roles other than the schema's owner (0: PUBLIC) that may CREATE objects in it.
_SCHEMA_CREATORS = """
SELECT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
            ELSE a.grantee::pg_catalog.regrole::pg_catalog.text END
FROM pg_catalog.pg_namespace n,
     pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
WHERE n.nspname OPERATOR(pg_catalog.=) %s::pg_catalog.text
  AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE' AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner
ORDER BY 1
"""


def _direct_version(schema: str) -> Procedure[str | None]:
    """(the installed version, or None when version() is not in the schema)."""
    exists = yield Op(
        "SELECT pg_catalog.to_regprocedure(%s::pg_catalog.text) IS NOT NULL",
        [_qualified(schema, "version()")],
        fetch="scalar",
    )
    if not exists:
        return None
    version: str = yield Op(sql.SQL("SELECT {}.version()").format(sql.Identifier(schema)), fetch="scalar")
    return version


def validate_role_prefix(prefix: str) -> str:
    """The prefix of an install's group roles, if valid: a queue name's characters, and short
    enough that <prefix>_consumer fits in PostgreSQL's 63 bytes. Raises InvalidArgument otherwise."""
    if not isinstance(prefix, str) or not _ROLE_PREFIX.fullmatch(prefix) or len(prefix) > MAX_ROLE_PREFIX_LENGTH:
        raise InvalidArgument(
            f"invalid role prefix {prefix!r}: use 1 to {MAX_ROLE_PREFIX_LENGTH} letters, digits or '_', '.', '-', "
            "not starting with '.' or '-'"
        )
    return prefix


def install(
    st: Statements,
    method: Method = "auto",
    *,
    role_prefix: str | None = None,
    reuse_roles: bool = False,
    allow_writable_schema: bool = False,
) -> Procedure[InstallResult]:
    """Procedure: install pgqrs, or upgrade an older install to this package's version
    (idempotent); returns an InstallResult.

    role_prefix names the group roles (<prefix>_producer, ...; default: the schema's name);
    reuse_roles lets the install take over existing roles of those names that it did not make.
    allow_writable_schema lets a direct install go into a schema where other roles may CREATE.
    Raises what Admin.install() raises."""
    if method not in ("auto", "extension", "direct"):
        raise InvalidArgument(f"install method must be auto, extension or direct, got {method!r}")
    if role_prefix is not None:
        validate_role_prefix(role_prefix)
    schema, target = st.schema, script_version()
    yield _PIN_SEARCH_PATH
    # One install or upgrade of a schema at a time (workers that all run `pgqrs install` as they
    # start): the others wait, then find it done. The key cannot meet a queue's advisory lock
    # (see _queue_lock_class() in the SQL), as queue names have no spaces.
    yield Op(
        "SELECT pg_catalog.pg_advisory_xact_lock(1886482802, "
        "pg_catalog.hashtext(pg_catalog.concat('install ', %s::pg_catalog.text)))",
        [schema],
    )
    # Read by the install and upgrade scripts and by _setup_roles(), in this transaction only.
    if role_prefix is not None:
        yield Op("SELECT pg_catalog.set_config('pgqrs.role_prefix', %s::pg_catalog.text, true)", [role_prefix])
    if reuse_roles:
        yield Op("SELECT pg_catalog.set_config('pgqrs.reuse_roles', 'on', true)")
    extension = yield _EXTENSION_ROW
    if extension is not None and extension[1] == schema:
        return (yield from _update_extension(schema, extension[0], target))
    existing = yield from _direct_version(schema)
    if existing is not None:
        if existing != target:
            yield from _refuse_writable_schema(schema, allow_writable_schema)
        return (yield from _upgrade_direct(schema, existing, target))

    if method == "auto":
        available = yield _AVAILABLE
        method = "extension" if available and schema == EXTENSION_SCHEMA and extension is None else "direct"
    if method == "extension":
        if schema != EXTENSION_SCHEMA:
            raise InvalidArgument(
                f'CREATE EXTENSION installs pgqrs into schema "{EXTENSION_SCHEMA}" only, not "{schema}"; '
                "use the direct install for another schema"
            )
        may_create = yield _MAY_CREATE_EXTENSION
        if not may_create:
            raise InstallRefused(
                "permission denied to CREATE EXTENSION pgqrs: the extension can only be created by a superuser",
                hint="Ask a superuser to run `CREATE EXTENSION pgqrs` (or `pgqrs install`), or install the same SQL "
                "directly into a schema of your own: `pgqrs --schema NAME install` (Admin.install(method=\"direct\")).",
            )
        logger.info("installing pgqrs with CREATE EXTENSION")
        yield Op("CREATE EXTENSION IF NOT EXISTS pgqrs")
        extension = yield _EXTENSION_ROW
        return InstallResult("extension", schema, extension[0], changed=True)

    logger.info("installing pgqrs %s directly into schema %s", target, schema)
    # Only when missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the
    # schema is there, which a role that merely owns its schema does not have.
    has_schema = yield Op(
        "SELECT pg_catalog.to_regnamespace(%s::pg_catalog.text) IS NOT NULL",
        [sql.Identifier(schema).as_string(None)],
        fetch="scalar",
    )
    if has_schema:
        yield from _refuse_writable_schema(schema, allow_writable_schema)
    else:
        yield Op(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield Op(direct_script(schema))  # no parameters: one multi-statement script, run in the caller's transaction
    version = yield from _direct_version(schema)
    # The script just run defines version(), so there is one.
    return InstallResult("direct", schema, cast(str, version), changed=True)


def _refuse_writable_schema(schema: str, allowed: bool) -> Procedure[None]:
    """Procedure: refuse a direct install or upgrade into a schema where roles other than its owner may
    CREATE, unless allowed: they could put objects next to pgqrs's that its callers' names resolve to."""
    creators = yield Op(_SCHEMA_CREATORS, [schema], fetch="scalars")
    if not creators:
        return None
    if allowed:
        logger.warning('installing into schema "%s", where %s may also create objects', schema, ", ".join(creators))
        return None
    raise InstallRefused(
        f'schema "{schema}" lets {", ".join(creators)} create objects in it, next to pgqrs\'s',
        hint=f"Install into a schema only its owner may create objects in (REVOKE CREATE ON SCHEMA {schema} FROM ...), "
        "or pass allow_writable_schema=True (pgqrs install --allow-writable-schema) if you trust those roles.",
    )


def _setup_roles(schema: str) -> Procedure[None]:
    """Procedure: (re)create missing group roles and (re)apply the grants of an install that is up to
    date, where this role may (the schema's owner): roles dropped or grants revoked since come back."""
    setup = _qualified(schema, "_setup_roles(text)")
    may = yield Op(
        "SELECT coalesce(pg_catalog.has_function_privilege("
        "pg_catalog.to_regprocedure(%s::pg_catalog.text), 'EXECUTE'), false)",
        [setup],
        fetch="scalar",
    )
    if may:
        yield Op(sql.SQL("SELECT {}.{}()").format(sql.Identifier(schema), sql.Identifier("_setup_roles")))
    else:
        logger.info("%s: not run (missing, or not this role's to run); grants left as they are", setup)


def _refuse_downgrade(schema: str, installed: str, target: str) -> None:
    if _version_key(installed) > _version_key(target):
        raise VersionMismatch(
            f'pgqrs {installed} in schema "{schema}" is newer than this package\'s {target}',
            hint="Upgrade the pgqrs Python package; pgqrs never downgrades.",
        )


def _update_extension(schema: str, installed: str, target: str) -> Procedure[InstallResult]:
    """ALTER EXTENSION pgqrs UPDATE to this package's version, with the server's upgrade scripts."""
    if installed == target:
        yield from _setup_roles(schema)
        return InstallResult("extension", schema, installed, changed=False)
    _refuse_downgrade(schema, installed, target)
    available = yield Op(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_available_extension_versions "
        "WHERE name OPERATOR(pg_catalog.=) 'pgqrs' AND version OPERATOR(pg_catalog.=) %s::pg_catalog.text)",
        [target],
        fetch="scalar",
    )
    if not available:
        raise VersionMismatch(
            f"the extension pgqrs is at {installed} and the server has no files for {target}",
            hint=f"Install the extension files of pgqrs {target} on the server (make install), then run pgqrs install again.",
        )
    logger.info("updating the extension pgqrs from %s to %s", installed, target)
    yield Op(sql.SQL("ALTER EXTENSION pgqrs UPDATE TO {}").format(sql.Literal(target)))
    return InstallResult("extension", schema, target, changed=True, previous_version=installed)


def _upgrade_direct(schema: str, installed: str, target: str) -> Procedure[InstallResult]:
    """Run the packaged upgrade scripts, in order, on a direct install (in the caller's transaction)."""
    if installed == target:
        yield from _setup_roles(schema)
        return InstallResult("direct", schema, installed, changed=False)
    _refuse_downgrade(schema, installed, target)
    for name, script in upgrade_scripts(installed, target):
        logger.info("upgrading the direct install in schema %s: %s", schema, name)
        yield Op(_for_schema(script, schema))
    version = yield from _direct_version(schema)
    # The upgrade scripts keep version(), so there is one.
    return InstallResult("direct", schema, cast(str, version), changed=True, previous_version=installed)


def verify(st: Statements) -> Procedure[VerifyReport]:
    """Procedure: check every pgqrs object and the version, and compare the installed definitions with
    the shipped ones (run in a transaction: a shadow install is made and rolled back); returns a VerifyReport
    (problems are reported in it, not raised)."""
    schema = st.schema
    expected = script_version()
    yield _PIN_SEARCH_PATH
    has_schema = yield Op(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname OPERATOR(pg_catalog.=) %s::pg_catalog.text)",
        [schema],
        fetch="scalar",
    )
    if not has_schema:
        return VerifyReport(False, schema, None, expected, [f'schema "{schema}" does not exist'])
    version = yield from _direct_version(schema)
    # The comparison makes a shadow install in a temporary schema: not on a hot standby (read-only),
    # nor without the TEMP privilege.
    may_temp, standby = yield Op(
        "SELECT pg_catalog.has_database_privilege(pg_catalog.current_database(), 'TEMP'), pg_catalog.pg_is_in_recovery()",
        fetch="one",
    )
    if version == expected and may_temp and not standby:
        problems = yield from _drift(schema, version)
    else:
        if version == expected:
            logger.warning("%s: verify checks that objects exist, not their definitions",
                           "a read-only standby" if standby else "no TEMP privilege on the database")
        problems = yield from _missing_objects(schema)
    if version is not None and version != expected:
        problems.append(f"installed version {version} differs from this package's {expected} (pgqrs install upgrades it)")
    return VerifyReport(not problems, schema, version, expected, problems)


_REGCLASS_EXISTS = "SELECT pg_catalog.to_regclass(%s::pg_catalog.text) IS NOT NULL"
_REGPROCEDURE_EXISTS = "SELECT pg_catalog.to_regprocedure(%s::pg_catalog.text) IS NOT NULL"


def _missing_objects(schema: str) -> Procedure[list[str]]:
    """Procedure: the tables, views and functions of the shipped script missing from schema."""
    problems: list[str] = []
    objects = _objects()
    for kind in ("tables", "views"):
        for name in objects[kind]:
            found = yield Op(_REGCLASS_EXISTS, [_qualified(schema, name)], fetch="scalar")
            if not found:
                problems.append(f"{kind[:-1]} {schema}.{name} is missing")
    missing_types = {p.split()[1][len(schema) + 1 :] for p in problems if p.startswith("table ")}
    for signature in objects["functions"]:
        types = set(re.findall(r"@extschema@\.(\w+)", signature))
        if types & missing_types:
            continue  # to_regprocedure() cannot name a missing type; the table is reported already
        found = yield Op(_REGPROCEDURE_EXISTS, [_qualified(schema, signature)], fetch="scalar")
        if not found:
            problems.append(f"function {schema}.{signature.replace('@extschema@', schema)} is missing")
    return problems


# Operators written out, so that the catalogue queries below pick up no other: verify may run as a
# superuser over a schema that other roles can create objects in.
_OPS = {"cat": "OPERATOR(pg_catalog.||)", "eq": "OPERATOR(pg_catalog.=)", "ne": "OPERATOR(pg_catalog.<>)",
        "gt": "OPERATOR(pg_catalog.>)"}

# Who holds which privilege on an object, the owner written as "owner" so that installs by
# different roles compare equal.
_PRIVILEGES = """(SELECT pg_catalog.string_agg(x.p, ',' ORDER BY x.p) FROM (
        SELECT CASE WHEN a.grantee {eq} {owner} THEN 'owner' WHEN a.grantee {eq} 0 THEN 'PUBLIC'
                    ELSE a.grantee::pg_catalog.regrole::pg_catalog.text END {cat} '=' {cat} a.privilege_type AS p
        FROM pg_catalog.aclexplode(coalesce({acl}, pg_catalog.acldefault({kind}, {owner}))) a) x)"""
_RELATION_PRIVILEGES = _PRIVILEGES.format(
    owner="c.relowner",
    acl="c.relacl",
    kind="(CASE WHEN c.relkind {eq} 'S' THEN 's' ELSE 'r' END)::pg_catalog.\"char\"".format(**_OPS),
    **_OPS,
)
_FUNCTION_PRIVILEGES = _PRIVILEGES.format(owner="p.proowner", acl="p.proacl", kind="'f'", **_OPS)

# (object, property, value) for every table, column, constraint, index, sequence, view and
# function in a schema: definitions, comments and privileges. Run with search_path = pg_catalog,
# pg_temp, so that the server writes the schema's name wherever a definition names its objects.
_DESCRIBE = """
WITH rel AS (
    SELECT c.oid, c.relname, c.relkind, c.reloptions,
           CASE WHEN c.relkind {eq} 'r' THEN 'table ' WHEN c.relkind {eq} 'v' THEN 'view '
                WHEN c.relkind {eq} 'S' THEN 'sequence '
                ELSE 'index ' {cat} t.relname {cat} '.' END {cat} c.relname AS object,
           {relation_privileges} AS privileges
    FROM pg_catalog.pg_class c
    LEFT JOIN pg_catalog.pg_index i ON i.indexrelid {eq} c.oid
    LEFT JOIN pg_catalog.pg_class t ON t.oid {eq} i.indrelid
    WHERE c.relnamespace {eq} %(schema)s::pg_catalog.regnamespace
      AND c.relkind {eq} ANY (ARRAY['r', 'v', 'S', 'i']::pg_catalog."char"[])
      -- Each queue's scan position and rate-limit tokens are made with the queue: state, not a
      -- part of the script.
      AND NOT (c.relkind {eq} 'S' AND (pg_catalog.starts_with(c.relname, 'pgqrs_position_')
                                      OR pg_catalog.starts_with(c.relname, 'pgqrs_tokens_')))
), fn AS (
    SELECT p.oid, 'function ' {cat} p.proname {cat} '(' {cat} pg_catalog.oidvectortypes(p.proargtypes) {cat} ')' AS object,
           {function_privileges} AS privileges
    FROM pg_catalog.pg_proc p
    WHERE p.pronamespace {eq} %(schema)s::pg_catalog.regnamespace
)
SELECT r.object, 'options', r.reloptions::pg_catalog.text FROM rel r
UNION ALL SELECT r.object, 'comment', pg_catalog.obj_description(r.oid, 'pg_class') FROM rel r
UNION ALL SELECT r.object, 'privileges', r.privileges FROM rel r WHERE r.relkind {ne} 'i'
UNION ALL SELECT r.object, 'definition', pg_catalog.pg_get_indexdef(r.oid) FROM rel r WHERE r.relkind {eq} 'i'
UNION ALL SELECT r.object, 'definition', pg_catalog.pg_get_viewdef(r.oid) FROM rel r WHERE r.relkind {eq} 'v'
UNION ALL
SELECT 'column ' {cat} r.relname {cat} '.' {cat} a.attname, 'definition',
       a.attnum {cat} ' ' {cat} pg_catalog.format_type(a.atttypid, a.atttypmod)
       {cat} CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       {cat} coalesce(' DEFAULT ' {cat} pg_catalog.pg_get_expr(d.adbin, d.adrelid), '')
       {cat} coalesce(' -- ' {cat} pg_catalog.col_description(r.oid, a.attnum), '')
FROM rel r
JOIN pg_catalog.pg_attribute a ON a.attrelid {eq} r.oid AND a.attnum {gt} 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid {eq} r.oid AND d.adnum {eq} a.attnum
WHERE r.relkind {eq} ANY (ARRAY['r', 'v']::pg_catalog."char"[])
UNION ALL
SELECT 'constraint ' {cat} r.relname {cat} '.' {cat} c.conname, 'definition', pg_catalog.pg_get_constraintdef(c.oid)
FROM rel r JOIN pg_catalog.pg_constraint c ON c.conrelid {eq} r.oid
UNION ALL SELECT f.object, 'definition', pg_catalog.pg_get_functiondef(f.oid) FROM fn f
UNION ALL SELECT f.object, 'comment', pg_catalog.obj_description(f.oid, 'pg_proc') FROM fn f
UNION ALL SELECT f.object, 'privileges', f.privileges FROM fn f
""".format(relation_privileges=_RELATION_PRIVILEGES, function_privileges=_FUNCTION_PRIVILEGES, **_OPS)


def describe(schema: str, *aliases: str) -> Procedure[dict[tuple[str, str], str | None]]:
    """Procedure (in a transaction): {(object, property): value} for every object in schema, so that
    two installs compare item by item: the name of the schema (and of the aliases, other schema names)
    is left out where it qualifies a name, and written @extschema@ where it is cast to regnamespace."""
    yield _PIN_SEARCH_PATH
    names = (schema, *aliases)
    # The schema as the script or the server wrote it: quoted, or quoted only where it must be.
    bare = yield Op(
        "SELECT pg_catalog.quote_ident(n) FROM pg_catalog.unnest(%s::pg_catalog.text[]) n", [list(names)],
        fetch="scalars",
    )
    forms = sorted({*(sql.Identifier(name).as_string(None) for name in names), *bare}, key=len, reverse=True)
    rows = yield Op(_DESCRIBE, {"schema": sql.Identifier(schema).as_string(None)}, fetch="all")
    # Not on the search_path, the schema's objects come out qualified; a shadow install in the
    # session's temporary schema (on the path as pg_temp) comes out bare: compare them bare.
    alternatives = "|".join(re.escape(form) for form in forms)
    qualifier = re.compile(rf"(?<![\w\"$])(?:{alternatives})\.(?=[\w\"])")
    cast = re.compile(rf"(?<![\w\"$])(?:{alternatives})(?='::regnamespace)")

    def normal(text: str) -> str:
        return cast.sub("@extschema@", qualifier.sub("", text))

    return {(normal(obj), prop): None if value is None else normal(value) for obj, prop, value in rows}


def _drift(schema: str, version: str) -> Procedure[list[str]]:
    """Procedure (in a transaction): how the objects in schema differ from this package's script,
    installed for comparison into the session's temporary schema and rolled back."""
    installed = yield from describe(schema)
    yield Op("SAVEPOINT pgqrs_verify")
    yield Op("CREATE TEMPORARY TABLE pgqrs_verify_probe ()")  # brings the temporary schema into being
    temp_schema = yield Op(
        "SELECT pg_catalog.pg_my_temp_schema()::pg_catalog.regnamespace::pg_catalog.text", fetch="scalar"
    )
    # The comparison install grants to the installed one's group roles, so privileges compare alike.
    yield Op(
        sql.SQL(
            "SELECT pg_catalog.set_config('pgqrs.role_prefix', coalesce(CASE WHEN "
            "pg_catalog.has_function_privilege(%s::pg_catalog.text, 'EXECUTE') THEN {}._role_prefix() END, "
            "%s::pg_catalog.text), true), pg_catalog.set_config('pgqrs.reuse_roles', 'on', true)"
        ).format(sql.Identifier(schema)),
        [_qualified(schema, "_role_prefix()"), schema],
    )
    yield Op(direct_script(temp_schema))
    # pg_temp: as pg_get_functiondef() names it; schema: where the script's text happens to hold
    # the installed schema's name (a setting named pgqrs.x), it is left out on both sides alike.
    shipped = yield from describe(temp_schema, "pg_temp", schema)
    yield Op("ROLLBACK TO SAVEPOINT pgqrs_verify")
    yield Op("RELEASE SAVEPOINT pgqrs_verify")
    shipped = {key: value for key, value in shipped.items() if key[0] != "table pgqrs_verify_probe"}

    def named(obj: str) -> str:
        kind, name = obj.split(" ", 1)
        return f"{kind} {schema}.{name}"

    objects = {obj for obj, _ in shipped}
    tables = {obj.split(" ", 1)[1] for obj in objects if obj.startswith("table ")}
    functions = {obj.split(" ", 1)[1].split("(")[0] for obj in objects if obj.startswith("function ")}
    present = {obj for obj, _ in installed}
    problems = []
    for obj in sorted(objects - present):
        table = obj.split(" ", 1)[1].split(".")[0]
        if "." not in obj or f"table {table}" in present:  # a missing table's parts go unsaid
            problems.append(f"{named(obj)} is missing")
    for obj, prop in sorted(key for key in shipped if key[0] in present):
        if installed.get((obj, prop)) != shipped[(obj, prop)]:
            problems.append(f"{named(obj)}: {prop} changed (not as in pgqrs {version})")
    for obj in sorted(present - objects):
        kind, name = obj.split(" ", 1)
        # Other objects may share a direct install's schema; only additions to pgqrs's own count.
        if ("." in name and name.split(".")[0] in tables) or (kind == "function" and name.split("(")[0] in functions):
            problems.append(f"{named(obj)} is not part of pgqrs {version}")
    return problems


# No relation, function or type is left in the schema %(s)s.
_SCHEMA_IS_EMPTY = "SELECT " + " AND ".join(
    f"NOT EXISTS (SELECT FROM pg_catalog.{catalog} WHERE {column} OPERATOR(pg_catalog.=) %(s)s::pg_catalog.regnamespace)"
    for catalog, column in (("pg_class", "relnamespace"), ("pg_proc", "pronamespace"), ("pg_type", "typnamespace"))
)


def _existing_tables(schema: str) -> Procedure[list[str]]:
    """Procedure: the tables of the packaged script that schema holds (an older install may lack some)."""
    tables = []
    for name in _objects()["tables"]:
        if (yield Op(_REGCLASS_EXISTS, [_qualified(schema, name)], fetch="scalar")):
            tables.append(name)
    return tables


def uninstall(st: Statements, force: bool = False) -> Procedure[None]:
    """Procedure: remove pgqrs; refuses while queues hold messages unless force.

    The count and the drop are one transaction that first locks pgqrs's tables: an enqueue
    that commits meanwhile is either counted, or waits for the drop and then fails. Ends with None;
    raises NotInstalled (nothing to remove) and QueueNotEmpty (messages left, without force)."""
    schema = st.schema
    yield _PIN_SEARCH_PATH
    extension = yield _EXTENSION_ROW
    is_extension = extension is not None and extension[1] == schema
    version = yield from _direct_version(schema)
    if not is_extension and version is None:
        raise NotInstalled(f'pgqrs is not installed in schema "{schema}"')
    tables = yield from _existing_tables(schema)
    if tables:
        yield Op(
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                sql.SQL(", ").join(sql.Identifier(schema, name) for name in tables)
            )
        )
    # Every table that holds messages (ready, delayed, archived), whatever the script calls them.
    holders = [name for name in tables if name not in ("pgqrs_queues", "pgqrs_workers")]
    if not force and holders:
        held = yield Op(
            sql.SQL("SELECT {}").format(
                sql.SQL(" OPERATOR(pg_catalog.+) ").join(
                    sql.SQL("(SELECT pg_catalog.count(*) FROM {})").format(sql.Identifier(schema, name))
                    for name in holders
                )
            ),
            fetch="scalar",
        )
        if held:
            raise QueueNotEmpty(
                f'schema "{schema}" still holds {held} messages (queued or archived)',
                hint="Pass force=True (pgqrs uninstall --force) to remove them with pgqrs.",
            )
    if is_extension:
        logger.info("dropping extension pgqrs")
        yield Op("DROP EXTENSION pgqrs")
        return None
    logger.info("removing the directly installed pgqrs from schema %s", schema)
    objects = _objects()
    for signature in objects["functions"]:
        found = yield Op(_REGPROCEDURE_EXISTS, [_qualified(schema, signature)], fetch="scalar")
        if found:
            # The signature comes from the packaged script, never from a user.
            yield Op(sql.SQL("DROP FUNCTION {}").format(sql.SQL(_qualified(schema, signature))))
    # Functions first: some return the views' and tables' row types.
    for name in reversed(objects["views"]):
        yield Op(sql.SQL("DROP VIEW IF EXISTS {}.{}").format(sql.Identifier(schema), sql.Identifier(name)))
    for name in reversed(objects["tables"]):
        yield Op(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(schema), sql.Identifier(name)))
    for name in reversed(objects.get("types", [])):
        yield Op(sql.SQL("DROP TYPE IF EXISTS {}.{}").format(sql.Identifier(schema), sql.Identifier(name)))
    empty = yield Op(_SCHEMA_IS_EMPTY, {"s": sql.Identifier(schema).as_string(None)}, fetch="scalar")
    if empty:
        yield Op(sql.SQL("DROP SCHEMA {}").format(sql.Identifier(schema)))
    return None
