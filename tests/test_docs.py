"""The documentation site: every example of the guides runs, and the built references hold
everything the code has.

Examples: every `sql`, `python` and `sh` block of the pages in docs/ runs against a real server,
page by page and in the page's order (docs/development.md says how), unless a comment right
above it says `<!-- not run: REASON -->`.

References: the site is built (mkdocs build --strict) and its HTML must name every public SQL
function and view of the installed extension, every `pgqrs` command and every public Python
class and method.
"""

from __future__ import annotations

import html
import inspect
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
import psycopg
import pytest

from conftest import PG_BIN, PGQRS_SCRIPT, REPO, cli_env

DOCS = REPO / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_hooks" not in p.parts)
RUN = ("sql", "python", "sh")
FENCE = re.compile(r"^(?:<!-- not run: (?P<reason>.*?) -->\n)?```(?P<lang>[\w-]*)(?P<attrs>[^\n]*)\n(?P<body>.*?)^```$",
                   re.S | re.M)
WITHOUT_PGQRS = "<!-- docs-test: database without pgqrs -->"


@dataclass
class Block:
    language: str
    body: str
    file: str | None         # title="NAME": written to that file, not run
    not_run: str | None      # the reason, when marked not runnable
    line: int


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        title = re.search(r'title="([^"]+)"', match["attrs"])
        found.append(Block(match["lang"], match["body"], title[1] if title else None, match["reason"],
                           text.count("\n", 0, match.start()) + 1))
    return found


def test_every_page_has_blocks_parsed_and_every_marker_a_reason():
    for page in PAGES:
        text = page.read_text()
        assert text.count("```") == 2 * len(blocks(page)), f"{page}: an unclosed or unparsed code fence"
        for reason in re.findall(r"^<!-- not run:(.*?)-->", text, re.M):
            assert reason.strip(), f"{page}: a block marked not run without a reason"
        markers = len(re.findall(r"^<!-- not run:", text, re.M))
        assert markers == sum(1 for b in blocks(page) if b.not_run is not None), \
            f"{page}: a not-run marker that is not right above a code block"


