"""The safety rails and the order of a plan's steps, as tables written from the rules in
docs/reliability.md ("Safety rails", "Two-call actions stopped half-way") rather than from
what the code returns: each row is a small live state and a desired one, and what a
reviewer expects of them, with the reason.

Rails rows: the rules that refuse the plan (each with words its message must hold), or
none, with the kinds of action planned so an "allowed" row cannot pass by planning nothing.
Order rows: the steps in the order apply sends them (phase, route, the one thing the body
is about), and which earlier steps each must wait for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from reconciler.model import (
    Access,
    Budget,
    DesiredMember,
    LiveOrg,
    LiveProject,
    NewAccount,
    ProjectGrant,
    ProjectSelector,
    SafetySettings,
    SelfGrants,
)
from reconciler.planner import PlanOptions, plan_org
from tests.core.builders import desired_org, live_org, member, options, want

ADMIN = member("ADMIN")
NO_BUDGETS = SafetySettings(budgets={})  # rows about another rail leave the budgets out
PROJECT = "project-" + "a" * 24
RECORD = "dxorg.selfGrant.user-alice"  # the caller's grant record (alice holds the token)
ERIN = NewAccount("Erin", "erin@example.com", "Erin", "Lee")


def admins(*users: str) -> dict[str, DesiredMember]:
    return {u: want(u, "ADMIN") for u in users}


def live(**members: Access) -> LiveOrg:
    return live_org({f"user-{name}": access for name, access in members.items()})


@dataclass(frozen=True)
class RailRow:
    name: str
    why: str
    live: LiveOrg
    desired_members: dict[str, DesiredMember] | None
    refused: tuple[tuple[str, str], ...]  # (rule, words of its message); () = allowed
    kinds: tuple[str, ...] = ()  # the actions planned, in plan order
    safety: SafetySettings = NO_BUDGETS
    protected: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    mode: str = "authoritative"
    extra: dict[str, Any] = field(default_factory=dict)  # other DesiredOrg fields
    options: PlanOptions = field(default_factory=options)


def twelve_members() -> dict[str, Access]:
    return {"alice": ADMIN, "root": ADMIN, **{f"m{i}": member() for i in range(10)}}


RAILS = [
    RailRow(
        "demotions-below-min-admins",
        "no step that takes an admin away may leave fewer than safety.minAdmins (2)",
        live(alice=ADMIN, root=ADMIN, bob=ADMIN),
        {**admins("user-alice"), "user-root": want("user-root"), "user-bob": want("user-bob")},
        (("min-admins", "leaves 1 admin(s); safety.minAdmins is 2"),),
        ("demote", "demote"),
    ),
    RailRow(
        "promotion-replaces-a-demoted-admin",
        "the promotion is sent first, so the org never has fewer than 2 admins",
        live(alice=ADMIN, root=ADMIN, carol=member()),
        {**admins("user-alice", "user-carol"), "user-root": want("user-root")},
        (),
        ("promote", "demote"),
    ),
    RailRow(
        "removal-below-min-admins",
        "a removal counts like a demotion",
        live(alice=ADMIN, root=ADMIN),
        admins("user-alice"),
        (("min-admins", "leaves 1 admin(s)"),),
        ("remove-member",),
    ),
    RailRow(
        "min-admins-overridden",
        "min-admins is one of the rules a person may accept with --override",
        live(alice=ADMIN, root=ADMIN),
        admins("user-alice"),
        (),
        ("remove-member",),
        options=options(overrides=frozenset({"min-admins"})),
    ),
    RailRow(
        "invited-admin-replaces-a-removed-one",
        "a new ADMIN's invite is sent before the removal, which waits for it",
        live(alice=ADMIN, root=ADMIN),
        admins("user-alice", "user-dan"),
        (),
        ("invite-member", "remove-member"),
    ),
    RailRow(
        "protected-member-changed",
        "a protected member is never changed, in either direction",
        live(alice=ADMIN, root=ADMIN, bob=member()),
        {**admins("user-alice", "user-root"), "user-bob": want("user-bob", project="VIEW")},
        (("protected", "user-bob is protected in orgs/demo.yaml"),),
        ("update-access",),
        protected=frozenset({"user-bob"}),
    ),
    RailRow(
        "protected-is-never-overridable",
        "--override names only min-admins and the budgets; protection never yields",
        live(alice=ADMIN, root=ADMIN, bob=member()),
        admins("user-alice", "user-root"),
        (("protected", "user-bob is protected"),),
        ("remove-member",),
        protected=frozenset({"user-bob"}),
        options=options(overrides=frozenset({"protected"})),
    ),
    RailRow(
        "token-user-demoted",
        "dxorg never removes or demotes the user its token belongs to",
        live(alice=ADMIN, root=ADMIN, carol=ADMIN),
        {**admins("user-root", "user-carol"), "user-alice": want("user-alice")},
        (("caller", "user-alice is the user this token belongs to"),),
        ("demote",),
    ),
    RailRow(
        "required-admin-demoted",
        "a required admin who is ADMIN stays ADMIN, whatever the count",
        live(alice=ADMIN, root=ADMIN, carol=ADMIN),
        {**admins("user-alice", "user-carol"), "user-root": want("user-root")},
        (("required-admins", "takes ADMIN from user-root, a required admin"),),
        ("demote",),
        required=frozenset({"user-root"}),
    ),
    RailRow(
        "removals-over-the-count-budget",
        "more removals than the members budget's count is a mass removal",
        live(alice=ADMIN, root=ADMIN, m1=member(), m2=member(), m3=member()),
        admins("user-alice", "user-root"),
        (("budget.members", "the plan removes 3 from members; the count limit is 2"),),
        ("remove-member",) * 3,
        safety=SafetySettings(budgets={"members": Budget(count=2)}),
    ),
    RailRow(
        "removals-within-the-count-budget",
        "exactly the budget's count is allowed",
        live(alice=ADMIN, root=ADMIN, m1=member(), m2=member()),
        admins("user-alice", "user-root"),
        (),
        ("remove-member",) * 2,
        safety=SafetySettings(budgets={"members": Budget(count=2)}),
    ),
    RailRow(
        "removals-over-the-percent-budget",
        "20% of 12 members allows 2 (rounded down); 3 is over",
        live_org({f"user-{n}": a for n, a in twelve_members().items()}),
        {
            **admins("user-alice", "user-root"),
            **{f"user-m{i}": want(f"user-m{i}") for i in range(3, 10)},
        },
        (("budget.members", "that is 25% of 12, over the 20% limit"),),
        ("remove-member",) * 3,
        safety=SafetySettings(budgets={"members": Budget(percent=20)}),
    ),
    RailRow(
        "one-removal-is-never-a-mass-removal",
        "a percentage allows at least one, so a small org may lose one member",
        live(alice=ADMIN, root=ADMIN, bob=member()),
        admins("user-alice", "user-root"),
        (),
        ("remove-member",),
        safety=SafetySettings(budgets={"members": Budget(percent=1)}),
    ),
    RailRow(
        "budget-overridden",
        "a budget is one of the rules a person may accept with --override",
        live(alice=ADMIN, root=ADMIN, m1=member(), m2=member(), m3=member()),
        admins("user-alice", "user-root"),
        (),
        ("remove-member",) * 3,
        safety=SafetySettings(budgets={"members": Budget(count=2)}),
        options=options(overrides=frozenset({"budget.members"})),
    ),
    RailRow(
        "unknown-user-listed",
        "a listed user with no account is a mistake in the manifest",
        live_org({"user-alice": ADMIN, "user-root": ADMIN}, unknown_users=frozenset({"user-x"})),
        {**admins("user-alice", "user-root"), "user-x": want("user-x")},
        (("unknown-user", "user-x (listed at orgs/demo.yaml) has no account"),),
        ("invite-member",),
    ),
    RailRow(
        "self-grants-for-another-admin",
        "the platform lets an org admin grant only themselves",
        live(alice=ADMIN, root=ADMIN),
        None,
        (("grantee", "selfGrants.admin is user-root, but the token belongs to user-alice"),),
        extra={"self_grants": SelfGrants(admin="user-root")},
    ),
    RailRow(
        "provisioning-a-taken-username",
        "an account with another email is somebody else's: never invited",
        live_org({"user-alice": ADMIN, "user-root": ADMIN}, existing_accounts={"user-erin": "e@x"}),
        None,
        (("provisioning", "already exists with another email"),),
        extra={"provisioning": (ERIN,)},
    ),
    RailRow(
        "provisioning-without-an-auth-server",
        "/user/new needs the auth server: found out at plan time, not half-way through apply",
        live(alice=ADMIN, root=ADMIN),
        None,
        (("provisioning", "DX_AUTHSERVER_HOST unset"),),
        ("provision",),
        extra={"provisioning": (ERIN,)},
        options=options(auth_server_problem="DX_AUTHSERVER_HOST unset"),
    ),
    RailRow(
        "additive-mode-removes-nobody",
        "additive membership adds and updates, never removes: nothing to refuse",
        live(alice=ADMIN, root=ADMIN, bob=member()),
        admins("user-alice", "user-root", "user-dan"),
        (),
        ("invite-member",),
        mode="additive",
    ),
]


@pytest.mark.parametrize("row", RAILS, ids=[r.name for r in RAILS])
def test_rails(row: RailRow) -> None:
    desired = desired_org(
        row.desired_members,
        mode=row.mode,
        protected=row.protected,
        required_admins=row.required,
        safety=row.safety,
        **row.extra,
    )
    plan = plan_org(desired, row.live, row.options)
    refused = [(v.rule, v.message) for v in plan.blocking_violations]
    assert [rule for rule, _ in refused] == [rule for rule, _ in row.refused], row.why
    for (_, message), (_, words) in zip(refused, row.refused, strict=True):
        assert words in message, row.why
    assert plan.applyable == (not row.refused), row.why
    if plan.applyable or row.kinds:
        assert tuple(str(a.kind) for a in plan.actions) == row.kinds, row.why


# ---------------------------------------------------------------- step order


@dataclass(frozen=True)
class OrderRow:
    name: str
    why: str
    live: LiveOrg
    desired_members: dict[str, DesiredMember] | None
    # (phase, route, what the body is about, the indices of the steps it waits for)
    steps: tuple[tuple[str, str, str, tuple[int, ...]], ...]
    extra: dict[str, Any] = field(default_factory=dict)


def about(route: str, body: dict[str, object]) -> str:
    """The one thing a step's body is about, for the table: its user(s) or property."""
    if route.endswith("/setMemberAccess"):
        return ",".join(f"{u}={spec['level']}" for u, spec in body.items())  # type: ignore[index]
    if route.endswith(("/invite", "/user/new")):
        return str(body.get("invitee") or body.get("username"))
    if route.endswith("/removeMember"):
        return str(body["user"])
    if route.endswith("/setProperties"):
        return ",".join(f"{k}={v}" for k, v in body["properties"].items())  # type: ignore[attr-defined]
    if route.endswith("/decreasePermissions"):
        return ",".join(f"{k}={v}" for k, v in body.items())
    return ",".join(sorted(body))


