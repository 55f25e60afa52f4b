"""The emulated platform's clock: milliseconds since the epoch, plus an offset that the
control plane sets, so that tests can put the platform a day ahead of the machine running
dxorg (every timestamp the emulator stores, and the Date header it sends, follow it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def now_ms() -> int:
    return int(time.time() * 1000)


class EmulatorClock:
    def __init__(self, source: Callable[[], int] = now_ms) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._offset_ms = 0

    def __call__(self) -> int:
        with self._lock:
            return self._source() + self._offset_ms

    @property
    def offset_seconds(self) -> float:
        with self._lock:
            return self._offset_ms / 1000

    def set_offset(self, seconds: float) -> None:
        with self._lock:
            self._offset_ms = round(seconds * 1000)
