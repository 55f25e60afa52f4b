"""The control plane: faults, request log, counters, state dump, reset, admin history, clock.

Reachable over HTTP under ``/_emulator/`` with ``Authorization: Bearer <control token>``
(user tokens are refused there), and from Python as ``Emulator.control``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.emulator.api_errors import InvalidInput, ResourceNotFound
from reconciler.emulator.clock import EmulatorClock
from reconciler.emulator.faults import FaultInjector
from reconciler.emulator.request_log import RequestLog
from reconciler.emulator.seed import SeedError, SeedSource, dump_state, load_seed, read_seed
from reconciler.emulator.store import Store, wipe

# `reset()` without a seed argument reloads the seed the emulator was started with.
CONFIGURED_SEED: Any = object()


class ControlPlane:
    def __init__(
        self,
        store: Store,
        faults: FaultInjector,
        log: RequestLog,
        configured_seed: dict[str, Any] | None,
        clock: EmulatorClock,
    ) -> None:
        self._store = store
        self._faults = faults
        self._log = log
        self._configured_seed = configured_seed
        self._clock = clock

    # -- faults
    def set_faults(
        self,
        rates: Mapping[str, float] | None = None,
        *,
        retry_after: int = 1,
        latency_ms: int = 0,
        seed: int | None = None,
        routes: str | None = None,
    ) -> dict[str, Any]:
        return self._faults.configure(
            {
                "rates": dict(rates or {}),
                "retryAfter": retry_after,
                "latencyMs": latency_ms,
                "seed": seed,
                "routes": routes,
            }
        )

    def add_rule(
        self,
        route: str,
        fault: str,
        *,
        count: int = 1,
        latency_ms: int | None = None,
        retry_after: int = 1,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "route": route,
            "fault": fault,
            "count": count,
            "retryAfter": retry_after,
        }
        if latency_ms is not None:
            body["latencyMs"] = latency_ms
        return self._faults.add_rule(body)

    def faults(self) -> dict[str, Any]:
        return self._faults.snapshot()

    def clear_faults(self) -> None:
        self._faults.clear()

    # -- clock
    def set_clock_offset(self, seconds: float) -> dict[str, Any]:
        """Put the platform's clock `seconds` ahead of this machine's (negative: behind)."""
        self._clock.set_offset(seconds)
        return self.clock()

    def clock(self) -> dict[str, Any]:
        return {"now": self._clock(), "offsetSeconds": self._clock.offset_seconds}

    def _set_clock_from_body(self, data: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(data) - {"offsetSeconds"}
        if unknown:
            raise InvalidInput(f"Unknown field(s): {', '.join(sorted(unknown))}")
        seconds = data.get("offsetSeconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise InvalidInput("Field 'offsetSeconds' must be a number of seconds")
        if abs(seconds) > 10 * 365 * 86400:
            raise InvalidInput("Field 'offsetSeconds' must be within ten years")
        return self.set_clock_offset(seconds)

    # -- request log
    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        return self._log.calls(since)

    def counters(self) -> dict[str, Any]:
        return self._log.counters()

    def clear_requests(self) -> None:
        self._log.clear()

    # -- state
    def state(self) -> dict[str, Any]:
        with self._store.transaction(write=False) as conn:
            return dump_state(conn)

    def reset(self, seed: SeedSource | None = CONFIGURED_SEED) -> None:
        """Wipe the state (and admin history) and load `seed`: by default the configured one."""
        chosen = self._configured_seed if seed is CONFIGURED_SEED else seed
        data = None if chosen is None else read_seed(chosen)
        with self._store.transaction(write=True) as conn:
            wipe(conn)
            if data is not None:
                load_seed(conn, data, self._clock())

    def admin_history(self, org_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM admin_history"
        params: list[Any] = []
        if org_id is not None:
            sql += " WHERE org_id = ?"
            params.append(org_id)
        with self._store.transaction(write=False) as conn:
            rows = conn.execute(sql + " ORDER BY seq", params).fetchall()
        return [
            {
                "seq": row["seq"],
                "orgId": row["org_id"],
                "admins": row["admins"],
                "adminIds": json.loads(row["admin_ids"]),
                "method": row["method"],
                "at": row["at"],
            }
            for row in rows
        ]

    def clear_admin_history(self) -> None:
        with self._store.transaction(write=True) as conn:
            conn.execute("DELETE FROM admin_history")

    # -- HTTP
    def dispatch(self, http_method: str, path: str, body: Any, query: Mapping[str, str]) -> Any:
        """Run one control request; returns the JSON to send. Raises ApiError."""
        if body is not None and not isinstance(body, dict):
            raise InvalidInput("The control input must be a JSON object")
        data: dict[str, Any] = body or {}
        routes: dict[tuple[str, str], Callable[[], Any]] = {
            ("GET", "/_emulator/faults"): self.faults,
            ("POST", "/_emulator/faults"): lambda: self._faults.configure(data),
            ("POST", "/_emulator/rules"): lambda: self._faults.add_rule(data),
            ("GET", "/_emulator/rules"): lambda: self._faults.snapshot()["rules"],
            ("POST", "/_emulator/faults/clear"): done(self.clear_faults),
            ("GET", "/_emulator/requests"): lambda: {
                "requests": self.requests(int_query(query, "since"))
            },
            ("POST", "/_emulator/requests/clear"): done(self.clear_requests),
            ("GET", "/_emulator/counters"): self.counters,
            ("GET", "/_emulator/state"): self.state,
            ("POST", "/_emulator/reset"): done(lambda: self._reset_from_body(data)),
            ("GET", "/_emulator/admin-history"): lambda: {
                "history": self.admin_history(query.get("org"))
            },
            ("POST", "/_emulator/admin-history/clear"): done(self.clear_admin_history),
            ("GET", "/_emulator/clock"): self.clock,
            ("POST", "/_emulator/clock"): lambda: self._set_clock_from_body(data),
        }
        action = routes.get((http_method, path.rstrip("/") or "/"))
        if action is None:
            raise ResourceNotFound(f"No control endpoint {http_method} {path}")
        return action()

    def _reset_from_body(self, data: Mapping[str, Any]) -> None:
        unknown = set(data) - {"seed"}
        if unknown:
            raise InvalidInput(f"Unknown field(s): {', '.join(sorted(unknown))}")
        if "seed" not in data:
            self.reset()
            return
        seed = data["seed"]
        if seed is not None and not isinstance(seed, dict):
            raise InvalidInput("Field 'seed' must be a seed object or null (empty state)")
        try:
            self.reset(seed)
        except SeedError as exc:
            raise InvalidInput(str(exc)) from exc


def done(action: Callable[[], None]) -> Callable[[], dict[str, bool]]:
    """A control action with nothing to return answers {"ok": true}."""

    def run() -> dict[str, bool]:
        action()
        return {"ok": True}

    return run


def int_query(query: Mapping[str, str], key: str) -> int:
    value = query.get(key, "0")
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidInput(f"Query parameter '{key}' must be an integer") from exc
