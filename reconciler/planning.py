"""Actions -> an ordered, checked OrgPlan. Pure: no I/O, no clock.

Steps run phase by phase (see `plan.PHASES`): grants before revocations, so no step
leaves the org with fewer admins than the plan ends with. The safety rails are
checked on the simulated membership after every step, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache

from reconciler.diff import (
    PLATFORM_MEMBER_DEFAULTS,
    DiffInput,
    ForwardingTokenMissing,
    access_json,
    diff_org,
)
from reconciler.model import BUDGET_COLLECTIONS, Access, DesiredOrg, LiveOrg, selects
from reconciler.plan import (
    PHASES,
    Action,
    ApiCall,
    OrgPlan,
    PlanWarning,
    Step,
    Violation,
    fingerprint,
    phase_index,
)

# setMemberAccess takes many users per call; this bounds one request body.
MEMBER_ACCESS_BATCH = 1000
EXPIRY_WARNING_DAYS = 30
OVERRIDABLE_RULES: tuple[str, ...] = ("min-admins", *(f"budget.{c}" for c in BUDGET_COLLECTIONS))


@dataclass(frozen=True)
class PlanOptions:
    today: date
    now_ms: int
    token_signatures: Mapping[str, str | None] = field(default_factory=dict)
    overrides: frozenset[str] = frozenset()
    skip_removals: bool = False
    batch_size: int = MEMBER_ACCESS_BATCH

    @staticmethod
    def at(now: datetime, **kwargs: object) -> PlanOptions:
        utc = now.astimezone(UTC)
        return PlanOptions(today=utc.date(), now_ms=int(utc.timestamp() * 1000), **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- fingerprints


@lru_cache(maxsize=1024)
def _access_fingerprint(access: Access) -> str:
    # A member's fingerprint depends only on its Access, of which an org has a few dozen
    # distinct values: hashing each once, not once per member, keeps big orgs cheap.
    return fingerprint(access_json(access))


@lru_cache(maxsize=1024)
def _level_fingerprint(level: str | None) -> str:
    return fingerprint(level)


def live_fingerprints(live: LiveOrg) -> dict[str, str]:
    """A fingerprint for every live object the read returned."""
    out = {
        "org": fingerprint({"name": live.name, "policies": dict(live.policies)}),
        "forwarding": fingerprint_of(live, "forwarding"),
    }
    for user_id, member in live.members.items():
        out[f"member:{user_id}"] = _access_fingerprint(member.access)
    for project in live.projects:
        out[f"project:{project.project_id}"] = _level_fingerprint(project.level)
    for app in live.apps:
        if app.developers is not None:
            out[f"app:{app.app_id}"] = fingerprint(list(app.developers))
    return out


def fingerprint_of(live: LiveOrg, key: str) -> str:
    """The fingerprint of one object (absent objects have one too: "not there")."""
    kind, _, ident = key.partition(":")
    if kind == "org":
        return fingerprint({"name": live.name, "policies": dict(live.policies)})
    if kind == "forwarding":
        fwd = live.forwarding
        return fingerprint({"url": fwd.url, "tokenSignature": fwd.token_signature} if fwd else None)
    if kind == "member":
        member = live.members.get(ident)
        return fingerprint(access_json(member.access) if member else None)
    if kind == "account":
        return fingerprint(ident in live.existing_accounts or ident in live.members)
    if kind == "project":
        return fingerprint(next((p.level for p in live.projects if p.project_id == ident), None))
    if kind == "app":
        app = next((a for a in live.apps if a.app_id == ident), None)
        return fingerprint(list(app.developers) if app and app.developers is not None else None)
    raise ValueError(f"unknown fingerprint key {key!r}")


# ---------------------------------------------------------------- planning


def plan_org(desired: DesiredOrg, live: LiveOrg, options: PlanOptions) -> OrgPlan:
    try:
        actions = diff_org(desired, live, DiffInput(options.today, options.token_signatures))
    except ForwardingTokenMissing as exc:
        return failed_org_plan(desired, live.caller, str(exc))
    warnings = _warnings(desired, live, options)
    if options.skip_removals:
        skipped = [a for a in actions if a.removals]
        actions = [a for a in actions if not a.removals]
        if skipped:
            warnings.append(
                PlanWarning(
                    "removals-skipped", f"{len(skipped)} removal(s) left out (--skip-removals)"
                )
            )
    actions.sort(key=lambda a: (phase_index(a.phase), _kind_order(a.kind), a.id))
    steps = _steps(desired, live, actions, options.batch_size)
    violations = _protection(desired, live, actions)
    violations += _simulate(desired, live, steps, actions)
    violations += _budgets(desired, live, actions)
    violations += _unknown_users(desired, live)
    violations = [
        # Only the rules in OVERRIDABLE_RULES yield to --override; the caller and
        # protected-member rules never do.
        Violation(
            v.rule,
            v.message,
            v.step,
            overridden=v.rule in options.overrides and v.rule in OVERRIDABLE_RULES,
        )
        for v in violations
    ]
    fingerprints = live_fingerprints(live)
    for action in actions:
        for key in action.touches:
            fingerprints.setdefault(key, fingerprint_of(live, key))
    return OrgPlan(
        org_id=desired.org_id,
        source=desired.source,
        caller=live.caller,
        actions=tuple(actions),
        steps=tuple(steps),
        violations=tuple(violations),
        warnings=tuple(warnings),
        fingerprints=dict(sorted(fingerprints.items())),
    )


def failed_org_plan(desired: DesiredOrg, caller: str, message: str) -> OrgPlan:
    return OrgPlan(org_id=desired.org_id, source=desired.source, caller=caller, error=message)


_KIND_ORDER = (
    "provision",
    "invite-member",
    "promote",
    "update-access",
    "update-org",
    "grant-project",
    "grant-app",
    "set-forwarding",
    "disable-forwarding",
    "demote",
    "remove-member",
    "revoke-project",
    "revoke-app",
)


def _kind_order(kind: str) -> int:
    return _KIND_ORDER.index(kind)


def _chunks(items: Sequence[Action], size: int) -> Iterable[Sequence[Action]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _steps(desired: DesiredOrg, live: LiveOrg, actions: list[Action], batch: int) -> list[Step]:
    org = desired.org_id
    accounts = {a.user_id: a for a in desired.provisioning}
    grant_admin = (desired.self_grants.admin if desired.self_grants else None) or live.caller
    steps: list[Step] = []

    def add(phase: str, call: ApiCall, served: Sequence[Action], after: Sequence[str] = ()) -> str:
        step_id = f"{org}#{len(steps) + 1}"
        steps.append(Step(step_id, phase, call, tuple(a.id for a in served), tuple(after)))
        return step_id

    def member_access_batches(phase: str, kind: str, body_of: object) -> list[str]:
        group = [a for a in actions if a.kind == kind]
        ids = []
        for chunk in _chunks(group, batch):
            body = {a.target: body_of(a) for a in chunk}  # type: ignore[operator]
            ids.append(add(phase, ApiCall(f"/{org}/setMemberAccess", body), chunk))
        return ids

    def invite_body(user_id: str, access: Mapping[str, object]) -> dict[str, object]:
        return {
            "invitee": user_id,
            "level": access["level"],
            "allowBillableActivities": access["allowBillableActivities"],
            "appAccess": access["appAccess"],
            "projectAccess": access["projectAccess"],
            "suppressEmailNotification": False,
        }

    # Steps that add admins; steps that take admins away wait for all of them.
    admin_raising: list[str] = []
    for action in actions:
        if action.phase != "provision":
            continue
        assert action.after is not None
        after = []
        if action.kind == "provision":
            account = accounts[action.target]
            body: dict[str, object] = {
                "username": account.username,
                "email": account.email,
                "first": account.first,
                "last": account.last,
            }
            if account.middle:
                body["middle"] = account.middle
            if account.set_bill_to:
                body["billTo"] = org
            body["provisioningOrg"] = org
            after.append(add("provision", ApiCall("/user/new", body, server="auth"), [action]))
        step = add(
            "provision",
            ApiCall(f"/{org}/invite", invite_body(action.target, action.after)),
            [action],
            after,
        )
        if action.after["level"] == "ADMIN":
            admin_raising.append(step)

    for action in actions:
        if action.kind == "invite-member" and action.phase == "invite":
            assert action.after is not None
            step = add(
                "invite",
                ApiCall(f"/{org}/invite", invite_body(action.target, action.after)),
                [action],
            )
            if action.after["level"] == "ADMIN":
                admin_raising.append(step)
    admin_raising += member_access_batches("invite", "promote", lambda a: {"level": "ADMIN"})

    def changed_flags(action: Action) -> dict[str, object]:
        assert action.before is not None and action.after is not None
        body: dict[str, object] = {"level": "MEMBER"}
        for key in PLATFORM_MEMBER_DEFAULTS:
            if action.after[key] != action.before[key]:
                body[key] = action.after[key]
        return body

    member_access_batches("access", "update-access", changed_flags)

    org_updates = [a for a in actions if a.kind == "update-org"]
    if org_updates:
        body = {}
        policies: dict[str, object] = {}
        for action in org_updates:
            assert action.after is not None
            if "name" in action.after:
                body["name"] = action.after["name"]
            else:
                policies.update(action.after)
        if policies:
            body["policies"] = policies
        add("org", ApiCall(f"/{org}/update", body), org_updates)

    # A self-grant needs its admin to be an org ADMIN: wait for the step that makes them one.
    by_id = {a.id: a for a in actions}
    grant_waits = [
        s.id
        for s in steps
        if s.id in admin_raising and any(by_id[a].target == grant_admin for a in s.actions)
    ]
    for action in actions:
        if action.kind == "grant-project":
            body = {
                "invitee": grant_admin,
                "level": "ADMINISTER",
                "suppressEmailNotification": True,
            }
            add("org", ApiCall(f"/{action.target}/invite", body), [action], grant_waits)
        elif action.kind == "grant-app":
            add(
                "org",
                ApiCall(f"/{action.target}/addDevelopers", {"developers": [grant_admin]}),
                [action],
                grant_waits,
            )
        elif action.kind in ("set-forwarding", "disable-forwarding"):
            forwarding = desired.forwarding
            value: dict[str, object] = {}
            if action.kind == "set-forwarding":
                assert forwarding is not None and forwarding.url and forwarding.token_env
                value = {"url": forwarding.url, "token": {"$env": forwarding.token_env}}
            add("org", ApiCall(f"/{org}/update", {"jobLogsForwarding": value}), [action])

    def demoted_to(action: Action) -> dict[str, object]:
        assert action.after is not None
        return {"level": "MEMBER", **{k: action.after[k] for k in PLATFORM_MEMBER_DEFAULTS}}

    for batch_ids in _demotion_batches(actions, batch):
        body = {a.target: demoted_to(a) for a in batch_ids}
        add("demote", ApiCall(f"/{org}/setMemberAccess", body), batch_ids, admin_raising)

    for action in actions:
        if action.kind == "remove-member":
            body = {
                "user": action.target,
                "revokeProjectPermissions": True,
                "revokeAppPermissions": True,
            }
            waits = admin_raising if action.before and action.before["level"] == "ADMIN" else []
            add("remove", ApiCall(f"/{org}/removeMember", body), [action], waits)
        elif action.kind == "revoke-project":
            add(
                "remove",
                ApiCall(f"/{action.target}/decreasePermissions", {grant_admin: None}),
                [action],
            )
        elif action.kind == "revoke-app":
            add(
                "remove",
                ApiCall(f"/{action.target}/removeDevelopers", {"developers": [grant_admin]}),
                [action],
            )
    return steps


def _demotion_batches(actions: list[Action], batch: int) -> Iterable[Sequence[Action]]:
    return _chunks([a for a in actions if a.kind == "demote"], batch)


# ---------------------------------------------------------------- safety rails


def _protection(desired: DesiredOrg, live: LiveOrg, actions: list[Action]) -> list[Violation]:
    """Protected members are never touched; the token's own user is never removed or demoted."""
    protected = desired.membership.protected if desired.membership else frozenset()
    out = []
    for action in actions:
        if action.target in protected and action.kind in (
            "demote",
            "remove-member",
            "update-access",
        ):
            out.append(
                Violation(
                    "protected",
                    f"{action.target} is protected in {desired.source}: {action.summary}",
                )
            )
        if action.target == live.caller and action.kind in ("demote", "remove-member"):
            out.append(
                Violation(
                    "caller",
                    f"{action.target} is the user this token belongs to; dxorg never removes or "
                    f"demotes its own user ({action.summary})",
                )
            )
    return out


