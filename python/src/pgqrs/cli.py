"""The ``pgqrs`` command-line tool.

A thin layer over the library: the root group builds a :class:`State` (click's
``repo`` example), each command makes one or two library calls and hands the
result to :meth:`State.emit`, the one output function for ``--format table``
and ``--format json``. Nothing connects before a command needs the database, so
``--help`` works without a DSN.

Exit codes: 0 success, 1 error (one ``Error: ...`` line on stderr), 2 usage error, 7 a
command that writes, run against a read-only server (a hot standby), 8 the connection broke
under the command (it may have taken effect).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

import click
import psycopg
import psycopg_pool

from pgqrs import __version__
from pgqrs import shard as _shard
from pgqrs._output import (
    ID,
    POSITIVE,
    PRIORITY,
    SECONDS,
    AwareTime,
    Column,
    CommandError,
    FiniteFloat,
    command_error,
    fields_of,
    one_line,
    render_json,
    render_prometheus,
    render_record,
    render_table,
)
from pgqrs.admin import Admin
from pgqrs.config import Config
from pgqrs.consumer import Consumer
from pgqrs.dashboard_cli import dashboard
from pgqrs.errors import InvalidPayload, NotInstalled, OutcomeUnknown, PgqrsError, shorten
from pgqrs.producer import BATCH_ELEMENT, JsonText, Producer, parse_json_payload
from pgqrs.worker import MIN_STALE_AFTER_SECONDS
from pgqrs.worker_cli import run as worker_run

log = logging.getLogger("pgqrs.cli")

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

# What a command may raise that is the user's or the server's problem, not a bug:
# reported as one line, never a traceback.
_REPORTED = (psycopg.Error, psycopg_pool.PoolTimeout, OSError)


# Columns shown in tables (JSON always has every field).
QUEUE_COLUMNS: list[Column] = [
    ("id", "id"),
    ("queue_name", "queue"),
    ("max_attempts", "max attempts"),
    ("group_concurrency", "per key"),
    ("rate_limit", "rate limit"),
    ("created_at", "created"),
    ("paused", "paused"),
]
METRICS_COLUMNS: list[Column] = [
    ("queue_name", "queue"),
    ("ready", "ready"),
    ("in_flight", "in flight"),
    ("delayed", "delayed"),
    ("archived", "archived"),
    ("dead_lettered", "dead"),
    ("waiting", "waiting"),
    ("oldest_ready_age", "oldest ready"),
    ("paused", "paused"),
]
MESSAGE_COLUMNS: list[Column] = [
    ("id", "id"),
    ("read_ct", "reads"),
    ("enqueued_at", "enqueued"),
    ("vt", "visible at"),
    ("worker_id", "worker"),
    ("payload", "payload"),
]
ARCHIVE_COLUMNS: list[Column] = [
    ("id", "id"),
    ("read_ct", "reads"),
    ("enqueued_at", "enqueued"),
    ("archived_at", "archived"),
    ("processing_duration", "took"),
    ("dead_lettered", "dead"),
    ("payload", "payload"),
]
WORKER_COLUMNS: list[Column] = [
    ("worker_id", "id"),
    ("queue_name", "queue"),
    ("hostname", "host"),
    ("port", "port"),
    ("status", "status"),
    ("started_at", "started"),
    ("heartbeat_age", "heartbeat age"),
    ("messages_held", "held"),
]


class State:
    """What the root group knows: where to connect, how to print. Opens lazily."""

    def __init__(self, dsn: str | None, schema: str | None, config_file: str | None, fmt: str, out: str | None):
        self.dsn = dsn
        self.schema = schema
        self.config_file = config_file
        self.format = fmt
        self.out = out
        self._config: Config | None = None
        self._admin: Admin | None = None
        self._out_file: IO[str] | None = None
        self._stack = contextlib.ExitStack()

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = Config.load_with_options(dsn=self.dsn, schema=self.schema, config_file=self.config_file)
            log.debug("schema %s, config from flags, environment and file", self._config.schema)
        return self._config

    def admin(self) -> Admin:
        """The Admin, opened on first use (connection errors surface here), closed by close()."""
        if self._admin is None:
            self._admin = self._stack.enter_context(Admin(self.config))
        return self._admin

    def producer(self, queue: str) -> Producer:
        return Producer(self.admin().pool, queue, self.config)

    def consumer(self, queue: str) -> Consumer:
        return Consumer(self.admin().pool, queue, self.config)

    def close(self) -> None:
        self._stack.close()

    # -- output ---------------------------------------------------------

    def emit(
        self,
        data: Any,
        *,
        columns: Sequence[Column] | None = None,
        text: str | None = None,
        empty: str | None = None,
        as_row: bool = False,
    ) -> None:
        """The one output function.

        ``--format json``: ``data`` as one JSON document, nothing else.
        ``--format table``: ``text`` when given; else a list as an aligned table
        (``empty`` when it has no rows), a record as label/value lines, a
        scalar as itself (a record with ``as_row``: a one-row table).
        """
        if self.format == "json":
            rendered = render_json(data)
        elif text is not None:
            rendered = text
        elif isinstance(data, (list, tuple)):
            rendered = render_table(data, columns) if data or empty is None else empty
        elif data is None or isinstance(data, (str, int, float, bool)):
            rendered = "-" if data is None else str(data)
        elif as_row:
            rendered = render_table([data], columns)
        else:
            rendered = render_record(data, columns)
        click.echo(rendered, file=self._output())

    def _output(self) -> IO[str] | None:
        if self.out is None:
            return None  # click.echo: the current sys.stdout
        if self._out_file is None:
            self._out_file = self._stack.enter_context(click.open_file(self.out, "w", encoding="utf-8"))
        return self._out_file


pass_state = click.make_pass_decorator(State)


class OrderedGroup(click.Group):
    """Lists its commands in the order they are defined, not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


