"""Every SQL statement pgqrs sends, composed with psycopg.sql and cached per schema.

The schema is the only name spliced into SQL, and only as sql.Identifier after
validation; every value is a query parameter. Statements are built once per
schema (functools.cache) and shared by the sync and async classes.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from psycopg import sql

from .config import validate_schema
from .types import ArchivedMessage, Message, Queue, QueueMetrics, WorkerHealth, WorkerRecord

__all__ = ["Op", "Statements", "statements"]

Fetch = Literal["none", "scalar", "scalars", "one", "all"]


@dataclasses.dataclass(frozen=True)
class Op:
    """One statement to run: what the sync and async executors in db.py both understand."""

    query: sql.Composable | str
    params: Sequence[Any] | Mapping[str, Any] | None = None
    fetch: Fetch = "none"
    row_type: type | None = None  # for "one" / "all": a dataclass filled by class_row


def columns(row_type: type, alias: str | None = None) -> sql.Composed:
    """The dataclass's fields as a column list: rows keep mapping when a table gains a column."""
    names = [f.name for f in dataclasses.fields(row_type)]
    if alias is None:
        return sql.SQL(", ").join(sql.Identifier(n) for n in names)
    return sql.SQL(", ").join(sql.Identifier(alias, n) for n in names)


class Statements:
    """The statements of one schema."""

    def __init__(self, schema: str) -> None:
        self.schema = validate_schema(schema)
        s = sql.Identifier(schema)

        def q(text: str) -> sql.Composed:
            return sql.SQL(text).format(
                s=s,
                queue=columns(Queue),
                msg=columns(Message, "m"),
                arch=columns(ArchivedMessage, "a"),
                metrics=columns(QueueMetrics),
                health=columns(WorkerHealth),
            )

        self.version = q("SELECT {s}.version()")
        self.max_batch_size = q("SELECT {s}.max_batch_size()")
        # Queues
        self.create_queue = q(
            "SELECT {s}.create_queue(queue_name => %s, max_attempts => %s, if_not_exists => %s, notify => %s)"
        )
        self.drop_queue = q("SELECT {s}.drop_queue(queue_name => %s, force => %s, if_exists => %s)")
        self.purge_queue = q("SELECT {s}.purge_queue(queue_name => %s)")
        self.set_queue_notify = q("SELECT {s}.set_queue_notify(queue_name => %s, notify => %s)")
        self.pause_queue = q("SELECT {s}.pause_queue(queue_name => %s)")
        self.resume_queue = q("SELECT {s}.resume_queue(queue_name => %s)")
        self.notify_channel = q("SELECT {s}.notify_channel(queue_name => %s)")
        self.list_queues = q("SELECT {queue} FROM {s}.pgqrs_queues ORDER BY queue_name")
        self.get_queue = q(
            "SELECT {queue} FROM {s}.pgqrs_queues WHERE queue_name = %s"
        )
        self.queue_exists = q("SELECT EXISTS (SELECT FROM {s}.pgqrs_queues WHERE queue_name = %s)")
        self.metrics = q("SELECT {metrics} FROM {s}.metrics(queue_name => %s)")
        self.metrics_all = q("SELECT {metrics} FROM {s}.metrics_all()")
        # Workers
        self.list_workers = q(
            "SELECT {health} FROM {s}.worker_health WHERE (%(queue)s::text IS NULL OR queue_name = %(queue)s) "
            "ORDER BY worker_id"
        )
        self.get_worker = q("SELECT {health} FROM {s}.worker_health WHERE worker_id = %s")
        self.register_worker = q("SELECT {s}.register_worker(queue_name => %s, hostname => %s, port => %s)")
        self.heartbeat = q("SELECT {s}.heartbeat(worker_id => %s)")
        self.stop_worker = q("SELECT {s}.stop_worker(worker_id => %s)")
        self.reap_workers = q("SELECT {s}.reap_workers(stale_after_seconds => %s)")
        self.purge_workers = q("SELECT {s}.purge_workers(older_than_seconds => %s)")
        # Archive and dead letters
        self.purge_archive = q(
            "SELECT {s}.purge_archive(queue_name => %s, older_than_seconds => %s, include_dead_letters => %s)"
        )
        self.list_archive = q(
            "SELECT {arch} FROM {s}.pgqrs_archive a "
            "WHERE a.queue_id = (SELECT id FROM {s}.pgqrs_queues WHERE queue_name = %s) ORDER BY a.id LIMIT %s"
        )
        self.get_archived = q(
            "SELECT {arch} FROM {s}.pgqrs_archive a "
            "WHERE a.queue_id = (SELECT id FROM {s}.pgqrs_queues WHERE queue_name = %s) AND a.id = %s"
        )
        self.count_archive = q(
            "SELECT count(*) FROM {s}.pgqrs_archive a "
            "WHERE a.queue_id = (SELECT id FROM {s}.pgqrs_queues WHERE queue_name = %s)"
        )
        self.dead_letters = q("SELECT {arch} FROM {s}.dead_letters(queue_name => %s, qty => %s) a")
        self.replay_dead_letters = q(
            "SELECT id FROM {s}.replay_dead_letters(queue_name => %s, msg_ids => %s) AS id"
        )
        # Messages (reads)
        self.get_message = q(
            "SELECT {msg} FROM {s}.messages m "
            "WHERE m.queue_id = (SELECT id FROM {s}.pgqrs_queues WHERE queue_name = %s) AND m.id = %s"
        )
        self.list_messages = q(
            "SELECT {msg} FROM {s}.messages m "
            "WHERE m.queue_id = (SELECT id FROM {s}.pgqrs_queues WHERE queue_name = %s) ORDER BY m.id LIMIT %s"
        )
        self.count_messages = q(
            "SELECT count(*) FROM {s}.messages m "
            "WHERE m.queue_id = (SELECT id FROM {s}.pgqrs_queues WHERE queue_name = %s)"
        )
        # Producing and consuming
        self.enqueue = q("SELECT {s}.enqueue(queue_name => %s, payload => %s, delay_seconds => %s)")
        self.enqueue_batch = q(
            "SELECT id FROM {s}.enqueue_batch(queue_name => %s, payloads => %s::jsonb[], delay_seconds => %s) "
            "WITH ORDINALITY AS t (id, n) ORDER BY n"
        )
        # A dequeue of several rounds (dead letters buried on the way) is put back in id order.
        self.dequeue = q(
            "SELECT {msg} FROM {s}.dequeue(queue_name => %s, qty => %s, vt_seconds => %s, worker_id => %s,"
            " wait_seconds => %s) m ORDER BY m.id"
        )
        self.delete = q("SELECT {s}.delete(queue_name => %s, msg_id => %s, worker_id => %s)")
        self.delete_batch = q(
            "SELECT id FROM {s}.delete_batch(queue_name => %s, msg_ids => %s, worker_id => %s) AS id"
        )
        self.archive = q("SELECT {s}.archive(queue_name => %s, msg_id => %s, worker_id => %s)")
        self.archive_batch = q(
            "SELECT id FROM {s}.archive_batch(queue_name => %s, msg_ids => %s, worker_id => %s) AS id"
        )
        self.extend_visibility = q(
            "SELECT {s}.extend_visibility(queue_name => %s, msg_id => %s, seconds => %s, worker_id => %s)"
        )
        self.release = q(
            "SELECT {s}.release(queue_name => %s, msg_id => %s, delay_seconds => %s, worker_id => %s)"
        )
        # Tables (plain reads; deletes by primary key or through the SQL API)
        self.tables = {
            "queues": _TableStatements(s, "pgqrs_queues", "id", Queue),
            "workers": _TableStatements(s, "pgqrs_workers", "queue_id", WorkerRecord),
            # Messages are read through the view (ready, leased and delayed alike).
            "messages": _TableStatements(s, "messages", "queue_id", Message),
            "archive": _TableStatements(s, "pgqrs_archive", "queue_id", ArchivedMessage),
        }
        # Through pgqrs.delete, which knows both tables a message can be in.
        self.delete_message_by_id = q(
            "SELECT {s}.delete(queue_name => q.queue_name, msg_id => m.id) "
            "FROM {s}.messages m JOIN {s}.pgqrs_queues q ON q.id = m.queue_id WHERE m.id = %s"
        )
        self.drop_queue_by_id = q(
            "SELECT {s}.drop_queue(queue_name => q.queue_name, force => false, if_exists => true) "
            "FROM {s}.pgqrs_queues q WHERE q.id = %s"
        )
        self.stop_worker_by_id = q("SELECT {s}.stop_worker(w.id) FROM {s}.pgqrs_workers w WHERE w.id = %s")


class _TableStatements:
    def __init__(self, s: sql.Identifier, table: str, fk: str, row_type: type) -> None:
        t = sql.Identifier(table)
        fk_id = sql.Identifier(fk)

        def q(text: str) -> sql.Composed:
            return sql.SQL(text).format(s=s, t=t, fk=fk_id, cols=columns(row_type))

        self.count = q("SELECT count(*) FROM {s}.{t}")
        self.count_by_fk = q("SELECT count(*) FROM {s}.{t} WHERE {fk} = %s")
        self.filter_by_fk = q("SELECT {cols} FROM {s}.{t} WHERE {fk} = %s ORDER BY id LIMIT %s")
        self.get = q("SELECT {cols} FROM {s}.{t} WHERE id = %s")
        self.list = q("SELECT {cols} FROM {s}.{t} ORDER BY id LIMIT %s")
        self.delete: sql.Composable = q("DELETE FROM {s}.{t} WHERE id = %(id)s RETURNING id")


@functools.cache
def statements(schema: str) -> Statements:
    """The statements of a schema, built once."""
    return Statements(schema)

