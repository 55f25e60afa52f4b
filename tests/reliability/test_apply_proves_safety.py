"""Apply proves every rail itself, against the live org at write time (issue 11).

A saved plan is untrusted input; the live org may change between plan and apply, while
the confirmation prompt is open, and during the apply; two applies may race. Each case
checks, through the emulator's request log, that nothing was written where it must not
be, and, through its admin-count history, that the org kept its admins.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.journal import Journal
from reconciler.apply.outcomes import ApplyOutcome
from reconciler.apply.run import apply_reviewed
from reconciler.emulator import Emulator
from reconciler.errors import DivergedPlanError, StalePlanError, UnsafePlanError
from reconciler.manifest import Fleet, load_fleet
from reconciler.plan import Plan, Step
from reconciler.plan_file import dumps_plan, load_plan
from reconciler.platform import ReadClient, WriteClient
from reconciler.read_and_plan import plan_fleet
from tests.emulator_harness import is_write
from tests.integration.conftest import (
    CONTROL_TOKEN,
    FAST_RETRY,
    base_seed,
    config_for,
    connection_to,
)
from tests.reliability.conftest import CliRunner, Served

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def seed_with_admins(*admins: str) -> dict[str, Any]:
    """The base seed, with these users (created if need be) ADMINs of org-demo."""
    seed = base_seed()
    known = {u["id"] for u in seed["users"]}
    for user in admins:
        if user not in known:
            name = user.removeprefix("user-")
            seed["users"].append(
                {
                    "id": user,
                    "first": name,
                    "last": "T",
                    "email": f"{name}@x.test",
                    "token": f"{name}-token",
                }
            )
        seed["orgs"][0]["members"][user] = {"level": "ADMIN"}
    return seed


class Org:
    """One emulated platform, the fleet of one manifest, and what happened to them."""

    def __init__(self, tmp_path: Path, seed: dict[str, Any], manifest: str) -> None:
        self.dir = tmp_path / "orgs"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.emulator = Emulator(
            state_path=tmp_path / "state.db", seed=seed, control_token=CONTROL_TOKEN
        )
        self.write_manifest(manifest)

    def write_manifest(self, text: str) -> None:
        (self.dir / "org-demo.yaml").write_text(text)

    @property
    def fleet(self) -> Fleet:
        return load_fleet([self.dir])

    def plan(self, **options: Any) -> Plan:
        with ReadClient(config_for(), transport=self.emulator.transport(), retry=FAST_RETRY) as c:
            return plan_fleet(self.fleet, c, now=NOW, **options)

    def apply(self, plan: Plan, fleet: Fleet | None = None, **options: Any) -> ApplyOutcome:
        return apply_reviewed(
            plan,
            fleet or self.fleet,
            connection_to(self.emulator),
            journal=Journal(None),
            env={},
            **{"now": NOW, **options},
        )

    def as_user(self, token: str) -> WriteClient:
        return WriteClient(config_for(token), transport=self.emulator.transport())

    def writes(self) -> list[dict[str, Any]]:
        return [r for r in self.emulator.control.requests() if is_write(r["route"])]

    def admins(self) -> set[str]:
        members = next(o for o in self.emulator.control.state()["orgs"] if o["id"] == "org-demo")
        return {u for u, m in members["members"].items() if m["level"] == "ADMIN"}

    def lowest_admin_count(self) -> int:
        return min(h["admins"] for h in self.emulator.control.admin_history("org-demo"))

    def reset_log(self) -> None:
        self.emulator.control.clear_requests()
        self.emulator.control.clear_admin_history()


@pytest.fixture
def make_org(tmp_path: Path) -> Iterator[Callable[..., Org]]:
    made: list[Org] = []

    def make(manifest: str, seed: dict[str, Any] | None = None) -> Org:
        org = Org(tmp_path / str(len(made)), seed or base_seed(), manifest)
        made.append(org)
        return org

    yield make
    for org in made:
        org.emulator.close()


THREE_ADMINS = seed_with_admins("user-alice", "user-root", "user-bob")
# alice, root and bob are ADMINs live; the manifest raises eve's access, then demotes root.
DEMOTE_ROOT = """\
org: org-demo
members:
  mode: authoritative
  requiredAdmins: [alice]
  users: {alice: ADMIN, root: MEMBER, bob: ADMIN, carol: MEMBER, eve: {level: MEMBER, projectAccess: UPLOAD}}
