from __future__ import annotations

import hashlib
import json
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.model import (
    AppGrant,
    AppSelector,
    Budget,
    Forwarding,
    LiveApp,
    LiveForwarding,
    LiveProject,
    NewAccount,
    ProjectGrant,
    ProjectSelector,
    SafetySettings,
    SelfGrants,
)
from reconciler.plan import PHASES
from reconciler.planner import plan_org
from tests.core.builders import NOW_MS, desired_org, live_org, member, options, want

ADMINS = {"user-alice": member("ADMIN"), "user-root": member("ADMIN")}


def calls(org_plan):
    return [(s.call.route, dict(s.call.body)) for s in org_plan.steps]


def test_matching_states_plan_nothing():
    live = live_org({**ADMINS, "user-bob": member()})
    desired = desired_org(
        {
            "user-alice": want("user-alice", "ADMIN"),
            "user-root": want("user-root", "ADMIN"),
            "user-bob": want("user-bob"),
        }
    )
    plan = plan_org(desired, live, options())
    assert plan.actions == () and plan.steps == () and plan.violations == ()


def test_invite_sends_every_flag_with_platform_defaults_for_unmanaged_ones():
    live = live_org(dict(ADMINS))
    desired = desired_org(
        {**{u: want(u, "ADMIN") for u in ADMINS}, "user-carol": want("user-carol", project="VIEW")}
    )
    plan = plan_org(desired, live, options())
    assert calls(plan) == [
        (
            "/org-demo/invite",
            {
                "invitee": "user-carol",
                "level": "MEMBER",
                "allowBillableActivities": False,
                "appAccess": True,
                "projectAccess": "VIEW",
                "suppressEmailNotification": False,
            },
        )
    ]
    assert plan.actions[0].symbol == "+" and "not a member" in plan.actions[0].reason


def test_access_updates_are_batched_and_send_only_changed_flags():
    live = live_org({**ADMINS, **{f"user-m{i}": member(project="CONTRIBUTE") for i in range(5)}})
    members = {u: want(u, "ADMIN") for u in ADMINS}
    members |= {f"user-m{i}": want(f"user-m{i}", project="VIEW") for i in range(5)}
    plan = plan_org(
        desired_org(members), live, options(overrides=frozenset({"budget.projectAccess"}))
    )
    assert len(plan.steps) == 1
    route, body = calls(plan)[0]
    assert route == "/org-demo/setMemberAccess"
    assert body == {f"user-m{i}": {"level": "MEMBER", "projectAccess": "VIEW"} for i in range(5)}
    assert all(a.removals == ("projectAccess",) for a in plan.actions)


def test_batches_split_at_the_batch_size():
    live = live_org({**ADMINS, **{f"user-m{i}": member(app=False) for i in range(25)}})
    members = {u: want(u, "ADMIN") for u in ADMINS} | {
        f"user-m{i}": want(f"user-m{i}", app=True) for i in range(25)
    }
    plan = plan_org(desired_org(members), live, options(batch_size=10))
    assert [len(s.call.body) for s in plan.steps] == [10, 10, 5]


def test_unmanaged_flags_keep_their_live_values():
    live = live_org(
        {
            **ADMINS,
            "user-bob": member(
                billable=True, app=False, project="UPLOAD", treManagement=True, dataSearch=True
            ),
        }
    )
    desired = desired_org(
        {**{u: want(u, "ADMIN") for u in ADMINS}, "user-bob": want("user-bob", project="VIEW")}
    )
    plan = plan_org(desired, live, options())
    assert calls(plan) == [
        ("/org-demo/setMemberAccess", {"user-bob": {"level": "MEMBER", "projectAccess": "VIEW"}})
    ]
    assert plan.actions[0].after == {
        "level": "MEMBER",
        "allowBillableActivities": True,
        "appAccess": False,
        "projectAccess": "VIEW",
        "archivalManagement": False,
        "dataDeletion": False,
        "dataSearch": True,
        "projectMemberDemotion": False,
        "treManagement": True,
        "cloudIntegrationManagement": False,
    }


def test_additive_mode_never_removes():
    live = live_org({**ADMINS, "user-bob": member(), "user-eve": member()})
    desired = desired_org({u: want(u, "ADMIN") for u in ADMINS}, mode="additive")
    assert plan_org(desired, live, options()).actions == ()


