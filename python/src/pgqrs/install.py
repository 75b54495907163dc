"""Install, uninstall and verify pgqrs in a database.

Two ways in: CREATE EXTENSION when the server has the extension files (and the
schema is the control file's), or a direct install of the very same script
(the one the package build put into pgqrs/sql/) into any schema the role owns.
Written as procedures (generators of statements) so Admin and AsyncAdmin share them.
"""

from __future__ import annotations

import functools
import logging
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from psycopg import sql

from .errors import InvalidArgument, NotInstalled, QueueNotEmpty, VersionMismatch
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
    newest = max(f.stat().st_mtime for f in fragments.iterdir())
    if newest > script.stat().st_mtime:
        logger.warning("%s is older than extension/sql/: reinstall the package to rebuild it", script)


def script_version() -> str:
    """The version of the SQL this package carries (default_version of pgqrs.control)."""
    return _packaged_script()[0]


def install_script() -> str:
    """The extension's install script, as built from extension/sql/fragments.txt."""
    return _packaged_script()[1]


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def upgrade_scripts(source: str, target: str) -> list[tuple[str, str]]:
    """The upgrade scripts, in order, from version source to target: [(file name, text)]."""
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
    """The install script for a direct install into schema."""
    return _for_schema(install_script(), schema)


@functools.cache
def _objects() -> dict[str, list[str]]:
    """pgqrs's tables, views and function signatures, read from the script itself."""
    script = install_script()
    tables = re.findall(r"^CREATE TABLE @extschema@\.(\w+)", script, re.MULTILINE)
    views = re.findall(r"^CREATE VIEW @extschema@\.(\w+)", script, re.MULTILINE)
    names = re.findall(r"^CREATE FUNCTION @extschema@\.(\w+)\(", script, re.MULTILINE)
    # grants.sql names every function with its argument types (REVOKE ... FROM PUBLIC).
    revoke = script[script.index("REVOKE ALL ON FUNCTION") : script.index("FROM PUBLIC")]
    signatures = {
        name: args.strip() for name, args in re.findall(r"@extschema@\.(\w+)\(([^()]*)\)", revoke)
    }
    missing = [name for name in names if name not in signatures]
    if missing:  # an SQL function without a REVOKE line: verify could not check it
        logger.warning("functions without a signature in grants.sql: %s", ", ".join(missing))
    return {"tables": tables, "views": views, "functions": [f"{n}({signatures[n]})" for n in names if n in signatures]}


def _qualified(schema: str, name_and_args: str) -> str:
    quoted = sql.Identifier(schema).as_string(None)
    return f"{quoted}.{name_and_args.replace('@extschema@', quoted)}"


_EXTENSION_ROW = Op(
    "SELECT e.extversion, n.nspname FROM pg_catalog.pg_extension e "
    "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgqrs'",
    fetch="one",
)
_AVAILABLE = Op("SELECT EXISTS (SELECT FROM pg_catalog.pg_available_extensions WHERE name = 'pgqrs')", fetch="scalar")


def _direct_version(schema: str) -> Any:
    """(the installed version, or None when version() is not in the schema)."""
    exists = yield Op("SELECT to_regprocedure(%s) IS NOT NULL", [_qualified(schema, "version()")], fetch="scalar")
    if not exists:
        return None
    return (yield Op(sql.SQL("SELECT {}.version()").format(sql.Identifier(schema)), fetch="scalar"))


