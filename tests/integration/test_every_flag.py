"""Every member permission flag and samlIdP, declared, planned, applied, exported and planned
again to nothing: in-process through the emulator's transport, and by the `dxorg` command
over loopback HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.apply.journal import Journal
from reconciler.apply.run import apply_reviewed
from reconciler.emulator import Emulator
from reconciler.manifest import load_fleet
from reconciler.platform import ReadClient
from reconciler.read_and_export import export_org
from reconciler.read_and_plan import plan_fleet
from tests.integration.conftest import (
    CONTROL_TOKEN,
    FAST_RETRY,
    Control,
    base_seed,
    config_for,
    connection_to,
)
from tests.integration.test_cli import Platform, dxorg

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# Read-only flags as the platform has them (set by someone on the Organizations page):
# the manifest states them, dxorg compares them and never sends them.
READ_ONLY_LIVE = {
    "archivalManagement": True,
    "dataDeletion": True,
    "dataSearch": True,
    "projectMemberDemotion": True,
    "cloudIntegrationManagement": True,
}
MANIFEST = """\
org: org-demo
samlIdP: https://idp.example.com/saml/metadata
members:
  mode: authoritative
  defaults: {treManagement: false, dataSearch: false}
  users:
    alice: ADMIN
    root: {level: ADMIN, treManagement: true, cloudIntegrationManagement: true}
    bob:
      level: MEMBER
      allowBillableActivities: true
      appAccess: false
      projectAccess: UPLOAD
      archivalManagement: true
      dataDeletion: true
      dataSearch: true
      projectMemberDemotion: true
      treManagement: true
      cloudIntegrationManagement: true
    carol: {level: MEMBER, treManagement: true}
    dave: {level: ADMIN, treManagement: true}
    eve: MEMBER
    frank: {level: MEMBER, treManagement: true, projectAccess: VIEW}
"""


def flags_seed() -> dict[str, Any]:
    seed = base_seed()
    members = seed["orgs"][0]["members"]
    members["user-root"] = {"level": "ADMIN", "cloudIntegrationManagement": True}
    members["user-bob"].update(READ_ONLY_LIVE)
    members["user-eve"]["treManagement"] = True  # taken away by the org's default
    members["user-dave"] = {"level": "MEMBER"}  # promoted, with treManagement
    return seed


def test_every_flag_and_saml_idp_apply_then_export_round_trips(tmp_path: Path) -> None:
    emulator = Emulator(
        state_path=tmp_path / "state.db", seed=flags_seed(), control_token=CONTROL_TOKEN
    )
    orgs = tmp_path / "orgs"
    orgs.mkdir()
    (orgs / "org-demo.yaml").write_text(MANIFEST)
    fleet = load_fleet([orgs])
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        plan = plan_fleet(fleet, client, now=NOW)
    [org] = plan.orgs
    assert plan.applyable and org.warnings == (), org.warnings
    bodies = {s.call.route: dict(s.call.body) for s in org.steps}
    assert bodies["/org-demo/update"] == {"samlIdP": "https://idp.example.com/saml/metadata"}
    access = [dict(s.call.body) for s in org.steps if s.call.method == "setMemberAccess"]
    assert access == [
        {"user-dave": {"level": "ADMIN", "treManagement": True}},
        {
            "user-bob": {
                "level": "MEMBER",
                "allowBillableActivities": True,
                "appAccess": False,
                "projectAccess": "UPLOAD",
                "treManagement": True,
            },
            "user-carol": {"level": "MEMBER", "treManagement": True},
            "user-eve": {"level": "MEMBER", "treManagement": False},
            "user-root": {"level": "ADMIN", "treManagement": True},
        },
    ]
    assert bodies["/org-demo/invite"] == {
        "invitee": "user-frank",
        "level": "MEMBER",
        "allowBillableActivities": False,
        "appAccess": True,
        "projectAccess": "VIEW",
        "treManagement": True,
        "suppressEmailNotification": False,
    }

    report = apply_reviewed(
        plan, fleet, connection_to(emulator), journal=Journal(tmp_path / "j.jsonl"), env={}, now=NOW
    )
    assert report.exit_code == 0, report
    state = next(o for o in Control(emulator).get("state")["orgs"] if o["id"] == "org-demo")
    assert state["samlIdP"] == "https://idp.example.com/saml/metadata"
    members = state["members"]
    assert members["user-root"]["treManagement"] is True
    assert members["user-root"]["cloudIntegrationManagement"] is True
    assert members["user-dave"]["level"] == "ADMIN" and members["user-dave"]["treManagement"]
    assert members["user-frank"]["treManagement"] is True
    assert "treManagement" not in members["user-eve"]  # back at the default
    assert {k: members["user-bob"][k] for k in READ_ONLY_LIVE} == READ_ONLY_LIVE

    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        again = plan_fleet(fleet, client, now=NOW)
        assert not again.has_changes and again.orgs[0].warnings == ()
        exported = tmp_path / "exported"
        exported.mkdir()
        text = export_org(client, "org-demo", caller="user-alice")
        (exported / "org-demo.yaml").write_text(text)
        round_trip = plan_fleet(load_fleet([exported]), client, now=NOW)
    emulator.close()
    assert 'samlIdP: "https://idp.example.com/saml/metadata"' in text
    assert "root: {level: ADMIN, treManagement: true, cloudIntegrationManagement: true}" in text
    assert all(f"{name}: true" in text for name in READ_ONLY_LIVE)  # bob's, spelled out
    assert not round_trip.has_changes, [a.summary for a in round_trip.orgs[0].actions]
    assert round_trip.orgs[0].warnings == ()


def test_the_command_declares_applies_and_round_trips_every_flag(tmp_path: Path) -> None:
    emulator = Emulator(
        state_path=tmp_path / "state.db", seed=flags_seed(), control_token=CONTROL_TOKEN
    )
    orgs = tmp_path / "orgs"
    orgs.mkdir()
    (orgs / "org-demo.yaml").write_text(MANIFEST)
    with emulator.serve(port=0) as server:
        platform = Platform(server.url, server.port)
        env = platform.env()
        planned = dxorg("plan", str(orgs), "--detailed-exitcode", "--format", "json", env=env)
        assert planned.returncode == 2, planned.stderr
        steps = [s for o in json.loads(planned.stdout)["orgs"] for s in o["steps"]]
        assert any(s["call"]["body"].get("samlIdP") for s in steps)
        applied = dxorg("apply", str(orgs), "--auto-approve", env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "Verified: converged." in applied.stdout
        assert dxorg("plan", str(orgs), "--detailed-exitcode", env=env).returncode == 0
        exported = tmp_path / "exported"
        done = dxorg("export", "org-demo", "-o", str(exported / "org-demo.yaml"), env=env)
        assert done.returncode == 0, done.stderr
        text = (exported / "org-demo.yaml").read_text()
        assert "treManagement: true" in text and "samlIdP:" in text
        again = dxorg("plan", str(exported), "--detailed-exitcode", env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "warning" not in again.stdout
        platform.control.close()
    emulator.close()
