"""pgqrs: a job queue inside PostgreSQL (Python client)."""

from __future__ import annotations

from importlib import metadata as _metadata

from .admin import Admin, AsyncAdmin
from .config import Config
from .consumer import AsyncConsumer, Consumer
from .db import create_async_pool, create_pool
from .errors import (
    SQLSTATE_ERRORS,
    BatchTooLarge,
    ConfigError,
    ConnectionFailed,
    DatabaseError,
    InstallRefused,
    InvalidArgument,
    InvalidPayload,
    InvalidQueueName,
    MessageCancelled,
    NotInstalled,
    OutcomeUnknown,
    PayloadTooLarge,
    PgqrsError,
    QueueExists,
    QueueNotEmpty,
    QueueNotFound,
    ReadOnlyServer,
    RoleConflict,
    VersionMismatch,
    WorkerNotActive,
    WorkerNotFound,
    translate_error,
    wrap_errors,
)
from .producer import AsyncProducer, Producer
from .tables import (
    AsyncPgqrsArchiveTable,
    AsyncPgqrsMessages,
    AsyncPgqrsQueues,
    AsyncPgqrsWorkers,
    PgqrsArchiveTable,
    PgqrsMessages,
    PgqrsQueues,
    PgqrsWorkers,
)
from .types import (
    ArchivedMessage,
    InstallResult,
    Message,
    MessageStatus,
    Queue,
    QueueMetrics,
    Schedule,
    TopicBinding,
    VerifyReport,
    WorkerHealth,
    WorkerRecord,
)
from .worker import Worker, WorkerStats, cancel_requested, load_handler

try:
    __version__ = _metadata.version("pgqrs")
except _metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "Admin",
    "AsyncAdmin",
    "Config",
    "Consumer",
    "AsyncConsumer",
    "Producer",
    "AsyncProducer",
    "create_pool",
    "create_async_pool",
    "PgqrsQueues",
    "PgqrsWorkers",
    "PgqrsMessages",
    "PgqrsArchiveTable",
    "AsyncPgqrsQueues",
    "AsyncPgqrsWorkers",
    "AsyncPgqrsMessages",
    "AsyncPgqrsArchiveTable",
    "Message",
    "ArchivedMessage",
    "Queue",
    "Worker",
    "WorkerStats",
    "load_handler",
    "cancel_requested",
    "MessageStatus",
    "Schedule",
    "TopicBinding",
    "MessageCancelled",
    "WorkerRecord",
    "QueueMetrics",
    "WorkerHealth",
    "InstallResult",
    "VerifyReport",
    "PgqrsError",
    "QueueNotFound",
    "VersionMismatch",
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
    "InstallRefused",
    "ConfigError",
    "ConnectionFailed",
    "OutcomeUnknown",
    "ReadOnlyServer",
    "NotInstalled",
    "DatabaseError",
    "SQLSTATE_ERRORS",
    "translate_error",
    "wrap_errors",
]
