"""Stopping: the one stop state, and SIGTERM / SIGINT as graceful (then immediate) stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

__all__ = ["StopSignal", "handling_signals"]

logger = logging.getLogger("pgqrs.worker")


class StopSignal:
    """Whether the worker was asked to stop, and whether at once (``forced``: no grace period).

    The two flags are the state; :meth:`request` may be called from any thread, before or
    during a run. While a run is bound to its loop, the flags show as two asyncio events
    that the worker's tasks wait on.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requested = False
        self.forced = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = asyncio.Event()
        self._force = asyncio.Event()

    def request(self, *, force: bool = False) -> None:
        """Ask for a stop (``force``: skip the grace period). Thread-safe."""
        with self._lock:
            self.requested = True
            self.forced = self.forced or force
            loop = self._loop
        if loop is None or loop.is_closed():
            return  # a run that starts later sees the flags
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._show()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._show)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Show the flags as events on ``loop`` (the run's), from now until :meth:`unbind`."""
        with self._lock:
            self._loop = loop
            self._stopping = asyncio.Event()
            self._force = asyncio.Event()
        self._show()

    def unbind(self) -> None:
        with self._lock:
            self._loop = None

    def _show(self) -> None:
        if self.requested:
            self._stopping.set()
        if self.forced:
            self._force.set()

    @property
    def stopping(self) -> asyncio.Event:
        """Set once a stop was requested (on the bound loop)."""
        return self._stopping

    @property
    def force(self) -> asyncio.Event:
        """Set once a stop without grace period was requested (on the bound loop)."""
        return self._force

    def is_set(self) -> bool:
        return self.requested

    async def sleep(self, seconds: float, *events: asyncio.Event) -> bool:
        """Sleep up to ``seconds``, waking early on a stop (or one of ``events``); False once stopping."""
        waiters = [asyncio.ensure_future(event.wait()) for event in (self._stopping, *events)]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return not self._stopping.is_set()


@contextlib.contextmanager
def handling_signals(stop: StopSignal, grace_seconds: float) -> Iterator[None]:
    """SIGTERM / SIGINT stop gracefully while the block runs; the same signal again stops at once.

    Only on the main thread's running loop (elsewhere the block runs without handlers).
    """
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if stop.requested:
            logger.warning("received %s again: stopping now, releasing unfinished messages", name)
            stop.request(force=True)
        else:
            logger.info(
                "received %s: stopping (up to %.0f s for running jobs; send it again to stop at once)",
                name,
                grace_seconds,
            )
            stop.request()

    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
