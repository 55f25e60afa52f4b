"""Memberships that end on a date (`expires` on a member entry): from that day the member is
removed whatever the org's members mode, within the members budget and the admin rails; in
the days before, the plan says so; `--only-expiries` plans nothing else."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.apply.journal import Journal
from reconciler.apply.run import apply_reviewed
from reconciler.emulator import Emulator
from reconciler.errors import DivergedPlanError, UnsafePlanError
from reconciler.manifest import Fleet
from reconciler.plan import ExpiryCause, Plan
from reconciler.plan_file import dumps_plan, load_plan
from reconciler.platform import ReadClient
from reconciler.read_and_plan import plan_fleet
from reconciler.render.text import render_text
from tests.emulator_harness import is_write
from tests.integration.conftest import (
    FAST_RETRY,
    config_for,
    connection_to,
    write_manifest,
)

ENDS = date(2027, 3, 31)


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)


def plan(emulator: Emulator, fleet: Fleet, day: date, *, only_expiries: bool = False) -> Plan:
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        return plan_fleet(fleet, client, now=at(day), only_expiries=only_expiries)


def members(emulator: Emulator, org_id: str = "org-demo") -> set[str]:
    org = next(o for o in emulator.control.state()["orgs"] if o["id"] == org_id)
    return set(org["members"])


def manifest(mode: str, cara: str = "bob", level: str = "MEMBER", extra: str = "") -> str:
    others = {
        "alice": "ADMIN",
        "root": "ADMIN",
        "bob": "MEMBER",
        "carol": "MEMBER",
        "eve": "{level: MEMBER, projectAccess: VIEW}",
    }
    listed = ", ".join(f"{u}: {v}" for u, v in others.items() if u != cara)
    return (
        f"org: org-demo\nmembers:\n  mode: {mode}\n  users:\n"
        f"    {{{listed},\n"
        f'     {cara}: {{level: {level}, expires: {ENDS}, reason: "contract, ticket 77"}}}}\n'
        f"{extra}"
    )


@pytest.mark.parametrize("mode", ["authoritative", "additive"])
def test_an_expired_membership_is_removed_whatever_the_mode(
    emulator: Emulator, tmp_path: Path, mode: str
) -> None:
    fleet = write_manifest(tmp_path, manifest(mode))
    before = plan(emulator, fleet, ENDS - timedelta(days=1))
    assert not before.has_changes  # the last day it holds: bob stays

    after = plan(emulator, fleet, ENDS)
    (org,) = after.orgs
    (removal,) = org.actions
    assert removal.kind == "remove-member" and removal.target == "user-bob"
    assert removal.removals == ("members",)
    assert removal.reason == (
        f"membership at {tmp_path / 'org-demo.yaml'}:6 expired on {ENDS}: contract, ticket 77"
    )
    assert removal.expiry == ExpiryCause(
        where=f"{tmp_path / 'org-demo.yaml'}:6",
        expires=str(ENDS),
        reason="contract, ticket 77",
    )
    assert "- remove user-bob" in render_text(after)
    report = apply_reviewed(
        after, fleet, connection_to(emulator), journal=Journal(None), env={}, now=at(ENDS)
    )
    assert report.exit_code == 0, report
    assert "user-bob" not in members(emulator)
    # An expired entry reads as absent: it never invites the member again.
    again = plan(emulator, fleet, ENDS + timedelta(days=30))
    assert not again.has_changes and not again.differs


def test_an_expired_entry_for_someone_not_a_member_invites_nobody(
    emulator: Emulator, tmp_path: Path
) -> None:
    fleet = write_manifest(tmp_path, manifest("additive", cara="dave"))
    early = plan(emulator, fleet, ENDS - timedelta(days=60))
    assert [a.summary for a in early.orgs[0].actions] == ["invite user-dave as MEMBER"]
    assert not plan(emulator, fleet, ENDS).has_changes


def test_an_org_without_a_members_section_has_no_entries_to_expire(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Unmanaged membership: nothing is listed, so nothing expires (departures still apply)."""
    fleet = write_manifest(tmp_path, "org: org-demo\npolicies: {memberListVisibility: ADMIN}\n")
    assert not plan(emulator, fleet, ENDS + timedelta(days=400)).has_changes


def test_the_notice_window_warns_before_the_date(emulator: Emulator, tmp_path: Path) -> None:
    fleet = write_manifest(tmp_path, manifest("authoritative"))
    outside = plan(emulator, fleet, ENDS - timedelta(days=15))
    assert not [w for w in outside.orgs[0].warnings if w.code == "membership-expiring"]
    inside = plan(emulator, fleet, ENDS - timedelta(days=14))
    (warning,) = [w for w in inside.orgs[0].warnings if w.code == "membership-expiring"]
    assert warning.message.startswith(
        f"user-bob's membership of org-demo ends on {ENDS}, in 14 day(s) "
        f"({tmp_path / 'org-demo.yaml'}:6: contract, ticket 77; a member)"
    )
    assert not inside.has_changes  # a warning, not a change
    # The window is a safety setting.
    wider = write_manifest(
        tmp_path, manifest("authoritative", extra="safety: {expiryNoticeDays: 30}\n")
    )
    assert [w.code for w in plan(emulator, wider, ENDS - timedelta(days=30)).orgs[0].warnings] == [
        "membership-expiring"
    ]