def test_authoritative_mode_removes_unlisted_members_last():
    live = live_org(
        {**ADMINS, "user-bob": member(app=False), **{f"user-x{i}": member() for i in range(8)}}
    )
    members = {u: want(u, "ADMIN") for u in ADMINS} | {"user-bob": want("user-bob", app=True)}
    members |= {f"user-x{i}": want(f"user-x{i}") for i in range(7)}
    plan = plan_org(desired_org(members), live, options())
    assert [s.call.route for s in plan.steps] == [
        "/org-demo/setMemberAccess",
        "/org-demo/removeMember",
    ]
    assert plan.steps[-1].call.body == {
        "user": "user-x7",
        "revokeProjectPermissions": True,
        "revokeAppPermissions": True,
    }
    assert plan.actions[-1].symbol == "-" and "authoritative" in plan.actions[-1].reason
    assert plan.applyable


def test_phases_run_grants_before_revocations():
    live = live_org(
        {
            "user-alice": member("ADMIN"),
            "user-old": member("ADMIN"),
            "user-new": member(),
            "user-bob": member(),
            "user-gone": member(),
        },
    )
    members = {
        "user-alice": want("user-alice", "ADMIN"),
        "user-new": want("user-new", "ADMIN"),
        "user-old": want("user-old"),
        "user-bob": want("user-bob", project="VIEW"),
        "user-carol": want("user-carol"),
    }
    safety = SafetySettings(budgets={})
    plan = plan_org(desired_org(members, safety=safety), live, options())
    phases = [s.phase for s in plan.steps]
    assert phases == sorted(phases, key=PHASES.index)
    kinds = [a.kind for a in plan.actions]
    assert kinds == ["invite-member", "promote", "update-access", "demote", "remove-member"]
    promote = next(s for s in plan.steps if s.call.body.get("user-new") == {"level": "ADMIN"})
    demote = next(s for s in plan.steps if s.phase == "demote")
    assert promote.id in demote.depends_on
    assert demote.call.body == {
        "user-old": {
            "level": "MEMBER",
            "allowBillableActivities": False,
            "appAccess": True,
            "projectAccess": "CONTRIBUTE",
        }
    }


def test_demoting_below_min_admins_is_a_violation_until_overridden():
    live = live_org(
        {"user-alice": member("ADMIN"), "user-b": member("ADMIN"), "user-c": member("ADMIN")}
    )
    desired = desired_org(
        {
            "user-alice": want("user-alice", "ADMIN"),
            "user-b": want("user-b"),
            "user-c": want("user-c"),
        }
    )
    plan = plan_org(desired, live, options(overrides=frozenset({"budget.levels"})))
    assert [v.rule for v in plan.violations] == ["min-admins", "budget.levels"]
    assert not plan.applyable
    assert "leaves 1 admin(s)" in plan.violations[0].message
    overridden = plan_org(
        desired, live, options(overrides=frozenset({"min-admins", "budget.levels"}))
    )
    assert overridden.applyable and all(v.overridden for v in overridden.violations)


def test_the_tokens_own_user_is_never_removed_or_demoted():
    live = live_org({**ADMINS, "user-c": member("ADMIN"), "user-d": member("ADMIN")})
    desired = desired_org(
        {
            "user-root": want("user-root", "ADMIN"),
            "user-c": want("user-c", "ADMIN"),
            "user-d": want("user-d", "ADMIN"),
        }
    )
    plan = plan_org(
        desired, live, options(overrides=frozenset({"budget.members", "budget.levels"}))
    )
    assert [v.rule for v in plan.blocking_violations] == ["caller"]
    plan = plan_org(
        desired, live, options(overrides=frozenset({"caller", "budget.members", "budget.levels"}))
    )
    assert not plan.applyable, "the caller rule cannot be overridden"


def test_protected_members_are_never_touched():
    live = live_org({**ADMINS, "user-bob": member()})
    desired = desired_org(
        {**{u: want(u, "ADMIN") for u in ADMINS}, "user-bob": want("user-bob", project="VIEW")},
        protected=frozenset({"user-bob"}),
    )
    plan = plan_org(desired, live, options())
    assert [v.rule for v in plan.violations] == ["protected"]