safety: {minAdmins: 2}
"""


# ---------------------------------------------------------------- 1. an edited plan file


def edited(plan_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    data = json.loads(plan_path.read_text())
    edit(data)
    out = plan_path.with_name("edited.json")
    out.write_text(json.dumps(data))
    return out


def org_json(data: dict[str, Any]) -> dict[str, Any]:
    return data["orgs"][0]


def test_a_plan_file_that_claims_to_be_applyable_is_planned_again_and_refused(
    make_org: Callable[..., Org], tmp_path: Path
) -> None:
    org = make_org(
        "org: org-demo\nmembers: {mode: authoritative, users: {alice: ADMIN, root: MEMBER, bob: MEMBER, carol: MEMBER, eve: MEMBER}}\n",
    )
    plan = org.plan()
    assert [v.rule for v in plan.orgs[0].violations] == ["min-admins"]
    saved = tmp_path / "plan.json"
    saved.write_text(dumps_plan(plan))

    def claim_safe(data: dict[str, Any]) -> None:
        data["applyable"] = True
        org_json(data)["applyable"] = True
        org_json(data)["violations"] = []

    forged = load_plan(edited(saved, claim_safe))
    assert forged.applyable, "the file claims it"
    org.reset_log()
    with pytest.raises(UnsafePlanError, match="min-admins"):
        org.apply(forged)
    assert org.writes() == []
    assert org.admins() == {"user-alice", "user-root"}


EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    # The call removes someone other than the summary says (the protected admin).
    "removal-retargeted": lambda d: org_json(d)["steps"][-1]["call"]["body"].update(
        user="user-alice"
    ),
    "route-changed": lambda d: org_json(d)["steps"][-1]["call"].update(
        route="/org-other/removeMember"
    ),
    "step-added": lambda d: org_json(d)["steps"].append(
        {
            "id": "org-demo#99",
            "phase": "remove",
            "call": {"route": "/org-demo/removeMember", "body": {"user": "user-root"}},
            "actions": [org_json(d)["actions"][-1]["id"]],
            "dependsOn": [],
        }
    ),
    "step-dropped": lambda d: org_json(d)["steps"].pop(0),
    "dependency-added": lambda d: org_json(d)["steps"][0].update(dependsOn=["org-demo#2"]),
    "steps-reordered": lambda d: org_json(d)["steps"].reverse(),
    "body-flag-changed": lambda d: org_json(d)["steps"][0]["call"]["body"]["user-eve"].update(
        projectAccess="NONE"
    ),
    "action-dropped": lambda d: org_json(d)["actions"].pop(),
    "summary-changed": lambda d: org_json(d)["actions"][-1].update(summary="nothing to see"),
    "caller-changed": lambda d: org_json(d).update(caller="user-root"),
    "manifest-digest-changed": lambda d: org_json(d)["manifests"].update(
        {k: "0" * 64 for k in org_json(d)["manifests"]}
    ),
    "manifest-digest-removed": lambda d: org_json(d).update(manifests={}),
    "skip-removals-claimed": lambda d: d.update(skipRemovals=True),
    "override-claimed": lambda d: d.update(overrides=["min-admins"]),
    "live-values-edited": lambda d: org_json(d)["liveValues"].update(
        {k: None for k in org_json(d)["liveValues"]}
    ),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_plan_file_is_refused_with_nothing_written(
    make_org: Callable[..., Org], tmp_path: Path, edit: str
) -> None:
    org = make_org(
        "org: org-demo\nmembers:\n  mode: authoritative\n  protected: [alice]\n"
        "  users: {alice: ADMIN, root: ADMIN, bob: MEMBER, eve: {level: MEMBER, projectAccess: UPLOAD}}\n"
    )
    plan = org.plan()
    assert plan.applyable and [a.kind for a in plan.orgs[0].actions] == [
        "update-access",
        "remove-member",
    ]
    saved = tmp_path / "plan.json"
    saved.write_text(dumps_plan(plan))
    tampered = load_plan(edited(saved, EDITS[edit]))
    org.reset_log()
    with pytest.raises((UnsafePlanError, StalePlanError, DivergedPlanError)):
        org.apply(tampered)
    assert org.writes() == []
    assert org.admins() == {"user-alice", "user-root"}
    # The untouched plan still applies: the refusals were the edits'.
    assert org.apply(load_plan(saved)).exit_code == 0


def test_a_removal_retargeted_at_the_protected_admin_names_the_step(
    make_org: Callable[..., Org], tmp_path: Path, cli: CliRunner
) -> None:
    org = make_org(
        "org: org-demo\nmembers:\n  mode: authoritative\n  protected: [alice]\n"
        "  users: {alice: ADMIN, root: ADMIN, bob: MEMBER, carol: MEMBER}\n"
    )
    saved = tmp_path / "plan.json"
    saved.write_text(dumps_plan(org.plan()))
    tampered = load_plan(edited(saved, EDITS["removal-retargeted"]))
    with pytest.raises(DivergedPlanError, match=r"step org-demo#1 \(/org-demo/removeMember\)"):
        org.apply(tampered)
    assert org.writes() == []


# ---------------------------------------------------------------- 2. rails at write time


def test_an_admin_demoted_by_hand_after_the_plan_refuses_the_saved_plan(
    make_org: Callable[..., Org],
) -> None:
    org = make_org(DEMOTE_ROOT, THREE_ADMINS)
    plan = org.plan()
    assert plan.applyable, plan.orgs[0].violations
    with org.as_user("root-token") as root:  # `dx update member org-demo bob --level MEMBER`
        root.call("/org-demo/setMemberAccess", {"user-bob": {"level": "MEMBER"}})
    org.reset_log()
    with pytest.raises(StalePlanError, match="member:user-bob level ADMIN -> MEMBER, "):
        org.apply(plan)
    assert org.writes() == []
    assert len(org.admins()) == 2


def test_admins_taken_away_during_the_apply_stop_it_before_the_first_demotion(
    make_org: Callable[..., Org],
) -> None:
    org = make_org(DEMOTE_ROOT, THREE_ADMINS)
    plan = org.plan()
    steps = plan.orgs[0].steps
    first = steps[0]
    assert first.phase == "access" and any(s.phase == "demote" for s in steps)
    org.reset_log()
    root = org.as_user("root-token")

    def meanwhile(org_id: str, step: Step, status: str, detail: str | None) -> None:
        if step.id == first.id:  # after the first write, someone demotes bob
            root.call("/org-demo/setMemberAccess", {"user-bob": {"level": "MEMBER"}})

    report = org.apply(plan, progress=meanwhile)
    assert report.exit_code == 1
    (result,) = report.orgs
    assert result.error and "stopped before the first demotion or removal" in result.error
    assert "leaves 1 admin(s)" in result.error
    sent = [w["route"] for w in org.writes() if w["body"] != {"user-bob": {"level": "MEMBER"}}]
    assert sent == [first.call.route], "nothing after the guard was sent"
    assert {o.status for o in result.outcomes if o.action_id.endswith("/demote")} == {"skipped"}
    assert len(org.admins()) == 2 and org.lowest_admin_count() >= 2
    assert "converged" not in report.summary()


def test_two_applies_racing_to_demote_different_admins_leave_the_floor(
    make_org: Callable[..., Org], tmp_path: Path
) -> None:
    """minAdmins 3 with four admins: each plan demotes one. Whichever runs second is
    stopped, however the two interleave: here the second one's guard runs after the
    first has demoted, in the middle of the second's own apply."""
    seed = seed_with_admins("user-alice", "user-root", "user-bob", "user-carol")
    first = make_org(
        "org: org-demo\nmembers: {mode: additive, users: {alice: ADMIN, root: ADMIN, "
        "bob: MEMBER, carol: ADMIN}}\nsafety: {minAdmins: 3}\n",
        seed,
    )
    other = tmp_path / "other"
    other.mkdir()
    # The second also raises eve's access, so that its apply is under way (one write
    # made) when the first runs.
    (other / "org-demo.yaml").write_text(
        "org: org-demo\nmembers: {mode: additive, users: {alice: ADMIN, root: ADMIN, "
        "bob: ADMIN, carol: MEMBER, eve: {level: MEMBER, projectAccess: UPLOAD}}}\n"
        "safety: {minAdmins: 3}\n"
    )
    first_plan = first.plan()
    with ReadClient(config_for(), transport=first.emulator.transport(), retry=FAST_RETRY) as c:
        second_fleet = load_fleet([other])
        second_plan = plan_fleet(second_fleet, c, now=NOW)
    assert first_plan.applyable and second_plan.applyable
    first.reset_log()
    ran_first: list[ApplyOutcome] = []

    def meanwhile(org_id: str, step: Step, status: str, detail: str | None) -> None:
        if not ran_first:  # the first apply runs whole while the second is under way
            ran_first.append(first.apply(first_plan))

    second = first.apply(second_plan, second_fleet, progress=meanwhile)
    assert ran_first[0].exit_code == 0
    assert second.exit_code == 1 and "stopped before the first demotion" in (
        second.orgs[0].error or ""
    )
    assert len(first.admins()) == 3 and first.lowest_admin_count() >= 3


