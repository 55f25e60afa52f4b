"""Desired x live -> actions. Pure: no I/O, no clock (the caller passes `today`).

Each action says what changes, why (pointing at the manifest), and which live
objects it was computed from. Turning actions into ordered API calls and checking
the safety rails is the job of `steps` and `rails`, which `planner` puts together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from reconciler.access_rules import (
    INDEPENDENT_FLAGS,
    account_ownership,
    grantee_allowed,
    target_access,
)
from reconciler.changes import (
    AccountChange,
    AppGrantChange,
    AppRevocationChange,
    ForwardingRemoval,
    ForwardingSetting,
    ForwardingState,
    GrantRecordClearing,
    MemberAccessChange,
    MemberInvitation,
    MemberRemoval,
    OrgSettingChange,
    ProjectGrantChange,
    ProjectRevocationChange,
    ProjectSettingsChange,
)
from reconciler.errors import DxorgError
from reconciler.findings import (
    PolicyFinding,
    grant_verdict,
    policy_findings,
    policy_text,
    stale_record,
)
from reconciler.model import (
    BUDGET_COLLECTIONS,
    FLAGS,
    IRREVERSIBLE_SETTINGS,
    NO_ACCESS,
    ORG_SETTINGS,
    TOP_LEVEL_SETTINGS,
    Access,
    AppGrant,
    DesiredMember,
    DesiredOrg,
    LiveMember,
    LiveOrg,
    PermissionFlag,
    ProjectGrant,
    ProjectPolicy,
    SelfGrants,
    can_write_record,
    live_setting,
    location_text,
)
from reconciler.plan import (
    FORWARDING_KEY,
    ORG_KEY,
    Action,
    ActionKind,
    DepartureCause,
    ExpiryCause,
    ObjectKey,
    Phase,
)


@dataclass(frozen=True)
class DiffInput:
    """What the diff needs besides the two states."""

    today: date
    # sha256 of each forwarding token, by env variable name; None when the variable is unset.
    token_signatures: Mapping[str, str | None]
    # Accounts dxorg's own journal shows it asked the platform to create: user id -> email.
    created_accounts: Mapping[str, str] = field(default_factory=dict)


def diff_org(desired: DesiredOrg, live: LiveOrg, inputs: DiffInput) -> list[Action]:
    actions: list[Action] = []
    actions += _diff_org_settings(desired, live)
    actions += _diff_members(desired, live, inputs.today)
    actions += _diff_departures(desired, live)
    actions += _diff_provisioning(desired, live, inputs.created_accounts)
    actions += _diff_self_grants(desired, live, inputs.today)
    actions += _diff_forwarding(desired, live, inputs)
    actions += _diff_project_policies(desired, live, inputs.today)
    return actions


# ---------------------------------------------------------------- org name and policies


def _diff_org_settings(desired: DesiredOrg, live: LiveOrg) -> list[Action]:
    actions = []
    if desired.name is not None and desired.name != live.name:
        actions.append(
            _org_setting(
                desired,
                "name",
                live.name,
                desired.name,
                summary=f"rename org {live.name!r} -> {desired.name!r}",
                reason=f"{desired.source} sets name {desired.name!r}; live name is {live.name!r}",
            )
        )
    # The top-level settings in the table's order, then the policies by name.
    policies = sorted((s for s in ORG_SETTINGS if s.policy), key=lambda s: s.name)
    for setting in (*TOP_LEVEL_SETTINGS, *policies):
        key = setting.name
        if key not in desired.settings:
            continue
        want, have = desired.settings[key], live_setting(live, setting)
        if want == have:
            continue
        if setting.policy:
            actions.append(
                _org_setting(
                    desired,
                    key,
                    have,
                    want,
                    summary=f"set policy {key}: {_show(have)} -> {_show(want)}",
                    reason=f"{desired.source} sets policies.{key} to {_show(want)}; live is "
                    f"{_show(have)}",
                    label=f"policies.{key}",
                )
            )
        else:
            actions.append(
                _org_setting(
                    desired,
                    key,
                    have,
                    want,
                    summary=f"set {key}: {_show(have)} -> {_show(want)}",
                    reason=f"{desired.source} sets {key} {want!r}; live is {_show(have)}",
                )
            )
    return actions


def _org_setting(
    desired: DesiredOrg,
    key: str,
    have: object,
    want: object,
    *,
    summary: str,
    reason: str,
    label: str | None = None,
) -> Action:
    """A change to one of the org's own settings (its name, samlIdP, a policy)."""
    label = label or key
    return Action(
        id=f"{desired.org_id}/org/{label}",
        kind=ActionKind.UPDATE_ORG,
        symbol="~",
        target=f"{desired.org_id} {label}",
        summary=summary,
        reason=reason,
        phase=Phase.ORG,
        touches=(ORG_KEY,),
        change=OrgSettingChange(key, have, want),
    )


