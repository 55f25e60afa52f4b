"""Stopping an apply on a signal (Ctrl-C, or the SIGTERM a CI cancel sends) without losing
track of a call: the calls in flight finish and are journaled, no more are sent, and the
run's end record is written. The CLI and the Action share it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from reconciler.apply.journal import Journal
from reconciler.errors import DxorgError

# What a call that apply meant to send after the stop fails with (it was never sent).
NOT_SENT = "not sent: interrupted"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class CallNotSent(DxorgError):
    pass


class StoppingJournal(Journal):
    """The audit journal, which also stops apply: apply journals each call just before it
    sends it, so refusing that record keeps the call from being sent (it fails as
    NOT_SENT, a `not-sent` record in its place, and its dependants are skipped). Calls
    already in flight finish. The run's end record then carries the signal's exit code."""

    def __init__(self, path: Path, stop: threading.Event) -> None:
        super().__init__(path)
        self._stop = stop
        self._interrupted_by: int | None = None

    def signalled(self, signum: int) -> None:
        """Stop sending, for signal `signum` (the process will exit 128 + signum)."""
        if self._interrupted_by is None:
            self._interrupted_by = 128 + signum
        self._stop.set()

    @property
    def interrupted_by(self) -> int | None:
        if self._interrupted_by is None and self._stop.is_set():
            return 128 + signal.SIGINT  # stopped without a signal named: as Ctrl-C
        return self._interrupted_by

    def stop_reason(self) -> str | None:
        return NOT_SENT if self._stop.is_set() else None

    def write(self, event: str, **fields: Any) -> None:
        if event == "call" and self._stop.is_set():
            fields.pop("body", None)
            super().write("not-sent", **fields, reason=NOT_SENT)
            raise CallNotSent(NOT_SENT)
        super().write(event, **fields)


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
