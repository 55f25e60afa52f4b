"""Project policies: settings the projects billed to an org must have at least, found and
shown (report mode) or raised (enforce mode), through the emulator's project-x/update."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from reconciler.apply.journal import Journal
from reconciler.apply.run import apply_reviewed
from reconciler.emulator import Emulator
from reconciler.errors import ManifestError, StalePlanError, UnsafePlanError
from reconciler.manifest import Fleet
from reconciler.plan import Plan
from reconciler.plan_file import dumps_plan, load_plan
from reconciler.platform import ReadClient
from reconciler.read_and_plan import plan_fleet
from reconciler.render.text import render_text
from tests.emulator_harness import is_write
from tests.integration.conftest import (
    CONTROL_TOKEN,
    FAST_RETRY,
    base_seed,
    config_for,
    connection_to,
    write_manifest,
)

TODAY = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
A = "project-" + "A" * 24  # clinical-a: protected already, downloads open
B = "project-" + "B" * 24  # clinical-b: nothing set, but restricted (stricter, unmanaged)
C = "project-" + "C" * 24  # clinical-c: alice has no access (only root administers it)
D = "project-" + "D" * 24  # scratch, tagged phi


def policy_seed() -> dict[str, Any]:
    seed = base_seed()

    def project(pid: str, name: str, admin: str = "user-alice", **settings: Any) -> dict:
        return {
            "id": pid,
            "name": name,
            "billTo": "org-demo",
            "createdBy": admin,
            "created": 1700000000000,
            "permissions": {admin: "ADMINISTER"},
            **settings,
        }

    seed["projects"] = [
        project(A, "clinical-a", protected=True),
        project(B, "clinical-b", restricted=True),
        project(C, "clinical-c", admin="user-root"),
        project(D, "scratch", tags=["phi"]),
    ]
    return seed


@pytest.fixture
def emulator(tmp_path: Path) -> Any:
    emu = Emulator(
        state_path=tmp_path / "state.db", seed=policy_seed(), control_token=CONTROL_TOKEN
    )
    yield emu
    emu.close()


def manifest(policy: str, extra: str = "") -> str:
    return f"org: org-demo\nprojectPolicies:\n{policy}{extra}"


LOCKDOWN = (
    "  - name: clinical-lockdown\n"
    "    projects: {ids: [" + A + ", " + B + "]}\n"
    "    require: {protected: true, downloadRestricted: true}\n"
    "    mode: enforce\n"
)


def plan(emulator: Emulator, fleet: Fleet, now: datetime = NOW, **options: bool) -> Plan:
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        return plan_fleet(fleet, client, now=now, only_expiries=options.get("only_expiries", False))


def settings(emulator: Emulator, project_id: str) -> dict[str, Any]:
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        return dict(client.describe_project(project_id))


def by_hand(emulator: Emulator, project_id: str, body: dict[str, Any]) -> None:
    """A change made outside dxorg, as alice, with the platform's own update call."""
    with httpx.Client(transport=emulator.transport(), base_url="http://emulator.invalid") as http:
        answer = http.post(
            f"/{project_id}/update", json=body, headers={"Authorization": "Bearer alice-token"}
        )
        assert answer.status_code == 200, answer.text


def apply(emulator: Emulator, planned: Plan, fleet: Fleet, now: datetime = NOW, **kw: Any) -> Any:
    return apply_reviewed(
        planned, fleet, connection_to(emulator), journal=Journal(None), env={}, now=now, **kw
    )


def test_enforce_raises_what_is_missing_and_never_lowers(
    emulator: Emulator, tmp_path: Path
) -> None:
    fleet = write_manifest(tmp_path, manifest(LOCKDOWN))
    planned = plan(emulator, fleet)
    (org,) = planned.orgs
    where = f"{tmp_path / 'org-demo.yaml'}:3"
    assert [a.summary for a in org.actions] == [
        f"project clinical-a ({A}): downloadRestricted false -> true "
        f"(policy clinical-lockdown, {where})",
        f"project clinical-b ({B}): protected false -> true (policy clinical-lockdown, {where}), "
        f"downloadRestricted false -> true (policy clinical-lockdown, {where})",
    ]
    # Only what is missing is sent, with the version read; nothing is ever set false.
    assert [(s.call.route, dict(s.call.body)) for s in org.steps] == [
        (f"/{A}/update", {"downloadRestricted": True, "version": 1}),
        (f"/{B}/update", {"protected": True, "downloadRestricted": True, "version": 1}),
    ]
    assert f"~ project clinical-a ({A}): downloadRestricted false -> true" in render_text(planned)
    # Saved and loaded, the plan is the one apply proves and applies.
    saved = tmp_path / "plan.json"
    saved.write_text(dumps_plan(planned))
    assert apply(emulator, load_plan(saved), fleet).exit_code == 0
    a, b = settings(emulator, A), settings(emulator, B)
    assert a["protected"] and a["downloadRestricted"] and a["previewViewerRestricted"]
    assert b["protected"] and b["downloadRestricted"] and b["restricted"]  # stricter: kept
    assert not plan(emulator, fleet).differs