class PgqrsGroup(OrderedGroup):
    """The root group: turns every expected error into one ``Error:`` line (and the server's
    ``Detail:`` and ``Hint:``), exit 1; a configuration error exits 2, as a usage error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                return super().invoke(ctx)
            finally:
                if isinstance(ctx.obj, State):
                    ctx.obj.close()
        except BrokenPipeError:
            raise  # the reader went away (`pgqrs ... | head`): main() exits quietly
        except (PgqrsError, *_REPORTED) as exc:
            log.debug("command failed", exc_info=True)
            # NotInstalled's hint is the library's (Admin.install()); the CLI says it its own way.
            error = command_error(exc, hint=not isinstance(exc, NotInstalled))
            if isinstance(exc, NotInstalled) and ctx.invoked_subcommand != "uninstall":
                error = error.reworded(error.message + "; run `pgqrs install` first")
            raise error from exc


if TYPE_CHECKING:
    from click._termui_impl import ProgressBar  # what click.progressbar() returns

    _StreamHandler = logging.StreamHandler[IO[str]]
else:  # not subscriptable at run time on every Python this supports
    _StreamHandler = logging.StreamHandler


class _StderrHandler(_StreamHandler):
    """Writes to whatever sys.stderr is at the time (click's test runner swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass


class _ServerNoticeHandler(logging.Handler):
    """The server's notices and warnings on stderr, as ``Warning: ...`` lines with their Detail and Hint."""

    def emit(self, record: logging.LogRecord) -> None:
        severity = str(getattr(record, "severity", record.levelname)).capitalize()
        lines = [f"{severity}: {one_line(record.getMessage())}"]
        for label, key in (("Detail", "detail"), ("Hint", "hint")):
            text = getattr(record, key, None)
            if text:
                lines.append(f"{label}: {one_line(text)}")
        click.echo("\n".join(lines), file=sys.stderr)


def _setup_logging(level: str, dest: str) -> None:
    handler: logging.Handler
    if dest == "stderr":
        handler = _StderrHandler()
    else:
        handler = logging.FileHandler(dest, delay=True, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # The pool's warnings (a broken connection discarded, a connection attempt that failed) come
    # before the command's own Error line, which says what happened: shown from info on.
    logging.getLogger("psycopg.pool").setLevel(logging.NOTSET if level in ("debug", "info") else logging.ERROR)
    # The server's messages follow --log-level like every other (WARNING shown by default,
    # NOTICE from info on), but look like the CLI's own Error lines, on stderr.
    server = logging.getLogger("pgqrs.server")
    server.handlers[:] = [_ServerNoticeHandler()]
    server.propagate = dest != "stderr"  # a log file gets them too; stderr shows them once


@click.group(cls=PgqrsGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-d", "--dsn", metavar="DSN", help="PostgreSQL connection string [env: PGQRS_DSN].")
@click.option("-s", "--schema", metavar="NAME", help="Schema of pgqrs (default: pgqrs) [env: PGQRS_SCHEMA].")
@click.option(
    "-c",
    "--config",
    "config_file",
    metavar="FILE",
    help="YAML config file (default: ./pgqrs.yaml or ./pgqrs.yml) [env: PGQRS_CONFIG_FILE].",
)
@click.option(
    "--log-dest",
    default="stderr",
    show_default=True,
    envvar="PGQRS_LOG_DEST",
    metavar="stderr|FILE",
    help="Where log lines go: stderr or a file path.",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="warning",
    show_default=True,
    envvar="PGQRS_LOG_LEVEL",
    help="Log level.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: aligned columns for people; json: one JSON document and nothing else on stdout.",
)
@click.option("--out", metavar="FILE", help="Write the output to FILE instead of stdout.")
@click.version_option(__version__, "--version", prog_name="pgqrs")
@click.pass_context
def cli(
    ctx: click.Context,
    dsn: str | None,
    schema: str | None,
    config_file: str | None,
    log_dest: str,
    log_level: str,
    fmt: str,
    out: str | None,
) -> None:
    """pgqrs: a job queue inside PostgreSQL.

    Settings come from the flags, then the PGQRS_* environment variables, then
    the YAML file, then the defaults. Exit codes: 0 success, 1 error (one line
    on stderr), 2 usage error, 7 a write on a read-only server (a hot standby), 8 the
    connection broke under the command (it may have taken effect: look before running it again).

    \b
    Example:
      export PGQRS_DSN=postgresql://localhost/mydb
      pgqrs install
      pgqrs queue create emails
      pgqrs message send emails '{"to": "ann@example.com"}'
      pgqrs message dequeue emails
      pgqrs queue metrics
    """
    _setup_logging(log_level, log_dest)
    ctx.obj = State(dsn, schema, config_file, fmt, out)


def main(argv: Sequence[str] | None = None) -> None:
    """Console script entry point."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="pgqrs")
    except BrokenPipeError:
        # Python's advice: point stdout at devnull so the final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


# -- install / uninstall / verify ---------------------------------------------


@cli.command()
@click.option("--role-prefix", metavar="PREFIX",
              help="Group roles PREFIX_producer, PREFIX_consumer, PREFIX_admin (default: the schema's name).")
@click.option("--reuse-roles", is_flag=True,
              help="Use existing group roles of those names that pgqrs did not create (refused otherwise).")
@click.option("--allow-writable-schema", is_flag=True,
              help="Install directly into a schema where roles other than its owner may create objects.")
@pass_state
def install(state: State, role_prefix: str | None, reuse_roles: bool, allow_writable_schema: bool) -> None:
    """Install pgqrs into the schema, or upgrade it (idempotent).

    Does nothing when this version is installed already, except give back missing group roles and grants. Uses
    CREATE EXTENSION when the server has the extension files (schema pgqrs only; a superuser's job), and runs the
    same SQL directly into the schema otherwise. An older install is upgraded in place: ALTER EXTENSION pgqrs
    UPDATE, or the upgrade scripts this package carries for a direct install. Prints which way it went.
    """
    result = state.admin().install(
        role_prefix=role_prefix, reuse_roles=reuse_roles, allow_writable_schema=allow_writable_schema
    )
    how = "extension (CREATE EXTENSION)" if result.method == "extension" else "direct (SQL script run into the schema)"
    if result.previous_version is not None:
        text = f"upgraded pgqrs from {result.previous_version} to {result.version} in schema {result.schema}: {how}"
    elif result.changed:
        text = f"installed pgqrs {result.version} in schema {result.schema}: {how}"
    else:
        text = f"pgqrs {result.version} already installed in schema {result.schema}: {how}"
    state.emit(result, text=text)


@cli.command()
@click.option("--force", is_flag=True, help="Also when queues, messages or workers remain (they are deleted).")
@pass_state
def uninstall(state: State, force: bool) -> None:
    """Remove pgqrs and its tables from the schema."""
    state.admin().uninstall(force=force)
    schema = state.config.schema
    state.emit({"schema": schema, "uninstalled": True}, text=f"uninstalled pgqrs from schema {schema}")


@cli.command()
@pass_state
def verify(state: State) -> None:
    """Check the installation (exit 1 and list the problems when not ok)."""
    report = state.admin().verify()
    if report.ok:
        text = f"ok: pgqrs {report.version} in schema {report.schema}"
    else:
        text = "\n".join([f"pgqrs in schema {report.schema}: {len(report.problems)} problem(s)"]
                         + [f"  - {problem}" for problem in report.problems])
    state.emit(report, text=text)
    if not report.ok:
        problems = "; ".join(report.problems) or "unknown problem"
        raise click.ClickException(f"pgqrs is not installed correctly in schema {report.schema}: {problems}")


# -- queue --------------------------------------------------------------------


@cli.group(cls=OrderedGroup)
def queue() -> None:
    """Create, list, delete, purge and measure queues."""


@queue.command("create")
@click.argument("name")
@click.option("--max-attempts", type=POSITIVE, help="Deliveries after which a message is dead-lettered.")
@click.option("--group-concurrency", type=POSITIVE,
              help="Messages of one group key in flight at once (default 1).")
@click.option("--rate-limit", type=FiniteFloat(min=0, min_open=True), metavar="PER_SECOND",
              help="Deliveries a second over all consumers (default: no limit).")
@click.option("--if-not-exists", is_flag=True, help="No error when the queue exists already.")
@pass_state
def queue_create(state: State, name: str, max_attempts: int | None, group_concurrency: int | None,
                 rate_limit: float | None, if_not_exists: bool) -> None:
    """Create the queue NAME."""
    queue_id = state.admin().create_queue(name, max_attempts=max_attempts, if_not_exists=if_not_exists,
                                          group_concurrency=group_concurrency, rate_limit=rate_limit)
    state.emit({"queue": name, "id": queue_id}, text=f"queue {name} (id {queue_id})")


@queue.command("alter")
@click.argument("name")
@click.option("--max-attempts", type=SECONDS, help="Deliveries after which a message is dead-lettered (0: no limit).")
@click.option("--group-concurrency", type=POSITIVE, help="Messages of one group key in flight at once.")
@click.option("--rate-limit", type=FiniteFloat(min=0), metavar="PER_SECOND",
              help="Deliveries a second over all consumers (0: no limit).")
@click.option("--max-payload-bytes", type=POSITIVE, help="The largest payload an enqueue accepts.")
@pass_state
def queue_alter(state: State, name: str, max_attempts: int | None, group_concurrency: int | None,
                rate_limit: float | None, max_payload_bytes: int | None) -> None:
    """Change the settings of the queue NAME (those not given stay as they are)."""
    admin = state.admin()
    admin.alter_queue(name, max_attempts=max_attempts, group_concurrency=group_concurrency,
                      rate_limit=rate_limit, max_payload_bytes=max_payload_bytes)
    queue = next(q for q in admin.list_queues() if q.queue_name == name)
    state.emit(queue, columns=QUEUE_COLUMNS, as_row=True)


@queue.command("list")
@pass_state
def queue_list(state: State) -> None:
    """List the queues."""
    state.emit(state.admin().list_queues(), columns=QUEUE_COLUMNS, empty="no queues")


@queue.command("delete")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also when it still holds messages, archived messages or workers.")
@pass_state
def queue_delete(state: State, name: str, force: bool) -> None:
    """Delete the queue NAME (refused while it is not empty, unless --force)."""
    deleted = state.admin().drop_queue(name, force=force)
    state.emit({"queue": name, "deleted": deleted}, text=f"deleted queue {name}" if deleted else f"queue {name} not deleted")


@queue.command("purge")
@click.argument("name")
@pass_state
def queue_purge(state: State, name: str) -> None:
    """Delete every message of the queue NAME (not its archive)."""
    count = state.admin().purge_queue(name)
    state.emit({"queue": name, "purged": count}, text=f"purged {count} message(s) from queue {name}")


@queue.command("pause")
@click.argument("name")
@pass_state
def queue_pause(state: State, name: str) -> None:
    """Stop deliveries from the queue NAME (enqueues are still accepted)."""
    state.admin().pause_queue(name)
    state.emit({"queue": name, "paused": True}, text=f"paused queue {name}")


@queue.command("resume")
@click.argument("name")
@pass_state
def queue_resume(state: State, name: str) -> None:
    """Deliver again from the paused queue NAME."""
    state.admin().resume_queue(name)
    state.emit({"queue": name, "paused": False}, text=f"resumed queue {name}")


@queue.command("metrics")
@click.argument("name", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "prometheus"]),
    help="As the global --format, or prometheus: the Prometheus text exposition format.",
)
@pass_state
def queue_metrics(state: State, name: str | None, fmt: str | None) -> None:
    """Messages ready, in flight, delayed, archived and dead, per queue.

    With NAME, that queue only; without, every queue. The prometheus format
    uses the metric names of monitoring/postgres_exporter.yaml.
    """
    admin = state.admin()
    rows = admin.metrics_all() if name is None else [admin.metrics(name)]
    if fmt == "prometheus":
        state.format = "table"  # emit() writes the text as it is
        state.emit(None, text=render_prometheus(rows).rstrip("\n"))
        return
    if fmt is not None:
        state.format = fmt
    if name is None:
        state.emit(rows, columns=METRICS_COLUMNS, empty="no queues")
    else:
        state.emit(rows[0], columns=METRICS_COLUMNS, as_row=True)


# -- message ------------------------------------------------------------------


@cli.group(cls=OrderedGroup)
def message() -> None:
    """Send, read, delete and inspect messages."""


#: Exit status after Ctrl-C, as a shell reports a process ended by SIGINT.
EXIT_INTERRUPTED = 128 + signal.SIGINT


def _parse_payload(text: str) -> JsonText:
    try:
        return parse_json_payload(text)
    except InvalidPayload as exc:
        raise CommandError(str(exc)) from None


def _json_whitespace_only(text: str) -> bool:
    return not text.strip(" \t\r\n")  # JSON's whitespace, not Python's idea of it


def _read_json_lines(stream: IO[bytes], where: str) -> tuple[list[JsonText], list[int]]:
    """Every non-blank line as checked JSON text, and its line number; the first bad line is an error."""
    payloads: list[JsonText] = []
    line_numbers: list[int] = []
    for lineno, raw in enumerate(stream, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{where}:{lineno}: not UTF-8: byte 0x{raw[exc.start]:02x} at column {exc.start + 1}; nothing was sent"
            ) from None
        if _json_whitespace_only(text):
            continue
        try:
            payloads.append(parse_json_payload(text))
        except InvalidPayload as exc:
            raise CommandError(f"{where}:{lineno}: {exc}; nothing was sent") from None
        line_numbers.append(lineno)
    return payloads, line_numbers


class _Interrupts:
    """Ctrl-C raises KeyboardInterrupt until ``committing`` is set; after that the send can no
    longer be undone, so a late Ctrl-C is ignored rather than reported as "nothing was sent".

    Once interrupted, psycopg's warnings about the connection it gave up (the rollback that
    could not be sent on it) are expected, not news: they are kept off stderr.
    """

    def __init__(self) -> None:
        self.committing = False
        self._previous: Any = None
        self._driver_log = logging.getLogger("psycopg")
        self._driver_level = self._driver_log.level

    def _handle(self, signum: int, frame: Any) -> None:
        if not self.committing:
            self._driver_log.setLevel(logging.CRITICAL)
            raise KeyboardInterrupt

    def __enter__(self) -> _Interrupts:
        self._previous = signal.getsignal(signal.SIGINT)
        if self._previous is not signal.SIG_IGN:  # started with SIGINT ignored (nohup, &): keep it so
            signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, self._previous)
        self._driver_log.setLevel(self._driver_level)


def _line_error(exc: PgqrsError, where: str, line_numbers: list[int]) -> CommandError:
    """A server refusal that names payloads[i], as the line of the file it came from."""
    error = command_error(exc)
    match = BATCH_ELEMENT.search(error.message)
    message = error.message
    if match is not None and 1 <= int(match.group(1)) <= len(line_numbers):
        line = line_numbers[int(match.group(1)) - 1]
        message = f"{where}:{line}: {BATCH_ELEMENT.sub('payload', message, count=1)}"
    # A connection that broke under the transaction may have broken under its commit.
    return error.reworded(message if isinstance(exc, OutcomeUnknown) else message + "; nothing was sent")


@message.command("send")
@click.argument("queue_name", metavar="QUEUE")
@click.argument("payload", required=False)
@click.option("--delay", type=SECONDS, default=0, show_default=True, help="Seconds before it is visible.")
@click.option("--priority", type=PRIORITY, default=0, show_default=True, help="Higher is delivered first.")
@click.option("--group-key", metavar="KEY",
              help="Deliver the messages of KEY in order, the queue's group concurrency at once.")
@click.option("--dedupe-key", metavar="KEY",
              help="Send nothing while an unfinished message of QUEUE holds KEY (its id is printed).")
@click.option("--dedupe-seconds", type=SECONDS, default=0, show_default=True,
              help="Keep --dedupe-key taken this long after the message is done.")
@click.option("--run-at", type=AwareTime(), metavar="TIME",
              help="Visible at TIME (ISO 8601 with a time zone, such as 2026-12-24T09:00:00Z) instead of after --delay.")
@click.option(
    "--file",
    "file",
    type=click.File("rb"),
    help="Read JSON lines (one payload a line) from FILE; - for stdin.",
)
@pass_state
def message_send(state: State, queue_name: str, payload: str | None, delay: int, priority: int,
                 group_key: str | None, dedupe_key: str | None, dedupe_seconds: int, run_at: dt.datetime | None,
                 file: IO[bytes] | None) -> None:
    """Send PAYLOAD (JSON) to QUEUE.

    Without PAYLOAD, or with --file, reads JSON lines (one payload a line, UTF-8) and
    sends them in batches, all in one transaction: every line is checked before
    anything is sent, and an error or Ctrl-C sends nothing. --priority, --group-key and
    --run-at apply to every line; --dedupe-key takes one PAYLOAD.
    """
    if payload is not None and file is not None:
        raise click.UsageError("give either PAYLOAD or --file, not both")
    if run_at is not None and delay:
        raise click.UsageError("give either --delay or --run-at, not both")
    if payload is not None:
        msg_id = state.producer(queue_name).enqueue(
            _parse_payload(payload), delay_seconds=delay, priority=priority, group_key=group_key,
            dedupe_key=dedupe_key, run_at=run_at, dedupe_seconds=dedupe_seconds)
        state.emit({"queue": queue_name, "id": msg_id}, text=f"sent message {msg_id} to queue {queue_name}")
        return
    if dedupe_key is not None:
        raise click.UsageError("--dedupe-key takes one PAYLOAD, not lines from --file or stdin")

    stream = file if file is not None else sys.stdin.buffer
    where = str(getattr(file, "name", "-"))  # shown whole: the path of a file that could be opened
    if file is None or where in ("-", "<stdin>"):
        where = "stdin"
    with _Interrupts() as interrupts:
        try:
            producer = state.producer(queue_name)  # a bad DSN is reported before a long file is read
            payloads, line_numbers = _read_json_lines(stream, where)
            try:
                ids = _send_all(producer, queue_name, payloads, delay, priority, group_key, run_at, interrupts)
            except PgqrsError as exc:
                raise _line_error(exc, where, line_numbers) from exc
        except KeyboardInterrupt:
            raise CommandError(
                f"interrupted: nothing was sent to queue {shorten(queue_name)}", exit_code=EXIT_INTERRUPTED
            ) from None
    text = f"sent {len(ids)} message(s) to queue {queue_name}"
    if ids:
        text += f" (ids {ids[0]}..{ids[-1]})"
    state.emit({"queue": queue_name, "count": len(ids), "ids": ids}, text=text)


def _send_all(
    producer: Producer, queue_name: str, payloads: list[JsonText], delay: int, priority: int,
    group_key: str | None, run_at: dt.datetime | None, interrupts: _Interrupts
) -> list[int]:
    """Every payload, in batches of one transaction, with a progress bar on a terminal."""
    with _progress(len(payloads), f"sending to {queue_name}") as progress:
        shown = 0

        def on_batch(sent: int) -> None:
            nonlocal shown
            if progress is not None:
                progress.update(sent - shown)
                shown = sent
            if sent == len(payloads):
                interrupts.committing = True  # what follows is the COMMIT

        return producer.enqueue_many(
            payloads, delay_seconds=delay, on_batch=on_batch,
            priorities=[priority] * len(payloads) if priority else None,
            group_keys=[group_key] * len(payloads) if group_key is not None else None,
            run_at=run_at,
        )


def _stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def _progress(length: int, label: str) -> contextlib.AbstractContextManager[ProgressBar[int] | None]:
    """A progress bar on stderr when it is a terminal; otherwise nothing (yields None)."""
    if length and _stderr_is_tty():
        return click.progressbar(length=length, label=label, file=sys.stderr)
    return contextlib.nullcontext()


@message.command("read")
@click.argument("queue_name", metavar="QUEUE")
@click.option("--count", type=POSITIVE, default=1, show_default=True, help="How many to lease at most.")
@click.option("--lock-time", type=POSITIVE, help="Seconds the messages stay leased (default: from config).")
@click.option("--archive", is_flag=True, help="Archive the messages read (acknowledge them).")
@pass_state
def message_read(state: State, queue_name: str, count: int, lock_time: int | None, archive: bool) -> None:
    """Lease up to --count visible messages of QUEUE and show them."""
    consumer = state.consumer(queue_name)
    messages = consumer.dequeue_batch(qty=count, lock_time_seconds=lock_time)
    rows: list[Any] = list(messages)
    columns = MESSAGE_COLUMNS
    if archive and messages:
        done = consumer.archive_batch([m.id for m in messages])
        rows = [{**fields_of(m), "archived": ok} for m, ok in zip(messages, done, strict=True)]
        columns = [*MESSAGE_COLUMNS[:-1], ("archived", "archived"), MESSAGE_COLUMNS[-1]]
    state.emit(rows, columns=columns, empty=f"no message ready in queue {queue_name}")


@message.command("dequeue")
@click.argument("queue_name", metavar="QUEUE")
@click.option("--lock-time", type=POSITIVE, help="Seconds the message stays leased (default: from config).")
@pass_state
def message_dequeue(state: State, queue_name: str, lock_time: int | None) -> None:
    """Lease the oldest visible message of QUEUE and print it (JSON: null when none)."""
    msg = state.consumer(queue_name).dequeue(lock_time_seconds=lock_time)
    state.emit(msg, text=f"no message ready in queue {queue_name}" if msg is None else None)


@message.command("delete")
@click.argument("queue_name", metavar="QUEUE")
@click.argument("msg_id", metavar="ID", type=ID)
@pass_state
def message_delete(state: State, queue_name: str, msg_id: int) -> None:
    """Delete the message ID of QUEUE (exit 1 when there is no such message)."""
    if not state.consumer(queue_name).delete(msg_id):
        raise click.ClickException(f"message {msg_id} not found in queue {shorten(queue_name)}")
    state.emit({"queue": queue_name, "id": msg_id, "deleted": True}, text=f"deleted message {msg_id}")


@message.command("count")
@click.argument("queue_name", metavar="QUEUE")
@click.option("--archive", is_flag=True, help="Count the archived messages instead.")
@pass_state
def message_count(state: State, queue_name: str, archive: bool) -> None:
    """How many messages QUEUE holds (or its archive, with --archive)."""
    admin = state.admin()
    count = admin.count_archive(queue_name) if archive else admin.count_messages(queue_name)
    state.emit({"queue": queue_name, "archive": archive, "count": count}, text=str(count))


@message.command("show")
@click.argument("queue_name", metavar="QUEUE")
@click.argument("msg_id", metavar="ID", type=ID)
@click.option("--archive", is_flag=True, help="Look in the archive.")
@pass_state
def message_show(state: State, queue_name: str, msg_id: int, archive: bool) -> None:
    """Show the message ID of QUEUE without leasing it."""
    admin = state.admin()
    msg = admin.get_archived(queue_name, msg_id) if archive else admin.get_message(queue_name, msg_id)
    if msg is None:
        where = "the archive of queue" if archive else "queue"
        raise click.ClickException(f"message {msg_id} not found in {where} {shorten(queue_name)}")
    state.emit(msg)


#: The exit code of `pgqrs message wait` for each state: 0 once done, else which way it ended.
WAIT_EXIT_CODES = {"done": 0, "dead": 3, "cancelled": 4, "unknown": 6}
#: ... and when the time was up before it finished.
WAIT_EXIT_UNFINISHED = 5


@message.command("status")
@click.argument("queue_name", metavar="QUEUE")
@click.argument("msg_id", metavar="ID", type=ID)
@pass_state
def message_status(state: State, queue_name: str, msg_id: int) -> None:
    """The state of the message ID of QUEUE (ready, delayed, in_flight, done, dead, cancelled or
    unknown), its deliveries, its result and when it finished."""
    state.emit(state.producer(queue_name).message_status(msg_id))


@message.command("wait")
@click.argument("queue_name", metavar="QUEUE")
@click.argument("msg_id", metavar="ID", type=ID)
@click.option("--timeout", type=SECONDS, default=30, show_default=True, metavar="SECONDS",
              help="How long to wait for the message to finish.")
@pass_state
def message_wait(state: State, queue_name: str, msg_id: int, timeout: int) -> None:
    """Wait until the message ID of QUEUE is finished, then print its status.

    Exit code: 0 done, 3 dead-lettered, 4 cancelled, 5 not finished when the time was up,
    6 unknown (deleted, or never enqueued).
    """
    status = state.producer(queue_name).wait_for(msg_id, timeout)
    state.emit(status)
    code = WAIT_EXIT_CODES.get(status.state, WAIT_EXIT_UNFINISHED)
    if code:
        click.get_current_context().exit(code)


@message.command("cancel")
@click.argument("queue_name", metavar="QUEUE")
@click.argument("msg_id", metavar="ID", type=ID)
@pass_state
def message_cancel(state: State, queue_name: str, msg_id: int) -> None:
    """Cancel the message ID of QUEUE: at once when no worker holds it, else when its lease
    ends (its worker is told). Exit 1 when there was nothing to cancel."""
    if not state.producer(queue_name).cancel(msg_id):
        raise click.ClickException(
            f"message {msg_id} of queue {shorten(queue_name)} not cancelled: it is finished, unknown, "
            "or its cancel is pending already")
    state.emit({"queue": queue_name, "id": msg_id, "cancelled": True}, text=f"cancelled message {msg_id}")


# -- worker -------------------------------------------------------------------


@cli.group(cls=OrderedGroup)
def worker() -> None:
    """Run a worker; list, inspect, stop, reap and purge workers."""


worker.add_command(worker_run)


@worker.command("list")
@click.option("--queue", "queue_name", metavar="QUEUE", help="Only the workers of QUEUE.")
@pass_state
def worker_list(state: State, queue_name: str | None) -> None:
    """List the workers with their heartbeat age and the messages they hold."""
    state.emit(state.admin().list_workers(queue=queue_name), columns=WORKER_COLUMNS, empty="no workers")


@worker.command("show")
@click.argument("worker_id", metavar="ID", type=ID)
@pass_state
def worker_show(state: State, worker_id: int) -> None:
    """Show the worker ID."""
    state.emit(state.admin().get_worker(worker_id))


@worker.command("stop")
@click.argument("worker_id", metavar="ID", type=ID)
@pass_state
def worker_stop(state: State, worker_id: int) -> None:
    """Mark the worker ID stopped; the messages it held become visible again."""
    released = state.admin().stop_worker(worker_id)
    state.emit(
        {"worker_id": worker_id, "stopped": True, "released": released},
        text=f"stopped worker {worker_id}, released {released} message(s)",
    )


@worker.command("reap")
@click.option(
    "--stale-after",
    type=click.IntRange(min=MIN_STALE_AFTER_SECONDS, max=SECONDS.max),
    required=True,
    metavar="SECONDS",
    help=f"Heartbeat age that counts as dead (at least {MIN_STALE_AFTER_SECONDS}).",
)
@click.option("--queue", "queue_name", metavar="QUEUE",
              help="Only the workers of QUEUE (default: every queue, which needs the admin's rights).")
@pass_state
def worker_reap(state: State, stale_after: int, queue_name: str | None) -> None:
    """Mark workers without a recent heartbeat dead and release their messages."""
    released = state.admin().reap_workers(stale_after, queue=queue_name)
    state.emit(
        {"stale_after_seconds": stale_after, "queue": queue_name, "released": released},
        text=f"released {released} message(s) held by workers silent for {stale_after}s or more",
    )


@worker.command("purge")
@click.option(
    "--older-than",
    type=SECONDS,
    default=86400,
    show_default=True,
    metavar="SECONDS",
    help="Delete stopped or dead workers that ended this long ago.",
)
@pass_state
def worker_purge(state: State, older_than: int) -> None:
    """Delete the records of stopped and dead workers."""
    purged = state.admin().purge_workers(older_than_seconds=older_than)
    state.emit({"older_than_seconds": older_than, "purged": purged}, text=f"purged {purged} worker(s)")


# -- archive ------------------------------------------------------------------


@cli.group(cls=OrderedGroup)
def archive() -> None:
    """List, purge and replay archived messages and dead letters."""


@archive.command("list")
@click.argument("queue_name", metavar="QUEUE")
@click.option("--limit", type=POSITIVE, default=100, show_default=True, help="At most this many.")
@click.option("--dead-letters", is_flag=True, help="Only the dead letters.")
@pass_state
def archive_list(state: State, queue_name: str, limit: int, dead_letters: bool) -> None:
    """List the archived messages of QUEUE."""
    admin = state.admin()
    rows = admin.dead_letters(queue_name, limit=limit) if dead_letters else admin.list_archive(queue_name, limit=limit)
    what = "dead letters" if dead_letters else "archived messages"
    state.emit(rows, columns=ARCHIVE_COLUMNS, empty=f"no {what} in queue {queue_name}")


@archive.command("purge")
@click.argument("queue_name", metavar="QUEUE")
@click.option("--older-than", type=SECONDS, metavar="SECONDS", help="Only rows archived this long ago.")
@click.option("--include-dead-letters", is_flag=True, help="Delete dead letters too.")
@pass_state
def archive_purge(state: State, queue_name: str, older_than: int | None, include_dead_letters: bool) -> None:
    """Delete archived messages of QUEUE (dead letters are kept unless asked)."""
    purged = state.admin().purge_archive(
        queue_name, older_than_seconds=older_than, include_dead_letters=include_dead_letters
    )
    state.emit({"queue": queue_name, "purged": purged}, text=f"purged {purged} archived message(s) of queue {queue_name}")


@archive.command("replay")
@click.argument("queue_name", metavar="QUEUE")
@click.argument("ids", metavar="[IDS]...", nargs=-1, type=ID)
@pass_state
def archive_replay(state: State, queue_name: str, ids: tuple[int, ...]) -> None:
    """Send dead letters of QUEUE again (those with IDS, or all of them)."""
    replayed = state.admin().replay_dead_letters(queue_name, ids=list(ids) or None)
    text = f"replayed {len(replayed)} dead letter(s) into queue {queue_name}"
    if replayed:
        text += ": " + " ".join(str(i) for i in replayed)
    state.emit({"queue": queue_name, "replayed": list(replayed)}, text=text)


@archive.command("purge-dead")
@click.argument("queue_name", metavar="QUEUE")
@click.argument("ids", metavar="[IDS]...", nargs=-1, type=ID)
@pass_state
def archive_purge_dead(state: State, queue_name: str, ids: tuple[int, ...]) -> None:
    """Delete dead letters of QUEUE (those with IDS, or all of them); the rest of the archive stays."""
    purged = state.admin().purge_dead_letters(queue_name, ids=list(ids) or None)
    state.emit({"queue": queue_name, "purged": list(purged)},
               text=f"deleted {len(purged)} dead letter(s) of queue {queue_name}")


# -- schedules and topics ------------------------------------------------------

SCHEDULE_COLUMNS: list[Column] = [
    ("schedule_name", "schedule"),
    ("queue_name", "queue"),
    ("cron", "cron"),
    ("time_zone", "time zone"),
    ("next_run_at", "next run"),
    ("last_run_at", "last run"),
    ("payload", "payload"),
]
BINDING_COLUMNS: list[Column] = [("pattern", "pattern"), ("queue_name", "queue"), ("created_at", "created")]


@cli.group(cls=OrderedGroup)
def schedule() -> None:
    """Enqueue messages on a cron schedule (run by every `pgqrs worker run`, or pg_cron)."""


@schedule.command("create")
@click.argument("name")
@click.argument("queue_name", metavar="QUEUE")
@click.argument("cron")
@click.argument("payload", required=False, default="{}")
@click.option("--time-zone", default="UTC", show_default=True, help="The zone the cron expression is read in.")
@pass_state
def schedule_create(state: State, name: str, queue_name: str, cron: str, payload: str, time_zone: str) -> None:
    """Enqueue PAYLOAD (JSON, default {}) into QUEUE at every time CRON names ("minute hour
    day-of-month month day-of-week", e.g. "*/15 9-17 * * MON-FRI"). A schedule NAME that exists is
    replaced."""
    schedule_id = state.admin().create_schedule(name, queue_name, cron, _parse_payload(payload), time_zone)
    state.emit({"schedule": name, "id": schedule_id}, text=f"schedule {name} enqueues into queue {queue_name}")


@schedule.command("list")
@pass_state
def schedule_list(state: State) -> None:
    """List the schedules with their next and last run."""
    state.emit(state.admin().list_schedules(), columns=SCHEDULE_COLUMNS, empty="no schedules")


@schedule.command("delete")
@click.argument("name")
@pass_state
def schedule_delete(state: State, name: str) -> None:
    """Delete the schedule NAME (exit 1 when there is none)."""
    if not state.admin().drop_schedule(name):
        raise click.ClickException(f"schedule {shorten(name)} not found")
    state.emit({"schedule": name, "deleted": True}, text=f"deleted schedule {name}")


@schedule.command("run")
@pass_state
def schedule_run(state: State) -> None:
    """Enqueue what the schedules have due now, once (what workers do on each heartbeat)."""
    enqueued = state.admin().run_schedules()
    state.emit({"enqueued": enqueued}, text=f"enqueued {enqueued} scheduled message(s)")


@cli.group(cls=OrderedGroup)
def topic() -> None:
    """Bind queues to topic patterns and publish to every queue a topic matches."""


@topic.command("bind")
@click.argument("pattern")
@click.argument("queue_name", metavar="QUEUE")
@pass_state
def topic_bind(state: State, pattern: str, queue_name: str) -> None:
    """Bind QUEUE to PATTERN (words separated by "."; "*" one word, "#" any number)."""
    new = state.admin().bind_topic(pattern, queue_name)
    state.emit({"pattern": pattern, "queue": queue_name, "new": new},
               text=f"queue {queue_name} bound to {pattern}" + ("" if new else " (already)"))


@topic.command("unbind")
@click.argument("pattern")
@click.argument("queue_name", metavar="QUEUE")
@pass_state
def topic_unbind(state: State, pattern: str, queue_name: str) -> None:
    """Remove the binding of QUEUE to PATTERN (exit 1 when there is none)."""
    if not state.admin().unbind_topic(pattern, queue_name):
        raise click.ClickException(f"queue {shorten(queue_name)} is not bound to {shorten(pattern)}")
    state.emit({"pattern": pattern, "queue": queue_name, "unbound": True}, text=f"unbound {queue_name} from {pattern}")


@topic.command("list")
@pass_state
def topic_list(state: State) -> None:
    """List the topic bindings."""
    state.emit(state.admin().list_topic_bindings(), columns=BINDING_COLUMNS, empty="no topic bindings")


@topic.command("publish")
@click.argument("topic_name", metavar="TOPIC")
@click.argument("payload")
@pass_state
def topic_publish(state: State, topic_name: str, payload: str) -> None:
    """Send PAYLOAD (JSON) to every queue bound to a pattern that matches TOPIC."""
    queues = Producer(state.admin().pool, "", state.config).publish(topic_name, _parse_payload(payload))
    state.emit({"topic": topic_name, "queues": queues}, text=f"published to {queues} queue(s)")


# -- shard ----------------------------------------------------------------------

SHARD_COLUMNS: list[Column] = [("partition", "partition"), ("node", "node"), ("database", "database"),
                               ("queues", "queues")]


@cli.group(cls=OrderedGroup)
def shard() -> None:
    """Spread queues over several servers behind a PL/Proxy database (--dsn names the proxy)."""


@shard.command("install")
@click.option("--node", "nodes", multiple=True, metavar="DSN",
              help="A server to hold partitions (repeat; needed for a new cluster). Its user and password log "
                   "the proxy in to every partition.")
@click.option("--partitions", type=POSITIVE, default=_shard.DEFAULT_PARTITIONS, show_default=True,
              help="Partitions of a new cluster: a power of two, at least the number of nodes, at most 128.")
@pass_state
def shard_install(state: State, nodes: tuple[str, ...], partitions: int) -> None:
    """Install pgqrs on every partition and the proxy functions in the proxy database (idempotent).

    A new cluster gets PARTITIONS databases SCHEMA_p0, SCHEMA_p1, ... spread round-robin over the nodes; an
    existing one keeps its partitions where they are and is brought up to date: pgqrs upgraded on every
    partition, the proxy schema made again from the nodes' functions.
    """
    plan = _shard.install(state.config.dsn, state.config.schema, nodes, partitions)
    rows = [{"partition": p.number, "node": p.node, "database": p.database} for p in plan]
    state.emit(rows, text=f"cluster {_shard.cluster_name(state.config.schema)}: {len(plan)} partitions on "
               f"{len({p.node for p in plan})} node(s), proxy schema {state.config.schema} installed")


@shard.command("verify")
@pass_state
def shard_verify(state: State) -> None:
    """Check the proxy and every partition (exit 1 and list the problems when not ok)."""
    problems = _shard.verify(state.config.dsn, state.config.schema)
    state.emit({"ok": not problems, "problems": problems},
               text="ok: every partition answers with pgqrs verified" if not problems
               else "\n".join([f"{len(problems)} problem(s)"] + [f"  - {p}" for p in problems]))
    if problems:
        raise click.ClickException("the cluster has problems: " + "; ".join(problems))


@shard.command("status")
@pass_state
def shard_status(state: State) -> None:
    """Each partition: its node (host:port), database and queues (exit 1 when one does not answer)."""
    partitions = _shard.status(state.config.dsn, state.config.schema)
    rows = [s if state.format == "json" else
            dataclasses.asdict(s) | {"queues": f"does not answer: {s.error}" if s.error else ", ".join(s.queues)}
            for s in partitions]
    state.emit(rows, columns=SHARD_COLUMNS)
    silent = [str(s.partition) for s in partitions if s.error]
    if silent:
        raise click.ClickException(f"partition(s) {', '.join(silent)} do not answer")


@shard.command("move")
@click.option("--partition", "number", type=click.IntRange(0), required=True, help="The partition to move.")
@click.option("--to", "to_dsn", required=True, metavar="DSN",
              help="The server to move it to (logging in with the cluster's user and password).")
@click.option("--pg-bin", metavar="DIR", help="Where pg_dump and pg_restore are (default: PATH).")
@pass_state
def shard_move(state: State, number: int, to_dsn: str, pg_bin: str | None) -> None:
    """Move a partition to another server while producers and workers run.

    Its database is closed and renamed (kept, not dropped), copied with pg_dump | pg_restore, counted, and the
    proxy pointed at the copy. Calls to the partition fail meanwhile (clients retry, the worker runner does).
    """
    result = _shard.move(state.config.dsn, number, to_dsn, state.config.schema, pg_bin)
    state.emit(result, text=f"moved partition {result.partition} from {result.source} to {result.target}"
               f" ({result.rows['pgqrs_messages'] + result.rows['pgqrs_delayed']} messages,"
               f" {result.rows['pgqrs_archive']} archived); the old database is kept as {result.kept_as}")


# -- dashboard ------------------------------------------------------------------

cli.add_command(dashboard)


if __name__ == "__main__":  # pragma: no cover
    main()