def test_two_applies_one_after_the_other_refuse_the_second(make_org: Callable[..., Org]) -> None:
    seed = seed_with_admins("user-alice", "user-root", "user-bob", "user-carol")
    org = make_org(
        "org: org-demo\nmembers: {mode: additive, users: {bob: MEMBER}}\nsafety: {minAdmins: 3}\n",
        seed,
    )
    plan_bob = org.plan()
    org.write_manifest(
        "org: org-demo\nmembers: {mode: additive, users: {carol: MEMBER}}\nsafety: {minAdmins: 3}\n"
    )
    fleet_carol = org.fleet
    plan_carol = org.plan()
    org.write_manifest(
        "org: org-demo\nmembers: {mode: additive, users: {bob: MEMBER}}\nsafety: {minAdmins: 3}\n"
    )
    assert org.apply(plan_bob).exit_code == 0
    with pytest.raises(UnsafePlanError, match="min-admins"):
        org.apply(plan_carol, fleet_carol)
    assert len(org.admins()) == 3 and org.lowest_admin_count() >= 3


# ---------------------------------------------------------------- 3. --skip-removals


REMOVES_TWO = (
    "org: org-demo\nmembers: {mode: authoritative, users: {alice: ADMIN, root: ADMIN, "
    "bob: {level: MEMBER, projectAccess: ADMINISTER}}}\n"
)


