"""What a reviewer should know about a plan that does not stop it being applied. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from reconciler.access_rules import account_ownership
from reconciler.findings import (
    GrantFinding,
    grant_findings,
    policy_findings,
    policy_text,
    read_only_differences,
)
from reconciler.model import (
    NO_ACCESS,
    DesiredMember,
    DesiredOrg,
    LiveOrg,
    ProjectGrant,
    grant_record_key,
    selects,
)
from reconciler.plan import Action, PlanWarning

EXPIRY_WARNING_DAYS = 30
DAY_MS = 86_400_000


def plan_warnings(
    desired: DesiredOrg,
    live: LiveOrg,
    *,
    today: date,
    now_ms: int,
    left_out: Sequence[Action],
    left_out_by: str = "--skip-removals",
) -> list[PlanWarning]:
    return [
        *membership_expiry_warnings(desired, live, today),
        *_org_expiry(desired, live, now_ms),
        *_few_admins(desired, live),
        *_hidden_users(live),
        *_adopted_members(desired, live),
        *_read_only_flags(desired, live),
        *_grants_matching_nothing(desired, live),
        *_records_left(desired, live, today),
        *_left_out(left_out, left_out_by),
        *policy_warnings(desired, live, today),
    ]


def _org_expiry(desired: DesiredOrg, live: LiveOrg, now_ms: int) -> list[PlanWarning]:
    if live.expires_at is None:
        return []
    when = datetime.fromtimestamp(live.expires_at / 1000, tz=UTC).date()
    if live.expires_at <= now_ms:
        return [
            PlanWarning(
                "org-expired",
                f"{desired.org_id} expired on {when}: billable operations fail with OrgExpired",
            )
        ]
    if live.expires_at - now_ms <= EXPIRY_WARNING_DAYS * DAY_MS:
        return [
            PlanWarning(
                "org-expiring",
                f"{desired.org_id} expires on {when}, within {EXPIRY_WARNING_DAYS} days",
            )
        ]
    return []


def _few_admins(desired: DesiredOrg, live: LiveOrg) -> list[PlanWarning]:
    admins = sum(1 for m in live.members.values() if m.access.level == "ADMIN")
    if desired.membership is None or admins >= desired.safety.min_admins:
        return []
    return [
        PlanWarning(
            "few-admins",
            f"{desired.org_id} has {admins} admin(s) now, fewer than safety.minAdmins "
            f"{desired.safety.min_admins}",
        )
    ]


def _hidden_users(live: LiveOrg) -> list[PlanWarning]:
    return [
        PlanWarning(
            "hidden-user", f"{user_id} exists but this token may not see it: its invite may fail"
        )
        for user_id in sorted(live.hidden_users)
    ]


def _adopted_members(desired: DesiredOrg, live: LiveOrg) -> list[PlanWarning]:
    """A provisioning entry naming a member the platform shows with the entry's email: the
    member is adopted as that entry's account (nothing to send; its access is not changed)."""
    return [
        PlanWarning(
            "provisioning-adopted",
            f"{account.user_id} (provisioning at {account.where or desired.source}) is already "
            f"a member ({live.members[account.user_id].access.level}) and the platform shows "
            f"{account.email} for it: adopted as this entry's account, its access unchanged",
        )
        for account in desired.provisioning
        if account.user_id in live.members
        and account_ownership(account, live, {}) == "platform-email"
    ]


def _read_only_flags(desired: DesiredOrg, live: LiveOrg) -> list[PlanWarning]:
    """A read-only flag that differs is reported, never changed: no source shows a request
    that sets it (see docs/manifest-reference.md)."""
    out = []
    for found in read_only_differences(desired, live):
        member, name = found.member, found.flag.name
        if name in member.own_flags:
            where = str(member.where or desired.source)
        else:
            where = str(desired.member_defaults_where.get(name) or desired.source)
        now = "will have" if found.invited else "has"
        out.append(
            PlanWarning(
                "read-only-flag",
                f"{member.user_id} {now} {name} {_show(found.planned)}; {where} sets "
                f"{_show(found.wanted)}. dxorg does not change {name} (no API request is known "
                "to set it): change it on the platform, or in the manifest",
            )
        )
    return out


