"""Producer: enqueue messages, with payload validation before any round trip."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Generator, Iterable
from typing import Any

from psycopg.types.json import Jsonb

from .config import Config
from .db import run, run_async
from .errors import InvalidPayload, PayloadTooLarge
from .statements import Op, statements

logger = logging.getLogger(__name__)

__all__ = ["Producer", "AsyncProducer", "validate_payload", "TokenBucket"]

Proc = Generator[Op, Any, Any]


def validate_payload(payload: Any, max_payload_bytes: int) -> Jsonb:
    """The payload as Jsonb, if it is JSON-serialisable and not larger than the limit."""
    if payload is None:
        raise InvalidPayload("payload must not be None")
    try:
        encoded = json.dumps(payload, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"payload is not JSON-serialisable: {exc}") from exc
    size = len(encoded.encode())
    if size > max_payload_bytes:
        raise PayloadTooLarge(f"payload is {size} bytes, more than the limit of {max_payload_bytes}")
    # Dump once: the Jsonb adapter gets the text we measured.
    return Jsonb(payload, dumps=lambda _obj, _text=encoded: _text)


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


def _enqueue(st: Any, queue: str, payload: Any, delay_seconds: int, limit: int) -> Proc:
    return (yield Op(st.enqueue, [queue, validate_payload(payload, limit), delay_seconds], "scalar"))


def _batch_enqueue(st: Any, queue: str, payloads: list[Any], delay_seconds: int, limit: int) -> Proc:
    values = [validate_payload(p, limit) for p in payloads]
    if not values:
        return []
    return (yield Op(st.enqueue_batch, [queue, values, delay_seconds], "scalars"))


def _single(op: Op) -> Proc:
    return (yield op)


class _ProducerBase:
    def __init__(
        self,
        pool: Any,
        queue: str,
        config: Config,
        *,
        max_payload_bytes: int = 1_048_576,
        rate_limit_per_second: float | None = None,
    ) -> None:
        self.pool = pool
        self.queue = queue
        self.config = config
        self.max_payload_bytes = max_payload_bytes
        self._st = statements(config.schema)
        self._bucket = TokenBucket(rate_limit_per_second) if rate_limit_per_second else None

    def _run(self, procedure: Proc, tokens: int = 0) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def enqueue(self, payload: Any, delay_seconds: int = 0) -> Any:
        """Add one message; returns its id."""
        return self._run(_enqueue(self._st, self.queue, payload, delay_seconds, self.max_payload_bytes), 1)

    def batch_enqueue(self, payloads: Iterable[Any], delay_seconds: int = 0) -> Any:
        """Add many messages in one statement, all or nothing (BatchTooLarge above the server's maximum)."""
        payloads = list(payloads)
        return self._run(
            _batch_enqueue(self._st, self.queue, payloads, delay_seconds, self.max_payload_bytes), len(payloads)
        )

    def enqueue_delayed(self, payload: Any, delay_seconds: int) -> Any:
        return self.enqueue(payload, delay_seconds)

    def extend_visibility(self, msg_id: int, seconds: int) -> Any:
        """Set a message's visibility to now + seconds; the new vt, or None if it is not there."""
        return self._run(_single(Op(self._st.extend_visibility, [self.queue, msg_id, seconds, None], "scalar")))


class Producer(_ProducerBase):
    """Synchronous producer on a ConnectionPool (opened by the caller)."""

    def _run(self, procedure: Proc, tokens: int = 0) -> Any:
        if self._bucket is not None and tokens:
            wait = self._bucket.reserve(tokens)
            if wait > 0:
                time.sleep(wait)
        return run(self.pool, procedure)


class AsyncProducer(_ProducerBase):
    """Asynchronous producer on an AsyncConnectionPool: Producer's methods, awaited."""

    async def _run(self, procedure: Proc, tokens: int = 0) -> Any:
        if self._bucket is not None and tokens:
            wait = self._bucket.reserve(tokens)
            if wait > 0:
                await asyncio.sleep(wait)
        return await run_async(self.pool, procedure)
