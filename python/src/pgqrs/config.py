"""Configuration: flags, then environment, then a YAML file, then defaults.

Every error names where the bad value came from (flag, environment variable or
file), because that is what the user has to fix.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, shorten

__all__ = ["Config", "DEFAULT_CONFIG_FILES", "ENV_VARS", "SCHEMA_PATTERN", "validate_schema"]

SCHEMA_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

# Looked for in the current directory when neither a flag nor PGQRS_CONFIG_FILE names a file.
DEFAULT_CONFIG_FILES = ("pgqrs.yaml", "pgqrs.yml")

# field name -> environment variable
ENV_VARS: dict[str, str] = {
    "dsn": "PGQRS_DSN",
    "schema": "PGQRS_SCHEMA",
    "max_connections": "PGQRS_MAX_CONNECTIONS",
    "connection_timeout_seconds": "PGQRS_CONNECTION_TIMEOUT",
    "default_lock_time_seconds": "PGQRS_DEFAULT_LOCK_TIME",
    "default_max_batch_size": "PGQRS_DEFAULT_BATCH_SIZE",
}
CONFIG_FILE_ENV = "PGQRS_CONFIG_FILE"


def validate_schema(schema: Any, source: str = "schema") -> str:
    """The schema name, if it is a plain identifier; it only ever reaches SQL as sql.Identifier.
    Raises ConfigError naming source otherwise."""
    if not isinstance(schema, str) or not SCHEMA_PATTERN.match(schema):
        raise ConfigError(
            f"invalid schema name {schema!r} from {source}: "
            "use 1 to 63 letters, digits or '_', not starting with a digit"
        )
    return schema


@dataclasses.dataclass
class Config:
    """Where pgqrs is and how the library uses it. Every constructor returns a checked Config
    and raises ConfigError, naming where the bad value came from, for anything out of place."""

    dsn: str
    """The PostgreSQL connection string (libpq keywords or a postgresql:// URI). For a replicated
    server name every node and ask for the primary: ``host=a,b target_session_attrs=read-write``."""
    schema: str = "pgqrs"
    """The schema pgqrs is installed in: a plain identifier, up to 63 characters."""
    max_connections: int = 10
    """The size of the connection pool (Admin's, and every pool made with create_pool)."""
    connection_timeout_seconds: float = 30.0
    """How long to wait for a connection: to the server, and for one from the pool."""
    default_lock_time_seconds: int = 30
    """How long a Consumer or a Worker leases a message when the call does not say (vt_seconds)."""
    default_max_batch_size: int = 100
    """How many messages Consumer.dequeue_batch leases, and Producer.enqueue_many and
    `pgqrs message send --file` send per statement, when the call does not say."""

    def __post_init__(self) -> None:
        _check(self, {name: "argument" for name in _FIELDS})

    # -- constructors -------------------------------------------------------

    @classmethod
    def from_dsn(cls, dsn: str) -> Config:
        """A Config of the DSN and the defaults. Raises ConfigError (an empty DSN)."""
        return cls(dsn=dsn)

    @classmethod
    def from_dsn_with_schema(cls, dsn: str, schema: str) -> Config:
        """A Config of the DSN, the schema and the defaults. Raises ConfigError (an empty DSN, a bad schema name)."""
        return cls(dsn=dsn, schema=schema)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """From PGQRS_* variables alone (PGQRS_DSN is required). Raises ConfigError."""
        values, sources = _from_env(os.environ if environ is None else environ)
        return _build(values, sources)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Config:
        """From one YAML file alone (its `dsn` key is required). Raises ConfigError (also when the
        file cannot be read, is not UTF-8 or not YAML, or holds unknown keys)."""
        values, sources = _from_file(Path(path))
        return _build(values, sources)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Environment, then the YAML file (PGQRS_CONFIG_FILE or ./pgqrs.yaml / ./pgqrs.yml), then defaults.
        Raises ConfigError."""
        return cls.load_with_options(environ=environ)

    @classmethod
    def load_with_options(
        cls,
        dsn: str | None = None,
        schema: str | None = None,
        config_file: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Config:
        """Flags (the arguments; None means not given) > environment > YAML file > defaults.

        overrides: the other fields by name, as flags. Raises ConfigError (also for an unknown
        override, or a config file named that is not there).
        """
        env = os.environ if environ is None else environ
        unknown = set(overrides) - set(_FIELDS)
        if unknown:
            raise ConfigError(f"unknown configuration option(s) {', '.join(sorted(unknown))} from flags")

        values: dict[str, Any] = {}
        sources: dict[str, str] = {}

        path: Path | None
        if config_file is not None:
            path = _named_file(Path(config_file), "flag")
        elif env.get(CONFIG_FILE_ENV):
            path = _named_file(Path(env[CONFIG_FILE_ENV]), CONFIG_FILE_ENV)
        else:
            path = next((Path(name) for name in DEFAULT_CONFIG_FILES if Path(name).is_file()), None)
        if path is not None:
            file_values, file_sources = _from_file(path)
            values.update(file_values)
            sources.update(file_sources)

        env_values, env_sources = _from_env(env)
        values.update(env_values)
        sources.update(env_sources)

        flags = {"dsn": dsn, "schema": schema, **overrides}
        for name, value in flags.items():
            if value is not None:
                values[name] = value
                sources[name] = f"flag --{name.replace('_', '-')}"
        return _build(values, sources)


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}
_NUMBERS: dict[str, type] = {
    "max_connections": int,
    "connection_timeout_seconds": float,
    "default_lock_time_seconds": int,
    "default_max_batch_size": int,
}
_MINIMUM = {
    "max_connections": 1,
    "connection_timeout_seconds": 0,
    "default_lock_time_seconds": 0,
    "default_max_batch_size": 1,
}
# Each number ends up in an SQL integer (lock time, batch size) or a libpq integer setting (timeout).
_MAXIMUM = {name: 2**31 - 1 for name in _NUMBERS}


def _named_file(path: Path, source: str) -> Path:
    """The config file a flag or PGQRS_CONFIG_FILE names, if it is a file."""
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except OSError as exc:  # a name too long for the system
        raise ConfigError(f"config file {shorten(path)!r} (from {source}): {exc.strerror or exc}") from None
    if is_dir:
        raise ConfigError(f"config file {str(path)!r} (from {source}) is a directory, not a file")
    if not is_file:
        raise ConfigError(f"config file {str(path)!r} (from {source}) does not exist")
    return path


def _from_env(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, var in ENV_VARS.items():
        raw = env.get(var)
        if raw is not None and raw != "":
            values[name] = raw
            sources[name] = f"environment variable {var}"
    return values, sources


def _from_file(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {str(path)!r} is not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start}"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from exc
    except RecursionError:
        raise ConfigError(f"config file {str(path)!r} is nested too deeply to be a pgqrs config file") from None
    except ValueError as exc:  # PyYAML's int() of a number with more digits than Python reads
        raise ConfigError(f"config file {str(path)!r} holds a value that cannot be read: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of settings, not {type(data).__name__}")
    unknown = sorted(str(key) for key in data if key not in _FIELDS)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} in config file {str(path)!r}; "
            f"known keys: {', '.join(_FIELDS)}"
        )
    source = f"config file {str(path)!r}"
    values = {key: value for key, value in data.items() if value is not None}
    return values, {key: source for key in values}


def _convert(name: str, value: Any, source: str) -> Any:
    kind = _NUMBERS.get(name)
    if kind is None:
        if not isinstance(value, str):
            raise ConfigError(f"{name} from {source} must be a string, got {shorten(repr(value))}")
        return value
    if isinstance(value, bool):
        raise ConfigError(f"{name} from {source} must be a number, got {value!r}")
    try:
        if kind is int:
            number: Any = value if isinstance(value, int) else int(str(value).strip())
        else:
            number = float(value) if isinstance(value, (int, float)) else float(str(value).strip())
    except (TypeError, ValueError, OverflowError):
        article = "an integer" if kind is int else "a number"
        raise ConfigError(f"{name} from {source} must be {article}, got {shorten(repr(value))}") from None
    if isinstance(number, float) and not math.isfinite(number):  # YAML's .nan and .inf, or "nan" in the environment
        raise ConfigError(f"{name} from {source} must be a finite number, got {value!r}")
    return number


def _check(config: Config, sources: Mapping[str, str], *, converted: bool = False) -> None:
    """Types (unless converted already) and ranges, on a built Config; raises ConfigError naming the source."""
    for name in _FIELDS:
        source = sources.get(name, "defaults")
        value = getattr(config, name)
        if not converted:
            value = _convert(name, value, source)
        if name in _MINIMUM and value < _MINIMUM[name]:
            raise ConfigError(f"{name} from {source} must be at least {_MINIMUM[name]}, got {shorten(value)}")
        if name in _MAXIMUM and value > _MAXIMUM[name]:
            raise ConfigError(f"{name} from {source} must be at most {_MAXIMUM[name]}, got {shorten(value)}")
        object.__setattr__(config, name, value)
    if not config.dsn:
        raise ConfigError(f"no database DSN: pass --dsn, set {ENV_VARS['dsn']}, or put `dsn` in a config file")
    validate_schema(config.schema, sources.get("schema", "defaults"))


def _build(values: dict[str, Any], sources: dict[str, str]) -> Config:
    if not values.get("dsn"):
        raise ConfigError(f"no database DSN: pass --dsn, set {ENV_VARS['dsn']}, or put `dsn` in a config file")
    # Convert first, so the error names the real source rather than "argument".
    converted = {name: _convert(name, value, sources.get(name, "defaults")) for name, value in values.items()}
    config = Config.__new__(Config)  # not through __post_init__, which would convert and check again
    for name, field in _FIELDS.items():
        object.__setattr__(config, name, converted.get(name, field.default))
    _check(config, sources, converted=True)
    return config
