"""Waiting for worker threads without holding up a signal handler.

Python runs a signal handler only in the main thread, between bytecodes. The kernel may
hand a process-directed SIGTERM or SIGINT to any thread; if a worker takes it while the
main thread sleeps in an untimed lock wait (for an endless listing, say), the handler
runs only when that wait ends, which may be never. So the main thread waits for its
workers in short steps. (The workers do not block the signals instead: a process one of
them starts, such as git, would inherit the mask and shrug off the Ctrl-C or SIGTERM sent
to the whole process group.)
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future, wait
from typing import Any

# How long the main thread sleeps at most before running a handler that is due.
SIGNAL_POLL_SECONDS = 0.2


def wait_all(futures: Iterable[Future[Any]]) -> None:
    """Until every future is done, waking often enough for the main thread's handlers."""
    pending = set(futures)
    while pending:
        _, pending = wait(pending, timeout=SIGNAL_POLL_SECONDS)