def grant_live(level: str, record: str | None = None) -> LiveOrg:
    project = LiveProject(PROJECT, "data", level, grant_record=record)
    return live_org({"user-alice": ADMIN, "user-root": ADMIN}, projects=(project,))


def grants(expires: date | None = None) -> SelfGrants:
    return SelfGrants(admin=None, projects=(ProjectGrant(ProjectSelector("all"), expires),))


ORDER = [
    OrderRow(
        "promote-before-demote",
        "the new admin is made before the old one is demoted, and the demotion waits for it",
        live(alice=ADMIN, root=ADMIN, carol=member()),
        {**admins("user-alice", "user-carol"), "user-root": want("user-root")},
        (
            ("invite", "/org-demo/setMemberAccess", "user-carol=ADMIN", ()),
            ("demote", "/org-demo/setMemberAccess", "user-root=MEMBER", (0,)),
        ),
    ),
    OrderRow(
        "admin-invite-before-admin-removal",
        "an admin's removal waits for every step that makes someone ADMIN",
        live(alice=ADMIN, root=ADMIN),
        admins("user-alice", "user-dan"),
        (
            ("invite", "/org-demo/invite", "user-dan", ()),
            ("remove", "/org-demo/removeMember", "user-root", (0,)),
        ),
    ),
    OrderRow(
        "member-removal-waits-for-nothing",
        "removing a MEMBER cannot lower the admin count: it need not wait",
        live(alice=ADMIN, root=ADMIN, bob=member()),
        {**admins("user-alice", "user-root"), "user-carol": want("user-carol")},
        (
            ("invite", "/org-demo/invite", "user-carol", ()),
            ("remove", "/org-demo/removeMember", "user-bob", ()),
        ),
    ),
    OrderRow(
        "phases-in-order",
        "invitations, then access, then the org's settings, then demotions, then removals",
        live(alice=ADMIN, root=ADMIN, carol=ADMIN, bob=member(), eve=member()),
        {
            **admins("user-alice", "user-root"),
            "user-bob": want("user-bob", project="VIEW"),
            "user-carol": want("user-carol"),
            "user-dan": want("user-dan"),
        },
        (
            ("invite", "/org-demo/invite", "user-dan", ()),
            ("access", "/org-demo/setMemberAccess", "user-bob=MEMBER", ()),
            ("org", "/org-demo/update", "name", ()),
            ("demote", "/org-demo/setMemberAccess", "user-carol=MEMBER", ()),
            ("remove", "/org-demo/removeMember", "user-eve", ()),
        ),
        extra={"name": "Renamed"},
    ),
    OrderRow(
        "account-before-its-invite",
        "the invite of a new account waits for the account (sent to the auth server)",
        live(alice=ADMIN, root=ADMIN),
        None,
        (
            ("provision", "/user/new", "Erin", ()),
            ("provision", "/org-demo/invite", "user-erin", (0,)),
        ),
        extra={"provisioning": (ERIN,)},
    ),
    OrderRow(
        "record-before-grant-when-the-caller-can-write-it",
        "at CONTRIBUTE the caller may write the record: it goes first, the grant waits; "
        "stopped between, a record with no grant is harmless",
        grant_live("CONTRIBUTE"),
        None,
        (
            ("org", f"/{PROJECT}/setProperties", f"{RECORD}=CONTRIBUTE", ()),
            ("org", f"/{PROJECT}/invite", "user-alice", (0,)),
        ),
        extra={"self_grants": grants()},
    ),
    OrderRow(
        "grant-before-record-below-contribute",
        "below CONTRIBUTE nobody without access may write the record: grant, then record",
        grant_live("VIEW"),
        None,
        (
            ("org", f"/{PROJECT}/invite", "user-alice", ()),
            ("org", f"/{PROJECT}/setProperties", f"{RECORD}=VIEW", (0,)),
        ),
        extra={"self_grants": grants()},
    ),
    OrderRow(
        "access-taken-back-before-its-record-is-cleared",
        "an expired grant over CONTRIBUTE: access goes back first, then the record is "
        "cleared; stopped between, the record only says what is already true",
        grant_live("ADMINISTER", record="CONTRIBUTE"),
        None,
        (
            ("remove", f"/{PROJECT}/decreasePermissions", "user-alice=CONTRIBUTE", ()),
            ("remove", f"/{PROJECT}/setProperties", f"{RECORD}=None", (0,)),
        ),
        extra={"self_grants": grants(date(2026, 1, 1))},
    ),
    OrderRow(
        "no-record-to-clear-below-contribute",
        "back at VIEW the caller can no longer write the record: only the access goes back",
        grant_live("ADMINISTER", record="VIEW"),
        None,
        (("remove", f"/{PROJECT}/decreasePermissions", "user-alice=VIEW", ()),),
        extra={"self_grants": grants(date(2026, 1, 1))},
    ),
]


@pytest.mark.parametrize("row", ORDER, ids=[r.name for r in ORDER])
def test_step_order(row: OrderRow) -> None:
    desired = desired_org(row.desired_members, safety=NO_BUDGETS, **row.extra)
    plan = plan_org(desired, row.live, options())
    assert plan.applyable, plan.violations
    index = {step.id: i for i, step in enumerate(plan.steps)}
    got = tuple(
        (
            str(step.phase),
            step.call.route,
            about(step.call.route, dict(step.call.body)),
            tuple(sorted(index[d] for d in step.depends_on)),
        )
        for step in plan.steps
    )
    assert got == row.steps, row.why
