"""Every SQL statement pgqrs sends, composed with psycopg.sql and cached per schema.

The schema is the only name spliced into SQL, and only as sql.Identifier after
validation; every value is a query parameter. Statements are built once per
schema (functools.cache) and shared by the sync and async classes.

Nothing here resolves through the caller's search_path, where a schema others
may write to could hold a better-matching operator or function: operators are
written OPERATOR(pg_catalog.=), built-in functions and types pg_catalog.name,
and every parameter is cast to the argument type of the SQL function it goes
to (psycopg sends a small int as smallint, which an overload taking smallint
would otherwise win).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from psycopg import sql

from .config import validate_schema
from .types import (
    ArchivedMessage,
    Message,
    MessageStatus,
    Queue,
    QueueMetrics,
    Schedule,
    TopicBinding,
    WorkerHealth,
    WorkerRecord,
)

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


# INTEGER, BIGINT and BOOLEAN are keywords the grammar maps to pg_catalog; these are names.
_EQ = sql.SQL("OPERATOR(pg_catalog.=)")
_PLUS = sql.SQL("OPERATOR(pg_catalog.+)")
_TEXT = sql.SQL("pg_catalog.text")
_JSONB = sql.SQL("pg_catalog.jsonb")


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
                status=columns(MessageStatus),
                schedule=columns(Schedule),
                binding=columns(TopicBinding),
                eq=_EQ,
                plus=_PLUS,
                text=_TEXT,
                jsonb=_JSONB,
            )

        self.version = q("SELECT {s}.version()")
        # Queues
        # Each call names only what it was given: the others keep the server's defaults, and a
        # 0.2.0 install (before `pgqrs install` upgrades it) takes the calls it knows.
        self.create_queue = q(
            "SELECT {s}.create_queue(queue_name => %s::{text},"
            " max_attempts => %s::integer, if_not_exists => %s::boolean,"
            " notify => %s::boolean)"
        )
        self.create_queue_with_settings = q(
            "SELECT {s}.create_queue(queue_name => %s::{text},"
            " max_attempts => %s::integer, if_not_exists => %s::boolean,"
            " notify => %s::boolean, max_payload_bytes => %s::integer,"
            " group_concurrency => %s::integer, rate_limit => %s::double precision)"
        )
        self.alter_queue = q(
            "SELECT {s}.alter_queue(queue_name => %s::{text}, max_attempts => %s::integer,"
            " notify => %s::boolean, max_payload_bytes => %s::integer,"
            " group_concurrency => %s::integer, rate_limit => %s::double precision)"
        )
        self.drop_queue = q(
            "SELECT {s}.drop_queue(queue_name => %s::{text},"
            " force => %s::boolean, if_exists => %s::boolean)"
        )
        self.purge_queue = q("SELECT {s}.purge_queue(queue_name => %s::{text})")
        self.set_queue_notify = q("SELECT {s}.set_queue_notify(queue_name => %s::{text}, notify => %s::boolean)")
        self.pause_queue = q("SELECT {s}.pause_queue(queue_name => %s::{text})")
        self.resume_queue = q("SELECT {s}.resume_queue(queue_name => %s::{text})")
        self.notify_channel = q("SELECT {s}.notify_channel(queue_name => %s::{text})")
        self.list_queues = q("SELECT {queue} FROM {s}.pgqrs_queues ORDER BY queue_name")
        self.get_queue = q(
            "SELECT {queue} FROM {s}.pgqrs_queues WHERE queue_name {eq} %s::{text}"
        )
        self.queue_exists = q("SELECT EXISTS (SELECT FROM {s}.pgqrs_queues WHERE queue_name {eq} %s::{text})")
        self.metrics = q("SELECT {metrics} FROM {s}.metrics(queue_name => %s::{text})")
        self.metrics_all = q("SELECT {metrics} FROM {s}.metrics_all()")
        self.messages_enqueued = q("SELECT {s}.messages_enqueued()")
        # A queue's settings as any group role may read them (pgqrs_queues is not granted to all).
        self.queue_settings = q("SELECT max_attempts, notify FROM {s}.metrics(queue_name => %s::{text})")
        # Workers
        self.list_workers = q(
            "SELECT {health} FROM {s}.worker_health"
            " WHERE (%(queue)s::{text} IS NULL OR queue_name {eq} %(queue)s::{text}) "
            "ORDER BY worker_id"
        )
        self.get_worker = q("SELECT {health} FROM {s}.worker_health WHERE worker_id {eq} %s::bigint")
        self.register_worker = q(
            "SELECT {s}.register_worker(queue_name => %s::{text},"
            " hostname => %s::{text}, port => %s::integer)"
        )
        self.heartbeat = q("SELECT {s}.heartbeat(worker_id => %s::bigint)")
        self.stop_worker = q("SELECT {s}.stop_worker(worker_id => %s::bigint)")
        self.reap_workers = q("SELECT {s}.reap_workers(stale_after_seconds => %s::integer, queue_name => %s::{text})")
        self.purge_workers = q("SELECT {s}.purge_workers(older_than_seconds => %s::integer)")
        # Archive and dead letters
        self.purge_archive = q(
            "SELECT {s}.purge_archive(queue_name => %s::{text}, older_than_seconds => %s::integer,"
            " include_dead_letters => %s::boolean)"
        )
        self.list_archive = q("SELECT {arch} FROM {s}.archived_messages(queue_name => %s::{text}, qty => %s::integer) a")
        self.get_archived = q("SELECT {arch} FROM {s}.archived_message(queue_name => %s::{text}, msg_id => %s::bigint) a")
        self.count_archive = q("SELECT archived {plus} dead_lettered FROM {s}.metrics(queue_name => %s::{text})")
        self.dead_letters = q("SELECT {arch} FROM {s}.dead_letters(queue_name => %s::{text}, qty => %s::integer) a")
        self.purge_dead_letters = q(
            "SELECT id FROM {s}.purge_dead_letters(queue_name => %s::{text}, msg_ids => %s::bigint[]) AS id"
        )
        self.replay_dead_letters = q(
            "SELECT id FROM {s}.replay_dead_letters(queue_name => %s::{text}, msg_ids => %s::bigint[]) AS id"
        )
        # Messages (reads)
        self.get_message = q("SELECT {msg} FROM {s}.queue_message(queue_name => %s::{text}, msg_id => %s::bigint) m")
        self.list_messages = q(
            "SELECT {msg} FROM {s}.queue_messages(queue_name => %s::{text}, qty => %s::integer,"
            " newest_first => %s::boolean) m"
        )
        self.count_messages = q(
            "SELECT ready {plus} in_flight {plus} delayed FROM {s}.metrics(queue_name => %s::{text})"
        )
        # Producing and consuming
        self.enqueue = q(
            "SELECT {s}.enqueue(queue_name => %s::{text},"
            " payload => %s::{jsonb}, delay_seconds => %s::integer)"
        )
        # With the options 0.3.0 added (a call without them works on a 0.2.0 install too).
        self.enqueue_with_options = q(
            "SELECT {s}.enqueue(queue_name => %s::{text},"
            " payload => %s::{jsonb}, delay_seconds => %s::integer,"
            " priority => %s::integer, group_key => %s::{text}, dedupe_key => %s::{text},"
            " run_at => %s::pg_catalog.timestamptz, dedupe_seconds => %s::integer)"
        )
        # The payloads come as one JSON array (see producer._batch_text), split here in order.
        batch_payloads = (
            " payloads => ARRAY(SELECT e FROM pg_catalog.jsonb_array_elements(%s::{jsonb}) WITH ORDINALITY AS a (e, n)"
            " ORDER BY n), delay_seconds => %s::integer"
        )
        self.enqueue_batch = q(
            "SELECT id FROM {s}.enqueue_batch(queue_name => %s::{text}," + batch_payloads + ") "
            "WITH ORDINALITY AS t (id, n) ORDER BY n"
        )
        self.enqueue_batch_with_options = q(
            "SELECT id FROM {s}.enqueue_batch(queue_name => %s::{text}," + batch_payloads + ","
            " priorities => %s::integer[], group_keys => %s::{text}[], dedupe_keys => %s::{text}[],"
            " run_at => %s::pg_catalog.timestamptz, dedupe_seconds => %s::integer) "
            "WITH ORDINALITY AS t (id, n) ORDER BY n"
        )
        # The SQL returns the leased messages oldest first, over all its rounds.
        self.dequeue = q(
            "SELECT {msg} FROM {s}.dequeue(queue_name => %s::{text}, qty => %s::integer, vt_seconds => %s::integer,"
            " worker_id => %s::bigint, wait_seconds => %s::integer) m"
        )
        self.delete = q("SELECT {s}.delete(queue_name => %s::{text}, msg_id => %s::bigint, worker_id => %s::bigint)")
        self.delete_batch = q(
            "SELECT id FROM {s}.delete_batch(queue_name => %s::{text},"
            " msg_ids => %s::bigint[], worker_id => %s::bigint) AS id"
        )
        self.archive = q("SELECT {s}.archive(queue_name => %s::{text}, msg_id => %s::bigint, worker_id => %s::bigint)")
        self.archive_batch = q(
            "SELECT id FROM {s}.archive_batch(queue_name => %s::{text},"
            " msg_ids => %s::bigint[], worker_id => %s::bigint) AS id"
        )
        # The new vt, and whether the message was cancelled (extend_visibility returns -infinity).
        self.extend_visibility = q(
            "SELECT CASE WHEN v {eq} '-infinity'::pg_catalog.timestamptz THEN NULL ELSE v END,"
            " v {eq} '-infinity'::pg_catalog.timestamptz"
            " FROM {s}.extend_visibility(queue_name => %s::{text}, msg_id => %s::bigint, seconds => %s::integer,"
            " worker_id => %s::bigint) AS v"
        )
        self.release = q(
            "SELECT {s}.release(queue_name => %s::{text}, msg_id => %s::bigint, delay_seconds => %s::integer,"
            " worker_id => %s::bigint)"
        )
        self.release_at = q(
            "SELECT {s}.release(queue_name => %s::{text}, msg_id => %s::bigint, delay_seconds => %s::integer,"
            " worker_id => %s::bigint, run_at => %s::pg_catalog.timestamptz)"
        )
        # Results, waiting, cancelling
        self.complete = q(
            "SELECT {s}.complete(queue_name => %s::{text}, msg_id => %s::bigint, result => %s::{jsonb},"
            " worker_id => %s::bigint)"
        )
        self.message_status = q("SELECT {status} FROM {s}.message_status(queue_name => %s::{text}, msg_id => %s::bigint)")
        self.wait_for = q(
            "SELECT {status} FROM {s}.wait_for(queue_name => %s::{text}, msg_id => %s::bigint,"
            " timeout_seconds => %s::integer)"
        )
        self.max_wait_seconds = q("SELECT {s}.max_wait_seconds()")
        self.cancel = q("SELECT {s}.cancel(queue_name => %s::{text}, msg_id => %s::bigint)")
        # Schedules and topics
        self.create_schedule = q(
            "SELECT {s}.create_schedule(schedule_name => %s::{text}, queue_name => %s::{text}, cron => %s::{text},"
            " payload => %s::{jsonb}, time_zone => %s::{text})"
        )
        self.drop_schedule = q("SELECT {s}.drop_schedule(schedule_name => %s::{text})")
        self.list_schedules = q("SELECT {schedule} FROM {s}.schedules ORDER BY schedule_name")
        self.run_schedules = q("SELECT {s}.run_schedules()")
        self.bind_topic = q("SELECT {s}.bind_topic(pattern => %s::{text}, queue_name => %s::{text})")
        self.unbind_topic = q("SELECT {s}.unbind_topic(pattern => %s::{text}, queue_name => %s::{text})")
        self.list_topic_bindings = q("SELECT {binding} FROM {s}.topic_bindings ORDER BY pattern, queue_name")
        self.publish = q("SELECT {s}.publish(topic => %s::{text}, payload => %s::{jsonb})")
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
            "FROM {s}.messages m JOIN {s}.pgqrs_queues q ON q.id {eq} m.queue_id WHERE m.id {eq} %s::bigint"
        )
        self.drop_queue_by_id = q(
            "SELECT {s}.drop_queue(queue_name => q.queue_name, force => false, if_exists => true) "
            "FROM {s}.pgqrs_queues q WHERE q.id {eq} %s::bigint"
        )
        # Only an active worker holds messages to give back; a stopped or dead one needs no call.
        self.stop_worker_by_id = q(
            "SELECT {s}.stop_worker(worker_id => w.id) FROM {s}.pgqrs_workers w"
            " WHERE w.id {eq} %s::bigint AND w.status {eq} 'active'"
        )


class _TableStatements:
    def __init__(self, s: sql.Identifier, table: str, fk: str, row_type: type) -> None:
        t = sql.Identifier(table)
        fk_id = sql.Identifier(fk)

        def q(text: str) -> sql.Composed:
            return sql.SQL(text).format(s=s, t=t, fk=fk_id, cols=columns(row_type), eq=_EQ)

        self.count = q("SELECT pg_catalog.count(*) FROM {s}.{t}")
        self.count_by_fk = q("SELECT pg_catalog.count(*) FROM {s}.{t} WHERE {fk} {eq} %s::bigint")
        self.filter_by_fk = q("SELECT {cols} FROM {s}.{t} WHERE {fk} {eq} %s::bigint ORDER BY id LIMIT %s::bigint")
        self.get = q("SELECT {cols} FROM {s}.{t} WHERE id {eq} %s::bigint")
        self.list = q("SELECT {cols} FROM {s}.{t} ORDER BY id LIMIT %s::bigint")
        self.delete: sql.Composable = q("DELETE FROM {s}.{t} WHERE id {eq} %(id)s::bigint RETURNING id")


@functools.cache
def statements(schema: str) -> Statements:
    """The statements of a schema, built once."""
    return Statements(schema)

