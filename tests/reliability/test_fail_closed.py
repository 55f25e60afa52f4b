"""Fail-closed reads: a member listing that fails on any page (after every retry), or comes
back malformed, aborts the org's plan with exit 1 and nothing written; a member list that
shrinks suspiciously between the reads of one run is reported and never acted on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.apply.journal import Journal
from reconciler.apply.outcomes import ApplyOutcome
from reconciler.apply.run import apply_reviewed
from reconciler.emulator import Emulator
from reconciler.errors import StalePlanError, UnsafePlanError
from reconciler.manifest import Fleet
from reconciler.plan import Plan
from reconciler.platform import Connection, ReadClient, WriteClient
from reconciler.read_and_plan import plan_fleet
from tests.emulator_harness import is_write
from tests.integration.conftest import (
    CONTROL_TOKEN,
    FAST_RETRY,
    Control,
    base_seed,
    config_for,
    connection_to,
    write_manifest,
)
from tests.reliability.conftest import CliRunner, Served

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
EXTRA_MEMBERS = 2400  # with the seed's five: three pages of findMembers at 1000 a page
ADDITIVE = """\
org: org-demo
members:
  mode: additive
  users:
    alice: ADMIN
    dave: {level: MEMBER, projectAccess: VIEW}
"""


def big_seed() -> dict[str, Any]:
    seed = base_seed()
    for i in range(EXTRA_MEMBERS):
        user = f"user-m{i:04d}"
        seed["users"].append({"id": user, "first": "M", "last": str(i), "email": f"m{i}@x.test"})
        seed["orgs"][0]["members"][user] = {"level": "MEMBER"}
    return seed


# ---------------------------------------------------------------- a page fails


@pytest.fixture
def served_seed() -> dict[str, Any]:
    return big_seed()


@pytest.mark.parametrize(
    ("command", "page", "fault"),
    [
        ("plan", 1, "503"),
        ("plan", 2, "500"),
        ("plan", 2, "429"),
        ("plan", 2, "drop-after"),
        ("plan", 3, "drop-before"),
        ("apply", 1, "500"),
        ("apply", 3, "503"),
    ],
)
def test_a_listing_failing_on_any_page_aborts_with_exit_1_and_no_write(
    served: Served, cli: CliRunner, tmp_path: Path, page: int, fault: str, command: str
) -> None:
    orgs = tmp_path / "orgs"
    write_manifest(orgs, ADDITIVE)
    # Pages before `page` go through (a zero-latency rule uses them up), then every
    # attempt at `page` fails, for longer than the retries last.
    if page > 1:
        served.rule("/org-demo/findMembers", "latency", count=page - 1, latencyMs=0)
    served.rule("/org-demo/findMembers", fault, count=100_000)
    args = [command, str(orgs)] + (
        ["--auto-approve", "--journal", str(tmp_path / "j")] if command == "apply" else []
    )
    # Throttling (503, 429) is waited out until the run's deadline: a short one ends it.
    throttled = {"DXORG_RUN_DEADLINE_SECONDS": "1.5"} if fault in ("503", "429") else {}
    result = cli(*args, env=served.env(**throttled))
    assert result.code == 1, result.text
    assert "reading the live org failed" in result.text and "/org-demo/findMembers" in result.text
    assert "Traceback" not in result.text
    assert served.writes() == []
    listed = [r for r in served.requests() if r["route"] == "/org-demo/findMembers"]
    assert len(listed) > page, "the failing page was retried"


def test_the_same_listing_without_faults_plans_the_change(
    served: Served, cli: CliRunner, tmp_path: Path
) -> None:
    orgs = tmp_path / "orgs"
    write_manifest(orgs, ADDITIVE)
    result = cli("plan", str(orgs), "--detailed-exitcode", env=served.env())
    assert result.code == 2, result.text
    pages = [r for r in served.requests() if r["route"] == "/org-demo/findMembers"]
    assert len(pages) == 3


# ---------------------------------------------------------------- a page is malformed

Edit = Callable[[dict[str, Any]], Any]


class Tampering(httpx.BaseTransport):
    """The emulator's transport, with one answer of a route rewritten on the way back.

    `edit` gets the parsed body of the `nth` full (unfiltered) call of `route` and
    returns what the client receives instead (bytes are sent as they are).
    """

    def __init__(self, inner: httpx.BaseTransport, route: str, nth: set[int], edit: Edit) -> None:
        self.inner, self.route, self.nth, self.edit = inner, route, nth, edit
        self.seen = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path != self.route or "id" in json.loads(request.content or b"{}"):
            return response
        self.seen += 1
        if self.seen not in self.nth:
            return response
        response.read()
        replaced = self.edit(response.json())
        content = replaced if isinstance(replaced, bytes) else json.dumps(replaced).encode()
        return httpx.Response(
            response.status_code,
            headers={"Content-Type": "application/json", "X-Request-ID": "tampered"},
            content=content,
        )


def first_row(change: Callable[[dict[str, Any]], None]) -> Edit:
    def edit(page: dict[str, Any]) -> dict[str, Any]:
        change(page["results"][0])
        return page

    return edit


MALFORMED: dict[str, Edit] = {
    "results-not-a-list": lambda page: {**page, "results": {"user-x": "ADMIN"}},
    "row-not-an-object": lambda page: {**page, "results": ["user-m0001", *page["results"][1:]]},
    "no-next-field": lambda page: {"results": page["results"]},
    "cursor-repeats": lambda page: {**page, "next": {"after": "user-m0999"}},
    "row-without-id": first_row(lambda row: row.pop("id")),
    "row-without-level": first_row(lambda row: row.pop("level")),
    "row-with-unknown-level": first_row(lambda row: row.update(level="OWNER")),
    "member-row-missing-flag": first_row(lambda row: row.pop("projectAccess")),
    "member-row-wrong-type": first_row(lambda row: row.update(appAccess="yes")),
    # A flag newer platforms report may be missing from a row, but never of the wrong type.
    "member-row-newer-flag-wrong-type": first_row(lambda row: row.update(treManagement="yes")),
    "member-row-newer-flag-null": first_row(lambda row: row.update(dataSearch=None)),
    "admin-row-flag-wrong-type": first_row(
        lambda row: row.update(level="ADMIN", cloudIntegrationManagement=1)
    ),
    # The same member twice: within a page, and a row of page 1 again on page 2.
    "row-duplicated": lambda page: {**page, "results": [*page["results"], page["results"][0]]},
    "row-from-an-earlier-page": first_row(lambda row: row.update(id="user-alice")),
    "not-json": lambda page: b"<html>proxy error</html>",
    "json-array": lambda page: [page],
}


@pytest.fixture
def big_emulator() -> Iterator[Emulator]:
    emu = Emulator(state_path=":memory:", seed=big_seed(), control_token=CONTROL_TOKEN)
    yield emu
    emu.close()


@pytest.mark.parametrize("malformation", sorted(MALFORMED))
def test_a_malformed_page_aborts_the_plan_and_nothing_is_applied(
    big_emulator: Emulator, tmp_path: Path, malformation: str
) -> None:
    fleet = write_manifest(tmp_path / "orgs", ADDITIVE)
    # Page 2 is malformed on every attempt (a retry of a bad 200 gets the same).
    transport = Tampering(
        big_emulator.transport(),
        "/org-demo/findMembers",
        set(range(2, 100)),
        MALFORMED[malformation],
    )
    with ReadClient(config_for(), transport=transport, retry=FAST_RETRY) as client:
        plan = plan_fleet(fleet, client, now=NOW)
    org = plan.orgs[0]
    assert org.error is not None and "findMembers" in org.error
    assert not org.actions and not plan.applyable
    control = Control(big_emulator)
    control.post("requests/clear")
    with pytest.raises(UnsafePlanError, match="not planned"):
        apply(plan, fleet, connection_to(big_emulator))
    assert control.requests() == []


# A row as older platform versions give it: the level and the three flags they report.
OLD_ROW_KEYS = ("id", "level", "allowBillableActivities", "appAccess", "projectAccess", "describe")


def six_key_rows(page: dict[str, Any]) -> dict[str, Any]:
    return {
        **page,
        "results": [{k: v for k, v in row.items() if k in OLD_ROW_KEYS} for row in page["results"]],
    }


def test_rows_without_the_newer_flags_take_the_levels_defaults(tmp_path: Path) -> None:
    seed = base_seed()
    seed["orgs"][0]["members"]["user-root"]["treManagement"] = True
    seed["orgs"][0]["members"]["user-bob"]["dataSearch"] = True
    emu = Emulator(state_path=":memory:", seed=seed, control_token=CONTROL_TOKEN)
    fleet = write_manifest(
        tmp_path / "orgs",
        """\
