"""The reference pages, generated while MkDocs builds the site, from the sources themselves.

mkdocs.yml names this file under `hooks:`. Its on_files adds, in memory (nothing is written
into docs/, so no generated page is committed and none can drift):

  reference/sql.md      every public function (the headers of extension/sql/functions/*.sql,
                        their CREATE FUNCTION signatures and COMMENT ON texts), every view
                        (extension/sql/views.sql) and every table (extension/sql/tables.sql)
  reference/errors.md   every SQLSTATE of class PQ: its name (extension/sql/overview.sql),
                        its Python class (pgqrs.errors) and the functions whose headers list it
  reference/cli.md      every `pgqrs` command, argument and option, walked from click's tree
  reference/config.md   every field of pgqrs.config.Config: default, variable, file key, range
  reference/python.md   mkdocstrings directives for the public names of pgqrs (`__all__`)

A function file added to extension/sql/functions/ appears on the next build, with no edit
here. Nothing needs a database or the network: the SQL pages read the sources, the others
import the package from python/src.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SQL_DIR = REPO / "extension" / "sql"
PYTHON_SRC = REPO / "python" / "src"
HEADER_FIELDS = ("Returns", "Errors", "Reads", "Writes", "Roles")
SQLSTATE = re.compile(r"\bPQ\d{3}\b")


# -- the SQL sources ----------------------------------------------------------------------


@dataclasses.dataclass
class SqlFunction:
    name: str
    summary: str           # the header's first line: name(arguments)
    description: str       # what the header says it does
    fields: dict[str, str]  # Returns, Errors, Reads, Writes, Roles
    signature: str         # CREATE FUNCTION ... RETURNS ..., schema-qualified as pgqrs.
    comment: str           # its COMMENT ON FUNCTION text


def _sql_string(text: str) -> str:
    """The value of an SQL string literal's body ('' is one quote)."""
    return text.replace("''", "'")


def _comment_on(kind: str, name: str, text: str) -> str:
    match = re.search(rf"COMMENT ON {kind} @extschema@\.{re.escape(name)}\b[^;]*? IS\s+'((?:[^']|'')*)'", text, re.S)
    return _sql_string(match[1]) if match else ""


def read_function(path: Path) -> SqlFunction:
    """One functions/*.sql file, in the header format tests/test_sql_headers.py checks:
    `-- name(args)`, what it does, then the Returns, Errors, Reads, Writes, Roles lines
    (continuation lines indented to the value's column)."""
    text = path.read_text()
    header = text.split("CREATE FUNCTION", 1)[0].splitlines()
    summary = header[0].removeprefix("-- ").strip()
    description: list[str] = []
    fields: dict[str, str] = {}
    last: str | None = None
    for line in header[1:]:
        match = re.fullmatch(r"--   (Returns|Errors|Reads|Writes|Roles)\s+(.*)", line)
        if match:
            last = match[1]
            fields[last] = match[2]
        elif last and line.startswith("--            "):
            fields[last] += " " + line.strip("- ")
        elif last is None and line.startswith("--"):
            description.append(line[2:].strip())
    created = re.search(r"^(CREATE FUNCTION .*?)^(?:LANGUAGE|AS)\b", text, re.S | re.M)
    signature = created[1].strip() if created else ""
    signature = signature.replace("CREATE FUNCTION ", "").replace("@extschema@.", "pgqrs.")
    return SqlFunction(
        name=path.stem,
        summary=summary,
        description=" ".join(description).strip().replace("  ", " "),
        fields=fields,
        signature=signature,
        comment=_comment_on("FUNCTION", path.stem, text),
    )


def public_functions() -> list[SqlFunction]:
    return [read_function(path) for path in sorted((SQL_DIR / "functions").glob("*.sql"))]


@dataclasses.dataclass
class SqlRelation:
    name: str
    notes: list[str]             # the comment block above it, prose lines
    columns: list[tuple[str, str, str]]  # name, definition (tables) or "", what it means
    comment: str


