"""The CLI's shared pieces: parameter types for what comes in, rendering for what goes out.

Parameter types: every integer option or argument is bounded to the SQL type it
feeds (a 32-bit integer, a 64-bit id), so a value out of range is a usage error
(exit 2) before anything connects.

Rendering: one function turns a result into JSON or an aligned table. Results
are the library's dataclasses (anything with ``to_dict()``), plain dicts, lists
of either, or scalars. JSON uses ``to_dict()`` (ISO 8601 times, intervals in
seconds); tables use the raw values so that times and ages can be shown for a
person ("2026-11-28 13:00:09+00:00", "3m12s").

Errors: :func:`command_error` makes the one ``Error:`` line (and the server's
``Detail:`` and ``Hint:`` lines) for whatever a command raised.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import IO, Any

import click
import psycopg

from .errors import ECHO_LIMIT, ConfigError, OutcomeUnknown, PgqrsError, ReadOnlyServer, shorten

# -- input: parameter types -------------------------------------------------------

INT32_MAX = 2**31 - 1  # SQL integer
INT64_MAX = 2**63 - 1  # SQL bigint


class BoundedInt(click.IntRange):
    """An integer between ``min`` and ``max``; a huge value is shown cut in the error."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """The integer; a usage error (click.BadParameter, exit 2) when it is none or out of range."""
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            if len(str(value)) <= ECHO_LIMIT:
                raise
            self.fail(f"{shorten(value)!r} is not an integer in the range {self.min}<=x<={self.max}.", param, ctx)


class FiniteFloat(click.FloatRange):
    """A number of seconds: finite (no nan, no inf), at most INT32_MAX."""

    def __init__(self, min: float = 0, min_open: bool = False) -> None:
        super().__init__(min=min, max=INT32_MAX, min_open=min_open)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        """The number; a usage error (click.BadParameter, exit 2) when it is none, out of range or not finite."""
        number: float = super().convert(value, param, ctx)
        if not math.isfinite(number):  # nan passes every comparison of FloatRange
            self.fail(f"{shorten(value)!r} is not a finite number.", param, ctx)
        return number


class AwareTime(click.ParamType):  # type: ignore[type-arg]  # generic since click 8.2; 8.1 takes no argument
    """A point in time in ISO 8601 with its time zone (2026-12-24T09:00:00+01:00, or Z for UTC):
    one without a zone would be read in whatever zone the server's session has."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        """The datetime; a usage error (click.BadParameter, exit 2) when it is not ISO 8601 or has no zone."""
        if isinstance(value, datetime) and value.utcoffset() is not None:
            return value
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{shorten(value)!r} is not an ISO 8601 time, such as 2026-12-24T09:00:00+01:00.", param, ctx)
        if moment.utcoffset() is None:
            self.fail(f"{shorten(value)!r} has no time zone: add one, such as +01:00 or Z for UTC.", param, ctx)
        return moment


#: Seconds (delays, ages, cut-offs): an SQL integer, 0 or more.
SECONDS = BoundedInt(min=0, max=INT32_MAX)
#: Counts, limits and lease times: an SQL integer, 1 or more.
POSITIVE = BoundedInt(min=1, max=INT32_MAX)
#: Message priorities: higher is delivered first.
PRIORITY = BoundedInt(min=-32768, max=32767)
#: Message and worker ids: an SQL bigint, 1 or more.
ID = BoundedInt(min=1, max=INT64_MAX)


# -- errors ------------------------------------------------------------------------


def one_line(text: object) -> str:
    """Text on one line (libpq messages span lines)."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


class CommandError(click.ClickException):
    """``Error: message`` on stderr, then ``Detail:`` and ``Hint:`` lines when there are any."""

    def __init__(self, message: str, *, detail: str | None = None, hint: str | None = None,
                 exit_code: int = 1) -> None:
        super().__init__(message)
        self.detail = detail
        self.hint = hint
        # click declares exit_code on the class; each of these carries its own.
        self.exit_code = exit_code  # type: ignore[misc]

    def reworded(self, message: str) -> CommandError:
        """The same error (Detail, Hint, exit code) with another message."""
        return CommandError(message, detail=self.detail, hint=self.hint, exit_code=self.exit_code)

    def show(self, file: IO[Any] | None = None) -> None:
        lines = [f"Error: {self.format_message()}"]
        lines += [f"{label}: {one_line(text)}" for label, text in (("Detail", self.detail), ("Hint", self.hint)) if text]
        click.echo("\n".join(lines), file=file, err=file is None)


#: The exit code of a command that writes, run against a read-only server (a hot standby).
EXIT_READ_ONLY = 7
#: The exit code of a command whose connection broke under it (OutcomeUnknown): it may have taken effect.
EXIT_OUTCOME_UNKNOWN = 8


def command_error(exc: BaseException, *, hint: bool = True) -> CommandError:
    """The CommandError for what a command raised: a configuration error is a usage error (exit 2),
    a write on a read-only server exits EXIT_READ_ONLY, a lost connection EXIT_OUTCOME_UNKNOWN,
    anything else 1."""
    detail = server_hint = None
    if isinstance(exc, PgqrsError):
        detail, server_hint = exc.detail, exc.hint
    elif isinstance(exc, psycopg.Error):
        detail, server_hint = exc.diag.message_detail, exc.diag.message_hint
    message = one_line(exc) or type(exc).__name__
    # ReadOnlyServer, or the same SQLSTATE (25006) from a statement the library did not run.
    read_only = getattr(exc, "sqlstate", None) == ReadOnlyServer.sqlstate
    if isinstance(exc, ConfigError):
        exit_code = 2
    elif read_only:
        exit_code = EXIT_READ_ONLY
    elif isinstance(exc, OutcomeUnknown):
        exit_code = EXIT_OUTCOME_UNKNOWN
    else:
        exit_code = 1
    return CommandError(message, detail=detail, hint=server_hint if hint else None, exit_code=exit_code)


# -- output ------------------------------------------------------------------------

#: A column of a table: (key in the record, header shown).
Column = tuple[str, str]

#: Fields that hold a duration; shown as an age when they come as plain seconds.
DURATION_FIELDS = frozenset({"oldest_ready_age", "heartbeat_age", "processing_duration"})

#: Fields that hold a JSON value; always shown as JSON ("c" stays "c", quotes and all).
JSON_FIELDS = frozenset({"payload"})


#: Labels for fields when a command does not choose its own.
LABELS = {
    "vt": "visible at",
    "read_ct": "reads",
    "queue_id": "queue id",
    "queue_name": "queue",
    "worker_id": "worker",
    "dead_lettered": "dead letter",
    "processing_duration": "took",
    "messages_held": "messages held",
}


def label(key: str) -> str:
    """The header shown for a field."""
    return LABELS.get(key, key.replace("_", " "))


def to_jsonable(value: Any) -> Any:
    """Plain JSON types, recursively (``to_dict()`` first where there is one)."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return to_jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    return value


