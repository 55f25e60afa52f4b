"""The safety rails: one function from a live state and a plan's steps to its violations. Pure.

The planner calls `check_rails` on the state it read; apply calls the planner again on the
state it reads just before writing (so a saved plan's own verdict is never trusted),
`shrunk_members` on the member list it read against the one the plan read, and
`admin_violations` once more on the org's ADMINs right before the first demotion or removal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.access_rules import account_ownership, grantee_allowed
from reconciler.changes import (
    AccountChange,
    MemberAccessChange,
    MemberInvitation,
    MemberRemoval,
    ProjectSettingsChange,
)
from reconciler.model import BUDGET_COLLECTIONS, FLAGS, DesiredOrg, LiveOrg
from reconciler.plan import (
    Action,
    ActionKind,
    ObjectKey,
    ObjectKind,
    OrgPlan,
    Step,
    Violation,
    fingerprint,
)

# Rules a human may accept with --override (recorded in the plan); the others never yield.
OVERRIDABLE_RULES: tuple[str, ...] = ("min-admins", *(f"budget.{c}" for c in BUDGET_COLLECTIONS))

# Kinds of action that change a member's membership or access, in either direction.
MEMBER_KINDS = frozenset(
    {
        ActionKind.PROVISION,
        ActionKind.INVITE_MEMBER,
        ActionKind.PROMOTE,
        ActionKind.UPDATE_ACCESS,
        ActionKind.DEMOTE,
        ActionKind.REMOVE_MEMBER,
    }
)


def check_rails(
    desired: DesiredOrg,
    live: LiveOrg,
    actions: Sequence[Action],
    steps: Sequence[Step],
    *,
    created_accounts: Mapping[str, str],
    auth_server_problem: str | None = None,
) -> list[Violation]:
    """Every rail the plan breaks (overrides are applied by the caller, not here)."""
    required = desired.membership.required_admins if desired.membership else frozenset()
    levels = {uid: m.access.level for uid, m in live.members.items()}
    return [
        *_protection(desired, live, actions),
        *_grantee(desired, live),
        *admin_violations(levels, steps, actions, required, desired.safety.min_admins),
        *_budgets(desired, live, actions),
        *_unknown_users(desired, live),
        *_taken_usernames(desired, live, created_accounts),
        *_unsendable_provisioning(steps, auth_server_problem),
        *_projects_not_administered(desired, live, actions),
    ]


def _protection(desired: DesiredOrg, live: LiveOrg, actions: Sequence[Action]) -> list[Violation]:
    """Protected members are never changed, in either direction; the token's own user is
    never removed or demoted."""
    protected = desired.membership.protected if desired.membership else frozenset()
    out = []
    for action in actions:
        if action.target in protected and action.kind in MEMBER_KINDS:
            out.append(
                Violation(
                    "protected",
                    f"{action.target} is protected in {desired.source}: {action.summary}",
                )
            )
        if action.target == live.caller and action.kind in (
            ActionKind.DEMOTE,
            ActionKind.REMOVE_MEMBER,
        ):
            out.append(
                Violation(
                    "caller",
                    f"{action.target} is the user this token belongs to; dxorg never removes or "
                    f"demotes its own user ({action.summary})",
                )
            )
    return out


def _grantee(desired: DesiredOrg, live: LiveOrg) -> list[Violation]:
    if grantee_allowed(desired, live.caller):
        return []
    assert desired.self_grants is not None
    return [
        Violation(
            "grantee",
            f"selfGrants.admin is {desired.self_grants.admin}, but the token belongs to "
            f"{live.caller}: the platform lets an org admin grant only themselves, so the "
            "grants must be applied with that admin's own token (or drop selfGrants.admin)",
        )
    ]


def admin_violations(
    levels: Mapping[str, str],
    steps: Sequence[Step],
    actions: Sequence[Action],
    required: frozenset[str],
    minimum: int,
) -> list[Violation]:
    """Replay `steps` on member levels (user -> ADMIN|MEMBER) and check the admin rails
    after each: no step that takes an admin away may leave fewer than `minimum`, and a
    required admin who is ADMIN at the start stays ADMIN."""
    by_id = {a.id: a for a in actions}
    now = dict(levels)
    required_now = sorted(u for u in required if levels.get(u) == "ADMIN")
    taken: set[str] = set()  # required admins already reported, at the step that took them
    out = []
    for step in steps:
        admins_before = sum(1 for level in now.values() if level == "ADMIN")
        for action_id in step.actions:
            action = by_id.get(action_id)
            if action is None:
                continue
            change = action.change
            if isinstance(change, MemberInvitation | AccountChange):
                now[action.target] = change.access.level
            elif isinstance(change, MemberAccessChange):
                now[action.target] = change.after.level
            elif isinstance(change, MemberRemoval):
                now.pop(action.target, None)
        admins = sum(1 for level in now.values() if level == "ADMIN")
        if admins < admins_before and admins < minimum:
            out.append(
                Violation(
                    "min-admins",
                    f"step {step.id} ({step.call.route}) leaves {admins} admin(s); "
                    f"safety.minAdmins is {minimum}",
                    step.id,
                )
            )
        for user_id in required_now:
            if now.get(user_id) != "ADMIN" and user_id not in taken:
                taken.add(user_id)
                out.append(
                    Violation(
                        "required-admins",
                        f"step {step.id} takes ADMIN from {user_id}, a required admin",
                        step.id,
                    )
                )
    return out


def percent_allowance(percent: float, size: int) -> int:
    """How many removals a percentage allows: rounded down, but never less than one,
    so that removing one member of a small org is not a mass removal."""
    return max(1, int(percent * size // 100))


def collection_sizes(live: LiveOrg) -> dict[str, int]:
    """What each budget is measured against: its own collection, as read."""
    members = len(live.members)
    return {
        "members": members,
        "levels": sum(1 for m in live.members.values() if m.access.level == "ADMIN"),
        # lowered access, whichever flag: against the members
        **{flag.budget: members for flag in FLAGS if flag.budget is not None},
        "projectGrants": len(live.projects),
        "appGrants": len(live.apps),
    }


def _budgets(desired: DesiredOrg, live: LiveOrg, actions: Sequence[Action]) -> list[Violation]:
    sizes = collection_sizes(live)
    out = []
    for collection in BUDGET_COLLECTIONS:
        budget = desired.safety.budgets.get(collection)
        removed = sum(1 for a in actions if collection in a.removals)
        if budget is None or removed == 0:
            continue
        size = sizes[collection]
        limits = []
        if budget.count is not None and removed > budget.count:
            limits.append(f"the count limit is {budget.count}")
        if budget.percent is not None and removed > percent_allowance(budget.percent, size):
            share = removed * 100 / size if size else 100.0
            limits.append(f"that is {share:.0f}% of {size}, over the {budget.percent:g}% limit")
        if limits:
            out.append(
                Violation(
                    f"budget.{collection}",
                    f"the plan removes {removed} from {collection}; " + " and ".join(limits),
                )
            )
    return out


def _unknown_users(desired: DesiredOrg, live: LiveOrg) -> list[Violation]:
    """A listed user with no account is a mistake in the manifest (a typo, a departed
    user): the plan cannot be applied until the manifest is fixed."""
    members = desired.membership.members if desired.membership else {}
    return [
        Violation(
            "unknown-user",
            f"{user_id} (listed at {members[user_id].where or desired.source}) has no account "
            "on the platform: fix the manifest",
        )
        for user_id in sorted(live.unknown_users)
        if user_id in members
    ]


def _taken_usernames(
    desired: DesiredOrg, live: LiveOrg, created: Mapping[str, str]
) -> list[Violation]:
    """A provisioning entry whose username is an account dxorg cannot show is the entry's
    (see `diff.account_ownership`): inviting it, or calling an existing member
    "provisioned", could hand a stranger access or launder a member nobody declared."""
    out = []
    for account in desired.provisioning:
        user_id = account.user_id
        member = live.members.get(user_id)
        if member is None and user_id not in live.existing_accounts:
            continue  # no such account: plan creates it
        if account_ownership(account, live, created) is not None:
            continue
        at = account.where or desired.source
        shown = live.existing_accounts.get(user_id)
        if member is not None:
            message = (
                f"{user_id} (provisioning at {at}) is already a member of {desired.org_id} "
                f"({member.access.level}), and the platform does not show {account.email} for "
                "it: a provisioning entry never takes over an existing member. If it is the "
                "right person (an account dxorg provisioned earlier, or one who already had an "
                "account), move the entry to members.users; otherwise remove it"
            )
        elif shown is not None:
            message = (
                f"{user_id} (provisioning at {at}) already exists with another email: dxorg "
                "would be inviting somebody else's account. Choose another username"
            )
        else:
            message = (
                f"{user_id} (provisioning at {at}) already exists, and dxorg cannot show it is "
                f"the account this entry provisions (the platform shows an account's email "
                "only to its owner, and no apply journal here holds the answer /user/new gave "
                "dxorg for it): it may be one an earlier apply created and was stopped before "
                "inviting, or somebody else's. Nobody is invited. Verify it is the right "
                f"person's (the journal of the apply that created it has a call-done for "
                f"/user/new {account.username}; or {account.email} received the platform's "
                f"activation email for {user_id}), then move the entry to members.users; "
                "otherwise choose another username"
            )
        out.append(Violation("provisioning", message))
    return out


def _projects_not_administered(
    desired: DesiredOrg, live: LiveOrg, actions: Sequence[Action]
) -> list[Violation]:
    """A policy change needs ADMINISTER on the project (`project-x/update`); dxorg never
    gains access the manifests did not declare, so a project the token's user does not
    administer, and that no self-grant of this plan gives it, blocks the plan."""
    granted = {a.target for a in actions if a.kind == ActionKind.GRANT_PROJECT}
    out = []
    for action in actions:
        change = action.change
        if not isinstance(change, ProjectSettingsChange) or action.target in granted:
            continue
        level = change.level
        if level == "ADMINISTER":
            continue
        out.append(
            Violation(
                "project-access",
                f"{action.summary}: updating {action.target} needs ADMINISTER on it, and "
                f"{live.caller} has {level or 'no access'} there. Declare a self-grant "
                f"(selfGrants.projects: - {{id: {action.target}, reason: ...}}) in "
                f"{desired.source}, or except the project from the policy",
            )
        )
    return out


def shrunk_members(org: OrgPlan, live: LiveOrg, desired: DesiredOrg) -> str | None:
    """Why the member list looks suspiciously smaller than when the plan was made, if it does.

    Members the plan read that are gone now, not counting the plan's own removals, beyond
    what the members removal budget allows: a partial read or a mass removal by someone
    else. Either way it is reported and never acted on.
    """
    budget = desired.safety.budgets.get("members")
    if desired.membership is None or budget is None:
        return None
    gone_already = fingerprint(None)
    planned = [
        key.ident
        for key, value in ((ObjectKey.parse(k), v) for k, v in org.fingerprints.items())
        if key.kind == ObjectKind.MEMBER and value != gone_already
    ]
    removing = {a.target for a in org.actions if a.kind == ActionKind.REMOVE_MEMBER}
    vanished = sorted(u for u in planned if u not in live.members and u not in removing)
    limits = [budget.count] if budget.count is not None else []
    if budget.percent is not None:
        limits.append(percent_allowance(budget.percent, len(planned)))
    if not limits or len(vanished) <= min(limits):
        return None
    return (
        f"the member list shrank since the plan: {len(vanished)} of its {len(planned)} members "
        f"are gone ({', '.join(vanished[:3])}{', ...' if len(vanished) > 3 else ''}), more than "
        f"the members removal budget ({min(limits)}) allows: a partial read or a mass removal"
    )


def _unsendable_provisioning(steps: Sequence[Step], problem: str | None) -> list[Violation]:
    """An account to create needs the auth server: found out at plan time, not half-way
    through apply."""
    if problem is None:
        return []
    return [
        Violation(
            "provisioning",
            f"step {step.id} ({step.call.route} for {step.call.body.get('username')}): {problem}",
            step.id,
        )
        for step in steps
        if step.call.server == "auth"
    ]