def test_removal_budget_counts_and_percentages():
    live = live_org({**ADMINS, **{f"user-m{i}": member() for i in range(10)}})
    members = {u: want(u, "ADMIN") for u in ADMINS} | {
        f"user-m{i}": want(f"user-m{i}") for i in range(7)
    }
    strict = SafetySettings(budgets={"members": Budget(count=2)})
    plan = plan_org(desired_org(members, safety=strict), live, options())
    assert [v.rule for v in plan.violations] == ["budget.members"]
    assert (
        "removes 3" in plan.violations[0].message
        and "count limit is 2" in plan.violations[0].message
    )
    by_percent = SafetySettings(budgets={"members": Budget(percent=20)})
    plan = plan_org(desired_org(members, safety=by_percent), live, options())
    assert "25% of 12" in plan.violations[0].message
    roomy = SafetySettings(budgets={"members": Budget(count=3, percent=30)})
    assert plan_org(desired_org(members, safety=roomy), live, options()).applyable


def test_skip_removals_leaves_out_every_removal():
    live = live_org({**ADMINS, "user-bob": member(project="ADMINISTER"), "user-eve": member()})
    members = {u: want(u, "ADMIN") for u in ADMINS} | {"user-bob": want("user-bob", project="VIEW")}
    plan = plan_org(desired_org(members), live, options(skip_removals=True))
    assert plan.actions == ()
    assert [w.code for w in plan.warnings] == ["removals-skipped"]


def test_policies_and_name_go_in_one_update_with_only_changed_keys():
    live = live_org(
        dict(ADMINS),
        policies={
            "memberListVisibility": "ADMIN",
            "restrictProjectTransfer": "ADMIN",
            "jobReuse": False,
        },
    )
    desired = desired_org(
        None,
        name="Renamed",
        settings={"memberListVisibility": "MEMBER", "restrictProjectTransfer": "ADMIN"},
    )
    plan = plan_org(desired, live, options())
    assert calls(plan) == [
        ("/org-demo/update", {"name": "Renamed", "policies": {"memberListVisibility": "MEMBER"}})
    ]
    assert len(plan.actions) == 2


def test_saml_idp_is_set_in_the_same_update_and_left_alone_when_unmanaged():
    live = live_org(dict(ADMINS), settings={"samlIdP": "old-idp"})
    desired = desired_org(
        None, name="Renamed", settings={"samlIdP": "new-idp", "memberListVisibility": "MEMBER"}
    )
    plan = plan_org(desired, live, options())
    assert calls(plan) == [
        (
            "/org-demo/update",
            {
                "name": "Renamed",
                "samlIdP": "new-idp",
                "policies": {"memberListVisibility": "MEMBER"},
            },
        )
    ]
    [saml] = [a for a in plan.actions if a.id == "org-demo/org/samlIdP"]
    assert saml.summary == "set samlIdP: old-idp -> new-idp"
    assert (saml.before, saml.after) == ({"samlIdP": "old-idp"}, {"samlIdP": "new-idp"})
    # The plan records it with the org's other settings, so a later change makes it stale.
    assert plan.live_values["org"] == {
        "name": "Demo",
        "policies": {"memberListVisibility": "ADMIN", "restrictProjectTransfer": "ADMIN"},
        "samlIdP": "old-idp",
    }
    assert plan_org(desired_org(None), live, options()).actions == ()
    same = desired_org(None, settings={"samlIdP": "old-idp"})
    assert plan_org(same, live, options()).actions == ()