def test_skip_removals_must_match_the_plan_and_left_out_removals_are_drift(
    make_org: Callable[..., Org],
) -> None:
    org = make_org(REMOVES_TWO)
    whole = org.plan()
    assert [str(a.kind) for a in whole.orgs[0].actions].count("remove-member") == 2
    with pytest.raises(DivergedPlanError, match="--skip-removals"):
        org.apply(whole, skip_removals=True)
    skipping = org.plan(skip_removals=True)
    assert skipping.left_out == 2 and skipping.differs
    assert [a.kind for a in skipping.orgs[0].actions] == ["update-access"]
    with pytest.raises(DivergedPlanError, match="--skip-removals"):
        org.apply(skipping)
    assert org.writes() == []
    report = org.apply(skipping, skip_removals=True)
    assert report.exit_code == 2
    assert "2 removal(s) were left out" in report.summary()
    assert "converged" not in report.summary()
    assert [w["route"] for w in org.writes()] == ["/org-demo/setMemberAccess"]


def test_plan_with_skip_removals_exits_2_and_apply_says_what_was_left_out(
    cli: CliRunner, served: Served, tmp_path: Path
) -> None:
    manifest = tmp_path / "org-demo.yaml"
    manifest.write_text(REMOVES_TWO)
    env = served.env()
    planned = cli("plan", str(manifest), "--skip-removals", "--detailed-exitcode", env=env)
    assert planned.code == 2, planned.text
    assert "2 removal(s) left out (--skip-removals)" in planned.out
    saved = tmp_path / "plan.json"
    cli("plan", str(manifest), "--skip-removals", "--out", str(saved), env=env)
    refused = cli("apply", "--plan", str(saved), "--auto-approve", env=env)
    assert refused.code == 1 and "--skip-removals" in refused.err
    assert served.writes() == []
    applied = cli(
        "apply", "--plan", str(saved), "--skip-removals", "--auto-approve",
        "--journal", str(tmp_path / "j.jsonl"), env=env,
    )  # fmt: skip
    assert applied.code == 2, applied.text
    assert "2 removal(s) were left out" in applied.out and "converged" not in applied.out


