"""Offboarding: people in the fleet's `departed` list leave every org of the fleet in one
reviewed apply, whatever each org's members mode, and the rails hold for them too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.journal import Journal
from reconciler.apply.run import apply_reviewed
from reconciler.emulator import Emulator
from reconciler.errors import UnsafePlanError
from reconciler.manifest import load_fleet
from reconciler.plan import DepartureCause
from reconciler.plan_file import plan_to_json
from reconciler.platform import ReadClient
from reconciler.read_and_plan import plan_fleet
from tests.emulator_harness import is_write
from tests.integration.conftest import (
    CONTROL_TOKEN,
    FAST_RETRY,
    base_seed,
    config_for,
    connection_to,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def fleet_seed() -> dict[str, Any]:
    seed = base_seed()
    member = {"level": "MEMBER", "allowBillableActivities": False, "appAccess": True}
    seed["orgs"] += [
        {
            "id": "org-lab",
            "name": "Lab",
            "members": {
                "user-alice": {"level": "ADMIN"},
                "user-root": {"level": "ADMIN"},
                "user-bob": {**member, "projectAccess": "VIEW"},
                "user-frank": {**member, "projectAccess": "VIEW"},
            },
        },
        {
            "id": "org-clinic",
            "name": "Clinic",
            "members": {
                "user-alice": {"level": "ADMIN"},
                "user-root": {"level": "ADMIN"},
                "user-carol": {"level": "ADMIN"},
            },
        },
    ]
    return seed


def write_fleet(directory: Path, departed: str, **orgs: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "_defaults.yaml").write_text(f"departed:\n{departed}")
    for org_id, text in orgs.items():
        (directory / f"{org_id}.yaml").write_text(f"org: {org_id}\n{text}")


FLEET = {
    "org-demo": "members:\n  mode: authoritative\n  users: {alice: ADMIN, root: ADMIN, eve: {level: MEMBER, projectAccess: VIEW, appAccess: false}}\n"
    "safety: {removalBudget: {members: {percent: 50}}}\n",
    "org-lab": "members: {mode: additive, users: {alice: ADMIN}}\n",
    "org-clinic": "policies: {memberListVisibility: ADMIN}\n",
}
DEPARTED = '  - bob\n  - {user: carol, since: 2026-11-20, reason: "left the company"}\n'


@pytest.fixture
def emulator(tmp_path: Path) -> Any:
    emu = Emulator(state_path=tmp_path / "state.db", seed=fleet_seed(), control_token=CONTROL_TOKEN)
    yield emu
    emu.close()


def members(emulator: Emulator, org_id: str) -> set[str]:
    org = next(o for o in emulator.control.state()["orgs"] if o["id"] == org_id)
    return set(org["members"])


def test_departed_people_leave_every_org_in_one_apply(emulator: Emulator, tmp_path: Path) -> None:
    write_fleet(tmp_path / "orgs", DEPARTED, **FLEET)
    fleet = load_fleet([tmp_path / "orgs"])
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        plan = plan_fleet(fleet, client, now=NOW)
    assert plan.applyable, [o.violations for o in plan.orgs]
    people = {p.user_id: sorted(org for org, _ in p.removals) for p in plan.offboarding()}
    assert people == {
        "user-bob": ["org-demo", "org-lab"],
        "user-carol": ["org-clinic", "org-demo"],
    }
    carol = next(p for p in plan.offboarding() if p.user_id == "user-carol")
    assert carol.departure == DepartureCause(
        where=str(tmp_path / "orgs" / "_defaults.yaml") + ":3",
        since="2026-11-20",
        reason="left the company",
    )
    assert all("departed at" in a.reason for _, a in carol.removals)
    assert plan_to_json(plan)["offboarding"][1]["user"] == "user-carol"
    # eve is listed, frank is unmanaged in the additive lab: neither is touched.
    report = apply_reviewed(
        plan, fleet, connection_to(emulator), journal=Journal(None), env={}, now=NOW
    )
    assert report.exit_code == 0, report
    assert members(emulator, "org-demo") == {"user-alice", "user-root", "user-eve"}
    assert members(emulator, "org-lab") == {"user-alice", "user-root", "user-frank"}
    assert members(emulator, "org-clinic") == {"user-alice", "user-root"}
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        assert not plan_fleet(fleet, client, now=NOW).has_changes


@pytest.mark.parametrize(
    ("departed", "orgs", "rule"),
    [
        # The token's own user left: dxorg never removes its own user.
        ("  - alice\n", {"org-lab": "members: {mode: additive, users: {root: ADMIN}}\n"}, "caller"),
        # Removing carol would leave the clinic below its minAdmins.
        ("  - carol\n", {"org-clinic": "safety: {minAdmins: 3}\n"}, "min-admins"),
        # Three of four lab members at once: over the members budget.
        (
            "  - bob\n  - frank\n  - root\n",
            {
                "org-lab": "members: {mode: additive, users: {alice: ADMIN}}\nsafety: {minAdmins: 1}\n"
            },
            "budget.members",
        ),
    ],
)
def test_the_rails_hold_for_departures(
    emulator: Emulator, tmp_path: Path, departed: str, orgs: dict[str, str], rule: str
) -> None:
    write_fleet(tmp_path / "orgs", departed, **orgs)
    fleet = load_fleet([tmp_path / "orgs"])
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        plan = plan_fleet(fleet, client, now=NOW)
    assert rule in [v.rule for o in plan.orgs for v in o.blocking_violations]
    emulator.control.clear_requests()
    with pytest.raises(UnsafePlanError, match=rule):
        apply_reviewed(plan, fleet, connection_to(emulator), journal=Journal(None), env={}, now=NOW)
    assert not [r for r in emulator.control.requests() if is_write(r["route"])]