def _simulate(
    desired: DesiredOrg, live: LiveOrg, steps: list[Step], actions: list[Action]
) -> list[Violation]:
    """Replay the steps on the live membership and check the admin rails after each."""
    by_id = {a.id: a for a in actions}
    levels: dict[str, str] = {uid: m.access.level for uid, m in live.members.items()}
    required = desired.membership.required_admins if desired.membership else frozenset()
    minimum = desired.safety.min_admins
    out = []
    for step in steps:
        admins_before = sum(1 for level in levels.values() if level == "ADMIN")
        for action_id in step.actions:
            action = by_id[action_id]
            if action.kind in ("invite-member", "provision", "promote", "demote"):
                assert action.after is not None
                levels[action.target] = str(action.after["level"])
            elif action.kind == "remove-member":
                levels.pop(action.target, None)
        admins = sum(1 for level in levels.values() if level == "ADMIN")
        if admins < admins_before and admins < minimum:
            out.append(
                Violation(
                    "min-admins",
                    f"step {step.id} ({step.call.route}) leaves {admins} admin(s); "
                    f"safety.minAdmins is {minimum}",
                    step.id,
                )
            )
        for user_id in sorted(required):
            if (
                live.members.get(user_id)
                and live.members[user_id].access.level == "ADMIN"
                and levels.get(user_id) != "ADMIN"
            ):
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
    ]