def _show(value: object) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------- members


def _lowered(before: Access, after: Access) -> tuple[str, ...]:
    """The budget collections a change of access takes access away from. A flag that a
    level change forces (a demotion) is counted by the `levels` budget instead."""
    hit = {
        flag.budget
        for flag in FLAGS
        if flag.budget is not None
        and (flag.independent or before.level == after.level)
        and flag.lowered(before[flag.name], after[flag.name])
    }
    return tuple(c for c in BUDGET_COLLECTIONS if c in hit)


def _flag_changes(before: Access, after: Access, flags: Sequence[PermissionFlag] = FLAGS) -> str:
    return ", ".join(
        f"{flag.name} {_show(before[flag.name])} -> {_show(after[flag.name])}"
        for flag in flags
        if before[flag.name] != after[flag.name]
    )


def _wanted(before: Access, after: Access) -> str:
    """What the manifest sets against what is live, for each flag that differs."""
    return ", ".join(
        f"{flag.name} {_show(after[flag.name])} (live: {_show(before[flag.name])})"
        for flag in FLAGS
        if before[flag.name] != after[flag.name]
    )


def _diff_members(desired: DesiredOrg, live: LiveOrg, today: date) -> list[Action]:
    membership = desired.membership
    if membership is None:
        return []
    org = desired.org_id
    actions: list[Action] = []
    for user_id, want in sorted(membership.members.items()):
        have = live.members.get(user_id)
        if want.expired(today):
            # An expired entry reads as absent: never invited or updated, and a member still
            # there is removed whatever the mode (the rails and the members budget hold).
            if have is not None:
                actions.append(_expiry_removal(desired, want, have))
            continue
        at = location_text(want.where, desired.source)
        after = target_access(want.level, want.flags, have.access if have else None)
        if have is None:
            actions.append(
                Action(
                    id=f"{org}/member/{user_id}/invite",
                    kind=ActionKind.INVITE_MEMBER,
                    symbol="+",
                    target=user_id,
                    summary=f"invite {user_id} as {after.level}",
                    reason=f"listed at {at} but not a member of {org}",
                    phase=Phase.INVITE,
                    touches=(ObjectKey.member(user_id),),
                    change=MemberInvitation(after),
                )
            )
            continue
        before = have.access
        if before == after:
            continue
        removals: tuple[str, ...]
        if before.level == "MEMBER" and after.level == "ADMIN":
            kind, symbol, phase = ActionKind.PROMOTE, "~", Phase.INVITE
            removals = _lowered(before, after)
            # The flags ADMIN forces need no words; one independent of the level may change.
            independent = _flag_changes(before, after, INDEPENDENT_FLAGS)
            summary = f"promote {user_id} to ADMIN" + (f" ({independent})" if independent else "")
            reason = f"{at} sets level ADMIN; live level is MEMBER"
        elif before.level == "ADMIN" and after.level == "MEMBER":
            kind, symbol, phase = ActionKind.DEMOTE, "~", Phase.DEMOTE
            removals = ("levels", *_lowered(before, after))
            summary = f"demote {user_id} to MEMBER ({_flag_changes(before, after)})"
            reason = f"{at} sets level MEMBER; live level is ADMIN"
        else:
            kind, symbol, phase = ActionKind.UPDATE_ACCESS, "~", Phase.ACCESS
            removals = _lowered(before, after)
            changes = _flag_changes(before, after)
            summary = f"update {user_id}: {changes}"
            reason = f"{at} sets {_wanted(before, after)}"
        actions.append(
            Action(
                id=f"{org}/member/{user_id}/{kind}",
                kind=kind,
                symbol=symbol,  # type: ignore[arg-type]
                target=user_id,
                summary=summary,
                reason=reason,
                phase=phase,
                touches=(ObjectKey.member(user_id),),
                change=MemberAccessChange(before, after),
                removals=removals,
            )
        )
    if membership.mode == "authoritative":
        provisioned = {account.user_id for account in desired.provisioning}
        for user_id, have in sorted(live.members.items()):
            if user_id in membership.members or user_id in provisioned:
                continue
            if user_id in desired.departed:
                continue  # removed as a departure, which says why
            actions.append(_removal(org, desired.source, have))
    return actions


