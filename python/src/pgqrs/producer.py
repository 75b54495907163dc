"""Producer: enqueue messages, with payload validation before any round trip.

A payload is checked here the way the server will check it (JSON null, NaN,
``\\u0000``, lone surrogates), so the caller gets InvalidPayload, the class of
the server's SQLSTATE PQ005, instead of a raw driver error. The size limit is
the queue's own (``max_payload_bytes``, enforced by the server).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import decimal
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn, TypeVar

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from .config import Config
from .db import Procedure, run, run_async
from .errors import InvalidArgument, InvalidPayload, MessageCancelled, PayloadTooLarge, PgqrsError
from .statements import Op, Statements, statements
from .types import MessageStatus

__all__ = [
    "Producer",
    "AsyncProducer",
    "JsonText",
    "parse_json_payload",
    "validate_payload",
    "TokenBucket",
    "extended",
    "message_status",
    "wait_for",
]

T = TypeVar("T")

#: How the server names an element of enqueue_batch's payloads in its messages (1-based).
BATCH_ELEMENT = re.compile(r"payloads\[(\d+)\]")

# A surrogate code point on its own in a str (a valid pair decodes to one character).
_SURROGATE = re.compile("[\ud800-\udfff]")
# json.dumps writes U+0000 as the escape \u0000; an escape follows an even run of backslashes.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


class JsonText(Jsonb):
    """JSON text already checked by parse_json_payload, sent as it is (numbers keep every digit)."""

    __slots__ = ()  # a file of a million lines makes a million of these

    def __init__(self, text: str) -> None:
        super().__init__(text, dumps=str)


_NUL_PROBLEM = "contains the character U+0000 (\\u0000), which PostgreSQL's jsonb cannot store"


def _surrogate_problem(surrogate: str) -> str:
    return f"contains a lone surrogate U+{ord(surrogate):04X}, which is not valid Unicode"


def _text_problem(encoded: str) -> str | None:
    """What jsonb refuses in JSON text written by json.dumps(ensure_ascii=False), if anything:
    the same answers as _string_problem gives for the value, from two scans of the text."""
    if "\\u0000" in encoded and _NUL_ESCAPE.search(encoded):
        return _NUL_PROBLEM
    surrogate = _SURROGATE.search(encoded)
    return None if surrogate is None else _surrogate_problem(surrogate.group())


def _string_problem(value: Any) -> str | None:
    """What in the strings (keys and values) of a decoded JSON value jsonb refuses, if anything."""
    stack = [value]
    while stack:  # iterative: depth is no problem here
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return _NUL_PROBLEM
            surrogate = _SURROGATE.search(item)
            if surrogate is not None:
                return _surrogate_problem(surrogate.group())
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


_TOO_DEEP = "is nested too deeply to be checked as JSON"


def validate_payload(payload: Any, max_payload_bytes: int | None = None, *, name: str = "payload") -> Jsonb:
    """The payload as Jsonb, if the server will take it; InvalidPayload (PQ005's class) if not.

    Refused: None (JSON null), what json cannot encode (sets, objects, NaN, Infinity,
    circular or too deeply nested values), "\\x00" and lone surrogates in strings.
    ``max_payload_bytes`` is an optional client-side cap on the JSON text (PayloadTooLarge);
    the queue's own limit is checked by the server.
    """
    if isinstance(payload, JsonText):
        return payload
    encoded = _payload_text(payload, max_payload_bytes, name)

    # Dump once: the Jsonb adapter gets the text we checked.
    def dumps(_obj: Any, _text: str = encoded) -> str:
        return _text

    return Jsonb(payload, dumps=dumps)


def _payload_text(payload: Any, max_payload_bytes: int | None, name: str) -> str:
    """The payload's JSON text, checked as validate_payload describes."""
    if isinstance(payload, JsonText):
        return str(payload.obj)
    if payload is None:
        raise InvalidPayload(f"{name} is JSON null")
    try:
        # ensure_ascii=False: a lone surrogate stays a code point of the text, found below in one scan.
        encoded = json.dumps(payload, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except RecursionError:
        raise InvalidPayload(f"{name} {_TOO_DEEP}") from None
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"{name} is not JSON-serialisable: {exc}") from exc
    problem = _text_problem(encoded)
    if problem is not None:
        raise InvalidPayload(f"{name} {problem}")
    if max_payload_bytes is not None:
        size = len(encoded.encode())
        if size > max_payload_bytes:
            raise PayloadTooLarge(f"{name} is {size} bytes, more than the limit of {max_payload_bytes}")
    return encoded


def _batch_text(payloads: list[Any], limit: int | None, first: int = 1) -> JsonText:
    """The payloads as one JSON array, checked as validate_payload checks each one (an error
    names the payload payloads[i], i counted from first). One json.dumps for the whole batch,
    sent as one jsonb that the statement splits: a jsonb[] of 100 Jsonb values costs the
    client 3 ms to adapt, this 0.2 ms."""
    if limit is None and not any(p is None or isinstance(p, JsonText) for p in payloads):
        try:
            text = json.dumps(payloads, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            pass  # the checks below say which payload
        else:
            if _text_problem(text) is None:
                return JsonText(text)
    return JsonText("[" + ",".join(_payload_text(p, limit, f"payloads[{i}]") for i, p in enumerate(payloads, first))
                    + "]")


def _refuse_constant(constant: str) -> NoReturn:
    raise InvalidPayload(f"{constant} is not a JSON number")


def parse_json_payload(text: str, name: str = "payload") -> JsonText:
    """JSON text, checked as the server's jsonb input and enqueue will check it; InvalidPayload if not.

    The text itself is what is sent, so a number keeps the digits it was written with.
    """
    try:
        # Decimal for numbers: no float overflow (1e400), no limit on the digits of an integer.
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=decimal.Decimal,
                           parse_int=decimal.Decimal)
    except json.JSONDecodeError as exc:
        raise InvalidPayload(f"{name} is not valid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise InvalidPayload(f"{name} {_TOO_DEEP}") from None
    except InvalidPayload as exc:
        raise InvalidPayload(f"{name} is not valid JSON: {exc}") from None
    if value is None:
        raise InvalidPayload(f"{name} is JSON null")
    problem = _string_problem(value)
    if problem is not None:
        raise InvalidPayload(f"{name} {problem}")
    return JsonText(text)


class TokenBucket:
    """Client-side rate limit: `rate` tokens a second, bursts up to `rate`."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate_limit_per_second must be positive")
        self.rate = float(rate)
        self.capacity = max(1.0, float(rate))
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def reserve(self, tokens: float = 1.0) -> float:
        """Take tokens (going into debt if needed); returns how long to wait before acting."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= tokens
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


def check_run_at(run_at: dt.datetime | None) -> None:
    """Raises InvalidArgument unless run_at is None or a datetime with a time zone: a naive one
    would be read in the server session's time zone, whatever the caller meant."""
    if run_at is not None and (not isinstance(run_at, dt.datetime) or run_at.utcoffset() is None):
        raise InvalidArgument(f"run_at must be a datetime with a time zone (tzinfo), got {run_at!r}")


@dataclasses.dataclass(frozen=True)
class _Options:
    """What goes with the payloads besides the delay. Per message a priority, a group key and a
    dedupe key: one value for a single message, or one list each (or None) running parallel to a
    batch's payloads. For all of them a run_at and a dedupe_seconds."""

    priority: Any = 0
    group_key: Any = None
    dedupe_key: Any = None
    run_at: dt.datetime | None = None
    dedupe_seconds: int = 0

    def __post_init__(self) -> None:
        check_run_at(self.run_at)

    def sliced(self, start: int, stop: int) -> _Options:
        def part(values: Any) -> Any:
            return None if values is None else values[start:stop]
        return _Options(part(self.priority), part(self.group_key), part(self.dedupe_key),
                        run_at=self.run_at, dedupe_seconds=self.dedupe_seconds)

    def given(self) -> bool:
        """Whether the call must name them (a call that does not works on a 0.2.0 install too)."""
        return (self.priority not in (0, None) or self.group_key is not None or self.dedupe_key is not None
                or self.run_at is not None or self.dedupe_seconds != 0)

    def args(self) -> list[Any]:
        return [self.priority, self.group_key, self.dedupe_key, self.run_at, self.dedupe_seconds]


def _batch_options(count: int, priorities: Sequence[int] | None, group_keys: Sequence[str | None] | None,
                   dedupe_keys: Sequence[str | None] | None, run_at: dt.datetime | None,
                   dedupe_seconds: int) -> _Options:
    """A batch's per-message values, checked against the payloads' count before anything is sent."""
    per_message: dict[str, Sequence[Any] | None] = {
        "priorities": priorities, "group_keys": group_keys, "dedupe_keys": dedupe_keys}
    for name, values in per_message.items():
        if values is not None and len(values) != count:
            raise InvalidArgument(f"{name} must have one element per payload: {len(values)} elements for {count} payloads")
    listed = [None if values is None else list(values) for values in per_message.values()]
    return _Options(priority=listed[0], group_key=listed[1], dedupe_key=listed[2],
                    run_at=run_at, dedupe_seconds=dedupe_seconds)


def _enqueue(st: Statements, queue: str, payload: Any, delay_seconds: int, limit: int | None,
             options: _Options) -> Procedure[int]:
    args = [queue, validate_payload(payload, limit), delay_seconds]
    if options.given():
        msg_id: int = yield Op(st.enqueue_with_options, [*args, *options.args()], "scalar")
    else:
        msg_id = yield Op(st.enqueue, args, "scalar")
    return msg_id


def _batch_enqueue(
    st: Statements, queue: str, payloads: list[Any], delay_seconds: int, limit: int | None, options: _Options
) -> Procedure[list[int]]:
    if not payloads:
        return []
    ids: list[int] = yield _batch_op(st, [queue, _batch_text(payloads, limit), delay_seconds], options)
    return ids


def _batch_op(st: Statements, args: list[Any], options: _Options) -> Op:
    if options.given():
        return Op(st.enqueue_batch_with_options, [*args, *options.args()], "scalars")
    return Op(st.enqueue_batch, args, "scalars")


class _Progress:
    """How far an enqueue_many got: reported after each batch, and used to renumber a batch's error."""

    def __init__(self, on_batch: Callable[[int], None] | None) -> None:
        self.done = 0
        self.on_batch = on_batch

    def sent(self, count: int) -> None:
        self.done += count
        if self.on_batch is not None:
            self.on_batch(self.done)

    def renumber(self, exc: PgqrsError) -> None:
        """The server names payloads[i] of the failing batch; make it payloads[i] of the whole input."""
        message = str(exc)
        renumbered = BATCH_ELEMENT.sub(lambda m: f"payloads[{int(m.group(1)) + self.done}]", message, count=1)
        if renumbered != message:
            exc.args = (renumbered,)


def _enqueue_many(st: Statements, queue: str, batches: list[tuple[JsonText, int, _Options]], delay_seconds: int,
                  progress: _Progress) -> Procedure[list[int]]:
    ids: list[int] = []
    for batch, count, options in batches:
        ids.extend((yield _batch_op(st, [queue, batch, delay_seconds], options)))
        progress.sent(count)
    return ids


def extended(op: Op, msg_id: int) -> Procedure[dt.datetime | None]:
    """The new vt of an extend_visibility statement; None when the message is not there (or not
    ours); MessageCancelled when it was cancelled while leased (the lease is not extended)."""
    vt, cancelled = yield op
    if cancelled:
        raise MessageCancelled(f"message {msg_id} was cancelled")
    result: dt.datetime | None = vt
    return result


def _extend_visibility(st: Statements, queue: str, msg_id: int, seconds: int) -> Procedure[dt.datetime | None]:
    return (yield from extended(Op(st.extend_visibility, [queue, msg_id, seconds, None], "one"), msg_id))


def message_status(st: Statements, queue: str, msg_id: int) -> Procedure[MessageStatus]:
    """The message's MessageStatus (its state, read_ct, result, finished_at)."""
    status: MessageStatus = yield Op(st.message_status, [queue, msg_id], "one", MessageStatus)
    return status


def wait_for(st: Statements, queue: str, msg_id: int, timeout_seconds: float) -> Procedure[MessageStatus]:
    """The message's MessageStatus once it is finished (or unknown), else after timeout_seconds:
    wait_for() calls of at most max_wait_seconds() each, on one connection."""
    if timeout_seconds < 0:
        raise ValueError(f"timeout_seconds must be >= 0, got {timeout_seconds}")
    longest: int = yield Op(st.max_wait_seconds, [], "scalar")
    deadline = time.monotonic() + timeout_seconds
    while True:
        remaining = max(0, math.ceil(deadline - time.monotonic()))
        status: MessageStatus = yield Op(st.wait_for, [queue, msg_id, min(remaining, longest)], "one", MessageStatus)
        if status.finished or status.state == "unknown" or time.monotonic() >= deadline:
            return status


def _cancel(st: Statements, queue: str, msg_id: int) -> Procedure[bool]:
    cancelled: bool = yield Op(st.cancel, [queue, msg_id], "scalar")
    return cancelled


def _publish(st: Statements, topic: str, payload: Any, limit: int | None) -> Procedure[int]:
    queues: int = yield Op(st.publish, [topic, validate_payload(payload, limit)], "scalar")
    return queues


class _ProducerBase:
    """What Producer and AsyncProducer share: the queue, the settings, the checks."""

    def __init__(
        self,
        queue: str,
        config: Config,
        max_payload_bytes: int | None,
        rate_limit_per_second: float | None,
    ) -> None:
        self.queue = queue
        self.config = config
        self.max_payload_bytes = max_payload_bytes
        self._st = statements(config.schema)
        self._bucket = TokenBucket(rate_limit_per_second) if rate_limit_per_second else None

    def _wait(self, tokens: int) -> float:
        """Seconds to wait before a call that adds tokens messages (the client-side rate limit)."""
        if self._bucket is not None and tokens:
            return self._bucket.reserve(tokens)
        return 0.0

    def _many(self, values: list[Any], delay_seconds: int, batch_size: int | None,
              on_batch: Callable[[int], None] | None, options: _Options) -> tuple[Procedure[list[int]], _Progress]:
        size = max(1, int(batch_size or self.config.default_max_batch_size))
        chunks = [(start, values[start : start + size]) for start in range(0, len(values), size)]
        # All of them checked before the first round trip.
        batches = [(_batch_text(chunk, self.max_payload_bytes, start + 1), len(chunk),
                    options.sliced(start, start + size)) for start, chunk in chunks]
        progress = _Progress(on_batch)
        return _enqueue_many(self._st, self.queue, batches, delay_seconds, progress), progress


class Producer(_ProducerBase):
    """Synchronous producer on a ConnectionPool (opened by the caller).

    max_payload_bytes: an optional client-side cap on a payload's JSON text (off by default;
    the queue's ``max_payload_bytes`` setting is the limit the server enforces).
    rate_limit_per_second: an optional client-side limit on messages sent (a token bucket).
    """

    def __init__(
        self,
        pool: ConnectionPool,
        queue: str,
        config: Config,
        *,
        max_payload_bytes: int | None = None,
        rate_limit_per_second: float | None = None,
    ) -> None:
        self.pool = pool
        super().__init__(queue, config, max_payload_bytes, rate_limit_per_second)

    def _run(self, procedure: Procedure[T], tokens: int = 0, *, transaction: bool = False) -> T:
        wait = self._wait(tokens)
        if wait > 0:
            time.sleep(wait)
        return run(self.pool, procedure, transaction=transaction)

    def enqueue(
        self,
        payload: Any,
        delay_seconds: int = 0,
        *,
        priority: int = 0,
        group_key: str | None = None,
        dedupe_key: str | None = None,
        run_at: dt.datetime | None = None,
        dedupe_seconds: int = 0,
    ) -> int:
        """Add one message, visible after delay_seconds or at run_at (not both); returns its id.

        priority: higher is delivered first (-32768 to 32767). group_key: messages of one key
        are delivered in id order, at most the queue's group_concurrency of them at once.
        dedupe_key: while an unfinished message of the queue holds the key, adds nothing and
        returns that message's id; with dedupe_seconds, the key stays taken that long after the
        message is done. run_at: a datetime with a time zone.
        Raises InvalidPayload (not JSON the server takes, or a group or dedupe key of 0 or over
        255 characters), PayloadTooLarge (over max_payload_bytes, or the queue's own limit),
        QueueNotFound and InvalidArgument (a negative delay, run_at with a delay or without a
        time zone, a priority out of range).
        """
        return self._run(_enqueue(self._st, self.queue, payload, delay_seconds, self.max_payload_bytes,
                                     _Options(priority, group_key, dedupe_key, run_at, dedupe_seconds)), 1)

    def batch_enqueue(
        self,
        payloads: Iterable[Any],
        delay_seconds: int = 0,
        *,
        priorities: Sequence[int] | None = None,
        group_keys: Sequence[str | None] | None = None,
        dedupe_keys: Sequence[str | None] | None = None,
        run_at: dt.datetime | None = None,
        dedupe_seconds: int = 0,
    ) -> list[int]:
        """Add many messages in one statement, all or nothing; returns their ids, in input order.

        priorities, group_keys and dedupe_keys, when given, have one element per payload (a key
        may be None). A payload whose dedupe key is held gets the holder's id; payloads of one
        key make one message, whose id each of them gets. run_at and dedupe_seconds: as enqueue
        takes them, for all. Raises what enqueue raises (naming the payload as payloads[i], from
        1), and BatchTooLarge above the server's maximum batch size.
        """
        payloads = list(payloads)
        options = _batch_options(len(payloads), priorities, group_keys, dedupe_keys, run_at, dedupe_seconds)
        return self._run(
            _batch_enqueue(self._st, self.queue, payloads, delay_seconds, self.max_payload_bytes, options),
            len(payloads),
        )

    def enqueue_delayed(self, payload: Any, delay_seconds: int) -> int:
        """enqueue(payload, delay_seconds): returns the message's id; raises what enqueue raises."""
        return self.enqueue(payload, delay_seconds)

    def extend_visibility(self, msg_id: int, seconds: int) -> dt.datetime | None:
        """Set a message's visibility to now + seconds; the new vt, or None if it is not there.
        Raises InvalidArgument (seconds out of range)."""
        return self._run(_extend_visibility(self._st, self.queue, msg_id, seconds))

    def enqueue_many(
        self,
        payloads: Iterable[Any],
        delay_seconds: int = 0,
        batch_size: int | None = None,
        on_batch: Callable[[int], None] | None = None,
        *,
        priorities: Sequence[int] | None = None,
        group_keys: Sequence[str | None] | None = None,
        dedupe_keys: Sequence[str | None] | None = None,
        run_at: dt.datetime | None = None,
        dedupe_seconds: int = 0,
    ) -> list[int]:
        """Add any number of messages, in batches of ``batch_size`` (default: the config's
        default_max_batch_size), all in one transaction: every one of them or none. Returns
        their ids, in input order.

        Every payload is checked before the first batch is sent. ``on_batch(sent)`` is called
        after each batch with the number sent so far (not committed until the last). An
        error names the payload as ``payloads[i]``, counted from 1 over the whole input;
        it raises what batch_enqueue raises. priorities, group_keys, dedupe_keys, run_at and
        dedupe_seconds: as batch_enqueue takes them (a dedupe key repeated in a later batch gets the
        id of the message an earlier one made).
        The transaction stays open while the batches go, so keep very large sends for quiet times.
        """
        values = list(payloads)
        options = _batch_options(len(values), priorities, group_keys, dedupe_keys, run_at, dedupe_seconds)
        procedure, progress = self._many(values, delay_seconds, batch_size, on_batch, options)
        try:
            return self._run(procedure, len(values), transaction=True)
        except PgqrsError as exc:
            progress.renumber(exc)
            raise

    def message_status(self, msg_id: int) -> MessageStatus:
        """Where the message is: ready, delayed, in_flight, done, dead, cancelled or unknown,
        with its read_ct, result (what complete() stored) and finished_at. Raises QueueNotFound."""
        return self._run(message_status(self._st, self.queue, msg_id))

    def wait_for(self, msg_id: int, timeout: float = 30) -> MessageStatus:
        """The message's status as soon as it is finished (done, dead or cancelled) or unknown, else
        its status after ``timeout`` seconds; the server waits (polling as dequeue's long poll does),
        holding one pooled connection. Raises QueueNotFound."""
        return self._run(wait_for(self._st, self.queue, msg_id, timeout))

    def cancel(self, msg_id: int) -> bool:
        """Cancel the message: at once when no worker holds it, else when its lease ends (its worker
        is told); never delivered again. Whether anything was cancelled. Raises QueueNotFound."""
        return self._run(_cancel(self._st, self.queue, msg_id))

    def publish(self, topic: str, payload: Any) -> int:
        """Enqueue the payload into every queue bound to a pattern that matches the topic (not only
        this producer's queue), in one transaction; how many queues got it (0: none is bound).
        Raises InvalidArgument (an invalid topic) and what enqueue raises."""
        return self._run(_publish(self._st, topic, payload, self.max_payload_bytes), 1)


class AsyncProducer(_ProducerBase):
    """Asynchronous producer on an AsyncConnectionPool: Producer's methods, awaited."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        queue: str,
        config: Config,
        *,
        max_payload_bytes: int | None = None,
        rate_limit_per_second: float | None = None,
    ) -> None:
        self.pool = pool
        super().__init__(queue, config, max_payload_bytes, rate_limit_per_second)

    async def _run(self, procedure: Procedure[T], tokens: int = 0, *, transaction: bool = False) -> T:
        wait = self._wait(tokens)
        if wait > 0:
            await asyncio.sleep(wait)
        return await run_async(self.pool, procedure, transaction=transaction)

    async def enqueue(
        self,
        payload: Any,
        delay_seconds: int = 0,
        *,
        priority: int = 0,
        group_key: str | None = None,
        dedupe_key: str | None = None,
        run_at: dt.datetime | None = None,
        dedupe_seconds: int = 0,
    ) -> int:
        """Add one message, visible after delay_seconds or at run_at (not both); returns its id.

        priority: higher is delivered first (-32768 to 32767). group_key: messages of one key
        are delivered in id order, at most the queue's group_concurrency of them at once.
        dedupe_key: while an unfinished message of the queue holds the key, adds nothing and
        returns that message's id; with dedupe_seconds, the key stays taken that long after the
        message is done. run_at: a datetime with a time zone.
        Raises InvalidPayload (not JSON the server takes, or a group or dedupe key of 0 or over
        255 characters), PayloadTooLarge (over max_payload_bytes, or the queue's own limit),
        QueueNotFound and InvalidArgument (a negative delay, run_at with a delay or without a
        time zone, a priority out of range).
        """
        return await self._run(_enqueue(self._st, self.queue, payload, delay_seconds, self.max_payload_bytes,
                                     _Options(priority, group_key, dedupe_key, run_at, dedupe_seconds)), 1)

    async def batch_enqueue(
        self,
        payloads: Iterable[Any],
        delay_seconds: int = 0,
        *,
        priorities: Sequence[int] | None = None,
        group_keys: Sequence[str | None] | None = None,
        dedupe_keys: Sequence[str | None] | None = None,
        run_at: dt.datetime | None = None,
        dedupe_seconds: int = 0,
    ) -> list[int]:
        """Add many messages in one statement, all or nothing; returns their ids, in input order.

        priorities, group_keys and dedupe_keys, when given, have one element per payload (a key
        may be None). A payload whose dedupe key is held gets the holder's id; payloads of one
        key make one message, whose id each of them gets. run_at and dedupe_seconds: as enqueue
        takes them, for all. Raises what enqueue raises (naming the payload as payloads[i], from
        1), and BatchTooLarge above the server's maximum batch size.
        """
        payloads = list(payloads)
        options = _batch_options(len(payloads), priorities, group_keys, dedupe_keys, run_at, dedupe_seconds)
        return await self._run(
            _batch_enqueue(self._st, self.queue, payloads, delay_seconds, self.max_payload_bytes, options),
            len(payloads),
        )

    async def enqueue_delayed(self, payload: Any, delay_seconds: int) -> int:
        """enqueue(payload, delay_seconds): returns the message's id; raises what enqueue raises."""
        return await self.enqueue(payload, delay_seconds)

    async def extend_visibility(self, msg_id: int, seconds: int) -> dt.datetime | None:
        """Set a message's visibility to now + seconds; the new vt, or None if it is not there.
        Raises InvalidArgument (seconds out of range)."""
        return await self._run(_extend_visibility(self._st, self.queue, msg_id, seconds))

    async def enqueue_many(
        self,
        payloads: Iterable[Any],
        delay_seconds: int = 0,
        batch_size: int | None = None,
        on_batch: Callable[[int], None] | None = None,
        *,
        priorities: Sequence[int] | None = None,
        group_keys: Sequence[str | None] | None = None,
        dedupe_keys: Sequence[str | None] | None = None,
        run_at: dt.datetime | None = None,
        dedupe_seconds: int = 0,
    ) -> list[int]:
        """Add any number of messages, in batches of ``batch_size`` (default: the config's
        default_max_batch_size), all in one transaction: every one of them or none. Returns
        their ids, in input order.

        Every payload is checked before the first batch is sent. ``on_batch(sent)`` is called
        after each batch with the number sent so far (not committed until the last). An
        error names the payload as ``payloads[i]``, counted from 1 over the whole input;
        it raises what batch_enqueue raises. priorities, group_keys, dedupe_keys, run_at and
        dedupe_seconds: as batch_enqueue takes them (a dedupe key repeated in a later batch gets the
        id of the message an earlier one made).
        The transaction stays open while the batches go, so keep very large sends for quiet times.
        """
        values = list(payloads)
        options = _batch_options(len(values), priorities, group_keys, dedupe_keys, run_at, dedupe_seconds)
        procedure, progress = self._many(values, delay_seconds, batch_size, on_batch, options)
        try:
            return await self._run(procedure, len(values), transaction=True)
        except PgqrsError as exc:
            progress.renumber(exc)
            raise

    async def message_status(self, msg_id: int) -> MessageStatus:
        """Where the message is: ready, delayed, in_flight, done, dead, cancelled or unknown,
        with its read_ct, result (what complete() stored) and finished_at. Raises QueueNotFound."""
        return await self._run(message_status(self._st, self.queue, msg_id))

    async def wait_for(self, msg_id: int, timeout: float = 30) -> MessageStatus:
        """The message's status as soon as it is finished (done, dead or cancelled) or unknown, else
        its status after ``timeout`` seconds; the server waits (polling as dequeue's long poll does),
        holding one pooled connection. Raises QueueNotFound."""
        return await self._run(wait_for(self._st, self.queue, msg_id, timeout))

    async def cancel(self, msg_id: int) -> bool:
        """Cancel the message: at once when no worker holds it, else when its lease ends (its worker
        is told); never delivered again. Whether anything was cancelled. Raises QueueNotFound."""
        return await self._run(_cancel(self._st, self.queue, msg_id))

    async def publish(self, topic: str, payload: Any) -> int:
        """Enqueue the payload into every queue bound to a pattern that matches the topic (not only
        this producer's queue), in one transaction; how many queues got it (0: none is bound).
        Raises InvalidArgument (an invalid topic) and what enqueue raises."""
        return await self._run(_publish(self._st, topic, payload, self.max_payload_bytes), 1)
