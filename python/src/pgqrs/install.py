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

from .errors import InvalidArgument, NotInstalled, QueueNotEmpty
from .statements import Op, Statements
from .types import InstallResult, VerifyReport

logger = logging.getLogger(__name__)

__all__ = ["EXTENSION_SCHEMA", "script_version", "install_script", "direct_script", "install", "uninstall", "verify"]

Method = Literal["auto", "extension", "direct"]

# The control file's `schema = pgqrs`: CREATE EXTENSION can only put pgqrs there.
EXTENSION_SCHEMA = "pgqrs"
_BEGIN = "-- pgqrs:extension-only:begin"
_END = "-- pgqrs:extension-only:end"


@functools.cache
def _packaged_script() -> tuple[str, str]:
    files = [f for f in resources.files("pgqrs").joinpath("sql").iterdir() if f.name.endswith(".sql")]
    if len(files) != 1:
        raise NotInstalled("the pgqrs package holds no install script (pgqrs/sql/pgqrs--<version>.sql): rebuild it")
    name = files[0].name
    _warn_if_stale(Path(str(files[0])))
    return name[len("pgqrs--") : -len(".sql")], files[0].read_text()


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


def direct_script(schema: str) -> str:
    """The install script for a direct install: no psql guard, no extension-only part, the schema filled in."""
    lines, skipping = [], False
    for line in install_script().splitlines():
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
    """Procedure: install pgqrs (idempotent); returns an InstallResult."""
    if method not in ("auto", "extension", "direct"):
        raise InvalidArgument(f"install method must be auto, extension or direct, got {method!r}")
    schema = st.schema
    extension = yield _EXTENSION_ROW
    if extension is not None and extension[1] == schema:
        return InstallResult("extension", schema, extension[0], changed=False)
    existing = yield from _direct_version(schema)
    if existing is not None:
        return InstallResult("direct", schema, existing, changed=False)

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

    logger.info("installing pgqrs %s directly into schema %s", script_version(), schema)
    # Only when missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the
    # schema is there, which a role that merely owns its schema does not have.
    has_schema = yield Op("SELECT to_regnamespace(%s) IS NOT NULL", [sql.Identifier(schema).as_string(None)], fetch="scalar")
    if not has_schema:
        yield Op(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield Op(direct_script(schema))  # no parameters: one multi-statement script, run in the caller's transaction
    version = yield from _direct_version(schema)
    return InstallResult("direct", schema, version, changed=True)


def verify(st: Statements) -> Any:
    """Procedure: check every pgqrs object and the version; returns a VerifyReport."""
    schema = st.schema
    expected = script_version()
    problems: list[str] = []
    has_schema = yield Op("SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = %s)", [schema], fetch="scalar")
    if not has_schema:
        return VerifyReport(False, schema, None, expected, [f'schema "{schema}" does not exist'])
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
    version = yield from _direct_version(schema)
    if version is not None and version != expected:
        problems.append(f"installed version {version} differs from this package's {expected}")
    return VerifyReport(not problems, schema, version, expected, problems)


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