ENDED_AND_A_CHANGE = """\
org: org-demo
members:
  mode: authoritative
  users:
    alice: ADMIN
    root: ADMIN
    bob: {level: MEMBER, expires: 2020-01-01, reason: "contract, ticket 77"}
    carol: MEMBER
    eve: {level: MEMBER, projectAccess: UPLOAD}
"""


def test_only_expiries_through_the_cli_must_match_the_plan_and_leaves_the_rest_as_drift(
    cli: CliRunner, served: Served, tmp_path: Path
) -> None:
    manifest = tmp_path / "org-demo.yaml"
    manifest.write_text(ENDED_AND_A_CHANGE)
    env = served.env()
    saved = tmp_path / "plan.json"
    planned = cli(
        "plan", str(manifest), "--only-expiries", "--detailed-exitcode", "--out", str(saved),
        env=env,
    )  # fmt: skip
    assert planned.code == 2, planned.text
    assert "- remove user-bob" in planned.out
    assert "expired on 2020-01-01: contract, ticket 77" in planned.out
    assert "(left out: --only-expiries) - update user-eve" in planned.out
    assert "1 change(s) left out (--only-expiries)" in planned.out
    refused = cli("apply", "--plan", str(saved), "--auto-approve", env=env)
    assert refused.code == 1 and "--only-expiries" in refused.err
    assert served.writes() == []
    applied = cli(
        "apply", "--plan", str(saved), "--only-expiries", "--auto-approve",
        "--journal", str(tmp_path / "j.jsonl"), env=env,
    )  # fmt: skip
    assert applied.code == 2, applied.text
    assert "1 change(s) were left out (--only-expiries)" in applied.out
    assert [w["route"] for w in served.writes()] == ["/org-demo/removeMember"]


# ---------------------------------------------------------------- 4. budget denominators


def big_collections_seed(members: int = 20, projects: int = 100, apps: int = 100) -> dict[str, Any]:
    seed = base_seed()
    org = seed["orgs"][0]
    org["members"] = {"user-alice": {"level": "ADMIN"}, "user-root": {"level": "ADMIN"}}
    for i in range(members - 2):
        user = f"user-m{i:02d}"
        seed["users"].append({"id": user, "first": "M", "last": str(i), "email": f"m{i}@x.test"})
        org["members"][user] = {"level": "MEMBER", "projectAccess": "CONTRIBUTE"}
    seed["projects"] = [
        {
            "id": f"project-{i:024d}",
            "name": f"p{i}",
            "billTo": "org-demo",
            "createdBy": "user-root",
            "created": 1700000000000,
            "dataUsage": 0.0,
            "permissions": {"user-root": "ADMINISTER"},
        }
        for i in range(projects)
    ]
    seed["apps"] = [
        {"id": f"app-{i:024d}", "name": f"a{i}", "version": "1.0.0", "title": f"A{i}",
         "billTo": "org-demo", "developers": ["user-root"]}
        for i in range(apps)
    ]  # fmt: skip
    return seed


@pytest.mark.parametrize(
    "grant_line", ["", "selfGrants: {projects: [{glob: 'p1'}], apps: [{glob: 'a1'}]}\n"]
)
def test_each_budget_is_measured_against_its_own_collection(
    make_org: Callable[..., Org], grant_line: str
) -> None:
    users = "".join(
        f"    m{i:02d}: {{level: MEMBER, projectAccess: {'VIEW' if i < 15 else 'CONTRIBUTE'}}}\n"
        for i in range(18)
    )
    org = make_org(
        "org: org-demo\nmembers:\n  mode: authoritative\n  users:\n    alice: ADMIN\n    root: ADMIN\n"
        + users
        + grant_line,
        big_collections_seed(),
    )
    plan = org.plan()
    (violation,) = [v for v in plan.orgs[0].violations if v.rule == "budget.projectAccess"]
    assert "the plan removes 15 from projectAccess" in violation.message
    assert "75% of 20" in violation.message
    assert not plan.applyable


