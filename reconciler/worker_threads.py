"""Thread pools that leave signals to the main thread.

Python runs a signal handler only in the main thread, between bytecodes. A process-directed
SIGTERM can be delivered by the kernel to any thread that does not block it; if a worker
takes it while the main thread sleeps in an untimed lock wait (waiting for the workers),
the handler runs only when that wait ends, which for an endless listing is never. So the
workers block the stop signals, and the main thread never waits without a timeout.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
# How long the main thread sleeps at most before running a handler that is due.
SIGNAL_POLL_SECONDS = 0.2


def _leave_signals_to_the_main_thread() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def worker_pool(max_workers: int) -> ThreadPoolExecutor:
    """A pool whose threads never take SIGINT or SIGTERM."""
    return ThreadPoolExecutor(
        max_workers=max_workers, initializer=_leave_signals_to_the_main_thread
    )


def wait_all(futures: Iterable[Future[Any]]) -> None:
    """Until every future is done, waking often enough for the main thread's handlers."""
    pending = set(futures)
    while pending:
        _, pending = wait(pending, timeout=SIGNAL_POLL_SECONDS)
