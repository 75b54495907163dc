"""Exceptions: one class per SQLSTATE that pgqrs raises, all under PgqrsError.

The message of a mapped exception is the server's primary message, so a CLI can
print ``str(exc)`` and the user reads what PostgreSQL said.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

import psycopg
import psycopg_pool

__all__ = [
    "PgqrsError",
    "QueueNotFound",
    "QueueExists",
    "InvalidQueueName",
    "InvalidArgument",
    "InvalidPayload",
    "PayloadTooLarge",
    "BatchTooLarge",
    "QueueNotEmpty",
    "WorkerNotFound",
    "WorkerNotActive",
    "RoleConflict",
    "MessageCancelled",
    "ConfigError",
    "ConnectionFailed",
    "OutcomeUnknown",
    "ReadOnlyServer",
    "NotInstalled",
    "VersionMismatch",
    "InstallRefused",
    "DatabaseError",
    "ECHO_LIMIT",
    "SQLSTATE_ERRORS",
    "shorten",
    "outcome_unknown",
    "translate_error",
    "wrap_errors",
]


class PgqrsError(Exception):
    """Base of every pgqrs error."""

    sqlstate: str | None = None

    def __init__(self, message: str | None = None, *, detail: str | None = None, hint: str | None = None) -> None:
        # The docstring is the default message, as procrastinate does.
        super().__init__(message or (self.__doc__ or "").strip())
        self.detail = detail
        self.hint = hint


class QueueNotFound(PgqrsError):
    """The queue does not exist."""

    sqlstate = "PQ001"


class QueueExists(PgqrsError):
    """The queue already exists."""

    sqlstate = "PQ002"


class InvalidQueueName(PgqrsError):
    """The queue name is not valid."""

    sqlstate = "PQ003"


class InvalidArgument(PgqrsError):
    """An argument is out of range."""

    sqlstate = "PQ004"


class InvalidPayload(PgqrsError):
    """The payload is not a valid JSON value."""

    sqlstate = "PQ005"


class PayloadTooLarge(InvalidPayload):
    """The payload is larger than the client-side limit."""


class BatchTooLarge(PgqrsError):
    """More items than one call accepts."""

    sqlstate = "PQ006"


class QueueNotEmpty(PgqrsError):
    """The queue still holds messages, archived messages or active workers."""

    sqlstate = "PQ007"


class WorkerNotFound(PgqrsError):
    """The worker does not exist (or belongs to another queue)."""

    sqlstate = "PQ008"


class WorkerNotActive(PgqrsError):
    """The worker was stopped or reaped; register it again."""

    sqlstate = "PQ009"


class RoleConflict(PgqrsError):
    """Roles of the names an install would use exist already and are not pgqrs's to use."""

    sqlstate = "PQ010"


class MessageCancelled(PgqrsError):
    """The message was cancelled while leased: stop working on it (its lease is no longer extended)."""


class ConfigError(PgqrsError):
    """The configuration is invalid."""


class ConnectionFailed(PgqrsError):
    """Could not connect to the database."""


class OutcomeUnknown(ConnectionFailed):
    """The connection was lost after the statement was sent: it may or may not have taken effect
    (a failover, a crash or a cut between the commit and its answer)."""


class ReadOnlyServer(PgqrsError):
    """The server is read-only (a hot standby): this call writes, so it needs the primary."""

    sqlstate = "25006"


class NotInstalled(PgqrsError):
    """pgqrs is not installed in this database or schema."""


class VersionMismatch(PgqrsError):
    """The installed pgqrs cannot be brought to this package's version."""


class InstallRefused(PgqrsError):
    """pgqrs cannot be installed this way here (the hint says which way can)."""


class DatabaseError(PgqrsError):
    """The database reported an error."""


SQLSTATE_ERRORS: dict[str, type[PgqrsError]] = {
    cls.sqlstate: cls
    for cls in (
        QueueNotFound,
        QueueExists,
        InvalidQueueName,
        InvalidArgument,
        InvalidPayload,
        BatchTooLarge,
        QueueNotEmpty,
        WorkerNotFound,
        WorkerNotActive,
        RoleConflict,
    )
    if cls.sqlstate
}

# Missing schema, missing function, missing table: pgqrs is not (fully) installed.
_NOT_INSTALLED_SQLSTATES = {"3F000", "42883", "42P01"}
# A PL/Proxy proxy that lost or could not make its connection to a partition (a partition
# being moved, a node restarting) says so with XX000 and the libpq call that failed; errors
# the partition raised come with their own SQLSTATE ("REMOTE ERROR").
_PROXY_CONNECTION_ERROR = re.compile(r"PL/Proxy function \S+: \[[^\]]*\] PQ\w+: ")
# Class 08 (connection exception), 28 (invalid authorization), 57P03 (cannot connect now).
_CONNECTION_SQLSTATE_CLASSES = ("08", "28")