def test_a_setting_turned_off_by_hand_is_drift(emulator: Emulator, tmp_path: Path) -> None:
    fleet = write_manifest(tmp_path, manifest(LOCKDOWN))
    assert apply(emulator, plan(emulator, fleet), fleet).exit_code == 0
    by_hand(emulator, A, {"previewViewerRestricted": False, "downloadRestricted": False})
    again = plan(emulator, fleet)
    assert again.differs
    assert [a.target for a in again.orgs[0].actions] == [A]


def test_report_mode_shows_findings_and_writes_nothing(emulator: Emulator, tmp_path: Path) -> None:
    fleet = write_manifest(tmp_path, manifest(LOCKDOWN.replace("mode: enforce", "mode: report")))
    emulator.control.clear_requests()
    planned = plan(emulator, fleet)
    (org,) = planned.orgs
    assert not org.actions and not org.steps and not planned.differs
    findings = [w.message for w in org.warnings if w.code == "policy-finding"]
    assert findings[0].startswith(
        f"project clinical-a ({A}) does not meet policy clinical-lockdown"
    )
    assert findings[0].endswith("downloadRestricted is false, required true")
    assert len(findings) == 2
    assert not [r for r in emulator.control.requests() if is_write(r["route"])]
    # The default mode is report.
    default = write_manifest(tmp_path, manifest(LOCKDOWN.replace("    mode: enforce\n", "")))
    assert not plan(emulator, default).has_changes


@pytest.mark.parametrize(
    ("selection", "targets"),
    [
        ("{glob: 'clinical-[ab]'}", [A, B]),
        ("{tag: phi}", [D]),
        ("{all: true}", [A, B, C, D]),
        ("{ids: [" + B + "]}", [B]),
    ],
)
def test_selectors(emulator: Emulator, tmp_path: Path, selection: str, targets: list[str]) -> None:
    policy = (
        "  - name: p\n    projects: " + selection + "\n    require: {databaseUIViewOnly: true}\n"
        "    mode: enforce\n"
    )
    planned = plan(emulator, write_manifest(tmp_path, manifest(policy)))
    assert sorted(a.target for a in planned.orgs[0].actions) == targets


def test_exceptions_hold_until_their_last_day(emulator: Emulator, tmp_path: Path) -> None:
    text = manifest(
        LOCKDOWN,
        "    exceptions:\n"
        f'      - {{project: {A}, reason: "vendor transfer, ticket 12", expires: 2027-01-31}}\n'
        f'      - {{project: {D}, reason: "not covered", expires: 2027-01-31}}\n',
    )
    fleet = write_manifest(tmp_path, text)
    before = plan(emulator, fleet, datetime(2027, 1, 31, 23, 0, tzinfo=UTC))
    assert [a.target for a in before.orgs[0].actions] == [B]
    (nothing,) = [
        w for w in before.orgs[0].warnings if w.code == "policy-exception-matches-nothing"
    ]
    assert D in nothing.message

    after_day = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
    after = plan(emulator, fleet, after_day)
    assert [a.target for a in after.orgs[0].actions] == [A, B]
    lapsed = after.orgs[0].actions[0]
    assert "(vendor transfer, ticket 12) expired on 2027-01-31" in lapsed.reason
    # An exception's end is an expiry: --only-expiries keeps it, and only it.
    only = plan(emulator, fleet, after_day, only_expiries=True)
    assert [a.target for a in only.orgs[0].actions] == [A]


def test_a_project_changed_since_the_plan_is_refused(emulator: Emulator, tmp_path: Path) -> None:
    fleet = write_manifest(tmp_path, manifest(LOCKDOWN))
    planned = plan(emulator, fleet)
    by_hand(emulator, B, {"summary": "edited"})  # moves the project's version on
    emulator.control.clear_requests()
    with pytest.raises(StalePlanError, match=B):
        apply(emulator, planned, fleet)
    assert not [r for r in emulator.control.requests() if is_write(r["route"])]


def test_the_update_carries_the_version_so_the_platform_refuses_a_moved_project(
    emulator: Emulator, tmp_path: Path
) -> None:
    """The last line of defence, after apply's own stale check: the platform's version."""
    fleet = write_manifest(tmp_path, manifest(LOCKDOWN))
    (step, _) = plan(emulator, fleet).orgs[0].steps
    by_hand(emulator, A, {"summary": "edited"})
    with httpx.Client(transport=emulator.transport(), base_url="http://emulator.invalid") as http:
        answer = http.post(
            step.call.route,
            json=dict(step.call.body),
            headers={"Authorization": "Bearer alice-token"},
        )
    assert answer.status_code == 422 and answer.json()["error"]["type"] == "InvalidState"