def _show(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _grants_matching_nothing(desired: DesiredOrg, live: LiveOrg) -> list[PlanWarning]:
    grants = desired.self_grants
    if grants is None:
        return []
    out = []
    for index, project_grant in enumerate(grants.projects):
        if not any(selects(project_grant.selector, p.project_id, p.name) for p in live.projects):
            out.append(
                PlanWarning(
                    "grant-matches-nothing",
                    f"selfGrants.projects[{index}] ({project_grant.selector.kind} "
                    f"{project_grant.selector.value}) matches no project billed to {desired.org_id}",
                )
            )
    for index, app_grant in enumerate(grants.apps):
        if not any(selects(app_grant.selector, a.app_id, a.name) for a in live.apps):
            out.append(
                PlanWarning(
                    "grant-matches-nothing",
                    f"selfGrants.apps[{index}] ({app_grant.selector.kind} "
                    f"{app_grant.selector.value}) matches no app billed to {desired.org_id}",
                )
            )
    return out


def grant_drift(desired: DesiredOrg, live: LiveOrg, today: date) -> list[str]:
    """Self-granted access dxorg will not change and a person must decide about: each is a
    difference (`plan --detailed-exitcode` exits 2, the drift issue shows it, apply never
    ends "converged"), never an action."""
    return [
        _finding_text(found, desired, live)
        for found in grant_findings(desired, live, today)
        if found.drift
    ]


def _records_left(desired: DesiredOrg, live: LiveOrg, today: date) -> list[PlanWarning]:
    return [
        PlanWarning("grant-record-left", _finding_text(found, desired, live))
        for found in grant_findings(desired, live, today)
        if not found.drift
    ]


def _finding_text(found: GrantFinding, desired: DesiredOrg, live: LiveOrg) -> str:
    grant, caller = found.grant, live.caller
    key = grant_record_key(caller)
    what = f"{found.object_id} ({found.name})"
    if grant is None:  # only a record left, which no grant selects any more
        return _orphan_record_text(found, desired, caller, key)
    where = grant.where or desired.source
    project = isinstance(grant, ProjectGrant)
    if found.kind == "unrecorded":
        access = "ADMINISTER on" if project else "developer rights on"
        return (
            f"grant-not-revoked: the self-grant at {where} expired on {grant.expires}, but "
            f"{caller} still has {access} {what} and dxorg has no record of giving it (access "
            "held before the grant, or a grant whose record was lost): dxorg does not revoke "
            "what it cannot show it added. Revoke it by hand if it should go, then remove the "
            "expired grant from the manifest"
        )
    if found.kind == "stale-record":
        return (
            f"grant-blocked: the self-grant at {where} gives {caller} ADMINISTER on {what}, but "
            f"dxorg's record there ({key}) says {caller} had {found.recorded} before a grant, "
            f"and {caller} has {found.live} now; at {found.live} dxorg cannot correct the record "
            "first, and granting over it could let expiry give back the wrong level. Delete "
            "that project property (a project ADMINISTER can), then plan again"
        )
    if project:
        has = "no access" if found.live == NO_ACCESS else found.live
        return (
            f"the self-grant at {where} expired on {grant.expires} and {caller} has {has} "
            f"on {what}, not ADMINISTER, but dxorg's record {key} ({found.recorded}) stays "
            f"there: with {has} {caller} may not clear it. It is harmless while {caller} "
            "does not hold ADMINISTER there (given back by hand while this grant is expired, "
            f"dxorg would take it back to {found.recorded}); delete the property to tidy it"
        )
    return (
        f"the self-grant at {where} expired on {grant.expires} and {caller} is no longer a "
        f"developer of {what}, but the app keeps dxorg's record tag {key} (only developers "
        f"may change an app's tags). It is harmless while {caller} is not a developer (made "
        "one again by hand while this grant is expired, dxorg would take it back); a "
        "developer may remove the tag to tidy it"
    )


def _orphan_record_text(found: GrantFinding, desired: DesiredOrg, caller: str, key: str) -> str:
    what = f"{found.object_id} ({found.name})"
    over = f"no self-grant in {desired.source} selects {what} any more"
    if found.object_id.startswith("project-"):
        has = "no access" if found.live == NO_ACCESS else found.live
        return (
            f"{over} and {caller} has {has} there, not ADMINISTER, but dxorg's record {key} "
            f"({found.recorded}) stays: with {has} {caller} may not clear it. It is harmless "
            f"while {caller} does not hold ADMINISTER there (given back by hand, dxorg would "
            f"take it back to {found.recorded}); delete the property to tidy it"
        )
    return (
        f"{over} and {caller} is no longer a developer of it, but the app keeps dxorg's "
        f"record tag {key} (only developers may change an app's tags). It is harmless while "
        f"{caller} is not a developer (made one again by hand, dxorg would take it back); a "
        "developer may remove the tag to tidy it"
    )


def _left_out(left_out: Sequence[Action], by: str) -> list[PlanWarning]:
    if not left_out:
        return []
    what = "removal(s)" if by == "--skip-removals" else "change(s)"
    return [
        PlanWarning(
            "removals-skipped",
            f"{len(left_out)} {what} left out ({by}): the org still differs",
        )
    ]


def expiring_members(desired: DesiredOrg, today: date) -> list[DesiredMember]:
    """Listed members whose `expires` date is within `safety.expiryNoticeDays` (not yet
    come), soonest first."""
    if desired.membership is None:
        return []
    notice = desired.safety.expiry_notice_days
    soon = [
        m
        for m in desired.membership.members.values()
        if m.expires is not None and 0 < (m.expires - today).days <= notice
    ]
    return sorted(soon, key=lambda m: (m.expires or today, m.user_id))


def membership_expiry_warnings(
    desired: DesiredOrg, live: LiveOrg, today: date
) -> list[PlanWarning]:
    """Memberships about to end (so someone can extend them first), and admins whose
    coming expiries would leave the org below `safety.minAdmins` (a violation once due)."""
    out = []
    for member in expiring_members(desired, today):
        assert member.expires is not None
        days = (member.expires - today).days
        state = "a member" if member.user_id in live.members else "listed, not a member yet"
        out.append(
            PlanWarning(
                "membership-expiring",
                f"{member.user_id}'s membership of {desired.org_id} ends on {member.expires}, "
                f"in {days} day(s) ({member.expiry_text()}; {state}): extend `expires` there "
                "to keep it",
            )
        )
    members = desired.membership.members if desired.membership else {}
    admins = {u for u, m in live.members.items() if m.access.level == "ADMIN"}
    ending = sorted(
        (m for u, m in members.items() if u in admins and m.expires and not m.expired(today)),
        key=lambda m: (m.expires or today, m.user_id),
    )
    minimum = desired.safety.min_admins
    left = len(admins)
    for member in ending:
        left -= 1
        if left < minimum:
            out.append(
                PlanWarning(
                    "admin-expiring",
                    f"{member.user_id} is an ADMIN whose membership ends on {member.expires} "
                    f"({member.expiry_text()}): that leaves {desired.org_id} {left} admin(s), "
                    f"fewer than safety.minAdmins {minimum}; on that day the removal is refused "
                    "until another admin is added or the expiry extended",
                )
            )
    return out


def policy_warnings(desired: DesiredOrg, live: LiveOrg, today: date) -> list[PlanWarning]:
    """Report-mode findings (shown, never written), and exceptions that except nothing."""
    out = []
    findings = policy_findings(desired, live, today)
    for found in findings:
        if found.policy.mode != "report" or not found.missing or found.exempt:
            continue
        project, policy = found.project, found.policy
        out.append(
            PlanWarning(
                "policy-finding",
                f"project {project.name} ({project.project_id}) does not meet "
                f"{policy_text(policy, desired.source)} (report mode: nothing is changed): "
                + ", ".join(f"{s} is false, required true" for s in found.missing),
            )
        )
    covered = {(f.policy.name, f.project.project_id) for f in findings}
    for policy in desired.project_policies:
        for exception in policy.exceptions:
            if (policy.name, exception.project_id) not in covered:
                out.append(
                    PlanWarning(
                        "policy-exception-matches-nothing",
                        f"the exception for {exception.project_id} at "
                        f"{exception.where or desired.source} matches no project "
                        f"{policy_text(policy, desired.source)} covers in {desired.org_id}",
                    )
                )
    return out
