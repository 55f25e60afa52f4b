"""Every member permission flag: the one table, and what diff, steps, rails and warnings do
with each kind of flag (settable or read-only, forced by ADMIN or independent of the level)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from reconciler.access_rules import access_json
from reconciler.model import (
    BUDGET_COLLECTIONS,
    DEFAULT_BUDGETS,
    FLAGS,
    Access,
    Budget,
    DesiredOrg,
    NewAccount,
    SafetySettings,
)
from reconciler.planner import plan_org
from reconciler.rails import OVERRIDABLE_RULES
from tests.core.builders import desired_org, live_org, member, options, want

REPO = Path(__file__).resolve().parents[2]
# The platform's nine flags in its order (findMembers), with the MEMBER defaults and the
# values ADMIN forces (None: independent of the level), as dx-toolkit's tests show them.
PLATFORM = [
    ("allowBillableActivities", False, True),
    ("appAccess", True, True),
    ("projectAccess", "CONTRIBUTE", "ADMINISTER"),
    ("archivalManagement", False, True),
    ("dataDeletion", False, True),
    ("dataSearch", False, True),
    ("projectMemberDemotion", False, True),
    ("treManagement", False, None),
    ("cloudIntegrationManagement", False, None),
]
SETTABLE = {"allowBillableActivities", "appAccess", "projectAccess", "treManagement"}
ADMINS = {"user-alice": member("ADMIN"), "user-root": member("ADMIN")}


def calls(org_plan):
    return [(s.call.route, dict(s.call.body)) for s in org_plan.steps]


def admins_and(**members):
    return {**{u: want(u, "ADMIN") for u in ADMINS}, **members}


# ---------------------------------------------------------------- the table


def test_the_table_is_the_platforms_nine_flags_in_order():
    assert [(f.name, f.member_default, f.admin_value) for f in FLAGS] == PLATFORM
    assert {f.name for f in FLAGS if f.settable} == SETTABLE
    assert {f.name: f.budget for f in FLAGS if f.budget} == {
        "allowBillableActivities": "permissions",
        "appAccess": "appAccess",
        "projectAccess": "projectAccess",
        "treManagement": "permissions",
    }
    # Every budget a flag counts against is a budget collection, with its default.
    assert {f.budget for f in FLAGS if f.budget} <= set(BUDGET_COLLECTIONS)
    assert DEFAULT_BUDGETS["permissions"] == Budget(count=20, percent=25.0)
    assert "budget.permissions" in OVERRIDABLE_RULES


def test_access_carries_every_flag_in_the_platforms_order_and_is_hashable():
    admin = Access.admin({"treManagement": True})
    assert list(access_json(admin)) == ["level", *(name for name, _, _ in PLATFORM)]
    assert access_json(admin) == {
        "level": "ADMIN",
        **{name: forced for name, _, forced in PLATFORM if forced is not None},
        "treManagement": True,
        "cloudIntegrationManagement": False,
    }
    assert access_json(Access.member()) == {
        "level": "MEMBER",
        **{name: default for name, default, _ in PLATFORM},
    }
    assert {Access.member(), Access.member(), admin} == {Access.member(), admin}
    # ADMIN forces its values: `of` gives them, and an ADMIN built with others is a bug.
    assert Access.of("ADMIN", {"dataDeletion": False})["dataDeletion"] is True
    with pytest.raises(ValueError, match="ADMIN always has allowBillableActivities"):
        Access("ADMIN", tuple(f.member_default for f in FLAGS))


def _flag_names_written_out(node: ast.AST) -> bool:
    names = {name for name, _, _ in PLATFORM}
    items: list[ast.expr | None] = []
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        items = list(node.elts)
    elif isinstance(node, ast.Dict):
        items = list(node.keys)
    found = {i.value for i in items if isinstance(i, ast.Constant) and i.value in names}
    return len(found) >= 2


def test_no_module_but_the_model_writes_out_a_list_of_flags():
    """The table is the only list: a tuple, list, set or dict naming two flags or more
    anywhere else in dxorg's code (the emulator excepted: it is the platform) is a copy."""
    offenders = []
    for path in sorted((REPO / "reconciler").rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative == "reconciler/model.py" or relative.startswith("reconciler/emulator/"):
            continue
        tree = ast.parse(path.read_text(), relative)
        offenders += [
            f"{relative}:{getattr(node, 'lineno', '?')}"
            for node in ast.walk(tree)
            if _flag_names_written_out(node)
        ]
    assert offenders == []


# ---------------------------------------------------------------- MEMBER, settable flags


def test_a_members_managed_flags_are_compared_one_by_one_and_only_changes_are_sent():
    live = live_org({**ADMINS, "user-bob": member(treManagement=True, dataSearch=True)})
    desired = desired_org(admins_and(**{"user-bob": want("user-bob", treManagement=False)}))
    plan = plan_org(desired, live, options())
    assert calls(plan) == [
        ("/org-demo/setMemberAccess", {"user-bob": {"level": "MEMBER", "treManagement": False}})
    ]
    [action] = plan.actions
    assert action.summary == "update user-bob: treManagement true -> false"
    # Unmanaged flags keep their live values, read-only ones too.
    assert action.after is not None and action.after["dataSearch"] is True
    assert action.removals == ("permissions",)


def test_a_managed_flag_at_its_live_value_plans_nothing():
    live = live_org({**ADMINS, "user-bob": member(treManagement=True)})
    desired = desired_org(admins_and(**{"user-bob": want("user-bob", treManagement=True)}))
    assert plan_org(desired, live, options()).actions == ()


def test_an_invite_sends_tre_management_when_managed_or_not_the_default():
    desired = desired_org(
        admins_and(
            **{
                "user-bob": want("user-bob"),
                "user-carol": want("user-carol", treManagement=False),
                "user-dave": want("user-dave", "ADMIN", treManagement=True),
            }
        )
    )
    bodies = {
        body["invitee"]: body for _, body in calls(plan_org(desired, live_org(ADMINS), options()))
    }
    six = ["invitee", "level", "allowBillableActivities", "appAccess", "projectAccess"]
    assert list(bodies["user-bob"]) == [*six, "suppressEmailNotification"]
    assert bodies["user-carol"]["treManagement"] is False
    assert bodies["user-dave"] == {
        "invitee": "user-dave",
        "level": "ADMIN",
        "allowBillableActivities": True,
        "appAccess": True,
        "projectAccess": "ADMINISTER",
        "treManagement": True,
        "suppressEmailNotification": False,
    }


def test_provisioning_invites_with_tre_management():
    accounts = (
        NewAccount("erin", "erin@example.com", "Erin", "Lee", flags={"treManagement": True}),
        NewAccount("fay", "fay@example.com", "Fay", "Wu", level="ADMIN"),
    )
    plan = plan_org(desired_org(None, provisioning=accounts), live_org(ADMINS), options())
    invites = {b["invitee"]: b for route, b in calls(plan) if route == "/org-demo/invite"}
    assert invites["user-erin"]["treManagement"] is True
    assert "treManagement" not in invites["user-fay"]  # unmanaged, at its default


# ---------------------------------------------------------------- level changes


def test_promotion_keeps_independent_flags_and_sends_one_only_when_it_changes():
    live = live_org(
        {
            **ADMINS,
            "user-bob": member(treManagement=True, cloudIntegrationManagement=True),
            "user-carol": member(),
        }
    )
    desired = desired_org(
        admins_and(
            **{
                "user-bob": want("user-bob", "ADMIN"),
                "user-carol": want("user-carol", "ADMIN", treManagement=True),
            }
        )
    )
    plan = plan_org(desired, live, options())
    assert calls(plan) == [
        (
            "/org-demo/setMemberAccess",
            {
                "user-bob": {"level": "ADMIN"},
                "user-carol": {"level": "ADMIN", "treManagement": True},
            },
        )
    ]
    bob, carol = plan.actions
    assert bob.after == access_json(
        Access.admin({"treManagement": True, "cloudIntegrationManagement": True})
    )
    assert carol.summary == "promote user-carol to ADMIN (treManagement false -> true)"


def test_demotion_starts_from_member_defaults_and_keeps_independent_flags():
    live = live_org(
        {
            **ADMINS,
            "user-bob": member("ADMIN", treManagement=True, cloudIntegrationManagement=True),
            "user-carol": member("ADMIN", treManagement=True),
            "user-dave": member("ADMIN"),
        }
    )
    desired = desired_org(
        admins_and(
            **{
                "user-bob": want("user-bob"),
                "user-carol": want("user-carol", treManagement=False, project="VIEW"),
                "user-dave": want("user-dave"),
            }
        )
    )
    plan = plan_org(desired, live, options())
    forced = {"level": "MEMBER", "allowBillableActivities": False, "appAccess": True}
    assert calls(plan) == [
        (
            "/org-demo/setMemberAccess",
            {
                "user-bob": {**forced, "projectAccess": "CONTRIBUTE"},
                "user-carol": {**forced, "projectAccess": "VIEW", "treManagement": False},
                "user-dave": {**forced, "projectAccess": "CONTRIBUTE"},
            },
        )
    ]
    bob, carol, dave = plan.actions
    assert bob.after == access_json(
        Access.member({"treManagement": True, "cloudIntegrationManagement": True})
    )
    # The flags ADMIN forced are the demotion's (levels); an independent one taken away
    # is a permission taken away.
    assert bob.removals == dave.removals == ("levels",)
    assert carol.removals == ("levels", "permissions")


def test_an_admin_staying_admin_changes_only_its_independent_flags():
    live = live_org({**ADMINS, "user-bob": member("ADMIN", treManagement=True)})
    desired = desired_org(
        admins_and(**{"user-bob": want("user-bob", "ADMIN", treManagement=False)})
    )
    plan = plan_org(desired, live, options())
    assert calls(plan) == [
        ("/org-demo/setMemberAccess", {"user-bob": {"level": "ADMIN", "treManagement": False}})
    ]
    assert plan.actions[0].removals == ("permissions",)


# ---------------------------------------------------------------- read-only flags


def test_a_read_only_flag_that_differs_is_a_warning_never_an_action_or_a_body():
    live = live_org({**ADMINS, "user-bob": member(dataSearch=True), "user-carol": member()})
    desired = desired_org(
        admins_and(
            **{
                "user-bob": want("user-bob", dataSearch=False, archivalManagement=False),
                "user-carol": want("user-carol", cloudIntegrationManagement=True, project="VIEW"),
                "user-dave": want("user-dave", dataDeletion=True),
            }
        )
    )
    plan = plan_org(desired, live, options())
    assert [a.kind for a in plan.actions] == ["invite-member", "update-access"]
    read_only = {f.name for f in FLAGS if not f.settable}
    for step in plan.steps:
        for body in (step.call.body, *step.call.body.values()):
            assert not (read_only & set(body if isinstance(body, dict) else ()))
    messages = [w.message for w in plan.warnings if w.code == "read-only-flag"]
    assert [m.split(";")[0] for m in messages] == [
        "user-bob has dataSearch true",
        "user-carol has cloudIntegrationManagement false",
        "user-dave will have dataDeletion false",
    ]
    assert "dxorg does not change dataSearch" in messages[0]


def test_after_a_demotion_a_read_only_flag_is_what_the_platform_leaves():
    live = live_org({**ADMINS, "user-bob": member("ADMIN")})
    desired = desired_org(admins_and(**{"user-bob": want("user-bob", dataSearch=True)}))
    plan = plan_org(desired, live, options())
    assert plan.actions[0].after is not None and plan.actions[0].after["dataSearch"] is False
    assert [w.message.split(";")[0] for w in plan.warnings] == ["user-bob has dataSearch false"]


# ---------------------------------------------------------------- rails


def _taking(count: int, budget: str, **flags_before: object) -> tuple[DesiredOrg, object]:
    """`count` members who each lose the flags given (by their live values), under a
    budget of two for `budget` (and no limit on the others)."""
    members = {f"user-m{i}": member(**flags_before) for i in range(count)}  # type: ignore[arg-type]
    lowered = {k: not v if isinstance(v, bool) else "VIEW" for k, v in flags_before.items()}
    budgets = {c: Budget() for c in BUDGET_COLLECTIONS} | {budget: Budget(count=2)}
    desired = desired_org(
        admins_and(**{u: want(u, "MEMBER", **lowered) for u in members}),
        safety=SafetySettings(budgets=budgets),
    )
    return desired, live_org({**ADMINS, **members})


@pytest.mark.parametrize(
    ("flags", "budget"),
    [
        ({"allowBillableActivities": True}, "permissions"),
        ({"treManagement": True}, "permissions"),
        ({"appAccess": True}, "appAccess"),
        ({"projectAccess": "ADMINISTER"}, "projectAccess"),
    ],
)
def test_each_flag_taken_away_counts_against_its_budget(flags, budget):
    within, live = _taking(2, budget, **flags)
    assert plan_org(within, live, options()).violations == ()  # type: ignore[arg-type]
    over, live = _taking(3, budget, **flags)
    violations = plan_org(over, live, options()).violations  # type: ignore[arg-type]
    assert [v.rule for v in violations] == [f"budget.{budget}"]
    rule = frozenset({f"budget.{budget}"})
    assert plan_org(over, live, options(overrides=rule)).applyable  # type: ignore[arg-type]


def test_a_permission_given_is_not_a_removal():
    live = live_org({**ADMINS, "user-bob": member()})
    desired = desired_org(
        admins_and(**{"user-bob": want("user-bob", treManagement=True, billable=True)})
    )
    assert plan_org(desired, live, options()).actions[0].removals == ()
