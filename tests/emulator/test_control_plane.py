"""The /_emulator control plane: faults, rules, drops, latency, log, counters, state."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from reconciler.emulator import Emulator
from tests.emulator.sandbox import (
    ALICE,
    BOB,
    CONTROL_TOKEN,
    SANDBOX_SEED,
    Api,
)


def statuses(api: Api, count: int, route: str = "/system/whoami") -> list[int | str]:
    results: list[int | str] = []
    for _ in range(count):
        try:
            results.append(api.call(ALICE, route).status_code)
        except httpx.RemoteProtocolError:
            results.append("drop")
    return results


def test_rates_are_deterministic_with_a_seed() -> None:
    config = {"rates": {"503": 0.2, "500": 0.1, "429": 0.1, "drop": 0.1}, "seed": 42}
    runs = []
    for _ in range(2):
        with Emulator(seed=SANDBOX_SEED, control_token=CONTROL_TOKEN) as emu:
            api = Api(emu)
            api.control("POST", "faults", config)
            runs.append(statuses(api, 200))
    assert runs[0] == runs[1]
    outcomes = set(runs[0])
    assert {200, 503, 500, 429, "drop"} <= outcomes
    assert 0.35 < runs[0].count(200) / 200 < 0.65


def test_faults_respect_routes_glob_and_clear(api: Api) -> None:
    api.control("POST", "faults", {"rates": {"503": 1.0}, "routes": "/org-*/describe"})
    assert statuses(api, 3) == [200, 200, 200]
    assert statuses(api, 2, "/org-demo/describe") == [503, 503]
    api.control("POST", "faults/clear")
    assert statuses(api, 2, "/org-demo/describe") == [200, 200]
    assert api.control("GET", "faults")["rates"] == {}


def test_bad_fault_configs(api: Api) -> None:
    bad_configs: list[dict[str, Any]] = [
        {"rates": {"503": 0.7, "500": 0.5}},
        {"rates": {"404": 0.1}},
        {"rates": {"503": "x"}},
        {"latencyMs": -1},
        {"nonsense": 1},
    ]
    for body in bad_configs:
        response = api.http.post(
            "/_emulator/faults", json=body, headers={"Authorization": f"Bearer {CONTROL_TOKEN}"}
        )
        assert response.status_code == 422, body
        assert response.json()["error"]["type"] == "InvalidInput"
    bad_rules: list[dict[str, Any]] = [
        {"route": "/x", "fault": "teapot"},
        {"fault": "503"},
        {"route": "/x", "fault": "latency"},
    ]
    for body in bad_rules:
        response = api.http.post(
            "/_emulator/rules", json=body, headers={"Authorization": f"Bearer {CONTROL_TOKEN}"}
        )
        assert response.status_code == 422, body


def test_rules_fail_the_next_n_matching_calls(api: Api) -> None:
    rule = api.control(
        "POST", "rules", {"route": "/org-demo/invite", "count": 2, "fault": "503", "retryAfter": 7}
    )
    assert rule["remaining"] == 2
    body = {"invitee": "user-erin"}
    first = api.call(ALICE, "/org-demo/invite", body)
    assert first.status_code == 503
    assert first.headers["retry-after"] == "7"
    assert first.json()["error"]["type"] == "ServiceUnavailable"
    assert api.call(ALICE, "/org-demo/describe").status_code == 200  # other routes untouched
    assert api.call(ALICE, "/org-demo/invite", body).status_code == 503
    assert "user-erin" not in api.org("org-demo")["members"]  # injected errors never land
    assert api.call(ALICE, "/org-demo/invite", body).status_code == 200
    assert api.org("org-demo")["members"]["user-erin"]["level"] == "MEMBER"
    assert api.control("GET", "faults")["rules"] == []


def test_429_and_500_rules(api: Api) -> None:
    api.control("POST", "rules", {"route": "/org-*/update", "fault": "429", "retryAfter": 2})
    api.control("POST", "rules", {"route": "org-demo/update", "fault": "500"})
    limited = api.call(ALICE, "/org-demo/update", {"name": "A"})
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
    assert limited.json()["error"]["type"] == "RateLimitConditional"
    failed = api.call(ALICE, "/org-demo/update", {"name": "B"})
    assert failed.status_code == 500
    assert failed.json()["error"]["type"] == "InternalError"
    assert "retry-after" not in failed.headers
    assert api.org("org-demo")["name"] == "Demo Organization"


def test_drop_before_does_not_land_drop_after_does(api: Api) -> None:
    api.control("POST", "rules", {"route": "/org-demo/invite", "fault": "drop-before"})
    with pytest.raises(httpx.RemoteProtocolError):
        api.call(ALICE, "/org-demo/invite", {"invitee": "user-erin"})
    assert "user-erin" not in api.org("org-demo")["members"]

    api.control("POST", "rules", {"route": "/org-demo/invite", "fault": "drop-after"})
    with pytest.raises(httpx.RemoteProtocolError):
        api.call(ALICE, "/org-demo/invite", {"invitee": "user-erin"})
    assert api.org("org-demo")["members"]["user-erin"]["level"] == "MEMBER"

    log = [entry for entry in api.requests() if entry["route"] == "/org-demo/invite"]
    assert [(entry["fault"], entry["status"]) for entry in log] == [
        ("drop-before", None),
        ("drop-after", 200),
    ]


def test_drops_over_a_real_socket(emu: Emulator) -> None:
    api = Api(emu)
    with emu.serve(port=0) as server, httpx.Client(base_url=server.url) as client:
        api.control("POST", "rules", {"route": "/org-demo/setMemberAccess", "fault": "drop-before"})
        api.control("POST", "rules", {"route": "/org-demo/setMemberAccess", "fault": "drop-after"})
        headers = {"Authorization": f"Bearer {ALICE}"}
        body = {"user-bob": {"level": "MEMBER", "projectAccess": "VIEW"}}
        for expected in ("CONTRIBUTE", "VIEW"):
            with pytest.raises(httpx.RemoteProtocolError):
                client.post("/org-demo/setMemberAccess", json=body, headers=headers)
            assert api.org("org-demo")["members"]["user-bob"]["projectAccess"] == expected
        # the server is still healthy afterwards
        response = client.post("/system/whoami", json={}, headers=headers)
        assert response.json() == {"id": "user-alice"}


def test_latency_rule_and_rate(api: Api) -> None:
    api.control("POST", "rules", {"route": "/system/whoami", "fault": "latency", "latencyMs": 150})
    started = time.monotonic()
    assert api.call(ALICE, "/system/whoami").status_code == 200
    assert time.monotonic() - started >= 0.15
    api.call(ALICE, "/system/whoami")  # the rule is used up: no delay (the log says so)
    api.control("POST", "faults", {"latencyMs": 60})
    started = time.monotonic()
    api.call(ALICE, "/system/whoami")
    assert time.monotonic() - started >= 0.06
    assert [r["fault"] for r in api.requests()] == ["latency", None, "latency"]


def test_request_log_and_counters(api: Api) -> None:
    api.control("POST", "rules", {"route": "/org-demo/describe", "fault": "503"})
    api.call(ALICE, "/org-demo/describe")
    api.call(ALICE, "/org-demo/describe")
    api.call(BOB, "/org-demo/findProjects", {"describe": False})
    api.call(None, "/system/whoami")
    api.call(
        ALICE,
        "/org-demo/update",
        {"jobLogsForwarding": {"url": "https://hec.example.com", "token": "hec-secret"}},
    )
    log = api.requests()
    assert [entry["seq"] for entry in log] == sorted(entry["seq"] for entry in log)
    assert [
        (e["route"], e["method"], e["status"], e["fault"], e["caller"], e["errorType"]) for e in log
    ] == [
        ("/org-demo/describe", "org/describe", 503, "503", None, "ServiceUnavailable"),
        ("/org-demo/describe", "org/describe", 200, None, "user-alice", None),
        ("/org-demo/findProjects", "org/findProjects", 401, None, "user-bob", "PermissionDenied"),
        ("/system/whoami", "system/whoami", 401, None, None, "InvalidAuthentication"),
        ("/org-demo/update", "org/update", 200, None, "user-alice", None),
    ]
    assert log[2]["body"] == {"describe": False}
    assert log[4]["body"]["jobLogsForwarding"]["token"] == "<redacted>"
    text = str(log)
    for secret in ("hec-secret", ALICE, BOB, "Bearer"):
        assert secret not in text
    counters = api.control("GET", "counters")
    assert counters["total"] == 5
    assert counters["byRoute"]["/org-demo/describe"] == 2
    assert counters["byMethod"] == {
        "org/describe": 2,
        "org/findProjects": 1,
        "org/update": 1,
        "system/whoami": 1,
    }
    assert counters["faults"] == {"503": 1}
    assert counters["errors"]["PermissionDenied"] == 1
    since = api.control("GET", f"requests?since={log[3]['seq']}")["requests"]
    assert [entry["route"] for entry in since] == ["/org-demo/update"]
    api.control("POST", "requests/clear")
    assert api.requests() == []
    assert api.control("GET", "counters")["total"] == 0


def test_state_dump_and_reset(api: Api) -> None:
    state = api.state()
    assert {user["id"] for user in state["users"]} >= {"user-alice", "user-grace"}
    assert all("token" not in user for user in state["users"])
    grace = next(user for user in state["users"] if user["id"] == "user-grace")
    assert grace["hasToken"] is False
    api.ok(ALICE, "/org-demo/invite", {"invitee": "user-erin"})
    api.control("POST", "reset")
    assert "user-erin" not in api.org("org-demo")["members"]
    api.control(
        "POST",
        "reset",
        {"seed": {"users": [{"id": "user-solo", "token": "solo"}], "orgs": []}},
    )
    assert [user["id"] for user in api.state()["users"]] == ["user-solo"]
    assert api.ok("solo", "/system/whoami") == {"id": "user-solo"}
    api.control("POST", "reset", {"seed": None})
    assert api.state() == {"users": [], "orgs": [], "projects": [], "apps": []}
    bad = api.http.post(
        "/_emulator/reset",
        json={"seed": {"users": [{"id": "nope"}]}},
        headers={"Authorization": f"Bearer {CONTROL_TOKEN}"},
    )
    assert bad.status_code == 422
    assert "users[0].id" in bad.json()["error"]["message"]


def test_admin_history_follows_committed_writes(api: Api) -> None:
    api.ok(ALICE, "/org-demo/invite", {"invitee": "user-erin", "level": "ADMIN"})
    api.ok(ALICE, "/org-demo/setMemberAccess", {"user-carol": {"level": "MEMBER"}})
    refused = {"invitee": "user-bob", "level": "ADMIN"}  # bob is a MEMBER: refused, not recorded
    api.fails(ALICE, "/org-demo/invite", refused)
    api.ok(ALICE, "/org-demo/removeMember", {"user": "user-erin"})
    api.ok(ALICE, "/project/new", {"name": "not an org write", "billTo": "org-demo"})
    history = api.control("GET", "admin-history?org=org-demo")["history"]
    assert [(h["method"], h["admins"], h["adminIds"]) for h in history] == [
        ("org/invite", 3, ["user-alice", "user-carol", "user-erin"]),
        ("org/setMemberAccess", 2, ["user-alice", "user-erin"]),
        ("org/removeMember", 1, ["user-alice"]),
    ]
    assert api.control("GET", "admin-history?org=org-genomics")["history"] == []
    api.control("POST", "admin-history/clear")
    assert api.control("GET", "admin-history")["history"] == []


def test_python_control_methods(emu: Emulator) -> None:
    api = Api(emu)
    emu.control.add_rule("/system/whoami", "500", count=1)
    assert api.call(ALICE, "/system/whoami").status_code == 500
    emu.control.set_faults({"429": 1.0}, retry_after=3, seed=1)
    assert api.call(ALICE, "/system/whoami").headers["retry-after"] == "3"
    emu.control.clear_faults()
    assert api.call(ALICE, "/system/whoami").status_code == 200
    assert emu.control.counters()["faults"] == {"500": 1, "429": 1}
    assert len(emu.control.requests()) == 3
    emu.control.reset(None)
    assert emu.control.state()["users"] == []


def test_control_plane_is_not_faulted(api: Api) -> None:
    api.control("POST", "faults", {"rates": {"503": 1.0}})
    for _ in range(3):
        assert api.control("GET", "counters") is not None
    response: Any = api.call(ALICE, "/system/whoami")
    assert response.status_code == 503