class PageRun:
    """Runs one page's blocks, in order, against one database, in a directory of its own."""

    def __init__(self, page: Path, dsn: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.page, self.dsn, self.workdir = page, dsn, workdir
        self.namespace: dict[str, object] = {"__name__": "__docs__"}
        self.background: list[tuple[subprocess.Popen[str], Path]] = []
        self.env = cli_env(PGQRS_DSN=dsn)
        monkeypatch.chdir(workdir)
        monkeypatch.syspath_prepend(str(workdir))
        for var in list(os.environ):
            if var.startswith("PGQRS_") and var != "PGQRS_PG_BIN":
                monkeypatch.delenv(var)
        monkeypatch.setenv("PGQRS_DSN", dsn)

    def where(self, block: Block) -> str:
        return f"{self.page.relative_to(REPO)}:{block.line}"

    def run(self, block: Block) -> None:
        if block.file:
            (self.workdir / block.file).write_text(block.body)
        elif block.language == "sql":
            self.sql(block)
        elif block.language == "python":
            exec(compile(block.body, self.where(block), "exec"), self.namespace)
        elif block.language == "sh":
            for line in block.body.splitlines():
                self.shell_line(block, line)

    def sql(self, block: Block) -> None:
        done = subprocess.run([str(PG_BIN / "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-d", self.dsn],
                              input=block.body, text=True, capture_output=True, timeout=120)
        assert done.returncode == 0, (self.where(block), done.stderr)

    def shell_line(self, block: Block, line: str) -> None:
        command = line.split("  #")[0].split(" #")[0].strip() if not line.lstrip().startswith("#") else ""
        if not command or command.startswith("export PGQRS_DSN="):
            return  # the test's own database stands in for the page's
        background = command.endswith("&")
        argv = shlex.split(command.rstrip("&"))
        if argv[0] == "pgqrs":
            argv = [str(PGQRS_SCRIPT), *argv[1:]]
        elif argv[0] == "psql":
            argv = [str(PG_BIN / "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-d", self.dsn, *argv[1:]]
        else:
            pytest.fail(f"{self.where(block)}: `{argv[0]}` cannot run here: mark the block <!-- not run: why -->")
        if background:
            log = self.workdir / f"background-{len(self.background)}.log"
            with log.open("w") as out:
                proc = subprocess.Popen(argv, env=self.env, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT,
                                        text=True)
            self.background.append((proc, log))
            return
        done = subprocess.run(argv, env=self.env, cwd=self.workdir, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (self.where(block), command, done.stdout, done.stderr)

    def stop_background(self) -> list[str]:
        """SIGTERM to each background command; its output. Each must exit 0."""
        outputs = []
        for proc, log in self.background:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0, log.read_text()
            outputs.append(log.read_text())
        return outputs


def wait_for(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not reached: {what}"
        time.sleep(0.2)


def check_getting_started(run: PageRun) -> None:
    """A new user's result: every message sent on the page was handled by the worker and archived."""
    def metrics() -> tuple[int, int, int]:
        with psycopg.connect(run.dsn) as conn:
            return conn.execute("SELECT ready, in_flight, archived FROM pgqrs.queue_metrics"
                                " WHERE queue_name = 'emails'").fetchone()

    wait_for(lambda: metrics() == (0, 0, 4), "the worker archived the four messages")
    (worker_output,) = run.stop_background()
    # Handlers run in threads: two print() calls may interleave their text and their newline.
    handled = sorted(re.findall(r"sending to (\S+?@example\.com)", worker_output))
    assert handled == ["bob@example.com", "cy@example.com", "di@example.com"]


#: What a page must have done once its blocks ran, beyond running without an error.
CHECKS = {"getting-started.md": check_getting_started}


def runnable(page: Path) -> bool:
    return any(b.language in RUN and b.not_run is None for b in blocks(page))


@pytest.mark.parametrize("page", [p for p in PAGES if runnable(p)], ids=lambda p: str(p.relative_to(DOCS)))
def test_the_page_runs_as_shown(page, request, tmp_path, monkeypatch):
    text = page.read_text()
    dsn = request.getfixturevalue("empty_dsn" if WITHOUT_PGQRS in text else "dsn")
    run = PageRun(page, dsn, tmp_path, monkeypatch)
    try:
        for block in blocks(page):
            if block.not_run is None and (block.language in RUN or block.file):
                run.run(block)
        CHECKS.get(str(page.relative_to(DOCS)), lambda _run: None)(run)
    finally:
        for proc, _ in run.background:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    run.stop_background()


def test_every_fenced_block_is_run_or_says_why_not():
    """A block in a language the test runs is run, unless marked; the mark needs a reason."""
    for page in PAGES:
        for block in blocks(page):
            if block.language in RUN and block.not_run is not None:
                assert len(block.not_run.split()) >= 3, f"{page}:{block.line}: say why it is not run"


# -- the references against the code ------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict[str, str]:
    """The site built with --strict: page path -> its text (HTML tags dropped, entities decoded)."""
    out = tmp_path_factory.mktemp("site")
    mkdocs = Path(sys.executable).with_name("mkdocs")
    done = subprocess.run([str(mkdocs), "build", "--strict", "--quiet", "-f", str(REPO / "mkdocs.yml"),
                           "--site-dir", str(out)], capture_output=True, text=True, timeout=600,
                          env=os.environ | {"NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr
    return {str(path.relative_to(out)): html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))
            for path in out.rglob("*.html")}


def words(text: str) -> set[str]:
    return set(re.findall(r"[\w.-]+", text))


def test_every_public_sql_function_and_view_is_in_the_sql_reference(site, dsn):
    with psycopg.connect(dsn) as conn:
        functions = {name for (name,) in conn.execute(
            "SELECT p.proname FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'pgqrs'::regnamespace"
            " AND p.proname NOT LIKE '\\_%'")}
        views = {name for (name,) in conn.execute(
            "SELECT viewname FROM pg_catalog.pg_views WHERE schemaname = 'pgqrs'")}
        tables = {name for (name,) in conn.execute(
            "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = 'pgqrs'")}
    assert len(functions) > 30 and views
    reference = words(site["reference/sql/index.html"])
    assert functions - reference == set()
    assert views - reference == set()
    assert tables - reference == set()
    # Each function has its own section, with its signature.
    for name in functions:
        assert f"pgqrs.{name}(" in site["reference/sql/index.html"], name


def test_every_sqlstate_raised_is_in_the_sqlstates_reference(site):
    raised = set()
    for path in (REPO / "extension" / "sql").rglob("*.sql"):
        raised |= set(re.findall(r"ERRCODE\s*=\s*'(PQ\d{3})'", path.read_text()))
    assert raised
    assert raised - words(site["reference/errors/index.html"]) == set()


def test_every_cli_command_and_option_is_in_the_cli_reference(site):
    from pgqrs.cli import cli

    reference = site["reference/cli/index.html"]

    def walk(command: click.Command, path: list[str]) -> None:
        assert " ".join(path) in reference, path
        for param in command.params:
            for flag in getattr(param, "opts", []):
                if flag.startswith("-"):
                    assert flag in reference, (path, flag)
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])

    walk(cli, ["pgqrs"])


def test_every_public_python_class_and_method_is_in_the_python_reference(site):
    import pgqrs

    reference = words(site["reference/python/index.html"])
    missing = []
    for name in pgqrs.__all__:
        if name.startswith("_"):
            continue
        if name not in reference:
            missing.append(name)
        obj = getattr(pgqrs, name)
        if inspect.isclass(obj):
            for member, value in vars(obj).items():
                if not member.startswith("_") and (inspect.isfunction(value) or isinstance(value, (property,
                                                                                                   classmethod))):
                    if member not in reference:
                        missing.append(f"{name}.{member}")
    assert missing == []


def test_every_config_setting_is_in_the_configuration_reference(site):
    import dataclasses

    from pgqrs.config import ENV_VARS, Config

    reference = words(site["reference/config/index.html"])
    for field in dataclasses.fields(Config):
        assert field.name in reference
        assert ENV_VARS[field.name] in reference
