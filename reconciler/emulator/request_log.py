"""The record of API calls (never the Authorization header) and running counters."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

# The log keeps the most recent calls; the counters count every call since the last clear.
MAX_LOGGED_CALLS = 100_000


@dataclass(frozen=True)
class LoggedCall:
    seq: int
    at: int
    request_id: str
    http_method: str
    route: str
    method: str | None
    status: int | None
    fault: str | None
    caller: str | None
    error_type: str | None
    body: Any
    duration_ms: float

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "requestId": self.request_id,
            "httpMethod": self.http_method,
            "route": self.route,
            "method": self.method,
            "status": self.status,
            "fault": self.fault,
            "caller": self.caller,
            "errorType": self.error_type,
            "body": self.body,
            "durationMs": round(self.duration_ms, 3),
        }


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_seq = 1
        self._calls: deque[LoggedCall] = deque(maxlen=MAX_LOGGED_CALLS)
        self._by_route: Counter[str] = Counter()
        self._by_method: Counter[str] = Counter()
        self._by_status: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._total = 0

    def next_seq(self) -> int:
        """Sequence numbers follow arrival order."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            return seq

    def record(self, call: LoggedCall) -> None:
        with self._lock:
            self._calls.append(call)
            self._total += 1
            self._by_route[call.route] += 1
            if call.method is not None:
                self._by_method[call.method] += 1
            self._by_status["dropped" if call.status is None else str(call.status)] += 1
            if call.fault is not None:
                self._faults[call.fault] += 1
            if call.error_type is not None:
                self._errors[call.error_type] += 1

    def calls(self, since: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            selected = [call for call in self._calls if call.seq > since]
        return [call.as_json() for call in sorted(selected, key=lambda call: call.seq)]

    def counters(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self._total,
                "byRoute": dict(sorted(self._by_route.items())),
                "byMethod": dict(sorted(self._by_method.items())),
                "byStatus": dict(sorted(self._by_status.items())),
                "faults": dict(sorted(self._faults.items())),
                "errors": dict(sorted(self._errors.items())),
            }

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
            self._by_route.clear()
            self._by_method.clear()
            self._by_status.clear()
            self._faults.clear()
            self._errors.clear()
            self._total = 0