# ---------------------------------------------------------------- 6, 7, 8: grantee, accounts, protected


@pytest.mark.parametrize(
    ("admin", "level"), [("bob", "MEMBER"), ("frank", None), ("root", "ADMIN")]
)
def test_a_grantee_other_than_the_token_user_is_refused_at_plan_time(
    make_org: Callable[..., Org], admin: str, level: str | None
) -> None:
    users = "{alice: ADMIN, root: ADMIN, bob: MEMBER, carol: MEMBER, eve: {level: MEMBER, projectAccess: VIEW}}"
    # Without a members section the manifest cannot say who the admins are: plan must.
    members = f"members: {{mode: additive, users: {users}}}\n" if level == "ADMIN" else ""
    org = make_org(
        f"org: org-demo\n{members}selfGrants: {{admin: {admin}, projects: [{{all: true}}], apps: [{{all: true}}]}}\n"
    )
    plan = org.plan()
    assert "grantee" in [v.rule for v in plan.orgs[0].violations]
    assert not any("grant" in a.kind for a in plan.orgs[0].actions)
    with pytest.raises(UnsafePlanError, match="grantee"):
        org.apply(plan)
    assert org.writes() == []


def test_provisioning_a_username_someone_else_holds_is_refused(
    make_org: Callable[..., Org],
) -> None:
    org = make_org(
        "org: org-demo\nprovisioning:\n"
        "  - {username: dave, email: someone-else@example.com, first: D, last: Ave}\n"
    )
    plan = org.plan()
    assert plan.orgs[0].actions == ()
    (violation,) = plan.orgs[0].violations
    assert violation.rule == "provisioning" and "user-dave" in violation.message
    assert not plan.applyable
    with pytest.raises(UnsafePlanError, match="provisioning"):
        org.apply(plan)
    assert org.writes() == []


@pytest.mark.parametrize("entry", ["root: ADMIN", "root: {level: MEMBER, projectAccess: VIEW}"])
def test_a_protected_member_is_never_changed_in_either_direction(
    make_org: Callable[..., Org], entry: str
) -> None:
    seed = base_seed()
    seed["orgs"][0]["members"]["user-root"] = {"level": "MEMBER"}
    seed["orgs"][0]["members"]["user-carol"] = {"level": "ADMIN"}
    org = make_org(
        "org: org-demo\nmembers:\n  mode: additive\n  protected: [root]\n"
        f"  users: {{alice: ADMIN, carol: ADMIN, {entry}}}\n",
        seed,
    )
    plan = org.plan()
    assert [v.rule for v in plan.orgs[0].violations] == ["protected"]
    with pytest.raises(UnsafePlanError, match="protected"):
        org.apply(plan)
    assert org.writes() == []


# ---------------------------------------------------------------- 11. no false convergence


def test_a_run_with_a_failed_call_never_says_converged(make_org: Callable[..., Org]) -> None:
    org = make_org(
        "org: org-demo\nmembers: {mode: additive, users: {dave: MEMBER, bob: {level: MEMBER, projectAccess: VIEW}}}\n"
    )
    plan = org.plan()
    org.emulator.control.add_rule("/org-demo/invite", "500", count=100, retry_after=0)
    report = org.apply(plan)
    assert report.exit_code == 1
    # A 500 says nothing of whether the invite was made: unknown, then settled by reading.
    summary = report.summary()
    assert "1 unknown" in summary and "1 not landed" in summary
    assert "converged" not in summary


# ---------------------------------------------------------------- 5. expired self-grants


