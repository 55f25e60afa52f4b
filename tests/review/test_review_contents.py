"""What the report says about each member, self-grant, provisioned account and departure,
built from a real git repository and the emulator (see conftest.py for the fleet)."""

from __future__ import annotations

from datetime import date

from reconciler.emulator import Emulator
from reconciler.review.build import REVIEW_FLAGS
from reconciler.review.value import AccessReport, MemberReview
from tests.emulator_harness import is_write
from tests.integration.conftest import APP1, P1, P2, write_manifest
from tests.review.conftest import FleetRepo, review

# The platform's nine flags, in its order (the report's columns).
ALL_FLAGS = (
    "allowBillableActivities",
    "appAccess",
    "projectAccess",
    "archivalManagement",
    "dataDeletion",
    "dataSearch",
    "projectMemberDemotion",
    "treManagement",
    "cloudIntegrationManagement",
)


def member(report: AccessReport, org_id: str, user_id: str) -> MemberReview:
    [org] = [o for o in report.orgs if o.org_id == org_id]
    [found] = [m for m in org.members if m.user_id == user_id]
    return found


def flags(m: MemberReview) -> dict[str, tuple[object, object, str, str | None]]:
    return {
        f.name: (f.live, f.manifest, f.source, str(f.where) if f.where else None) for f in m.flags
    }


def test_every_live_member_and_every_flag_is_there(report: AccessReport) -> None:
    assert [o.org_id for o in report.orgs] == ["org-demo", "org-lab"]
    demo, lab = report.orgs
    assert [m.user_id for m in demo.live_members] == [
        "user-alice",
        "user-bob",
        "user-carol",
        "user-erin",
        "user-eve",
        "user-root",
    ]
    assert [m.user_id for m in lab.live_members] == [
        "user-alice",
        "user-dave",
        "user-eve",
        "user-root",
    ]
    assert report.flags == REVIEW_FLAGS == ALL_FLAGS
    for _, m in report.members:
        assert [f.name for f in m.flags] == ["level", *report.flags]
    eve = member(report, "org-lab", "user-eve")
    assert eve.live == {
        "level": "MEMBER",
        "allowBillableActivities": False,
        "appAccess": False,
        "projectAccess": "UPLOAD",
        "archivalManagement": False,
        "dataDeletion": False,
        "dataSearch": False,
        "projectMemberDemotion": False,
        "treManagement": False,
        "cloudIntegrationManagement": False,
    }
    assert eve.name == "Eve Tester"


def test_declared_members_say_where_and_admins_have_full_access(
    report: AccessReport, fleet_repo: FleetRepo
) -> None:
    alice = member(report, "org-demo", "user-alice")
    assert alice.status == "declared" and alice.drift is None
    line = fleet_repo.line("org-demo.yaml", "alice: ADMIN")
    assert str(alice.declared) == f"{fleet_repo.orgs}/org-demo.yaml:{line}"
    forced = {"level": "member", **{name: "admin" for name in ALL_FLAGS[:7]}}
    # The flags independent of the level are not forced: unmanaged unless the line sets them.
    assert {name: source for name, (_, _, source, _) in flags(alice).items()} == {
        **forced,
        "treManagement": "unmanaged",
        "cloudIntegrationManagement": "unmanaged",
    }
    root = member(report, "org-demo", "user-root")
    assert root.status == "declared"
    assert flags(root)["treManagement"] == (True, True, "member", str(root.declared))
    assert flags(root)["cloudIntegrationManagement"] == (False, None, "unmanaged", None)
    assert flags(root)["dataDeletion"][:3] == (True, True, "admin")


def test_inherited_flags_name_the_defaults_line_they_come_from(
    report: AccessReport, fleet_repo: FleetRepo
) -> None:
    carol = member(report, "org-demo", "user-carol")
    assert carol.status == "declared"
    org_line = fleet_repo.line("org-demo.yaml", "defaults: {projectAccess: UPLOAD}")
    fleet_line = fleet_repo.line("_defaults.yaml", "defaults:")
    assert flags(carol) == {
        "level": ("MEMBER", "MEMBER", "member", str(carol.declared)),
        "allowBillableActivities": (
            False,
            False,
            "fleet-defaults",
            f"{fleet_repo.orgs}/_defaults.yaml:{fleet_line}",
        ),
        "appAccess": (
            True,
            True,
            "fleet-defaults",
            f"{fleet_repo.orgs}/_defaults.yaml:{fleet_line}",
        ),
        "projectAccess": (
            "UPLOAD",
            "UPLOAD",
            "org-defaults",
            f"{fleet_repo.orgs}/org-demo.yaml:{org_line}",
        ),
        **{name: (False, None, "unmanaged", None) for name in ALL_FLAGS[3:]},
    }
    assert [f.name for f in carol.inherited] == [
        "allowBillableActivities",
        "appAccess",
        "projectAccess",
    ]