def _budgets(desired: DesiredOrg, live: LiveOrg, actions: list[Action]) -> list[Violation]:
    admins = sum(1 for m in live.members.values() if m.access.level == "ADMIN")
    base = {
        "members": len(live.members),
        "levels": admins,
        "projectAccess": len(live.members) + len(live.projects),
        "appAccess": len(live.members) + len(live.apps),
    }
    out = []
    for collection in BUDGET_COLLECTIONS:
        budget = desired.safety.budgets.get(collection)
        removed = sum(1 for a in actions if collection in a.removals)
        if budget is None or removed == 0:
            continue
        limits = []
        if budget.count is not None and removed > budget.count:
            limits.append(f"the count limit is {budget.count}")
        if budget.percent is not None and removed > percent_allowance(
            budget.percent, base[collection]
        ):
            share = removed * 100 / base[collection] if base[collection] else 100.0
            limits.append(
                f"that is {share:.0f}% of {base[collection]}, over the {budget.percent:g}% limit"
            )
        if limits:
            out.append(
                Violation(
                    f"budget.{collection}",
                    f"the plan removes {removed} from {collection}; " + " and ".join(limits),
                )
            )
    return out


def _warnings(desired: DesiredOrg, live: LiveOrg, options: PlanOptions) -> list[PlanWarning]:
    out = []
    if live.expires_at is not None:
        when = datetime.fromtimestamp(live.expires_at / 1000, tz=UTC).date()
        if live.expires_at <= options.now_ms:
            out.append(
                PlanWarning(
                    "org-expired",
                    f"{desired.org_id} expired on {when}: billable operations fail with OrgExpired",
                )
            )
        elif live.expires_at - options.now_ms <= EXPIRY_WARNING_DAYS * 86_400_000:
            out.append(
                PlanWarning(
                    "org-expiring",
                    f"{desired.org_id} expires on {when}, within {EXPIRY_WARNING_DAYS} days",
                )
            )
    admins = sum(1 for m in live.members.values() if m.access.level == "ADMIN")
    if desired.membership is not None and admins < desired.safety.min_admins:
        out.append(
            PlanWarning(
                "few-admins",
                f"{desired.org_id} has {admins} admin(s) now, fewer than safety.minAdmins {desired.safety.min_admins}",
            )
        )
    for user_id in sorted(live.hidden_users):
        out.append(
            PlanWarning(
                "hidden-user",
                f"{user_id} exists but this token may not see it: its invite may fail",
            )
        )
    grants = desired.self_grants
    if grants is not None:
        for index, project_grant in enumerate(grants.projects):
            if not any(
                selects(project_grant.selector, p.project_id, p.name) for p in live.projects
            ):
                out.append(
                    PlanWarning(
                        "grant-matches-nothing",
                        f"selfGrants.projects[{index}] ({project_grant.selector.kind} {project_grant.selector.value}) matches no project billed to {desired.org_id}",
                    )
                )
        for index, app_grant in enumerate(grants.apps):
            if not any(selects(app_grant.selector, a.app_id, a.name) for a in live.apps):
                out.append(
                    PlanWarning(
                        "grant-matches-nothing",
                        f"selfGrants.apps[{index}] ({app_grant.selector.kind} {app_grant.selector.value}) matches no app billed to {desired.org_id}",
                    )
                )
    return out


__all__ = [
    "OVERRIDABLE_RULES",
    "PHASES",
    "PlanOptions",
    "failed_org_plan",
    "fingerprint_of",
    "live_fingerprints",
    "plan_org",
]
