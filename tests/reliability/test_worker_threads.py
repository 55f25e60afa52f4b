"""A stop signal reaches the main thread while it waits for worker threads.

Python runs signal handlers only in the main thread. When the kernel hands a
process-directed SIGTERM to another thread, the handler waits until the main thread next
runs Python code: a main thread asleep in an untimed wait for an endless listing never
did, and `dxorg plan` hung after SIGTERM about one run in thirty.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest

from reconciler.worker_threads import wait_all


class Stopped(BaseException):
    pass


@contextmanager
def raising_on_sigusr1() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise Stopped

    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_a_signal_taken_by_another_thread_interrupts_the_wait() -> None:
    never: Future[None] = Future()

    # The signal is delivered to this thread, not the main one: the case the kernel may pick.
    def take_the_signal() -> None:
        time.sleep(0.5)  # so the main thread is asleep in the wait, not running code
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)

    taker = threading.Thread(target=take_the_signal)
    # If the wait does not wake for the handler, the future ends it after 5 s (and the
    # test fails on the time) rather than hanging the suite.
    rescue = threading.Timer(5, never.set_result, args=(None,))
    started = time.monotonic()
    with raising_on_sigusr1(), pytest.raises(Stopped):
        rescue.start()
        try:
            taker.start()
            wait_all([never])
        finally:
            rescue.cancel()
            taker.join()
    assert time.monotonic() - started < 5, "the handler ran only when the wait ended"


def test_a_process_a_worker_starts_still_takes_sigterm() -> None:
    # git runs on the access review's workers: a Ctrl-C or SIGTERM to the process group
    # must reach it too, so no worker blocks the signals (a child inherits the mask).
    def blocked_in_child() -> str:
        child = subprocess.Popen(["sleep", "30"])
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
        finally:
            child.terminate()
            child.wait()
        return next(line for line in status.splitlines() if line.startswith("SigBlk:"))

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(blocked_in_child)
        wait_all([future])
        blocked = int(future.result().split()[1], 16)
    for stop in (signal.SIGINT, signal.SIGTERM):
        assert not blocked & (1 << (stop - 1)), f"a worker's child blocks {stop.name}"
