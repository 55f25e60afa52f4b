"""Every state a project or app self-grant can be in, and what the plan does with it.

These are the states an apply stopped between a grant's or a revocation's two calls can
leave (and the ones people make by hand): each is completed by an action, reported as
drift, or left alone as harmless. Never is access lowered that dxorg did not add, and
never is expired access held without a revocation or drift.
"""

from __future__ import annotations

from datetime import date
from itertools import product

import pytest

from reconciler.model import (
    DEFAULT_BUDGETS,
    PROJECT_ACCESS_LEVELS,
    AppGrant,
    AppSelector,
    Budget,
    LiveApp,
    LiveProject,
    ProjectGrant,
    ProjectSelector,
    SafetySettings,
    SelfGrants,
)
from reconciler.planner import plan_org
from tests.core.builders import desired_org, live_org, member, options

ADMINS = {"user-alice": member("ADMIN"), "user-root": member("ADMIN")}
PROJECT = "project-" + "p" * 24
APP = "app-" + "a" * 24
RECORD = "dxorg.selfGrant.user-alice"
WRITABLE = ("CONTRIBUTE", "ADMINISTER")  # the levels that may set a project's properties


def project_plan(active: bool, level: str, record: str | None):
    expires = date(2099, 1, 1) if active else date(2020, 1, 1)
    grants = SelfGrants(None, (ProjectGrant(ProjectSelector("id", PROJECT), expires),), ())
    live = live_org(dict(ADMINS), projects=(LiveProject(PROJECT, "data", level, record),))
    return plan_org(desired_org(None, self_grants=grants), live, options())


@pytest.mark.parametrize(
    ("active", "level", "record"),
    list(product((True, False), PROJECT_ACCESS_LEVELS, (None, *PROJECT_ACCESS_LEVELS))),
)
def test_every_project_grant_state(active: bool, level: str, record: str | None) -> None:
    plan = project_plan(active, level, record)
    kinds = [a.kind for a in plan.actions]
    calls = [(s.call.route.rsplit("/", 1)[1], s.call.body) for s in plan.steps]
    drift = list(plan.unresolved)
    left = [w for w in plan.warnings if w.code == "grant-record-left"]
    holds = level == "ADMINISTER"
    if not holds:  # dxorg only ever grants ADMINISTER: nothing else is its to lower
        assert "decreasePermissions" not in [c[0] for c in calls]
    if active and holds:
        assert (kinds, drift) == ([], [])
    elif active and (record in (None, level) or level in WRITABLE):
        invite = ("invite", {"invitee": "user-alice", "level": "ADMINISTER",
                             "suppressEmailNotification": True})  # fmt: skip
        recorded = ("setProperties", {"properties": {RECORD: level}})
        # The record first where alice may already write it; else right after the grant.
        assert calls == ([recorded, invite] if level in WRITABLE else [invite, recorded])
    elif active:  # a record naming another level, which alice cannot correct first
        assert kinds == [] and len(drift) == 1 and drift[0].startswith("grant-blocked")
    elif holds and record is not None:
        lowered = ("decreasePermissions", {"user-alice": None if record == "NONE" else record})
        cleared = ("setProperties", {"properties": {RECORD: None}})
        # The access first; the record after, where alice still may clear it.
        assert calls == ([lowered, cleared] if record in WRITABLE else [lowered])
    elif holds:  # expired, no record: never revoked, never silent
        assert kinds == [] and len(drift) == 1 and drift[0].startswith("grant-not-revoked")
        assert plan.differs
    elif record is not None and level in WRITABLE:  # a revocation stopped before its clear
        assert calls == [("setProperties", {"properties": {RECORD: None}})]
        assert drift == []
    elif record is not None:  # a record alice may no longer clear: harmless, warned
        assert (kinds, drift, len(left)) == ([], [], 1)
    else:
        assert (kinds, drift) == ([], [])


