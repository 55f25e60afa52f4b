"""What a reviewer should know about a plan that does not stop it being applied. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from reconciler.diff import account_ownership, read_only_differences, unrecorded_expired_grants
from reconciler.model import DesiredOrg, LiveOrg, ProjectGrant, selects
from reconciler.plan import Action, PlanWarning

EXPIRY_WARNING_DAYS = 30
DAY_MS = 86_400_000


def plan_warnings(
    desired: DesiredOrg, live: LiveOrg, *, today: date, now_ms: int, left_out: Sequence[Action]
) -> list[PlanWarning]:
    return [
        *_org_expiry(desired, live, now_ms),
        *_few_admins(desired, live),
        *_hidden_users(live),
        *_adopted_members(desired, live),
        *_read_only_flags(desired, live),
        *_grants_matching_nothing(desired, live),
        *_unrecorded_grants(desired, live, today),
        *_left_out(left_out),
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


def _unrecorded_grants(desired: DesiredOrg, live: LiveOrg, today: date) -> list[PlanWarning]:
    out = []
    for grant, object_id, name in unrecorded_expired_grants(desired, live, today):
        what = "ADMINISTER on" if isinstance(grant, ProjectGrant) else "developer rights on"
        out.append(
            PlanWarning(
                "grant-not-revoked",
                f"the self-grant at {grant.where or desired.source} expired on {grant.expires}, "
                f"but dxorg has no record of giving {live.caller} {what} {object_id} ({name}): "
                "the access may predate the grant, so it is not revoked. Revoke it by hand if it "
                "should go, then remove the expired grant from the manifest",
            )
        )
    return out


def _left_out(left_out: Sequence[Action]) -> list[PlanWarning]:
    if not left_out:
        return []
    return [
        PlanWarning(
            "removals-skipped",
            f"{len(left_out)} removal(s) left out (--skip-removals): the org still differs",
        )
    ]