def test_an_expiring_admin_under_min_admins_warns_then_is_refused(
    emulator: Emulator, tmp_path: Path
) -> None:
    fleet = write_manifest(tmp_path, manifest("authoritative", cara="root", level="ADMIN"))
    before = plan(emulator, fleet, ENDS - timedelta(days=100))
    assert before.applyable and not before.has_changes
    (warning,) = [w for w in before.orgs[0].warnings if w.code == "admin-expiring"]
    assert "leaves org-demo 1 admin(s), fewer than safety.minAdmins 2" in warning.message

    due = plan(emulator, fleet, ENDS)
    assert [v.rule for v in due.orgs[0].blocking_violations] == ["min-admins"]
    emulator.control.clear_requests()
    with pytest.raises(UnsafePlanError, match="min-admins"):
        apply_reviewed(
            due, fleet, connection_to(emulator), journal=Journal(None), env={}, now=at(ENDS)
        )
    assert not [r for r in emulator.control.requests() if is_write(r["route"])]
    assert "user-root" in members(emulator)


def test_expiries_count_in_the_members_budget(emulator: Emulator, tmp_path: Path) -> None:
    text = (
        "org: org-demo\nmembers:\n  mode: additive\n  users:\n    alice: ADMIN\n    root: ADMIN\n"
        + "".join(f"    {u}: {{level: MEMBER, expires: {ENDS}}}\n" for u in ("bob", "carol", "eve"))
        + "safety: {removalBudget: {members: {count: 2}}}\n"
    )
    fleet = write_manifest(tmp_path, text)
    due = plan(emulator, fleet, ENDS)
    assert [v.rule for v in due.orgs[0].blocking_violations] == ["budget.members"]
    assert len(due.orgs[0].actions) == 3


def test_a_protected_member_cannot_expire(tmp_path: Path) -> None:
    from reconciler.errors import ManifestError
    from reconciler.manifest import load_fleet

    (tmp_path / "org-demo.yaml").write_text(
        manifest("authoritative").replace("  users:", "  protected: [bob]\n  users:")
    )
    with pytest.raises(
        ManifestError, match=r"members\.protected\[0\]: user-bob's membership expires"
    ):
        load_fleet([tmp_path])


def test_only_expiries_plans_only_expiries_and_apply_proves_it(
    emulator: Emulator, tmp_path: Path
) -> None:
    # bob's membership has expired; carol is to be demoted nowhere but invited dave is new,
    # and eve's access changes: --only-expiries keeps bob's removal alone.
    text = manifest("authoritative").replace("carol: MEMBER", "carol: MEMBER, dave: MEMBER")
    text = text.replace("projectAccess: VIEW", "projectAccess: UPLOAD")
    fleet = write_manifest(tmp_path, text)
    full = plan(emulator, fleet, ENDS)
    assert len(full.orgs[0].actions) == 3
    only = plan(emulator, fleet, ENDS, only_expiries=True)
    (org,) = only.orgs
    assert [a.target for a in org.actions] == ["user-bob"]
    assert len(org.left_out) == 2 and only.differs
    assert "2 change(s) left out (--only-expiries)" in render_text(only)

    # The plan file records the option; apply must be given it too, and plans again with it.
    saved = tmp_path / "plan.json"
    saved.write_text(dumps_plan(only))
    reviewed = load_plan(saved)
    assert reviewed.only_expiries
    emulator.control.clear_requests()
    with pytest.raises(DivergedPlanError, match="--only-expiries"):
        apply_reviewed(
            reviewed, fleet, connection_to(emulator), journal=Journal(None), env={}, now=at(ENDS)
        )
    assert not [r for r in emulator.control.requests() if is_write(r["route"])]
    report = apply_reviewed(
        reviewed,
        fleet,
        connection_to(emulator),
        journal=Journal(None),
        env={},
        now=at(ENDS),
        only_expiries=True,
    )
    assert report.exit_code == 2  # the other changes are still differences
    assert "2 change(s) were left out (--only-expiries)" in report.summary()
    assert members(emulator) == {"user-alice", "user-root", "user-carol", "user-eve"}


def test_only_expiries_keeps_the_rails_on_what_it_keeps(emulator: Emulator, tmp_path: Path) -> None:
    """A promotion left out cannot make room for an expiring admin's removal."""
    text = manifest("authoritative", cara="root", level="ADMIN").replace(
        "carol: MEMBER", "carol: ADMIN"
    )
    fleet = write_manifest(tmp_path, text)
    assert plan(emulator, fleet, ENDS).applyable  # carol's promotion runs first
    only = plan(emulator, fleet, ENDS, only_expiries=True)
    assert [v.rule for v in only.orgs[0].blocking_violations] == ["min-admins"]