def test_contains_phi_needs_irreversible(emulator: Emulator, tmp_path: Path) -> None:
    policy = (
        "  - name: phi\n    projects: {tag: phi}\n    require: {containsPHI: true}\n"
        "    mode: enforce\n"
    )
    with pytest.raises(
        ManifestError, match=r"projectPolicies\[0\]\.require\.containsPHI: .*irreversible: true"
    ):
        write_manifest(tmp_path, manifest(policy))
    fleet = write_manifest(tmp_path, manifest(policy + "    irreversible: true\n"))
    (action,) = plan(emulator, fleet).orgs[0].actions
    assert "containsPHI false -> true (irreversible)" in action.summary
    assert action.after is not None and action.after["irreversible"] == ["containsPHI"]


def test_a_project_the_token_cannot_update_is_a_violation_until_granted(
    emulator: Emulator, tmp_path: Path
) -> None:
    policy = (
        "  - name: lock\n    projects: {ids: [" + C + "]}\n    require: {protected: true}\n"
        "    mode: enforce\n"
    )
    fleet = write_manifest(tmp_path, manifest(policy))
    planned = plan(emulator, fleet)
    (violation,) = planned.orgs[0].blocking_violations
    assert violation.rule == "project-access"
    assert f"updating {C} needs ADMINISTER" in violation.message
    assert f"selfGrants.projects: - {{id: {C}" in violation.message
    emulator.control.clear_requests()
    with pytest.raises(UnsafePlanError, match="project-access"):
        apply(emulator, planned, fleet)
    assert not [r for r in emulator.control.requests() if is_write(r["route"])]
    # Declared, the self-grant comes first and the update waits for it.
    granted = write_manifest(
        tmp_path,
        manifest(policy, f'selfGrants:\n  projects:\n    - {{id: {C}, reason: "lockdown"}}\n'),
    )
    planned = plan(emulator, granted)
    assert planned.applyable
    assert apply(emulator, planned, granted).exit_code == 0
    assert settings(emulator, C)["protected"] is True


def test_the_access_review_has_a_section_per_policy(emulator: Emulator, tmp_path: Path) -> None:
    from reconciler.review.as_html import render_report_html
    from reconciler.review.as_json import dumps_report, report_schema
    from reconciler.review.as_markdown import render_report_markdown
    from reconciler.review.collect import review_fleet

    text = manifest(
        LOCKDOWN.replace("mode: enforce", "mode: report"),
        "    exceptions:\n"
        f'      - {{project: {B}, reason: "vendor transfer, ticket 12", expires: 2027-01-31}}\n',
    )
    fleet = write_manifest(tmp_path, text)
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        report = review_fleet(fleet, client, now=NOW)
    (policy,) = report.orgs[0].policies
    assert [(p.project_id, p.missing, p.exempt) for p in policy.projects] == [
        (A, ("downloadRestricted",), False),
        (B, ("protected", "downloadRestricted"), True),
    ]
    assert report.counts()["policyFindings"] == 1  # B is exempt until its exception ends

    data = json.loads(dumps_report(report))
    jsonschema.Draft202012Validator(report_schema()).validate(data)
    (section,) = data["orgs"][0]["projectPolicies"]
    assert section["name"] == "clinical-lockdown" and section["mode"] == "report"
    assert section["covered"][0] == {
        "project": A,
        "name": "clinical-a",
        "compliant": False,
        "missing": ["downloadRestricted"],
        "exempt": False,
    }
    assert section["exceptions"][0]["expires"] == "2027-01-31"
    assert section["exceptions"][0]["active"] is True

    markdown = "\n".join(render_report_markdown(report))
    assert "#### Project policy `clinical-lockdown` (report)" in markdown
    assert f"| clinical-a `{A}` | ⚠️ lacks `downloadRestricted` |" in markdown
    assert f"| clinical-b `{B}` | exempt |" in markdown
    assert f"- `{B}`: vendor transfer, ticket 12, until 2027-01-31" in markdown
    assert "#### 🔒 Projects not meeting a project policy (1)" in markdown

    html = render_report_html(report)
    assert '<section id="policies">' in html
    assert "vendor transfer, ticket 12 until 2027-01-31" in html


def test_fleet_policies_apply_to_every_org_and_an_org_policy_of_that_name_wins(
    emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "_defaults.yaml").write_text("projectPolicies:\n" + LOCKDOWN)
    fleet = write_manifest(tmp_path, "org: org-demo\n")
    assert sorted(a.target for a in plan(emulator, fleet).orgs[0].actions) == [A, B]
    own = LOCKDOWN.replace("protected: true, downloadRestricted: true", "databaseUIViewOnly: true")
    fleet = write_manifest(tmp_path, manifest(own))
    (policy,) = fleet.orgs["org-demo"].project_policies
    assert policy.require == ("databaseUIViewOnly",)