@pytest.mark.parametrize(("active", "developer", "tagged"), list(product((True, False), repeat=3)))
def test_every_app_grant_state(active: bool, developer: bool, tagged: bool) -> None:
    expires = date(2099, 1, 1) if active else date(2020, 1, 1)
    grants = SelfGrants(None, (), (AppGrant(AppSelector("id", APP), expires),))
    developers = ("user-root", "user-alice") if developer else ("user-root",)
    app = LiveApp(APP, "tool", "1.0.0", developers, grant_recorded=tagged)
    plan = plan_org(
        desired_org(None, self_grants=grants), live_org(dict(ADMINS), apps=(app,)), options()
    )
    calls = [s.call.route.rsplit("/", 1)[1] for s in plan.steps]
    drift = list(plan.unresolved)
    if active:
        assert calls == ([] if developer else ["addDevelopers", "addTags"]) and drift == []
    elif developer and tagged:
        assert calls == ["removeDevelopers"]  # one call: nothing to stop between
    elif developer:
        assert calls == [] and len(drift) == 1 and drift[0].startswith("grant-not-revoked")
    else:
        assert calls == [] and drift == []
        assert [w.code for w in plan.warnings if "grant" in w.code] == (
            ["grant-record-left"] if tagged else []
        )


# A record on a project (or app) that no declared grant selects any more: the project was
# renamed away from a grant by name, the grant was removed, or selfGrants was dropped.
# dxorg's record proves it added the access, so it is given back like an expired grant's.
UNSELECTED = {
    "renamed": SelfGrants(None, (ProjectGrant(ProjectSelector("name", "data"), None),), ()),
    "grant removed": SelfGrants(None, (), ()),
    "no selfGrants": None,
}


@pytest.mark.parametrize(
    ("how", "level", "record"),
    list(product(UNSELECTED, PROJECT_ACCESS_LEVELS, PROJECT_ACCESS_LEVELS)),
)
def test_a_record_no_grant_selects_is_over_like_an_expired_grant(
    how: str, level: str, record: str
) -> None:
    live = live_org(dict(ADMINS), projects=(LiveProject(PROJECT, "data_v2", level, record),))
    plan = plan_org(desired_org(None, self_grants=UNSELECTED[how]), live, options())
    expired = project_plan(False, level, record)
    assert [s.call for s in plan.steps] == [s.call for s in expired.steps]
    assert [a.kind for a in plan.actions] == [a.kind for a in expired.actions]
    assert plan.unresolved == expired.unresolved == ()
    left = [w for w in plan.warnings if w.code == "grant-record-left"]
    assert len(left) == len([w for w in expired.warnings if w.code == "grant-record-left"])
    if level == "ADMINISTER":
        assert [a.kind for a in plan.actions] == ["revoke-project"]
        assert "no self-grant in " in plan.actions[0].reason
        assert "selects it any more" in plan.actions[0].reason
        assert not plan.blocking_violations


def test_a_project_no_grant_selects_without_a_record_is_left_alone() -> None:
    live = live_org(dict(ADMINS), projects=(LiveProject(PROJECT, "data_v2", "ADMINISTER"),))
    plan = plan_org(desired_org(None, self_grants=UNSELECTED["renamed"]), live, options())
    assert (plan.actions, plan.unresolved) == ((), ())


def test_revoking_an_unselected_record_is_held_to_the_project_grants_budget() -> None:
    live = live_org(dict(ADMINS), projects=(LiveProject(PROJECT, "data_v2", "ADMINISTER", "NONE"),))
    safety = SafetySettings(budgets={**DEFAULT_BUDGETS, "projectGrants": Budget(count=0)})
    plan = plan_org(desired_org(None, self_grants=None, safety=safety), live, options())
    assert [a.kind for a in plan.actions] == ["revoke-project"]
    assert [v.rule for v in plan.blocking_violations] == ["budget.projectGrants"]


@pytest.mark.parametrize(("developer", "how"), list(product((True, False), UNSELECTED)))
def test_an_app_record_no_grant_selects_is_over_like_an_expired_grant(
    developer: bool, how: str
) -> None:
    developers = ("user-root", "user-alice") if developer else ("user-root",)
    app = LiveApp(APP, "tool", "1.0.0", developers, grant_recorded=True)
    plan = plan_org(
        desired_org(None, self_grants=UNSELECTED[how]),
        live_org(dict(ADMINS), apps=(app,)),
        options(),
    )
    calls = [s.call.route.rsplit("/", 1)[1] for s in plan.steps]
    assert plan.unresolved == ()
    if developer:
        assert calls == ["removeDevelopers"]
        assert [a.removals for a in plan.actions] == [("appGrants",)]
    else:
        assert calls == []
        assert [w.code for w in plan.warnings if w.code == "grant-record-left"] == [
            "grant-record-left"
        ]
