"""Fault injection: random rates from a seeded RNG, and deterministic one-shot rules.

Each API call asks `decide(path)` once, before it is processed. Rules come first: the
oldest rule matching the path with calls left is consumed. Otherwise the rates apply
(when `routes` matches): one RNG draw picks the fault, with a second draw splitting
``drop`` into drop-before / drop-after half and half. With the same seed and the same
order of calls, the same calls fail.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.emulator.api_errors import InvalidInput

RULE_FAULTS: tuple[str, ...] = (
    "503",
    "500",
    "429",
    "drop-before",
    "drop-after",
    "latency",
    "hang",
    "hold",
)
# Order matters: it fixes which fault a given RNG draw selects.
RATE_KINDS: tuple[str, ...] = ("503", "500", "429", "drop", "drop-before", "drop-after")
MAX_LATENCY_MS = 60_000
# A hung call is let go (its connection dropped) when the faults are cleared, the emulator
# closes, or after this long at the latest, so that no server thread waits forever.
MAX_HANG_SECONDS = 300.0


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one call: `kind` None means process it normally (after `latency_ms`)."""

    kind: str | None = None
    latency_ms: int = 0
    retry_after: int = 1
    rule_id: int | None = None


@dataclass
class FaultRule:
    id: int
    route: str
    fault: str
    remaining: int
    latency_ms: int
    retry_after: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "route": self.route,
            "fault": self.fault,
            "remaining": self.remaining,
            "latencyMs": self.latency_ms,
            "retryAfter": self.retry_after,
        }


def route_matches(pattern: str, path: str) -> bool:
    """Exact path or glob; a pattern without the leading slash is accepted too."""
    pattern = pattern if pattern.startswith("/") else f"/{pattern}"
    return pattern == path or fnmatch.fnmatchcase(path, pattern)


def _int_field(body: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"Field '{key}' must be an integer between {low} and {high}")
    return value


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rates: dict[str, float] = {}
        self._retry_after = 1
        self._latency_ms = 0
        self._routes: str | None = None
        self._seed: int | None = None
        self._rng = random.Random()
        self._rules: list[FaultRule] = []
        self._next_rule_id = 1
        self._release = threading.Event()
        self._held = 0  # calls waiting in `hold` now

    def configure(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the rate configuration (rules are kept)."""
        unknown = set(body) - {"rates", "retryAfter", "latencyMs", "seed", "routes"}
        if unknown:
            raise InvalidInput(f"Unknown field(s): {', '.join(sorted(unknown))}")
        rates_in = body.get("rates") or {}
        if not isinstance(rates_in, dict):
            raise InvalidInput("Field 'rates' must be an object of fault -> probability")
        rates: dict[str, float] = {}
        for kind, rate in rates_in.items():
            if kind not in RATE_KINDS:
                raise InvalidInput(
                    f"Field 'rates.{kind}': unknown fault, use {', '.join(RATE_KINDS)}"
                )
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
                raise InvalidInput(f"Field 'rates.{kind}' must be a number between 0 and 1")
            rates[kind] = float(rate)
        if sum(rates.values()) > 1.0 + 1e-9:
            raise InvalidInput("Field 'rates': the probabilities add up to more than 1")
        retry_after = _int_field(body, "retryAfter", 1, 0, 3600)
        latency_ms = _int_field(body, "latencyMs", 0, 0, MAX_LATENCY_MS)
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise InvalidInput("Field 'seed' must be an integer")
        routes = body.get("routes")
        if routes is not None and not isinstance(routes, str):
            raise InvalidInput("Field 'routes' must be a glob string")
        with self._lock:
            self._rates = rates
            self._retry_after = retry_after
            self._latency_ms = latency_ms
            self._routes = routes
            self._seed = seed
            self._rng = random.Random(seed)
        return self.snapshot()

    def add_rule(self, body: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(body) - {"route", "count", "fault", "latencyMs", "retryAfter"}
        if unknown:
            raise InvalidInput(f"Unknown field(s): {', '.join(sorted(unknown))}")
        route = body.get("route")
        if not isinstance(route, str) or not route:
            raise InvalidInput("Field 'route' must be a path or glob, e.g. /org-demo/invite")
        fault = body.get("fault")
        if fault not in RULE_FAULTS:
            raise InvalidInput(f"Field 'fault' must be one of {', '.join(RULE_FAULTS)}")
        count = _int_field(body, "count", 1, 1, 1_000_000)
        latency_ms = _int_field(body, "latencyMs", 0, 0, MAX_LATENCY_MS)
        if fault == "latency" and "latencyMs" not in body:
            raise InvalidInput("Field 'latencyMs' is required for a latency rule")
        retry_after = _int_field(body, "retryAfter", 1, 0, 3600)
        with self._lock:
            rule = FaultRule(self._next_rule_id, route, str(fault), count, latency_ms, retry_after)
            self._next_rule_id += 1
            self._rules.append(rule)
            return rule.as_json()

    def clear(self) -> None:
        with self._lock:
            self._rates = {}
            self._retry_after = 1
            self._latency_ms = 0
            self._routes = None
            self._seed = None
            self._rng = random.Random()
            self._rules = []
        self.release_hung_calls()

    def hold(self) -> None:
        """Block a hung or held call until it is let go (see MAX_HANG_SECONDS)."""
        with self._lock:
            release = self._release
            self._held += 1
        try:
            release.wait(MAX_HANG_SECONDS)
        finally:
            with self._lock:
                self._held -= 1

    def release_hung_calls(self) -> None:
        with self._lock:
            self._release.set()
            self._release = threading.Event()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rates": dict(self._rates),
                "retryAfter": self._retry_after,
                "latencyMs": self._latency_ms,
                "seed": self._seed,
                "routes": self._routes,
                "rules": [rule.as_json() for rule in self._rules],
                "held": self._held,
            }

    def decide(self, path: str) -> FaultDecision:
        with self._lock:
            for rule in self._rules:
                if route_matches(rule.route, path):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    if rule.fault == "latency":
                        return FaultDecision(None, rule.latency_ms, rule.retry_after, rule.id)
                    return FaultDecision(rule.fault, rule.latency_ms, rule.retry_after, rule.id)
            if self._routes is not None and not route_matches(self._routes, path):
                return FaultDecision()
            kind = self._draw() if self._rates else None
            return FaultDecision(kind, self._latency_ms, self._retry_after)

    def _draw(self) -> str | None:
        draw = self._rng.random()
        threshold = 0.0
        for kind in RATE_KINDS:
            threshold += self._rates.get(kind, 0.0)
            if draw < threshold:
                if kind == "drop":
                    return "drop-before" if self._rng.random() < 0.5 else "drop-after"
                return kind
        return None