def _diff_departures(desired: DesiredOrg, live: LiveOrg) -> list[Action]:
    """Someone who left is removed from every org of the fleet where they are a member,
    whatever the org's members.mode (or none): offboarding is the fleet's decision."""
    actions = []
    for user_id, departure in sorted(desired.departed.items()):
        have = live.members.get(user_id)
        if have is None:
            continue
        removal = _removal(desired.org_id, desired.source, have)
        where = str(departure.where) if departure.where else "departed"
        since = f" since {departure.since}" if departure.since else ""
        why = f": {departure.reason}" if departure.reason else ""
        actions.append(
            replace(
                removal,
                reason=f"departed at {where}{since}{why}; removing them also revokes their "
                "explicit permissions on the org's projects and apps",
                departure=DepartureCause(
                    where, str(departure.since) if departure.since else None, departure.reason
                ),
            )
        )
    return actions


def _expiry_removal(desired: DesiredOrg, want: DesiredMember, have: LiveMember) -> Action:
    removal = _removal(desired.org_id, desired.source, have)
    where = location_text(want.where, desired.source)
    why = f": {want.reason}" if want.reason else ""
    return replace(
        removal,
        reason=f"membership at {where} expired on {want.expires}{why}",
        expiry=ExpiryCause(where, str(want.expires), want.reason),
    )


def _removal(org: str, source: str, have: LiveMember) -> Action:
    who = f"{have.name}, {have.access.level}" if have.name else have.access.level
    return Action(
        id=f"{org}/member/{have.user_id}/remove",
        kind=ActionKind.REMOVE_MEMBER,
        symbol="-",
        target=have.user_id,
        summary=f"remove {have.user_id} ({who}) from {org}",
        reason=f"not listed in {source}, whose members.mode is authoritative",
        phase=Phase.REMOVE,
        touches=(ObjectKey.member(have.user_id),),
        change=MemberRemoval(have.access),
        removals=("members", "levels") if have.access.level == "ADMIN" else ("members",),
    )


# ---------------------------------------------------------------- provisioning


