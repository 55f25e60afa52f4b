"""Stale plans: a live change, between plan and apply, to any kind of object the plan
touches is refused before the first write, naming the object."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.apply.journal import Journal
from reconciler.apply.run import apply_reviewed
from reconciler.emulator import Emulator
from reconciler.errors import StalePlanError
from reconciler.platform import WriteClient
from reconciler.read_and_plan import plan_fleet
from tests.emulator_harness import is_write
from tests.integration.conftest import (
    APP1,
    CONTROL_TOKEN,
    FAST_RETRY,
    P1,
    Control,
    base_seed,
    config_for,
    connection_to,
    write_manifest,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
HEC = "hec-stale-secret"
ENV = {"SPLUNK_HEC_TOKEN": HEC}
MANIFEST = f"""\
org: org-demo
name: Demo Org (managed)
policies: {{memberListVisibility: MEMBER}}
members:
  mode: authoritative
  users:
    alice: ADMIN
    root: ADMIN
    bob: {{level: MEMBER, projectAccess: VIEW}}
    carol: ADMIN
    dave: MEMBER
selfGrants:
  projects: [{{id: {P1}}}]
  apps: [{{id: {APP1}}}]
jobLogsForwarding:
  url: https://splunk.example.com/services/collector/event
  tokenEnv: SPLUNK_HEC_TOKEN
provisioning:
  - {{username: newbie, email: newbie@example.com, first: New, last: Bie}}
"""

Change = Callable[[WriteClient], object]
# What someone else does meanwhile (as root, another org admin), and the object it makes stale.
CHANGES: dict[str, tuple[Change, str]] = {
    "member-access": (
        lambda root: root.call(
            "/org-demo/setMemberAccess",
            {"user-bob": {"level": "MEMBER", "projectAccess": "UPLOAD"}},
        ),
        "member:user-bob",
    ),
    "member-promoted": (
        lambda root: root.call("/org-demo/setMemberAccess", {"user-bob": {"level": "ADMIN"}}),
        "member:user-bob",
    ),
    "membership-added": (
        lambda root: root.call("/org-demo/invite", {"invitee": "user-dave", "level": "MEMBER"}),
        "member:user-dave",
    ),
    "membership-removed": (
        lambda root: root.call("/org-demo/removeMember", {"user": "user-bob"}),
        "member:user-bob",
    ),
    "membership-removed-of-a-removal": (
        lambda root: root.call("/org-demo/removeMember", {"user": "user-eve"}),
        "member:user-eve",
    ),
    "org-policy": (
        lambda root: root.call("/org-demo/update", {"policies": {"jobReuse": True}}),
        "org",
    ),
    "org-name": (lambda root: root.call("/org-demo/update", {"name": "Renamed by hand"}), "org"),
    "forwarding": (
        lambda root: root.call(
            "/org-demo/update",
            {"jobLogsForwarding": {"url": "https://other.example.com/collector", "token": "x"}},
        ),
        "forwarding",
    ),
    "self-grant-project-permission": (
        lambda root: root.call(f"/{P1}/invite", {"invitee": "user-alice", "level": "VIEW"}),
        f"project:{P1}",
    ),
    "app-developers": (
        lambda root: root.call(f"/{APP1}/addDevelopers", {"developers": ["user-bob"]}),
        f"app:{APP1}",
    ),
    "provisioned-account": (
        lambda root: root.call(
            "/user/new",
            {
                "username": "newbie",
                "email": "newbie@example.com",
                "first": "New",
                "last": "Bie",
                "provisioningOrg": "org-demo",
            },
        ),
        "account:user-newbie",
    ),
}


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(state_path=":memory:", seed=base_seed(), control_token=CONTROL_TOKEN)
    yield emu
    emu.close()


@pytest.mark.parametrize("kind", sorted(CHANGES))
def test_a_change_to_any_touched_object_makes_the_plan_stale_and_nothing_is_written(
    emulator: Emulator, tmp_path: Path, kind: str
) -> None:
    change, key = CHANGES[kind]
    fleet = write_manifest(tmp_path / "orgs", MANIFEST)
    control = Control(emulator)
    with WriteClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as alice:
        plan = plan_fleet(fleet, alice, now=NOW, env=ENV)
        org = plan.orgs[0]
        assert org.applyable, org.violations
        assert any(key in map(str, action.touches) for action in org.actions), (
            f"the plan does not touch {key}"
        )
        with WriteClient(config_for("root-token"), transport=emulator.transport()) as root:
            change(root)
        control.post("requests/clear")
        journal = tmp_path / "journal.jsonl"
        with pytest.raises(StalePlanError) as refused:
            apply_reviewed(
                plan,
                fleet,
                connection_to(emulator),
                journal=Journal(journal),
                env=ENV,
                now=NOW,
            )
    assert f"org-demo: {key}" in str(refused.value)
    assert "since the plan" in str(refused.value)
    sent = [r["route"] for r in control.requests()]
    assert not [route for route in sent if is_write(route)], sent
    assert '"refused"' in journal.read_text()