def test_drift_says_how_in_the_plans_words(report: AccessReport, fleet_repo: FleetRepo) -> None:
    bob = member(report, "org-demo", "user-bob")
    assert bob.status == "drifted"
    assert bob.drift is not None
    assert bob.drift.summary == "update user-bob: projectAccess CONTRIBUTE -> VIEW"
    line = fleet_repo.line("org-demo.yaml", "bob:")
    assert f"org-demo.yaml:{line} sets projectAccess VIEW (live: CONTRIBUTE)" in bob.drift.reason
    assert [(c.name, c.live, c.manifest) for c in bob.drift.changes] == [
        ("projectAccess", "CONTRIBUTE", "VIEW")
    ]
    assert flags(bob)["projectAccess"][:3] == ("CONTRIBUTE", "VIEW", "member")
    # A declared user who is not a member is drift too, with no live access.
    grace = member(report, "org-lab", "user-grace")
    assert grace.status == "drifted" and grace.live is None
    assert grace.drift is not None and grace.drift.summary == "invite user-grace as MEMBER"


def test_unmanaged_members_of_an_additive_org(report: AccessReport) -> None:
    dave = member(report, "org-lab", "user-dave")
    assert dave.status == "unmanaged"
    assert dave.declared is None and dave.drift is None
    assert dave.unmanaged_flags == ("level", *REVIEW_FLAGS)


def test_departed_users_still_present_everywhere_they_are(
    report: AccessReport, fleet_repo: FleetRepo
) -> None:
    line = fleet_repo.line("_defaults.yaml", "user: eve")
    for org_id in ("org-demo", "org-lab"):
        eve = member(report, org_id, "user-eve")
        assert eve.status == "departed"
        assert eve.departed is not None
        assert (eve.departed.since, eve.departed.reason) == (date(2026, 11, 20), "left the company")
        assert str(eve.departed.where) == f"{fleet_repo.orgs}/_defaults.yaml:{line}"
    [presence] = report.departed
    assert presence.departure.user_id == "user-eve"
    assert presence.present_in == (("org-demo", "MEMBER"), ("org-lab", "MEMBER"))
    assert report.counts()["departedPresent"] == 1


def test_self_grants_held_with_days_left_and_expiry_state(
    report: AccessReport, fleet_repo: FleetRepo
) -> None:
    demo = report.orgs[0]
    grants = {g.object_id: g for g in demo.self_grants}
    assert set(grants) == {P1, P2, APP1}
    clinical, scratch, tool = grants[P1], grants[P2], grants[APP1]
    assert (clinical.kind, clinical.name, clinical.level, clinical.holder) == (
        "project",
        "clinical-1",
        "ADMINISTER",
        "user-alice",
    )
    assert clinical.selector == "glob: clinical-*"
    assert (clinical.expires, clinical.days_left, clinical.state) == (
        date(2026, 12, 6),
        10,
        "expiring",
    )
    assert clinical.reason == "incident 42"
    assert (
        str(clinical.where)
        == f"{fleet_repo.orgs}/org-demo.yaml:{fleet_repo.line('org-demo.yaml', 'clinical-*')}"
    )
    assert (scratch.days_left, scratch.state, scratch.reason) == (-1, "expired", "quarterly audit")
    assert (tool.kind, tool.level, tool.expires, tool.days_left, tool.state) == (
        "app",
        "developer",
        None,
        None,
        "active",
    )
    alice = member(report, "org-demo", "user-alice")
    assert {g.object_id for g in alice.self_grants} == {P1, P2, APP1}
    assert alice.expiring
    assert report.counts()["expiring"] == 1 and report.counts()["expired"] == 1
    assert report.orgs[1].self_grants == () and not report.orgs[1].self_grants_managed


def test_provisioned_accounts(report: AccessReport, fleet_repo: FleetRepo) -> None:
    demo = report.orgs[0]
    assert [(a.user_id, a.state) for a in demo.provisioned] == [
        ("user-erin", "unverified"),
        ("user-zoe", "not-created"),
    ]
    # erin is a member, but the platform does not show her the entry's email (it shows an
    # email only to its owner): the review says what the platform shows, not the entry.
    erin = member(report, "org-demo", "user-erin")
    assert erin.status == "unmanaged" and erin.drift is None
    assert erin.provisioned is None and erin.declared is None
    assert erin.level == "MEMBER" and erin.live is not None
    assert erin.live["projectAccess"] == "VIEW" and erin.live["allowBillableActivities"] is True


def test_an_org_that_cannot_be_read_is_an_error_never_an_empty_org(
    tmp_path, emulator: Emulator, read_client
) -> None:
    orgs = tmp_path / "orgs"
    write_manifest(orgs, "org: org-lab\n", name="org-lab.yaml")
    write_manifest(
        orgs,
        "org: org-ghost\nmembers: {mode: additive, users: {alice: ADMIN}}\n",
        name="ghost.yaml",
    )
    report = review([orgs], read_client)
    ghost, lab = report.orgs
    assert ghost.org_id == "org-ghost" and ghost.error and "org-ghost" in ghost.error
    assert ghost.members == ()
    assert lab.error is None and len(lab.live_members) == 4
    assert report.has_errors and report.counts()["errors"] == 1


def test_the_report_only_reads(report: AccessReport, emulator: Emulator) -> None:
    requests = emulator.control.requests()
    assert requests and not [r for r in requests if is_write(r["route"])]
