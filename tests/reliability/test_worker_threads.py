"""A stop signal reaches the main thread while it waits for worker threads.

Python runs signal handlers only in the main thread. When the kernel hands a
process-directed SIGTERM to another thread, the handler waits until the main thread next
runs Python code: a main thread asleep in an untimed wait for an endless listing never
did, and `dxorg plan` hung after SIGTERM about one run in thirty.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from types import FrameType

import pytest

from reconciler.worker_threads import SIGNAL_POLL_SECONDS, wait_all, worker_pool


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


def test_the_pool_threads_never_take_a_stop_signal() -> None:
    def blocked_here() -> set[int]:
        return set(signal.pthread_sigmask(signal.SIG_BLOCK, []))

    with worker_pool(2) as pool:
        masks = [pool.submit(blocked_here).result() for _ in range(4)]
    for mask in masks:
        assert {signal.SIGINT, signal.SIGTERM} <= mask
    # ... and the main thread's own mask is untouched.
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert SIGNAL_POLL_SECONDS <= 0.5