org: org-demo
members:
  mode: additive
  users:
    root: {level: ADMIN, treManagement: false}
    bob: {level: MEMBER, dataSearch: false, treManagement: true}
""",
    )
    with ReadClient(config_for(), transport=emu.transport(), retry=FAST_RETRY) as client:
        full = plan_fleet(fleet, client, now=NOW).orgs[0]
    tampered = Tampering(emu.transport(), "/org-demo/findMembers", set(range(1, 9)), six_key_rows)
    with ReadClient(config_for(), transport=tampered, retry=FAST_RETRY) as client:
        old = plan_fleet(fleet, client, now=NOW).orgs[0]
    emu.close()
    assert full.error is None and old.error is None
    # With every flag read: root loses treManagement, bob gains it, bob's dataSearch warns.
    assert sorted(a.id for a in full.actions) == [
        "org-demo/member/user-bob/update-access",
        "org-demo/member/user-root/update-access",
    ]
    assert [w.code for w in full.warnings] == ["read-only-flag"]
    # Six keys: a missing flag is the level's default (false for all six newer ones), so
    # root's treManagement reads false, bob's dataSearch false: only bob's change is left.
    assert [a.id for a in old.actions] == ["org-demo/member/user-bob/update-access"]
    assert old.actions[0].before is not None and old.actions[0].before["dataSearch"] is False
    assert old.warnings == ()


# ---------------------------------------------------------------- the list shrinks


def keep_first(count: int) -> Edit:
    """A listing that silently lost rows: a well-formed page holding fewer members."""
    return lambda page: {**page, "results": page["results"][:count]}


def apply(
    plan: Plan, fleet: Fleet, connection: Connection, journal: Path | None = None
) -> ApplyOutcome:
    return apply_reviewed(plan, fleet, connection, journal=Journal(journal), env={}, now=NOW)


def plan_and_client(
    emu: Emulator, fleet: Fleet, nth: set[int], edit: Edit
) -> tuple[Any, Connection]:
    """A plan, and how apply reaches the platform through a listing that gets `edit`ed."""
    with ReadClient(config_for(), transport=emu.transport(), retry=FAST_RETRY) as reader:
        plan = plan_fleet(fleet, reader, now=NOW)
    assert plan.applyable and plan.has_changes
    tampered = Tampering(emu.transport(), "/org-demo/findMembers", nth, edit)
    return plan, Connection(config_for(), transport=tampered, retry=FAST_RETRY)


def test_a_member_list_shrunk_at_the_stale_check_refuses_the_plan(
    big_emulator: Emulator, tmp_path: Path
) -> None:
    fleet = write_manifest(tmp_path / "orgs", ADDITIVE)
    # The re-read before the first write comes back with page 1 cut short.
    plan, client = plan_and_client(big_emulator, fleet, {1}, keep_first(400))
    control = Control(big_emulator)
    control.post("requests/clear")
    with pytest.raises(StalePlanError, match="member list shrank since the plan: 600 of its 2405"):
        apply(plan, fleet, client)
    assert [r for r in control.requests() if is_write(r["route"])] == []


def test_a_mass_removal_by_someone_else_between_plan_and_apply_is_refused(
    big_emulator: Emulator, tmp_path: Path
) -> None:
    """The removed members are not ones the plan touches; without the shrink check the
    plan would still be applied as if nothing had happened."""
    fleet = write_manifest(tmp_path / "orgs", ADDITIVE)
    plan, client = plan_and_client(big_emulator, fleet, set(), keep_first(0))
    control = Control(big_emulator)
    with WriteClient(config_for("root-token"), transport=big_emulator.transport()) as root:
        for i in range(30):
            root.call("/org-demo/removeMember", {"user": f"user-m{i:04d}"})
    control.post("requests/clear")
    with pytest.raises(StalePlanError, match="30 of its 2405 members are gone"):
        apply(plan, fleet, client)
    assert [r for r in control.requests() if is_write(r["route"])] == []


def test_a_removal_within_the_budget_does_not_block_the_plan(
    big_emulator: Emulator, tmp_path: Path
) -> None:
    fleet = write_manifest(tmp_path / "orgs", ADDITIVE)
    plan, client = plan_and_client(big_emulator, fleet, set(), keep_first(0))
    with WriteClient(config_for("root-token"), transport=big_emulator.transport()) as root:
        root.call("/org-demo/removeMember", {"user": "user-m0001"})
    report = apply(plan, fleet, client)
    assert report.exit_code == 0, report


def test_a_member_list_shrunk_at_verification_is_reported_not_acted_on(
    big_emulator: Emulator, tmp_path: Path
) -> None:
    fleet = write_manifest(tmp_path / "orgs", ADDITIVE)
    # Pages 1-3 are the stale check's read (whole); page 4 starts the verification's.
    plan, client = plan_and_client(big_emulator, fleet, {4}, keep_first(10))
    control = Control(big_emulator)
    control.post("requests/clear")
    journal = tmp_path / "journal.jsonl"
    report = apply(plan, fleet, client, journal)
    assert report.exit_code == 2
    (remaining,) = report.orgs[0].remaining
    assert "member list shrank since the plan: 990 of its 2405 members" in remaining
    writes = [r for r in control.requests() if is_write(r["route"])]
    assert [w["route"] for w in writes] == ["/org-demo/invite"], "only the planned call was made"
    assert len(Control(big_emulator).members()) == 2406
