"""The client against the real emulator, in-process and over a loopback socket: paging,
error mapping, every fault kind, exactly-once non-idempotent writes, bounded retries."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import pytest

from reconciler.apply.landed import send_checked
from reconciler.errors import (
    ApiError,
    InternalError,
    InvalidAuthentication,
    InvalidInput,
    PermissionDenied,
    PlatformOutage,
    ResourceNotFound,
    ServiceUnavailable,
    TransportError,
    WriteRefusedError,
)
from reconciler.platform import PlatformLimits

if TYPE_CHECKING:
    from tests.platform.conftest import Harness

ALL_FAULTS = ("503", "500", "429", "drop-before", "drop-after")
# The body apply sends to invite a member with the level's defaults (`steps.invite_body`).
CAROL_INVITED = {
    "invitee": "user-carol",
    "level": "MEMBER",
    "allowBillableActivities": False,
    "appAccess": True,
    "projectAccess": "CONTRIBUTE",
}


def test_typed_reads(harness: Harness) -> None:
    with harness.reader() as client:
        assert client.whoami() == "user-alice"
        assert client.describe_org("org-demo")["level"] == "ADMIN"
        assert client.describe_user("user-bob")["first"] == "Bob"
        members = client.find_org_members("org-demo", level="ADMIN")
        assert [m["id"] for m in members] == ["user-alice"]
        assert [p["id"] for p in client.find_org_projects("org-demo")] == [harness.PROJECT]
        apps = client.find_org_apps("org-demo", describe=True)
        assert [a["describe"]["name"] for a in apps] == ["demo_app"]
        assert client.describe_app("demo_app")["id"] == harness.APP
        assert client.describe_app("demo_app/1.0.0")["id"] == harness.APP
        assert client.list_app_developers(harness.APP) == ["user-alice"]
        assert client.describe_project(harness.PROJECT, permissions=True)["permissions"] == {
            "user-alice": "ADMINISTER"
        }
        assert [o["id"] for o in client.find_orgs()] == ["org-demo"]
        assert [p["id"] for p in client.find_projects({"name": "demo-project"})] == [
            harness.PROJECT
        ]


def test_writes_as_apply_sends_them(harness: Harness) -> None:
    project, app = harness.PROJECT, harness.APP
    with harness.writer() as client:
        calls: list[tuple[str, dict[str, Any]]] = [
            ("/org-demo/update", {"policies": {"memberListVisibility": "MEMBER"}}),
            (
                "/org-demo/invite",
                {"invitee": "user-carol", "level": "MEMBER", "projectAccess": "VIEW"},
            ),
            ("/org-demo/setMemberAccess", {"user-bob": {"level": "ADMIN"}}),
            (f"/{project}/invite", {"invitee": "user-carol", "level": "UPLOAD"}),
            (f"/{project}/decreasePermissions", {"user-carol": "VIEW"}),
            (f"/{project}/update", {"name": "renamed"}),
            (f"/{app}/addDevelopers", {"developers": ["user-bob"]}),
            (f"/{app}/removeDevelopers", {"developers": ["user-alice"]}),
        ]
        for route, body in calls:
            send_checked(client, route, body)
        removed = send_checked(client, "/org-demo/removeMember", {"user": "user-carol"})
        assert removed.body["id"] == "org-demo"
        new_user = {
            "username": "Eve",
            "email": "e@x.org",
            "first": "Eve",
            "provisioningOrg": "org-demo",
        }
        assert send_checked(client, "/user/new", new_user).body["id"] == "user-eve"
        assert client.describe_org("org-demo")["policies"]["memberListVisibility"] == "MEMBER"
        assert client.list_app_developers(harness.APP) == ["user-bob"]
        assert client.describe_project(harness.PROJECT)["name"] == "renamed"
    members = harness.members()
    assert set(members) == {"user-alice", "user-bob"} and members["user-bob"]["level"] == "ADMIN"


def test_paging_over_2500_members(big_emulator: Harness) -> None:
    big_emulator.clear_requests()
    with big_emulator.reader() as client:
        members = client.find_org_members("org-demo")
    ids = [m["id"] for m in members]
    assert len(ids) == 2502 and len(set(ids)) == 2502
    counters = big_emulator.counters()
    assert counters["byRoute"] == {"/org-demo/findMembers": 3}
    bodies = [r["body"] for r in big_emulator.requests()]
    assert [b["limit"] for b in bodies] == [1000, 1000, 1000]
    assert "starting" not in bodies[0] and bodies[1]["starting"] and bodies[2]["starting"]


def test_paging_under_random_faults_is_complete(big_emulator: Harness) -> None:
    big_emulator.faults(
        rates={"503": 0.2, "500": 0.1, "429": 0.1, "drop": 0.2}, retryAfter=0, seed=7
    )
    try:
        with big_emulator.reader(max_attempts=30) as client:
            ids = [m["id"] for m in client.find_org_members("org-demo")]
    finally:
        big_emulator.clear_faults()
    assert len(ids) == 2502 and len(set(ids)) == 2502


def test_read_only_client_sends_nothing_for_writes(harness: Harness) -> None:
    harness.clear_requests()
    client = harness.reader()
    assert not hasattr(client, "call")
    for route in ("/org-demo/invite", "/org-demo/update", harness.PROJECT + "/invite", "/user/new"):
        with pytest.raises(WriteRefusedError):
            client._post(route, {"invitee": "user-carol", "level": "MEMBER"})
    assert harness.requests() == []
    assert harness.counters()["total"] == 0


def _assert_no_token(
    exc: BaseException, caplog: pytest.LogCaptureFixture, tokens: tuple[str, ...]
) -> None:
    for token in tokens:
        assert token not in str(exc) and token not in repr(exc)
        for record in caplog.records:
            assert token not in record.getMessage()
            assert token not in str(record.args)


def test_error_types_mapped(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cases: list[tuple[type[ApiError], int, Any]] = [
        (ResourceNotFound, 404, lambda: harness.reader().describe_org("org-nope")),
        (
            InvalidAuthentication,
            401,
            lambda: harness.reader(token="wrong-" + harness.ALICE_TOKEN).describe_org("org-demo"),
        ),
        (
            PermissionDenied,
            401,
            lambda: harness.writer(token=harness.BOB_TOKEN).call("/org-demo/update", {}),
        ),
        (
            InvalidInput,
            422,
            lambda: harness.writer().call(
                "/org-demo/setMemberAccess", {"user-bob": {"level": "ADMIN", "appAccess": False}}
            ),
        ),
    ]
    for cls, status, call in cases:
        with pytest.raises(cls) as info:
            call()
        error = info.value
        assert error.status == status and error.error_type == cls.__name__
        assert error.route.startswith("/org-")
        logged = harness.requests(error.route)[-1]
        assert error.request_id == logged["requestId"]
        _assert_no_token(error, caplog, harness.ALL_TOKENS)


@pytest.mark.parametrize("fault", ALL_FAULTS)
def test_idempotent_calls_survive_every_fault(harness: Harness, fault: str) -> None:
    harness.rule("/org-demo/describe", fault, count=2, retryAfter=1)
    harness.rule("/org-demo/update", fault, count=2, retryAfter=1)
    with harness.writer() as client:
        assert client.describe_org("org-demo")["id"] == "org-demo"
        send_checked(client, "/org-demo/update", {"name": "Renamed"})
    assert len(harness.requests("/org-demo/describe")) == 3
    assert len(harness.requests("/org-demo/update")) == 3
    assert [o["name"] for o in harness.state()["orgs"]] == ["Renamed"]
    if fault in ("503", "429"):
        assert harness.sleeps == [1.0, 1.0, 1.0, 1.0]  # Retry-After honoured


def test_latency_fault(harness: Harness) -> None:
    harness.rule("/org-demo/describe", "latency", latencyMs=150)
    start = time.monotonic()
    assert harness.reader().describe_org("org-demo")["id"] == "org-demo"
    assert time.monotonic() - start >= 0.15
    assert len(harness.requests("/org-demo/describe")) == 1


def test_latency_beyond_timeout_is_retried_over_socket(loopback: Harness) -> None:
    harness = loopback
    harness.rule("/org-demo/describe", "latency", latencyMs=400)
    client = harness.reader(timeout=0.1)
    assert client.describe_org("org-demo")["id"] == "org-demo"
    harness.wait_for_requests("/org-demo/describe", 2)


@pytest.mark.parametrize("fault", ALL_FAULTS)
def test_org_invite_is_resent_and_lands_under_every_fault(harness: Harness, fault: str) -> None:
    """/org-xxxx/invite is retryable (wrapper_table.json): after any failure it is sent
    again. Whether the platform accepts the repeat of an invite that had landed, or
    refuses it as "already a member", the call succeeds: a refusal is checked."""
    harness.rule("/org-demo/invite", fault)
    with harness.writer() as client:
        result = send_checked(client, "/org-demo/invite", CAROL_INVITED)
    assert result.body.get("id") == "org-demo" or result.landed_by_check
    assert harness.members()["user-carol"]["level"] == "MEMBER"
    invites = harness.requests("/org-demo/invite")
    assert len(invites) == 2
    checks = harness.requests("/org-demo/findMembers")
    # Only a refused repeat costs a read; an accepted one (or a first try that never
    # landed) needs none.
    assert len(checks) == (0 if invites[-1]["status"] == 200 else 1)


def test_generic_call_without_landed_check_never_duplicates(harness: Harness) -> None:
    """/project-xxxx/invite is not retryable: a lost answer is reported, never resent."""
    route = f"/{harness.PROJECT}/invite"
    harness.rule(route, "drop-after")
    body = {"invitee": "user-carol", "level": "VIEW"}
    with pytest.raises(TransportError):
        harness.writer().call(route, body)
    assert len(harness.requests(route)) == 1
    (project,) = [p for p in harness.state()["projects"] if p["id"] == harness.PROJECT]
    assert project["permissions"]["user-carol"] == "VIEW"  # landed, reported as unknown


def test_generic_call_with_landed_check(harness: Harness) -> None:
    route = f"/{harness.PROJECT}/invite"
    harness.rule(route, "drop-after")
    client = harness.writer()
    outcome = client.call(
        route,
        {"invitee": "user-carol", "level": "VIEW"},
        landed=lambda: (
            client.describe_project(harness.PROJECT, permissions=True)["permissions"].get(
                "user-carol"
            )
            == "VIEW"
        ),
    )
    assert outcome.landed_by_check and outcome.attempts == 1 and outcome.status is None
    plain = client.call(route, {"invitee": "user-dan", "level": "VIEW"})
    assert not plain.landed_by_check and plain.status == 200 and plain.request_id


def test_500_without_landed_check_is_the_api_error(harness: Harness) -> None:
    route = f"/{harness.PROJECT}/invite"
    harness.rule(route, "500")
    with pytest.raises(InternalError):
        harness.writer().call(route, {"invitee": "user-carol", "level": "VIEW"})
    assert len(harness.requests(route)) == 1


@pytest.mark.parametrize("fault", ["drop-before", "drop-after", "500"])
def test_remove_member_is_resent_and_succeeds(harness: Harness, fault: str) -> None:
    """/org-xxxx/removeMember is retryable: resent after a lost answer, and a repeat the
    platform refuses ("not a member") after the first had landed is checked, not fatal."""
    harness.rule("/org-demo/removeMember", fault)
    body = {"user": "user-bob", "revokeProjectPermissions": True, "revokeAppPermissions": True}
    outcome = send_checked(harness.writer(), "/org-demo/removeMember", body)
    assert outcome.body.get("id") == "org-demo" or outcome.landed_by_check
    assert "user-bob" not in harness.members()
    assert len(harness.requests("/org-demo/removeMember")) == 2


@pytest.mark.parametrize("fault", ["drop-before", "drop-after", "500"])
def test_project_invite_exactly_once(harness: Harness, fault: str) -> None:
    route = f"/{harness.PROJECT}/invite"
    harness.rule(route, fault)
    client = harness.writer()
    body = {"invitee": "user-carol", "level": "CONTRIBUTE", "suppressEmailNotification": True}
    outcome = send_checked(client, route, body)
    assert outcome.body.get("id") == harness.PROJECT or outcome.landed_by_check
    perms = client.describe_project(harness.PROJECT, permissions=True)["permissions"]
    assert perms["user-carol"] == "CONTRIBUTE"
    assert len(harness.requests(route)) == (1 if fault == "drop-after" else 2)


@pytest.mark.parametrize("fault", ["drop-before", "drop-after", "503"])
def test_new_user_exactly_once(harness: Harness, fault: str) -> None:
    harness.rule("/user/new", fault)
    client = harness.writer()
    body = {"username": "Eve", "email": "e@x.org", "first": "Eve", "provisioningOrg": "org-demo"}
    if fault == "drop-after":
        # Made, but the answer lost: the platform does not show an admin the account's
        # email, so it cannot be told from one somebody else registered meanwhile.
        with pytest.raises(TransportError, match="cannot tell whether this request created"):
            send_checked(client, "/user/new", body)
    else:
        assert send_checked(client, "/user/new", body).body["id"] == "user-eve"
    assert client.describe_user("user-eve")["first"] == "Eve"
    assert len(harness.requests("/user/new")) == (1 if fault == "drop-after" else 2)
    assert [u for u in harness.state()["users"] if u["id"] == "user-eve"]


def test_late_landing_invite_is_not_duplicated(loopback: Harness) -> None:
    """The first invite is still sleeping when the client gives up and checks: not there.
    The retry lands; the late first one is then accepted as a repeat (invite is retryable),
    changing nothing. One member, no error."""
    harness = loopback
    harness.rule("/org-demo/invite", "latency", latencyMs=400)
    client = harness.writer(timeout=0.1)
    send_checked(client, "/org-demo/invite", CAROL_INVITED)
    calls = harness.wait_for_requests("/org-demo/invite", 2)
    assert sorted(c["status"] for c in calls) == [200, 200]
    assert harness.members()["user-carol"]["level"] == "MEMBER"


def test_throttling_bounded_by_the_run_deadline(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.platform")
    harness.faults(rates={"503": 1.0}, retryAfter=30)
    # The call's own budget does not cut a throttled platform short (dxpy waits too)...
    # The clock is injected: it moves only when the client waits.
    now, waits = [0.0], list[float]()

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    client = harness.reader(
        max_total_seconds=0.01, max_attempts=1, sleep=sleep, clock=lambda: now[0],
        limits=PlatformLimits(run_deadline=0.4),
    )  # fmt: skip
    with pytest.raises(PlatformOutage, match="DXORG_RUN_DEADLINE_SECONDS"):
        client.describe_org("org-demo")
    assert sum(waits) == pytest.approx(0.4)  # Retry-After's 30 s, cut to the run's deadline
    # ...the run's deadline does: the wait is cut to it, and nothing is sent after it.
    assert len(harness.requests("/org-demo/describe")) == 1
    retry_logs = [r for r in caplog.records if r.levelno == logging.INFO and "retrying" in r.msg]
    assert retry_logs and "/org-demo/describe" in retry_logs[0].getMessage()
    assert "ServiceUnavailable" in retry_logs[0].getMessage()
    _assert_no_token(ServiceUnavailable("", ""), caplog, harness.ALL_TOKENS)


def test_retries_bounded_by_attempts(harness: Harness) -> None:
    harness.faults(rates={"500": 1.0})
    with pytest.raises(InternalError):
        harness.reader(max_attempts=4).describe_org("org-demo")
    assert len(harness.requests("/org-demo/describe")) == 4


def test_token_absent_under_every_failure(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for fault in ALL_FAULTS:
        # Throttling is retried until the run's deadline, so a short run makes it fail.
        throttled = fault in ("503", "429")
        client = harness.writer(
            max_attempts=2, limits=PlatformLimits(run_deadline=0.2) if throttled else None
        )
        harness.rule("/org-demo/describe", fault, count=10_000 if throttled else 2)
        harness.rule("/org-demo/invite", fault)
        with pytest.raises(ApiError) as info:
            client.describe_org("org-demo")
        _assert_no_token(info.value, caplog, harness.ALL_TOKENS)
        try:
            client.call("/org-demo/invite", {"invitee": "user-nobody", "level": "MEMBER"})
        except ApiError as exc:
            _assert_no_token(exc, caplog, harness.ALL_TOKENS)
        harness.clear_faults()
    assert any(r.name == "reconciler.platform" for r in caplog.records)


def test_random_fault_soak_converges(harness: Harness) -> None:
    """Many writes under random faults of every kind: all succeed, none twice, none lost."""
    harness.faults(rates={"503": 0.1, "500": 0.1, "429": 0.05, "drop": 0.15}, retryAfter=0, seed=42)
    with harness.writer(max_attempts=20) as client:
        calls: list[tuple[str, dict[str, Any]]] = [
            ("/org-demo/invite", CAROL_INVITED),
            ("/org-demo/invite", {"invitee": "user-dan", "level": "ADMIN"}),
            ("/org-demo/setMemberAccess", {"user-bob": {"level": "MEMBER", "appAccess": False}}),
            ("/org-demo/update", {"name": "Soaked"}),
            (f"/{harness.PROJECT}/invite", {"invitee": "user-bob", "level": "VIEW"}),
            (f"/{harness.APP}/addDevelopers", {"developers": ["user-carol"]}),
            ("/org-demo/removeMember", {"user": "user-dan"}),
            (
                "/user/new",
                {
                    "username": "Eve",
                    "email": "e@x.org",
                    "first": "Eve",
                    "provisioningOrg": "org-demo",
                },
            ),
        ]
        for route, body in calls:
            send_checked(client, route, body)
    harness.clear_faults()
    members = harness.members()
    assert set(members) == {"user-alice", "user-bob", "user-carol"}
    assert members["user-bob"]["appAccess"] is False
    with harness.reader() as reader:
        assert reader.describe_org("org-demo")["name"] == "Soaked"
        assert (
            reader.describe_project(harness.PROJECT, permissions=True)["permissions"]["user-bob"]
            == "VIEW"
        )
        assert sorted(reader.list_app_developers(harness.APP)) == ["user-alice", "user-carol"]
    faults = harness.counters()["faults"]
    assert sum(faults.values()) > 0


def test_the_emulator_as_auth_server_is_reachable_and_nothing_is_written(
    harness: Harness,
) -> None:
    before = harness.state()
    with harness.reader() as client:
        assert client.auth_server_problem() is None
    (probe,) = harness.requests()
    assert (probe["httpMethod"], probe["route"], probe["caller"]) == ("GET", "/", None)
    assert probe["status"] == 405  # an answer, so reachable; no API method was called
    assert harness.state() == before
