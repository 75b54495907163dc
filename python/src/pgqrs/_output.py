"""Rendering for the CLI: one function turns a result into JSON or an aligned table.

Results are the library's dataclasses (anything with ``to_dict()``), plain dicts,
lists of either, or scalars. JSON uses ``to_dict()`` (ISO 8601 times, intervals
in seconds); tables use the raw values so that times and ages can be shown for a
person ("2026-11-28 13:00:09+00:00", "3m12s").
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

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
    whole = int(round(seconds))
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
            for value, width, right in zip(values, widths, numeric)
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
