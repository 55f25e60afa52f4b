"""Stopping an apply on a signal (Ctrl-C, or the SIGTERM a CI cancel sends) without losing
track of a call: the calls in flight finish and are journaled, no more are sent (each one
apply meant to send is journaled `not-sent` and ends with the outcome `not-sent`), and
the run's end record carries the signal's exit code. The command layer
(`reconciler.commands.apply`) sets the signal; the executor reads it before every call.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

# The reason a call apply meant to send after the stop was not sent.
NOT_SENT = "not sent: interrupted"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignal:
    """Apply's stop, set once (from a signal handler or another thread): no call is sent
    after it. Calls already in flight finish."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._exit_code: int | None = None

    def stop(self, exit_code: int = 128 + signal.SIGINT) -> None:
        """Send no more calls; the run then ends with `exit_code` (128 + the signal)."""
        if self._exit_code is None:
            self._exit_code = exit_code
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    @property
    def exit_code(self) -> int | None:
        """The exit code of the signal that stopped the run (130, 143), if one did."""
        return self._exit_code if self._event.is_set() else None

    def reason(self) -> str | None:
        """Why no more calls are sent, once they are not."""
        return NOT_SENT if self._event.is_set() else None


@contextmanager
def stop_on_signals(on_signal: Callable[[int], None]) -> Iterator[None]:
    """While the context lasts, SIGINT and SIGTERM call `on_signal(signum)` instead of
    their usual effect (outside the main thread, where handlers cannot be set: nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        on_signal(signum)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
