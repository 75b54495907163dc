"""Handlers: what a worker runs for each message, and how one is named on the command line."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..errors import PgqrsError
from ..types import Message

__all__ = ["Handler", "HandlerNotFound", "load_handler"]

#: ``handler(message)``: returning means done, raising means failed; a coroutine function is awaited.
Handler = Callable[[Message], Any]


class HandlerNotFound(PgqrsError):
    """The handler could not be loaded (expected "module:function")."""


def load_handler(spec: str) -> Handler:
    """The callable named by "package.module:function" (or "module:Class.method")."""
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise HandlerNotFound(f'invalid handler "{spec}": expected "module:function"')
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise HandlerNotFound(f'cannot import module "{module_name}" of handler "{spec}": {exc}') from exc
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise HandlerNotFound(f'handler "{spec}": "{module_name}" has no attribute "{attr_path}"') from exc
    if not callable(target):
        raise HandlerNotFound(f'handler "{spec}" is not callable')
    handler: Handler = target
    return handler