def _primary(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return primary or str(exc).strip() or type(exc).__name__


def translate_error(exc: BaseException) -> PgqrsError:
    """The pgqrs exception for a psycopg (or pool) exception; ``raise ... from exc`` it.

    Returns exc itself when it is a PgqrsError; the class of SQLSTATE_ERRORS for a pgqrs SQLSTATE;
    ReadOnlyServer for a write on a read-only server (25006); NotInstalled for a missing schema,
    function or table; ConnectionFailed for a pool timeout or a failed connection; DatabaseError
    for anything else. Raises nothing.
    """
    if isinstance(exc, PgqrsError):
        return exc
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return ConnectionFailed(f"could not get a database connection: {exc}")
    if isinstance(exc, psycopg.Error):
        sqlstate = exc.sqlstate
        diag = exc.diag
        detail, hint = diag.message_detail, diag.message_hint
        if sqlstate in SQLSTATE_ERRORS:
            return SQLSTATE_ERRORS[sqlstate](_primary(exc), detail=detail, hint=hint)
        if sqlstate == ReadOnlyServer.sqlstate:  # read_only_sql_transaction: a write on a hot standby
            return ReadOnlyServer(
                f"the server is read-only ({_primary(exc)})",
                detail=detail,
                hint=hint or "Writes need the primary: connect to it, or give every host with "
                             "target_session_attrs=read-write.",
            )
        if sqlstate in _NOT_INSTALLED_SQLSTATES:
            return NotInstalled(
                f"pgqrs is not installed here ({_primary(exc)})",
                detail=detail,
                hint=hint or "Run `pgqrs install` (or Admin.install()) first.",
            )
        if sqlstate == "XX000" and _PROXY_CONNECTION_ERROR.match(_primary(exc)):
            return ConnectionFailed(f"the proxy could not reach a partition: {_connection_message(exc)}")
        if isinstance(exc, psycopg.OperationalError) and (
            sqlstate is None or sqlstate.startswith(_CONNECTION_SQLSTATE_CLASSES) or sqlstate == "57P03"
        ):
            return ConnectionFailed(f"could not connect to the database: {_connection_message(exc)}")
        return DatabaseError(_primary(exc), detail=detail, hint=hint)
    return DatabaseError(str(exc))


def _connection_message(exc: BaseException) -> str:
    # libpq messages span lines ("connection to server at ... failed: ..."): keep one line.
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text or type(exc).__name__


def outcome_unknown(exc: BaseException) -> OutcomeUnknown:
    """The OutcomeUnknown for a connection that broke under a statement: the server (or the network)
    went away after the statement was sent, maybe after its commit (a crash, a failover, a
    pg_terminate_backend), so whether it took effect is unknown. Raises nothing."""
    return OutcomeUnknown(
        "the connection was lost during the call, which may or may not have taken effect: "
        + " ".join(_primary(exc).split()),  # one line: libpq's messages span several
        hint="A retry may do it twice; an enqueue with a dedupe_key can be retried safely.",
    )


#: How much of a user-supplied value an error message shows, as the server's messages do.
ECHO_LIMIT = 64


def shorten(value: object, limit: int = ECHO_LIMIT) -> str:
    """``str(value)``, cut to ``limit`` characters and "..." when longer (a huge value stays readable)."""
    try:
        text = str(value)
    except ValueError:  # an int with more digits than Python converts to text
        text = f"an integer of {value.bit_length()} bits"  # type: ignore[attr-defined]
    return text if len(text) <= limit else text[:limit] + "..."


F = TypeVar("F", bound=Callable[..., Any])


class _WrapErrors(contextlib.ContextDecorator):
    """Translate psycopg errors into pgqrs errors, as a context manager or a decorator."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if exc is not None and isinstance(exc, (psycopg.Error, psycopg_pool.PoolTimeout)):
            raise translate_error(exc) from exc
        return False

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]  # functools.wraps keeps func's signature
        return super().__call__(func)


@overload
def wrap_errors(func: F) -> F: ...


@overload
def wrap_errors(func: None = None) -> _WrapErrors: ...


def wrap_errors(func: F | None = None) -> F | _WrapErrors:
    """Use as ``with wrap_errors():``, ``@wrap_errors`` or ``@wrap_errors()``.

    Inside, a psycopg error or a pool timeout is raised again as the PgqrsError that
    translate_error() gives for it (chained with ``from``); every other exception passes as it is.
    Returns the decorated function (same signature, sync or async), or the context manager.
    """
    if func is not None:
        return _WrapErrors()(func)
    return _WrapErrors()