def test_self_grants_are_recorded_and_expiry_gives_back_exactly_what_was_added():
    a, b, c, d = ("project-" + x * 24 for x in "abcd")
    projects = (
        LiveProject(a, "clinical-1", "NONE"),
        # Granted by dxorg over VIEW (recorded): expiry lowers it back to VIEW.
        LiveProject(b, "clinical-2", "ADMINISTER", grant_record="VIEW"),
        # Granted by dxorg over no access: expiry revokes it.
        LiveProject(c, "clinical-3", "ADMINISTER", grant_record="NONE"),
        # ADMINISTER with no record (alice created it): never revoked.
        LiveProject(d, "clinical-4", "ADMINISTER"),
    )
    apps = (
        LiveApp("app-" + "d" * 24, "tool", "1.0.0", ("user-bob",)),
        LiveApp("app-" + "e" * 24, "old", "1.0.0", ("user-alice",), grant_recorded=True),
        LiveApp("app-" + "f" * 24, "mine", "1.0.0", ("user-alice",)),
    )
    grants = SelfGrants(
        admin=None,
        projects=(
            ProjectGrant(ProjectSelector("glob", "clinical-1"), date(2027, 1, 1), "audit"),
            ProjectGrant(ProjectSelector("glob", "clinical-[234]"), date(2026, 11, 1)),
        ),
        apps=(
            AppGrant(AppSelector("name", "tool")),
            AppGrant(AppSelector("name", "old"), date(2026, 1, 1)),
            AppGrant(AppSelector("name", "mine"), date(2026, 1, 1)),
        ),
    )
    plan = plan_org(
        desired_org(None, self_grants=grants),
        live_org(dict(ADMINS), projects=projects, apps=apps),
        options(),
    )
    record = "dxorg.selfGrant.user-alice"
    assert calls(plan) == [
        (
            f"/{a}/invite",
            {"invitee": "user-alice", "level": "ADMINISTER", "suppressEmailNotification": True},
        ),
        (f"/{a}/setProperties", {"properties": {record: "NONE"}}),
        ("/app-" + "d" * 24 + "/addDevelopers", {"developers": ["user-alice"]}),
        ("/app-" + "d" * 24 + "/addTags", {"tags": [record]}),
        # Access is taken back first; below CONTRIBUTE the record cannot be cleared after.
        (f"/{b}/decreasePermissions", {"user-alice": "VIEW"}),
        (f"/{c}/decreasePermissions", {"user-alice": None}),
        # Only developers may change an app's tags: the record tag stays.
        ("/app-" + "e" * 24 + "/removeDevelopers", {"developers": ["user-alice"]}),
    ]
    by_target = {action.target: action for action in plan.actions}
    assert "expired on 2026-11-01" in by_target[b].reason
    assert by_target[b].summary.endswith("back to VIEW as before the grant")
    assert by_target[c].summary.endswith("back to no access as before the grant")
    assert by_target[b].removals == ("projectGrants",)
    assert by_target["app-" + "e" * 24].removals == ("appGrants",)
    # Expired access with no record is drift for a person, never revoked and never silent.
    unrevoked = [m for m in plan.unresolved if m.startswith("grant-not-revoked")]
    assert len(unrevoked) == 2 and plan.differs
    assert any(d in m for m in unrevoked) and any("app-" + "f" * 24 in m for m in unrevoked)
    assert plan.applyable


def test_a_grantee_other_than_the_token_user_is_a_violation_and_plans_nothing():
    project = LiveProject("project-" + "a" * 24, "data", "NONE")
    members = {u: want(u, "ADMIN") for u in ADMINS} | {"user-bob": want("user-bob", "ADMIN")}
    grants = SelfGrants(admin="user-bob", projects=(ProjectGrant(ProjectSelector("all")),))
    live = live_org({**ADMINS, "user-bob": member()}, projects=(project,))
    plan = plan_org(desired_org(members, self_grants=grants), live, options())
    assert not any("grant" in a.kind for a in plan.actions)
    assert [v.rule for v in plan.violations] == ["grantee"]
    assert "user-bob" in plan.violations[0].message and "user-alice" in plan.violations[0].message
    assert not plan.applyable


def test_forwarding_compares_token_by_sha256_and_never_holds_the_token():
    token = "hec-secret-1234"
    signature = hashlib.sha256(token.encode()).hexdigest()
    desired = desired_org(
        None, forwarding=Forwarding(True, "https://splunk.example/hec", "SPLUNK_TOKEN")
    )
    same = live_org(
        dict(ADMINS), forwarding=LiveForwarding("https://splunk.example/hec", signature)
    )
    assert (
        plan_org(desired, same, options(token_signatures={"SPLUNK_TOKEN": signature})).actions == ()
    )
    drifted = live_org(
        dict(ADMINS), forwarding=LiveForwarding("https://splunk.example/hec", "0" * 64)
    )
    plan = plan_org(desired, drifted, options(token_signatures={"SPLUNK_TOKEN": signature}))
    assert calls(plan) == [
        (
            "/org-demo/update",
            {
                "jobLogsForwarding": {
                    "url": "https://splunk.example/hec",
                    "token": {"$env": "SPLUNK_TOKEN"},
                }
            },
        )
    ]
    assert "differs" in plan.actions[0].reason
    assert token not in json.dumps(calls(plan)) + repr(plan)
    # An unset variable leaves forwarding unchecked, never the whole org unplanned.
    unset = plan_org(desired, drifted, options(token_signatures={"SPLUNK_TOKEN": None}))
    assert unset.error is None and unset.applyable and unset.actions == ()
    assert len(unset.unchecked) == 1 and "SPLUNK_TOKEN" in unset.unchecked[0]
    assert unset.differs and unset.steps == ()
    # A variable that holds a credential makes the org unplannable, with the reason given.
    refused = plan_org(
        desired,
        drifted,
        options(
            token_signatures={"SPLUNK_TOKEN": signature}, token_problems={"SPLUNK_TOKEN": "no"}
        ),
    )
    assert refused.error == "no" and not refused.applyable and refused.actions == ()