def _comment_block_above(lines: list[str], index: int) -> list[str]:
    block: list[str] = []
    i = index - 1
    while i >= 0 and lines[i].startswith("--"):
        block.insert(0, lines[i][2:])
        i -= 1
    return block


def views() -> list[SqlRelation]:
    """Every view of views.sql: the comment block above its CREATE VIEW (prose, then its
    columns as `  name  meaning` lines) and its COMMENT ON VIEW text."""
    text = (SQL_DIR / "views.sql").read_text()
    lines = text.splitlines()
    found = []
    for index, line in enumerate(lines):
        match = re.match(r"CREATE VIEW @extschema@\.(\w+) AS", line)
        if not match:
            continue
        notes: list[str] = []
        columns: list[tuple[str, str, str]] = []
        for note in _comment_block_above(lines, index):
            column = re.fullmatch(r"\s{2,}(\w[\w, ]*?)\s{2,}(.*)", note)
            if column:
                columns.append((column[1], "", column[2]))
            elif columns and re.match(r"\s{6,}", note):
                columns[-1] = (columns[-1][0], "", columns[-1][2] + " " + note.strip())
            else:
                notes.append(note.strip().removeprefix(f"{match[1]}: "))
        found.append(SqlRelation(match[1], notes, columns, _comment_on("VIEW", match[1], text)))
    return found


def tables() -> list[SqlRelation]:
    """Every table of tables.sql: its columns as created, with their COMMENT ON COLUMN texts."""
    text = (SQL_DIR / "tables.sql").read_text()
    found = []
    for match in re.finditer(r"^CREATE TABLE @extschema@\.(\w+) \(\n(.*?)^\)", text, re.S | re.M):
        name, body = match[1], match[2]
        columns: list[tuple[str, str, str]] = []
        for line in body.splitlines():
            column = re.match(r"    (\w+)\s+(.*?),?$", line)
            if column and column[1].upper() not in ("PRIMARY", "UNIQUE", "CHECK", "CONSTRAINT", "FOREIGN"):
                columns.append((column[1], column[2].replace("@extschema@.", "pgqrs."), _comment_on("COLUMN", f"{name}.{column[1]}", text)))
            elif columns and re.match(r"\s{8,}\S", line):  # a column's definition, continued
                columns[-1] = (columns[-1][0], f"{columns[-1][1]} {line.strip().rstrip(',')}", columns[-1][2])
        above = _comment_block_above(text[: match.start()].splitlines() + [""], len(text[: match.start()].splitlines()))
        notes = [line.strip() for line in above]
        found.append(SqlRelation(name, notes, columns, _comment_on("TABLE", name, text)))
    return found


def sqlstate_names() -> dict[str, str]:
    """PQxxx -> its name, from the list in overview.sql ("PQ001 queue not found ...")."""
    text = (SQL_DIR / "overview.sql").read_text()
    names: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("--"):
            continue
        for code, name in re.findall(r"(PQ\d{3}) ([a-z][a-z ]*?[a-z])(?=\s{2,}|\s*\(|$)", line):
            names.setdefault(code, name)
    return names


def sqlstates_raised() -> list[str]:
    """Every PQ code an ERRCODE of the extension's sources raises."""
    codes: set[str] = set()
    for path in SQL_DIR.rglob("*.sql"):
        codes.update(re.findall(r"ERRCODE\s*=\s*'(PQ\d{3})'", path.read_text()))
    return sorted(codes)


# -- Markdown ---------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _anchor(name: str) -> str:
    return name.replace("_", "-")


