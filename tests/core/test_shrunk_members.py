"""The shrunk-member-list rail, pure: a member list much shorter at apply than at plan time
is a partial read or a mass removal by someone else, never a state to write on."""

from __future__ import annotations

import pytest

from reconciler.model import Budget, SafetySettings
from reconciler.planner import plan_org
from reconciler.rails import shrunk_members
from tests.core.builders import desired_org, live_org, member, options, want

ADMINS = ("user-alice", "user-root")
OTHERS = tuple(f"user-m{i}" for i in range(6))


def planned(budget: Budget):
    members = {u: want(u, "ADMIN") for u in ADMINS} | {u: want(u) for u in OTHERS[:-1]}
    desired = desired_org(members, safety=SafetySettings(budgets={"members": budget}))
    live = live_org({**{u: member("ADMIN") for u in ADMINS}, **{u: member() for u in OTHERS}})
    # user-m5 is not listed: the plan removes it, so its going is no shrink.
    return desired, live, plan_org(desired, live, options(overrides=frozenset({"budget.members"})))


def without(live, *gone: str):
    return live_org(
        {u: m.access for u, m in live.members.items() if u not in gone}, caller=live.caller
    )


@pytest.mark.parametrize(
    ("budget", "gone", "shrunk"),
    [
        (Budget(count=1), ("user-m0",), None),  # within the budget
        (Budget(count=1), ("user-m0", "user-m1"), "2 of its 8 members are gone"),
        (Budget(count=1), ("user-m0", "user-m5"), None),  # m5 is the plan's own removal
        (Budget(percent=25.0), ("user-m0", "user-m1"), None),  # 25% of 8 is 2
        (Budget(percent=25.0), ("user-m0", "user-m1", "user-m2"), "3 of its 8"),
        (
            Budget(count=5, percent=10.0),
            ("user-m0", "user-m1"),
            "more than the members removal budget (1)",
        ),  # the smaller limit holds
        (Budget(), ("user-m0", "user-m1", "user-m2"), None),  # no limit set
    ],
)
def test_a_member_list_shrunk_beyond_the_members_budget_is_named(budget, gone, shrunk):
    desired, live, plan = planned(budget)
    assert [a.target for a in plan.actions] == ["user-m5"]
    why = shrunk_members(plan, without(live, *gone), desired)
    if shrunk is None:
        assert why is None
    else:
        assert (
            why is not None
            and shrunk in why
            and why.startswith("the member list shrank since the plan: ")
        )


def test_an_org_whose_members_are_unmanaged_never_shrinks():
    desired, live, plan = planned(Budget(count=0))
    unmanaged = desired_org(None, safety=desired.safety)
    assert shrunk_members(plan, without(live, *OTHERS), unmanaged) is None