def test_disabled_forwarding_sends_an_empty_object():
    desired = desired_org(None, forwarding=Forwarding(False))
    live = live_org(dict(ADMINS), forwarding=LiveForwarding("https://x", "f" * 64))
    assert calls(plan_org(desired, live, options())) == [
        ("/org-demo/update", {"jobLogsForwarding": {}})
    ]
    assert plan_org(desired, live_org(dict(ADMINS)), options()).actions == ()


def test_provisioning_creates_then_invites_and_skips_existing_members():
    account = NewAccount(
        "Erin",
        "erin@example.com",
        "Erin",
        "Lee",
        set_bill_to=True,
        flags={"projectAccess": "VIEW", "allowBillableActivities": True},
    )
    desired = desired_org(None, provisioning=(account,))
    plan = plan_org(desired, live_org(dict(ADMINS)), options())
    assert calls(plan) == [
        (
            "/user/new",
            {
                "username": "Erin",
                "email": "erin@example.com",
                "first": "Erin",
                "last": "Lee",
                "billTo": "org-demo",
                "provisioningOrg": "org-demo",
            },
        ),
        (
            "/org-demo/invite",
            {
                "invitee": "user-erin",
                "level": "MEMBER",
                "allowBillableActivities": True,
                "appAccess": True,
                "projectAccess": "VIEW",
                "suppressEmailNotification": False,
            },
        ),
    ]
    assert plan.steps[0].call.server == "auth" and plan.steps[1].depends_on == (plan.steps[0].id,)
    # An existing account is adopted only when dxorg can show it is the one to provision.
    same_email = live_org(dict(ADMINS), existing_accounts={"user-erin": "Erin@Example.com"})
    exists = plan_org(desired, same_email, options())
    assert [s.call.route for s in exists.steps] == ["/org-demo/invite"] and exists.applyable
    unseen = live_org(dict(ADMINS), existing_accounts={"user-erin": None})
    journaled = plan_org(
        desired, unseen, options(created_accounts={"user-erin": "erin@example.com"})
    )
    assert [s.call.route for s in journaled.steps] == ["/org-demo/invite"]
    for email in (None, "someone-else@example.com"):
        taken = live_org(dict(ADMINS), existing_accounts={"user-erin": email})
        refused = plan_org(desired, taken, options())
        assert refused.actions == () and not refused.applyable
        assert [v.rule for v in refused.violations] == ["provisioning"]
        assert "user-erin" in refused.violations[0].message
    # A member is never "provisioned" on the entry's word: only the platform showing the
    # entry's email for it (adopted, and the plan says so) or dxorg's own record.
    members = {**ADMINS, "user-erin": member()}
    member_already = plan_org(desired, live_org(members), options())
    assert member_already.actions == () and not member_already.applyable
    assert [v.rule for v in member_already.violations] == ["provisioning"]
    assert "already a member of org-demo (MEMBER)" in member_already.violations[0].message
    shown = live_org(members, existing_accounts={"user-erin": "erin@example.com"})
    adopted = plan_org(desired, shown, options())
    assert adopted.actions == () and adopted.applyable
    assert [w.code for w in adopted.warnings] == ["provisioning-adopted"]
    ours = plan_org(
        desired,
        live_org(members, existing_accounts={"user-erin": None}),
        options(created_accounts={"user-erin": "erin@example.com"}),
    )
    assert ours.actions == () and ours.applyable and ours.warnings == ()