def _diff_provisioning(
    desired: DesiredOrg, live: LiveOrg, created: Mapping[str, str]
) -> list[Action]:
    org = desired.org_id
    actions = []
    for account in desired.provisioning:
        user_id = account.user_id
        if user_id in live.members:
            # Provisioned already (access is set once, at creation), or a member the entry
            # cannot claim: the rails refuse that one, plan warnings tell of an adoption.
            continue
        exists = user_id in live.existing_accounts
        ownership = account_ownership(account, live, created) if exists else None
        if exists and ownership is None:
            continue  # an account dxorg cannot show is this one: a violation, never an invite
        access = target_access(account.level, account.flags, None)
        at = location_text(account.where, desired.source)
        proof = (
            "the platform shows the same email for it"
            if ownership == "platform-email"
            else "dxorg's journal has the answer /user/new gave when dxorg created it"
        )
        actions.append(
            Action(
                id=f"{org}/provision/{user_id}",
                kind=ActionKind.INVITE_MEMBER if exists else ActionKind.PROVISION,
                symbol="+",
                target=user_id,
                summary=(
                    f"invite existing account {user_id} as {access.level}"
                    if exists
                    else f"create account {user_id} <{account.email}> and invite it as {access.level}"
                ),
                reason=(
                    f"listed for provisioning at {at}; the account exists and is not a member, "
                    f"and it is this entry's: {proof}"
                    if exists
                    else f"listed for provisioning at {at}; no such account yet"
                ),
                phase=Phase.PROVISION,
                touches=(ObjectKey.member(user_id), ObjectKey.account(user_id)),
                change=AccountChange(access, account.set_bill_to),
            )
        )
    return actions


# ---------------------------------------------------------------- self-grants


def _ended(grant: ProjectGrant | AppGrant | None, desired: DesiredOrg) -> str:
    """Why a self-grant dxorg recorded is over, for a reason."""
    if grant is None:
        return (
            f"no self-grant in {desired.source} selects it any more (the grant was removed, "
            "its selector changed, or the object was renamed)"
        )
    return f"self-grant at {location_text(grant.where, desired.source)} expired on {grant.expires}"


def _granted(grant: ProjectGrant | AppGrant) -> str:
    return f" until {grant.expires}" if grant.expires else ""


def _because(grant: ProjectGrant | AppGrant) -> str:
    return f" ({grant.reason})" if grant.reason else ""


def _diff_self_grants(desired: DesiredOrg, live: LiveOrg, today: date) -> list[Action]:
    # No grants declared: records of grants made before are still given back.
    grants = desired.self_grants or SelfGrants(admin=None)
    if not grantee_allowed(desired, live.caller):
        return []  # another grantee: a violation of the rails, and nothing to plan
    return [
        *_diff_project_grants(desired, live, grants.projects, today),
        *_diff_app_grants(desired, live, grants.apps, today),
    ]


def _diff_project_grants(
    desired: DesiredOrg, live: LiveOrg, grants: Sequence[ProjectGrant], today: date
) -> list[Action]:
    """Grants to make, revocations and records to tidy. dxorg only ever grants ADMINISTER,
    so access below it is never dxorg's to take back, whatever a record says."""
    org, admin = desired.org_id, live.caller
    actions = []
    for project in live.projects:
        record = project.grant_record
        verdict = grant_verdict(
            grants, project.project_id, project.name, today, recorded=record is not None
        )
        if verdict is None:
            continue
        active, grant = verdict
        holds = project.access == "ADMINISTER"
        touches = (ObjectKey.project(project.project_id),)
        if active and grant is not None and not holds and not stale_record(record, project.access):
            at = location_text(grant.where, desired.source)
            actions.append(
                Action(
                    id=f"{org}/grant/{project.project_id}",
                    kind=ActionKind.GRANT_PROJECT,
                    symbol="+",
                    target=project.project_id,
                    summary=f"grant {admin} ADMINISTER on {project.project_id} ({project.name}){_granted(grant)}",
                    reason=f"self-grant at {at}{_because(grant)}; live access is {project.access}",
                    phase=Phase.ORG,
                    touches=touches,
                    # The level before the grant is recorded on the project, for expiry.
                    change=ProjectGrantChange(project.access),
                )
            )
        elif not active and holds and record is not None:
            back_to = "no access" if record == NO_ACCESS else record
            actions.append(
                Action(
                    id=f"{org}/revoke/{project.project_id}",
                    kind=ActionKind.REVOKE_PROJECT,
                    symbol="-",
                    target=project.project_id,
                    summary=f"revoke {admin}'s ADMINISTER on {project.project_id} ({project.name}), "
                    f"back to {back_to} as before the grant",
                    reason=f"{_ended(grant, desired)}; dxorg recorded {admin}'s level "
                    f"before it as {record}",
                    phase=Phase.REMOVE,
                    touches=touches,
                    change=ProjectRevocationChange(project.access, record),
                    removals=("projectGrants",),
                )
            )
        elif not active and not holds and record is not None and can_write_record(project.access):
            # A revocation (or a grant) stopped after its first call: the access is already
            # what it should be, only the record is left, and it can still be cleared.
            actions.append(
                Action(
                    id=f"{org}/clear-record/{project.project_id}",
                    kind=ActionKind.CLEAR_GRANT_RECORD,
                    symbol="~",
                    target=project.project_id,
                    summary=f"clear dxorg's self-grant record on {project.project_id} "
                    f"({project.name})",
                    reason=f"{_ended(grant, desired)}; {admin} has {project.access} (not "
                    f"ADMINISTER), so nothing is left to revoke, only the record ({record})",
                    phase=Phase.ORG,
                    touches=touches,
                    change=GrantRecordClearing(project.access, record),
                )
            )
    return actions