def test_an_expired_grant_gives_back_exactly_what_it_added(make_org: Callable[..., Org]) -> None:
    """alice's own project and app (she is their only admin/developer) are never taken
    from her by an expiring grant; a project dxorg granted on top of VIEW goes back to VIEW.
    The record is on the platform: nothing local (no journal) is needed to give it back."""
    seed = base_seed()
    seed["projects"] += [
        {"id": "project-" + "D" * 24, "name": "alice-own", "billTo": "org-demo",
         "createdBy": "user-alice", "created": 1700000000000, "dataUsage": 0.1,
         "permissions": {"user-alice": "ADMINISTER"}},
    ]  # fmt: skip
    seed["apps"] += [
        {"id": "app-" + "E" * 24, "name": "alice_app", "version": "1.0.0", "title": "Mine",
         "billTo": "org-demo", "developers": ["user-alice"]},
    ]  # fmt: skip
    org = make_org(
        "org: org-demo\nselfGrants:\n  projects: [{all: true, expires: 2026-12-31}]\n"
        "  apps: [{all: true, expires: 2026-12-31}]\n",
        seed,
    )
    granted = org.apply(org.plan())
    assert granted.exit_code == 0, granted
    later = datetime(2027, 2, 1, tzinfo=UTC)
    with ReadClient(config_for(), transport=org.emulator.transport(), retry=FAST_RETRY) as c:
        expired = plan_fleet(org.fleet, c, now=later)
    revoked = {a.target for a in expired.orgs[0].actions}
    assert "project-" + "D" * 24 not in revoked and "app-" + "E" * 24 not in revoked
    # Never revoked, never silent: drift for a person, and the apply ends at exit 2.
    unresolved = expired.orgs[0].unresolved
    assert len(unresolved) == 2 and all(m.startswith("grant-not-revoked") for m in unresolved)
    assert any("project-" + "D" * 24 in m for m in unresolved)
    assert any("app-" + "E" * 24 in m for m in unresolved)
    report = org.apply(expired, now=later)
    assert report.exit_code == 2, report
    state = org.emulator.control.state()
    permissions = {p["id"]: p["permissions"] for p in state["projects"]}
    developers = {a["id"]: a["developers"] for a in state["apps"]}
    assert permissions["project-" + "D" * 24] == {"user-alice": "ADMINISTER"}
    assert developers["app-" + "E" * 24] == ["user-alice"]
    # P2 had alice at VIEW before the grant: back to VIEW. P1 had nothing: revoked.
    assert permissions["project-" + "B" * 24]["user-alice"] == "VIEW"
    assert "user-alice" not in permissions["project-" + "A" * 24]
    assert "user-alice" not in developers["app-" + "C" * 24]
    # The records stay where alice may no longer clear them, naming the level given back.
    record = "dxorg.selfGrant.user-alice"
    properties = {p["id"]: p.get("properties") for p in state["projects"]}
    assert properties["project-" + "B" * 24] == {record: "VIEW"}
    assert properties["project-" + "A" * 24] == {record: "NONE"}


# ---------------------------------------------------------------- provisioning's auth server


def test_provisioning_without_an_auth_server_is_refused_at_plan_time(
    cli: CliRunner, served: Served, tmp_path: Path
) -> None:
    """The README's own DX_* variables without DX_AUTHSERVER_*: plan says provisioning
    cannot be sent (exit 1), and apply refuses with nothing sent, instead of failing
    half-way at /user/new."""
    manifest = tmp_path / "org-demo.yaml"
    manifest.write_text(
        "org: org-demo\nmembers: {mode: additive, users: {dave: MEMBER}}\nprovisioning:\n"
        "  - {username: newbie, email: newbie@example.com, first: New, last: Bie}\n"
    )
    env = {k: v for k, v in served.env().items() if not k.startswith("DX_AUTHSERVER")}
    planned = cli("plan", str(manifest), env=env)
    assert planned.code == 1, planned.text
    assert "provisioning" in planned.out and "DX_AUTHSERVER_HOST" in planned.out
    applied = cli(
        "apply", str(manifest), "--auto-approve", "--journal", str(tmp_path / "j"), env=env
    )
    assert applied.code == 1 and "provisioning" in applied.err
    assert served.writes() == []
    # With the auth server configured, as dx finds it, the same plan is applyable.
    assert cli("plan", str(manifest), env=served.env()).code == 0
