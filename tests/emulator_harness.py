"""The emulator's control plane for every test folder: one class over its HTTP endpoints,
reached in-process (an `Emulator`'s transport) or over a socket (a served emulator's URL).

Folder fixtures build their seeds and clients on it; what they share (faults and rules,
the request log, the state, the latch) is here once.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from reconciler.emulator import Emulator

CONTROL_TOKEN = "emulator-control"

# Every API method that changes platform state. Listed here, not derived from the client's
# read allowlist, so that tests check that allowlist rather than trust it.
WRITE_METHODS = frozenset(
    {
        "invite",
        "setMemberAccess",
        "removeMember",
        "update",
        "decreasePermissions",
        "addDevelopers",
        "removeDevelopers",
        "addAuthorizedUsers",
        "removeAuthorizedUsers",
        "setProperties",
        "addTags",
        "removeTags",
        "new",
    }
)


def is_write(route: str) -> bool:
    return route.rsplit("/", 1)[-1] in WRITE_METHODS


class EmulatorControl:
    """`/_emulator/*` of one emulator: in-process when given the emulator, else at `url`."""

    def __init__(
        self,
        emulator: Emulator | None = None,
        *,
        url: str | None = None,
        token: str = CONTROL_TOKEN,
        timeout: float = 5,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        if url is not None:
            self.http = httpx.Client(base_url=f"{url}/_emulator", headers=headers, timeout=timeout)
        else:
            assert emulator is not None, "an emulator or a url"
            self.http = httpx.Client(
                transport=emulator.transport(),
                base_url="http://emulator.invalid/_emulator",
                headers=headers,
            )

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.post(f"/{path.lstrip('/')}", json=body or {})
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, path: str, **params: str) -> Any:
        response = self.http.get(f"/{path.lstrip('/')}", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    # -- faults
    def rule(self, route: str, fault: str, count: int = 1, **extra: Any) -> dict[str, Any]:
        """A fault for the next `count` calls to `route` (`latencyMs`, `retryAfter` in extra)."""
        return dict(self.post("rules", {"route": route, "fault": fault, "count": count, **extra}))

    def faults(self, **body: Any) -> dict[str, Any]:
        return dict(self.post("faults", body))

    def clear_faults(self) -> None:
        """Clears rates and rules, and lets every held or hung call go."""
        self.post("faults/clear")

    def held(self) -> int:
        return int(self.get("faults")["held"])

    def wait_until_held(self, count: int = 1, *, timeout: float = 60) -> None:
        """Until `count` calls wait at a `hold` (or `hang`) rule: the latch, observed. The
        timeout only turns a test that would hang into a failure."""
        deadline = time.monotonic() + timeout
        while self.held() < count:
            assert time.monotonic() < deadline, f"no call held after {timeout} s"
            time.sleep(0.01)

    # -- what the emulator saw and holds
    def requests(self, route: str | None = None) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = self.get("requests")["requests"]
        return [c for c in calls if route is None or c["route"] == route]

    def wait_for_requests(
        self, route: str, count: int, *, timeout: float = 60
    ) -> list[dict[str, Any]]:
        """Until the log has `count` calls to `route`: a call is logged once answered, so
        this waits for calls still being served (a released hold, a slow one)."""
        deadline = time.monotonic() + timeout
        while len(calls := self.requests(route)) < count:
            assert time.monotonic() < deadline, f"expected {count} calls to {route}: {calls}"
            time.sleep(0.01)
        return calls

    def writes(self) -> list[dict[str, Any]]:
        return [r for r in self.requests() if is_write(r["route"])]

    def clear_requests(self) -> None:
        self.post("requests/clear")

    def counters(self) -> dict[str, Any]:
        return dict(self.get("counters"))

    def state(self) -> dict[str, Any]:
        return dict(self.get("state"))

    def members(self, org: str = "org-demo") -> dict[str, dict[str, Any]]:
        (found,) = [o for o in self.state()["orgs"] if o["id"] == org]
        return dict(found.get("members", {}))