def _diff_app_grants(
    desired: DesiredOrg, live: LiveOrg, grants: Sequence[AppGrant], today: date
) -> list[Action]:
    org, admin = desired.org_id, live.caller
    actions = []
    for app in live.apps:
        verdict = grant_verdict(grants, app.app_id, app.name, today, recorded=app.grant_recorded)
        if verdict is None or app.developers is None:
            continue
        active, grant = verdict
        is_developer = admin in app.developers
        touches = (ObjectKey.app(app.app_id),)
        if active and grant is not None and not is_developer:
            at = location_text(grant.where, desired.source)
            actions.append(
                Action(
                    id=f"{org}/grant/{app.app_id}",
                    kind=ActionKind.GRANT_APP,
                    symbol="+",
                    target=app.app_id,
                    summary=f"make {admin} a developer of {app.name} ({app.app_id}){_granted(grant)}",
                    reason=f"self-grant at {at}{_because(grant)}",
                    phase=Phase.ORG,
                    touches=touches,
                    change=AppGrantChange(
                        tuple(app.developers), tuple(sorted({*app.developers, admin}))
                    ),
                )
            )
        elif not active and is_developer and app.grant_recorded:
            actions.append(
                Action(
                    id=f"{org}/revoke/{app.app_id}",
                    kind=ActionKind.REVOKE_APP,
                    symbol="-",
                    target=app.app_id,
                    summary=f"remove {admin} from the developers of {app.name} ({app.app_id})",
                    reason=f"{_ended(grant, desired)}; dxorg recorded adding {admin} as a "
                    "developer",
                    phase=Phase.REMOVE,
                    touches=touches,
                    change=AppRevocationChange(
                        tuple(app.developers), tuple(d for d in app.developers if d != admin)
                    ),
                    removals=("appGrants",),
                )
            )
    return actions


# ---------------------------------------------------------------- project policies