def sql_reference() -> str:
    functions = public_functions()
    out = [
        "# SQL reference",
        "",
        "Generated from the extension's sources at every build: each public function's header and",
        "`COMMENT ON` text (`extension/sql/functions/`), the views (`extension/sql/views.sql`) and the",
        "tables (`extension/sql/tables.sql`). Every object lives in the extension's schema (`pgqrs`",
        "here; a direct install's own schema otherwise), and every function takes named arguments",
        "(`=>`). The SQLSTATEs are on [their own page](errors.md); which role may run what is",
        "explained under [Roles](../operations/roles.md).",
        "",
        "## Functions",
        "",
        "| function | returns | what it does |",
        "| --- | --- | --- |",
    ]
    for fn in functions:
        returns = fn.fields.get("Returns", "").split(":")[0]
        out.append(f"| [`{fn.name}`](#{_anchor(fn.name)}) | `{_cell(returns)}` | {_cell(fn.comment)} |")
    for fn in functions:
        out += [
            "",
            f"### {fn.name} {{ #{_anchor(fn.name)} }}",
            "",
            "```sql",
            fn.signature,
            "```",
            "",
            fn.description,
            "",
        ]
        for field in HEADER_FIELDS:
            value = fn.fields.get(field, "")
            if field == "Errors":
                value = SQLSTATE.sub(lambda m: f"[`{m[0]}`](errors.md#{m[0].lower()})", value)
            out.append(f"- **{field}**: {value}")
        out += ["", f"`COMMENT ON`: *{fn.comment}*"]
    out += ["", "## Views", "", "Plain views: every group role may read them.", ""]
    for view in views():
        out += _relation(view, kind="view")
    out += ["", "## Tables", "",
            "Applications read and write through the functions; only the admin group may read the",
            "tables (and delete from `pgqrs_archive` and `pgqrs_workers`).", ""]
    for table in tables():
        out += _relation(table, kind="table")
    return "\n".join(out) + "\n"


def _relation(relation: SqlRelation, kind: str) -> list[str]:
    out = [f"### {relation.name} {{ #{_anchor(relation.name)} }}", "", f"*{relation.comment}*", ""]
    if relation.notes:
        out += [" ".join(relation.notes), ""]
    if relation.columns:
        if kind == "table":
            out += ["| column | definition | comment |", "| --- | --- | --- |"]
            out += [f"| `{name}` | `{_cell(defn)}` | {_cell(what)} |" for name, defn, what in relation.columns]
        else:
            out += ["| column | what it holds |", "| --- | --- |"]
            out += [f"| `{name}` | {_cell(what)} |" for name, _, what in relation.columns]
        out.append("")
    return out


def errors_reference() -> str:
    names = sqlstate_names()
    classes = _python_error_classes()
    raisers: dict[str, list[str]] = {}
    for fn in public_functions():
        for code in sorted(set(SQLSTATE.findall(fn.fields.get("Errors", "")))):
            raisers.setdefault(code, []).append(fn.name)
    codes = sorted(set(sqlstates_raised()) | set(names) | set(raisers))
    out = [
        "# SQLSTATEs",
        "",
        "Generated at every build: the codes pgqrs raises (every `ERRCODE` of class `PQ` in",
        "`extension/sql/`), their names (`extension/sql/overview.sql`), the Python exception each",
        "maps to (`pgqrs.errors`) and the functions whose headers list it. When each is raised, in",
        "words, is in [Errors](../concepts/errors.md).",
        "",
        "| SQLSTATE | name | Python exception | raised by |",
        "| --- | --- | --- | --- |",
    ]
    for code in codes:
        cls = classes.get(code)
        python = f"[`{cls}`](python.md#pgqrs.{cls})" if cls else ""
        functions = ", ".join(f"[`{name}`](sql.md#{_anchor(name)})" for name in raisers.get(code, []))
        out.append(f"| <span id=\"{code.lower()}\">`{code}`</span> | {names.get(code, '')} | {python} | {functions} |")
    out += ["", "PostgreSQL's own codes pass through as they are; `42501` (insufficient privilege) is the one",
            "a role outside a function's group meets. In Python they become `pgqrs.DatabaseError`."]
    return "\n".join(out) + "\n"


def _python_error_classes() -> dict[str, str]:
    errors = importlib.import_module("pgqrs.errors")
    return {code: cls.__name__ for code, cls in errors.SQLSTATE_ERRORS.items()}


# -- the Python package -----------------------------------------------------------------------


def _import_from_source(module: str) -> Any:
    """A module of the package in python/src (the tree being documented, not an installed copy)."""
    if str(PYTHON_SRC) not in sys.path:
        sys.path.insert(0, str(PYTHON_SRC))
    return importlib.import_module(module)