def install(st: Statements, method: Method = "auto") -> Any:
    """Procedure: install pgqrs, or upgrade an older install to this package's version
    (idempotent); returns an InstallResult."""
    if method not in ("auto", "extension", "direct"):
        raise InvalidArgument(f"install method must be auto, extension or direct, got {method!r}")
    schema, target = st.schema, script_version()
    # One install or upgrade of a schema at a time (workers that all run `pgqrs install` as they
    # start): the others wait, then find it done. The key cannot meet a queue's advisory lock
    # (see _queue_lock_class() in the SQL), as queue names have no spaces.
    yield Op("SELECT pg_catalog.pg_advisory_xact_lock(1886482802, pg_catalog.hashtext('install ' || %s))", [schema])
    extension = yield _EXTENSION_ROW
    if extension is not None and extension[1] == schema:
        return (yield from _update_extension(schema, extension[0], target))
    existing = yield from _direct_version(schema)
    if existing is not None:
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
        logger.info("installing pgqrs with CREATE EXTENSION")
        yield Op("CREATE EXTENSION IF NOT EXISTS pgqrs")
        extension = yield _EXTENSION_ROW
        return InstallResult("extension", schema, extension[0], changed=True)

    logger.info("installing pgqrs %s directly into schema %s", target, schema)
    # Only when missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the
    # schema is there, which a role that merely owns its schema does not have.
    has_schema = yield Op("SELECT to_regnamespace(%s) IS NOT NULL", [sql.Identifier(schema).as_string(None)], fetch="scalar")
    if not has_schema:
        yield Op(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield Op(direct_script(schema))  # no parameters: one multi-statement script, run in the caller's transaction
    version = yield from _direct_version(schema)
    return InstallResult("direct", schema, version, changed=True)


def _refuse_downgrade(schema: str, installed: str, target: str) -> None:
    if _version_key(installed) > _version_key(target):
        raise VersionMismatch(
            f'pgqrs {installed} in schema "{schema}" is newer than this package\'s {target}',
            hint="Upgrade the pgqrs Python package; pgqrs never downgrades.",
        )


def _update_extension(schema: str, installed: str, target: str) -> Any:
    """ALTER EXTENSION pgqrs UPDATE to this package's version, with the server's upgrade scripts."""
    if installed == target:
        return InstallResult("extension", schema, installed, changed=False)
    _refuse_downgrade(schema, installed, target)
    available = yield Op(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_available_extension_versions WHERE name = 'pgqrs' AND version = %s)",
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


def _upgrade_direct(schema: str, installed: str, target: str) -> Any:
    """Run the packaged upgrade scripts, in order, on a direct install (in the caller's transaction)."""
    if installed == target:
        return InstallResult("direct", schema, installed, changed=False)
    _refuse_downgrade(schema, installed, target)
    for name, script in upgrade_scripts(installed, target):
        logger.info("upgrading the direct install in schema %s: %s", schema, name)
        yield Op(_for_schema(script, schema))
    version = yield from _direct_version(schema)
    return InstallResult("direct", schema, version, changed=True, previous_version=installed)


def verify(st: Statements) -> Any:
    """Procedure: check every pgqrs object and the version, and compare the installed definitions with
    the shipped ones (run in a transaction: a shadow install is made and rolled back); returns a VerifyReport."""
    schema = st.schema
    expected = script_version()
    has_schema = yield Op("SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = %s)", [schema], fetch="scalar")
    if not has_schema:
        return VerifyReport(False, schema, None, expected, [f'schema "{schema}" does not exist'])
    version = yield from _direct_version(schema)
    can_compare = yield Op("SELECT pg_catalog.has_database_privilege(current_database(), 'TEMP')", fetch="scalar")
    if version == expected and can_compare:
        problems = yield from _drift(schema, version)
    else:
        if version == expected:
            logger.warning("no TEMP privilege on the database: verify checks that objects exist, not their definitions")
        problems = yield from _missing_objects(schema)
    if version is not None and version != expected:
        problems.append(f"installed version {version} differs from this package's {expected} (pgqrs install upgrades it)")
    return VerifyReport(not problems, schema, version, expected, problems)


def _missing_objects(schema: str) -> Any:
    """Procedure: the tables, views and functions of the shipped script missing from schema."""
    problems: list[str] = []
    objects = _objects()
    for kind in ("tables", "views"):
        for name in objects[kind]:
            found = yield Op("SELECT to_regclass(%s) IS NOT NULL", [_qualified(schema, name)], fetch="scalar")
            if not found:
                problems.append(f"{kind[:-1]} {schema}.{name} is missing")
    missing_types = {p.split()[1][len(schema) + 1 :] for p in problems if p.startswith("table ")}
    for signature in objects["functions"]:
        types = set(re.findall(r"@extschema@\.(\w+)", signature))
        if types & missing_types:
            continue  # to_regprocedure() cannot name a missing type; the table is reported already
        found = yield Op("SELECT to_regprocedure(%s) IS NOT NULL", [_qualified(schema, signature)], fetch="scalar")
        if not found:
            problems.append(f"function {schema}.{signature.replace('@extschema@', schema)} is missing")
    return problems


# Who holds which privilege on an object, the owner written as "owner" so that installs by
# different roles compare equal.
_PRIVILEGES = """(SELECT pg_catalog.string_agg(x.p, ',' ORDER BY x.p) FROM (
        SELECT CASE WHEN a.grantee = {owner} THEN 'owner' WHEN a.grantee = 0 THEN 'PUBLIC'
                    ELSE a.grantee::pg_catalog.regrole::text END || '=' || a.privilege_type AS p
        FROM pg_catalog.aclexplode(coalesce({acl}, pg_catalog.acldefault({kind}, {owner}))) a) x)"""
_RELATION_PRIVILEGES = _PRIVILEGES.format(
    owner="c.relowner", acl="c.relacl", kind="(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::\"char\""
)
_FUNCTION_PRIVILEGES = _PRIVILEGES.format(owner="p.proowner", acl="p.proacl", kind="'f'")

# (object, property, value) for every table, column, constraint, index, sequence, view and
# function in a schema: definitions, comments and privileges. Run with the schema on the
# search_path, so that names inside definitions come out the same for any schema.
_DESCRIBE = f"""
WITH rel AS (
    SELECT c.oid, c.relname, c.relkind, c.reloptions,
           CASE c.relkind WHEN 'r' THEN 'table ' WHEN 'v' THEN 'view ' WHEN 'S' THEN 'sequence '
                          ELSE 'index ' || t.relname || '.' END || c.relname AS object,
           {_RELATION_PRIVILEGES} AS privileges
    FROM pg_catalog.pg_class c
    LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
    LEFT JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
    WHERE c.relnamespace = %(schema)s::pg_catalog.regnamespace AND c.relkind IN ('r', 'v', 'S', 'i')
), fn AS (
    SELECT p.oid, 'function ' || p.proname || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')' AS object,
           {_FUNCTION_PRIVILEGES} AS privileges
    FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = %(schema)s::pg_catalog.regnamespace
)
SELECT r.object, 'options', r.reloptions::text FROM rel r
UNION ALL SELECT r.object, 'comment', pg_catalog.obj_description(r.oid, 'pg_class') FROM rel r
UNION ALL SELECT r.object, 'privileges', r.privileges FROM rel r WHERE r.relkind <> 'i'
UNION ALL SELECT r.object, 'definition', pg_catalog.pg_get_indexdef(r.oid) FROM rel r WHERE r.relkind = 'i'
UNION ALL SELECT r.object, 'definition', pg_catalog.pg_get_viewdef(r.oid) FROM rel r WHERE r.relkind = 'v'
UNION ALL
SELECT 'column ' || r.relname || '.' || a.attname, 'definition',
       a.attnum || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       || coalesce(' DEFAULT ' || pg_catalog.pg_get_expr(d.adbin, d.adrelid), '')
       || coalesce(' -- ' || pg_catalog.col_description(r.oid, a.attnum), '')
FROM rel r
JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = r.oid AND d.adnum = a.attnum
WHERE r.relkind IN ('r', 'v')
UNION ALL
SELECT 'constraint ' || r.relname || '.' || c.conname, 'definition', pg_catalog.pg_get_constraintdef(c.oid)
FROM rel r JOIN pg_catalog.pg_constraint c ON c.conrelid = r.oid
UNION ALL SELECT f.object, 'definition', pg_catalog.pg_get_functiondef(f.oid) FROM fn f
UNION ALL SELECT f.object, 'comment', pg_catalog.obj_description(f.oid, 'pg_proc') FROM fn f
UNION ALL SELECT f.object, 'privileges', f.privileges FROM fn f
"""


def describe(schema: str, *aliases: str) -> Any:
    """Procedure (in a transaction): {(object, property): value} for every object in schema, the
    schema's own name (and aliases) written as @extschema@, so that two installs compare item by item."""
    quoted = sql.Identifier(schema).as_string(None)
    yield Op(sql.SQL("SET LOCAL search_path = pg_catalog, {}").format(sql.Identifier(schema)))
    bare = yield Op("SELECT pg_catalog.quote_ident(%s)", [schema], fetch="scalar")
    rows = yield Op(_DESCRIBE, {"schema": quoted}, fetch="all")
    yield Op("RESET search_path")
    # The schema as the script or the server wrote it: before a dot, or cast to regnamespace.
    names = "|".join(re.escape(name) for name in (quoted, bare, *aliases))
    own_name = re.compile(rf"(?<![\w\"$])(?:{names})(?=\.|'::regnamespace)")
    return {(obj, prop): None if value is None else own_name.sub("@extschema@", value) for obj, prop, value in rows}


def _drift(schema: str, version: str) -> Any:
    """Procedure (in a transaction): how the objects in schema differ from this package's script,
    installed for comparison into the session's temporary schema and rolled back."""
    installed = yield from describe(schema)
    yield Op("SAVEPOINT pgqrs_verify")
    yield Op("CREATE TEMPORARY TABLE pgqrs_verify_probe ()")  # brings the temporary schema into being
    temp_schema = yield Op("SELECT pg_catalog.pg_my_temp_schema()::pg_catalog.regnamespace::text", fetch="scalar")
    yield Op(direct_script(temp_schema))
    shipped = yield from describe(temp_schema, "pg_temp")  # as pg_get_functiondef() names it
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


def uninstall(st: Statements, force: bool = False) -> Any:
    """Procedure: remove pgqrs; refuses while queues hold messages unless force."""
    schema = st.schema
    extension = yield _EXTENSION_ROW
    is_extension = extension is not None and extension[1] == schema
    version = yield from _direct_version(schema)
    if not is_extension and version is None:
        raise NotInstalled(f'pgqrs is not installed in schema "{schema}"')
    if not force:
        # Every table that holds messages (ready, delayed, archived), whatever the script calls them.
        holders = [name for name in _objects()["tables"] if name not in ("pgqrs_queues", "pgqrs_workers")]
        held = yield Op(
            sql.SQL("SELECT {}").format(
                sql.SQL(" + ").join(
                    sql.SQL("(SELECT count(*) FROM {}.{})").format(sql.Identifier(schema), sql.Identifier(name))
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
        found = yield Op("SELECT to_regprocedure(%s)::oid", [_qualified(schema, signature)], fetch="scalar")
        if found is not None:
            # The signature comes from the packaged script, never from a user.
            yield Op(sql.SQL("DROP FUNCTION {}").format(sql.SQL(_qualified(schema, signature))))
    # Functions first: some return the views' and tables' row types.
    for name in reversed(objects["views"]):
        yield Op(sql.SQL("DROP VIEW IF EXISTS {}.{}").format(sql.Identifier(schema), sql.Identifier(name)))
    for name in reversed(objects["tables"]):
        yield Op(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(schema), sql.Identifier(name)))
    empty = yield Op(
        "SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %(s)s) AND NOT EXISTS (SELECT FROM pg_catalog.pg_proc p "
        "JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %(s)s) "
        "AND NOT EXISTS (SELECT FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
        "WHERE n.nspname = %(s)s)",
        {"s": schema},
        fetch="scalar",
    )
    if empty:
        yield Op(sql.SQL("DROP SCHEMA {}").format(sql.Identifier(schema)))
    return None