def _diff_project_policies(desired: DesiredOrg, live: LiveOrg, today: date) -> list[Action]:
    """Each project an enforced policy covers gets the required settings it lacks, in one
    `project-x/update`: raised to `true`, never lowered; a setting no policy names is left
    as it is."""
    by_project: dict[str, list[PolicyFinding]] = {}
    for found in policy_findings(desired, live, today):
        if found.policy.mode == "enforce" and found.missing and not found.exempt:
            by_project.setdefault(found.project.project_id, []).append(found)
    actions = []
    for project_id, findings in sorted(by_project.items()):
        project = findings[0].project
        because: dict[str, ProjectPolicy] = {}
        for found in findings:
            for setting in found.missing:
                because.setdefault(setting, found.policy)
        changes = ", ".join(
            f"{setting} false -> true"
            + (" (irreversible)" if setting in IRREVERSIBLE_SETTINGS else "")
            + f" ({policy_text(policy, desired.source)})"
            for setting, policy in because.items()
        )
        lapsed = next(
            (f.exception for f in findings if f.exception is not None and not f.exempt), None
        )
        reason = "; ".join(
            f"{policy_text(f.policy, desired.source)} requires "
            + ", ".join(f.policy.require)
            + " at least"
            for f in findings
        )
        if lapsed is not None:
            reason += (
                f"; the exception at {location_text(lapsed.where, desired.source)} ({lapsed.reason}) "
                f"expired on {lapsed.expires}"
            )
        actions.append(
            Action(
                id=f"{desired.org_id}/project-policy/{project_id}",
                kind=ActionKind.UPDATE_PROJECT,
                symbol="~",
                target=project_id,
                summary=f"project {project.name} ({project_id}): {changes}",
                reason=reason,
                phase=Phase.ORG,
                touches=(ObjectKey.project(project_id),),
                change=ProjectSettingsChange(
                    tuple(because),
                    project.version,
                    project.access,
                    tuple(s for s in because if s in IRREVERSIBLE_SETTINGS),
                ),
                expiry=(
                    ExpiryCause(
                        location_text(lapsed.where, desired.source),
                        str(lapsed.expires),
                        lapsed.reason,
                    )
                    if lapsed is not None
                    else None
                ),
            )
        )
    return actions


# ---------------------------------------------------------------- job-log forwarding


def _diff_forwarding(desired: DesiredOrg, live: LiveOrg, inputs: DiffInput) -> list[Action]:
    want = desired.forwarding
    if want is None:
        return []
    org = desired.org_id
    have = live.forwarding
    if not want.enabled:
        if have is None:
            return []
        return [
            Action(
                id=f"{org}/forwarding",
                kind=ActionKind.DISABLE_FORWARDING,
                symbol="-",
                target=f"{org} jobLogsForwarding",
                summary=f"disable job-log forwarding to {have.url}",
                reason=f"{desired.source} sets jobLogsForwarding disabled",
                phase=Phase.ORG,
                touches=(FORWARDING_KEY,),
                change=ForwardingRemoval(ForwardingState(have.url, have.token_signature)),
            )
        ]
    assert want.url is not None and want.token_env is not None  # the schema requires both
    signature = inputs.token_signatures.get(want.token_env)
    if signature is None:
        raise ForwardingTokenMissing(want.token_env)
    if have is not None and have.url == want.url and have.token_signature == signature:
        return []
    if have is None:
        why = "forwarding is not configured"
    elif have.url != want.url:
        why = f"live url is {have.url}"
    else:
        why = f"the token in ${want.token_env} differs from the live one (by sha256)"
    return [
        Action(
            id=f"{org}/forwarding",
            kind=ActionKind.SET_FORWARDING,
            symbol="+" if have is None else "~",
            target=f"{org} jobLogsForwarding",
            summary=f"forward job logs to {want.url} with the token from ${want.token_env}",
            reason=f"{desired.source} sets jobLogsForwarding; {why}",
            phase=Phase.ORG,
            touches=(FORWARDING_KEY,),
            change=ForwardingSetting(
                ForwardingState(have.url, have.token_signature) if have else None,
                ForwardingState(want.url, signature),
            ),
        )
    ]


class ForwardingTokenMissing(DxorgError):
    """The env variable that holds the Splunk token is unset (reported per org)."""

    def __init__(self, env_name: str) -> None:
        self.env_name = env_name
        super().__init__(
            f"jobLogsForwarding.tokenEnv: environment variable {env_name} is not set, "
            "so the token cannot be compared or sent"
        )