def cli_reference() -> str:
    import click

    root = _import_from_source("pgqrs.cli").cli
    out = [
        "# CLI reference",
        "",
        "Generated at every build from the `pgqrs` command itself (its click commands, arguments and",
        "options), so it is what `pgqrs COMMAND --help` says. How to use it is in the",
        "[command-line guide](../guides/cli.md).",
        "",
    ]

    def walk(command: click.Command, path: list[str]) -> None:
        ctx = click.Context(command, info_name=" ".join(path))
        name = " ".join(path)
        level = "#" * min(len(path) + 1, 4)
        out.append(f"{level} {name} {{ #{_anchor('-'.join(path))} }}")
        out.append("")
        out.append("```text")
        out.append(" ".join(command.collect_usage_pieces(ctx)).join((f"Usage: {name} ", "")))
        out.append("```")
        out.append("")
        if command.help:
            out.append(_help_text(command.help))
            out.append("")
        params = [p for p in command.params if not getattr(p, "hidden", False)]
        arguments = [p for p in params if isinstance(p, click.Argument)]
        options = [p for p in params if isinstance(p, click.Option)]
        if arguments:
            out.extend(["| argument | type | required |", "| --- | --- | --- |"])
            for arg in arguments:
                out.append(f"| `{arg.human_readable_name}` | {_cell(_type_name(arg))} | "
                           f"{'yes' if arg.required else 'no'}{', many' if arg.nargs == -1 else ''} |")
            out.append("")
        if options:
            out.extend(["| option | type | default | environment | what it does |", "| --- | --- | --- | --- | --- |"])
            for opt in options:
                flags = ", ".join(f"`{flag}`" for flag in [*opt.opts, *opt.secondary_opts])
                default = _default(opt, ctx)
                env = f"`{opt.envvar}`" if isinstance(opt.envvar, str) else ""
                out.append(f"| {flags} | {_cell(_type_name(opt))} | {_cell(default)} | {env} | "
                           f"{_cell(opt.help or '')} |")
            out.append("")
        if isinstance(command, click.Group):
            subcommands = command.list_commands(ctx)
            if subcommands:
                out.append("Commands: " + ", ".join(
                    f"[`{sub}`](#{_anchor('-'.join([*path, sub]))})" for sub in subcommands))
                out.append("")
            for sub in subcommands:
                child = command.get_command(ctx, sub)
                if child is not None and not child.hidden:
                    walk(child, [*path, sub])

    walk(root, ["pgqrs"])
    return "\n".join(out) + "\n"


def _help_text(text: str) -> str:
    """click's help text as Markdown: paragraphs as they are, a \\b block as preformatted text."""
    blocks = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        lines = paragraph.splitlines()
        if lines and lines[0].strip() == "\b":
            blocks.append("```text\n" + textwrap.dedent("\n".join(lines[1:])) + "\n```")
        else:
            blocks.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(blocks)


def _type_name(param: Any) -> str:
    import click

    if isinstance(param, click.Option) and param.is_flag:
        return "flag"
    kind = param.type
    if isinstance(kind, click.Choice):
        return " | ".join(f"`{choice}`" for choice in kind.choices)
    if getattr(param, "metavar", None):
        return f"`{param.metavar}`"
    return f"`{kind.name.upper()}`" if kind.name else ""


def _default(opt: Any, ctx: Any) -> str:
    value = opt.get_default(ctx, call=False)
    if opt.is_flag and not value:
        return "off"
    if value is None or value == () or type(value).__name__ == "Sentinel":  # click's "not given"
        return ""
    return f"`{value}`"