def render_json(value: Any) -> str:
    """A result as one indented JSON document."""
    return json.dumps(to_jsonable(value), indent=2, ensure_ascii=False)


def fields_of(record: Any) -> dict[str, Any]:
    """A record's fields with their raw values (datetimes, timedeltas kept)."""
    if isinstance(record, Mapping):
        return dict(record)
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}
    if hasattr(record, "to_dict"):
        return dict(record.to_dict())
    return {"value": record}


def format_age(seconds: float) -> str:
    """A duration for a person: 0.4s, 42s, 3m12s, 1h05m, 2d03h."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 10:
        return f"{sign}{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{sign}{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{sign}{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{sign}{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{sign}{days}d{hours:02d}h"


def format_cell(value: Any, key: str = "") -> str:
    """A value as a table shows it ("-" for None, yes/no, ages, JSON for payloads)."""
    if key in JSON_FIELDS:
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, timedelta):
        return format_age(value.total_seconds())
    if key in DURATION_FIELDS and isinstance(value, (int, float, Decimal)):
        return format_age(float(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def render_table(rows: Sequence[Any], columns: Sequence[Column] | None = None) -> str:
    """Rows under a header, columns aligned; numbers right-aligned."""
    records = [fields_of(row) for row in rows]
    if columns is None:
        keys: list[str] = []
        for record in records:
            keys.extend(key for key in record if key not in keys)
        columns = [(key, label(key)) for key in keys]
    cells = [[format_cell(record.get(key), key) for key, _ in columns] for record in records]
    numeric = [
        bool(records) and all(_is_number(r.get(key)) or r.get(key) is None for r in records)
        and key not in DURATION_FIELDS
        and key not in JSON_FIELDS
        for key, _ in columns
    ]
    widths = [max([len(header)] + [len(row[i]) for row in cells]) for i, (_, header) in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line([header for _, header in columns])]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def render_record(record: Any, columns: Sequence[Column] | None = None) -> str:
    """One record as "label  value" lines."""
    values = fields_of(record)
    if columns is None:
        columns = [(key, label(key)) for key in values]
    width = max((len(label) for _, label in columns), default=0)
    return "\n".join(f"{label.ljust(width)}  {format_cell(values.get(key), key)}" for key, label in columns)


#: The queue_metrics columns as Prometheus gauges: (column, help). The names are
#: those monitoring/postgres_exporter.yaml gives them: pgqrs_queue_<column>.
PROMETHEUS_GAUGES = [
    ("ready", "Messages visible now."),
    ("in_flight", "Messages leased, their lease not run out."),
    ("delayed", "Messages not visible yet and not leased."),
    ("archived", "Messages in the archive, dead letters not counted."),
    ("dead_lettered", "Dead letters waiting in the archive."),
    ("oldest_ready_age_seconds", "Seconds since the oldest ready message was enqueued (0: none ready)."),
    ("paused", "1 when the queue is paused."),
]


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_prometheus(rows: Sequence[Any]) -> str:
    """QueueMetrics rows in the Prometheus text exposition format (version 0.0.4)."""
    lines = []
    for column, help_text in PROMETHEUS_GAUGES:
        name = f"pgqrs_queue_{column}"
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for row in rows:
            if column == "oldest_ready_age_seconds":
                value: float = row.oldest_ready_age.total_seconds() if row.oldest_ready_age is not None else 0
            else:
                value = int(getattr(row, column))
            lines.append(f'{name}{{queue_name="{_label_value(row.queue_name)}"}} {value}')
    return "\n".join(lines) + "\n"