def test_provisioning_without_an_auth_server_is_a_violation_at_plan_time():
    account = NewAccount("Erin", "erin@example.com", "Erin", "Lee")
    desired = desired_org(None, provisioning=(account,))
    plan = plan_org(
        desired, live_org(dict(ADMINS)), options(auth_server_problem="DX_AUTHSERVER_HOST unset")
    )
    assert [v.rule for v in plan.violations] == ["provisioning"]
    assert "DX_AUTHSERVER_HOST unset" in plan.violations[0].message
    assert not plan.applyable


def test_expiring_orgs_are_warned_about():
    soon = live_org(dict(ADMINS), expires_at=NOW_MS + 5 * 86_400_000)
    assert [w.code for w in plan_org(desired_org(None), soon, options()).warnings] == [
        "org-expiring"
    ]
    past = live_org(dict(ADMINS), expires_at=NOW_MS - 1)
    assert [w.code for w in plan_org(desired_org(None), past, options()).warnings] == [
        "org-expired"
    ]


def test_fingerprints_cover_every_member_and_absent_invitees():
    live = live_org({**ADMINS, "user-bob": member()})
    desired = desired_org(
        {
            **{u: want(u, "ADMIN") for u in ADMINS},
            "user-bob": want("user-bob"),
            "user-new": want("user-new"),
        }
    )
    plan = plan_org(desired, live, options())
    assert {
        "org",
        "forwarding",
        "member:user-alice",
        "member:user-root",
        "member:user-bob",
        "member:user-new",
    } <= set(plan.fingerprints)
    assert plan.fingerprints["member:user-new"] != plan.fingerprints["member:user-bob"]


# ---------------------------------------------------------------- property: admin invariants

USERS = [f"user-u{i}" for i in range(8)]
levels = st.sampled_from(["ADMIN", "MEMBER", None])
accesses = st.builds(
    member,
    st.sampled_from(["MEMBER"]),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["VIEW", "CONTRIBUTE", "ADMINISTER"]),
)


def _interpret(state: dict[str, str], route: str, body: dict) -> None:
    """Apply one wire call to a {user: level} map, independently of the planner."""
    method = route.rsplit("/", 1)[-1]
    if method == "invite" and route.startswith("/org-"):
        state[body["invitee"]] = body["level"]
    elif method == "setMemberAccess":
        for user, spec in body.items():
            state[user] = spec["level"]
    elif method == "removeMember":
        state.pop(body["user"], None)


@settings(max_examples=300, deadline=None)
@given(
    live_levels=st.fixed_dictionaries({u: levels for u in USERS}),
    want_levels=st.fixed_dictionaries({u: levels for u in USERS}),
    min_admins=st.integers(1, 3),
    mode=st.sampled_from(["authoritative", "additive"]),
    caller=st.sampled_from(USERS),
)
def test_no_step_of_an_applyable_plan_breaks_the_admin_invariants(
    live_levels, want_levels, min_admins, mode, caller
):
    live_levels = {u: lv for u, lv in live_levels.items() if lv}
    live_levels[caller] = "ADMIN"  # a plan is only made with an admin token
    live = live_org({u: member(lv) for u, lv in live_levels.items()}, caller=caller)
    wanted = {u: want(u, lv) for u, lv in want_levels.items() if lv}
    desired = desired_org(
        wanted, mode=mode, safety=SafetySettings(min_admins=min_admins, budgets={})
    )
    plan = plan_org(desired, live, options())
    state = dict(live_levels)

    def admins() -> int:
        return sum(1 for lv in state.values() if lv == "ADMIN")

    start = admins()
    for phase in PHASES:
        for step in (s for s in plan.steps if s.phase == phase):
            before = admins()
            _interpret(state, step.call.route, dict(step.call.body))
            if plan.applyable:
                assert state.get(caller) == "ADMIN", "the token's user lost ADMIN"
                if admins() < before:
                    assert admins() >= min_admins, f"{step.id} left {admins()} admins"
    if plan.applyable:
        assert admins() >= min(start, min_admins)
        # Converged: every wanted level holds; in authoritative mode nobody else is left.
        for user, lv in want_levels.items():
            if lv and user != caller:
                assert state.get(user) == lv
        if mode == "authoritative":
            assert set(state) <= {u for u, lv in want_levels.items() if lv} | {caller}