def config_reference() -> str:
    config = _import_from_source("pgqrs.config")
    docs = _attribute_docstrings(Path(config.__file__), "Config")
    out = [
        "# Configuration reference",
        "",
        "Generated at every build from `pgqrs.config.Config`. A setting comes from, in this order:",
        "the flag (`--dsn`, `--schema`, `--config` of every `pgqrs` command) or the keyword of",
        "`Config.load_with_options`, the environment variable, the YAML file (`--config FILE`, "
        f"`{config.CONFIG_FILE_ENV}`, or the first of "
        + ", ".join(f"`./{name}`" for name in config.DEFAULT_CONFIG_FILES)
        + " found), then the default. Every error names where the bad value came from.",
        "",
        "| setting (YAML key) | type | default | environment | range | what it is |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for field in dataclasses.fields(config.Config):
        default = "" if field.default is dataclasses.MISSING else f"`{field.default!r}`"
        env = config.ENV_VARS.get(field.name)
        low, high = config._MINIMUM.get(field.name), config._MAXIMUM.get(field.name)
        bounds = ""
        if low is not None:
            bounds = f"{low} to {high:,}" if high is not None else f"at least {low}"
        kind = field.type if isinstance(field.type, str) else field.type.__name__
        out.append(f"| `{field.name}` | `{kind}` | {default or 'required'} | {f'`{env}`' if env else ''} | "
                   f"{bounds} | {_cell(docs.get(field.name, ''))} |")
    out += ["", "A `pgqrs.yaml`:", "", "```yaml"]
    for field in dataclasses.fields(config.Config):
        value = "postgresql://app@localhost/app" if field.default is dataclasses.MISSING else field.default
        out.append(f"{field.name}: {value}")
    out += ["```", ""]
    return "\n".join(out)


def _attribute_docstrings(path: Path, class_name: str) -> dict[str, str]:
    """The docstrings written under a class's annotated attributes (as mkdocstrings reads them)."""
    tree = ast.parse(path.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    found: dict[str, str] = {}
    for stmt, following in zip(cls.body, cls.body[1:]):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            found[stmt.target.id] = " ".join(following.value.value.split())
    return found


#: The Python reference's sections: a heading and the public names of pgqrs it documents, in
#: the order of pgqrs.__all__; names not matched here land in "Everything else".
PYTHON_SECTIONS = (
    ("Configuration", ("Config",)),
    ("Administration", ("Admin", "AsyncAdmin")),
    ("Producing", ("Producer", "AsyncProducer")),
    ("Consuming", ("Consumer", "AsyncConsumer")),
    ("The worker", ("Worker", "WorkerStats", "load_handler")),
    ("Rows", ("Message", "ArchivedMessage", "Queue", "WorkerRecord", "QueueMetrics", "WorkerHealth",
              "InstallResult", "VerifyReport")),
    ("Tables (the admin's reads)", ("PgqrsQueues", "PgqrsWorkers", "PgqrsMessages", "PgqrsArchiveTable",
                                    "AsyncPgqrsQueues", "AsyncPgqrsWorkers", "AsyncPgqrsMessages",
                                    "AsyncPgqrsArchiveTable")),
    ("Pools", ("create_pool", "create_async_pool")),
)


def python_reference() -> str:
    package = _import_from_source("pgqrs")
    public = [name for name in package.__all__ if not name.startswith("_")]
    placed = {name for _, names in PYTHON_SECTIONS for name in names}
    sections = [*PYTHON_SECTIONS, ("Errors", tuple(n for n in public if n not in placed))]
    out = [
        "# Python reference",
        "",
        "Generated at every build from the docstrings and type hints of the package's public names",
        "(`pgqrs.__all__`). Every method of the sync classes has an async twin of the same name on",
        "the `Async*` class. How to use them is in the [Python guide](../guides/python.md).",
        "",
    ]
    for title, names in sections:
        present = [name for name in names if name in public]
        if not present:
            continue
        out += [f"## {title}", ""]
        for name in present:
            out += [f"::: pgqrs.{name}", ""]
    return "\n".join(out)


# -- the hook ---------------------------------------------------------------------------------

GENERATED = {
    "reference/sql.md": sql_reference,
    "reference/errors.md": errors_reference,
    "reference/cli.md": cli_reference,
    "reference/config.md": config_reference,
    "reference/python.md": python_reference,
}


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    _import_from_source("pgqrs")
    for uri, build in GENERATED.items():
        files.append(File.generated(config, uri, content=build()))
    return files
