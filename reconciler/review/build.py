"""Manifests x live orgs x git history -> the access review report. Pure: no I/O, no clock.

Drift is what the planner's own diff (`diff.diff_org`) would change for a member, so the
report and `dxorg plan` never disagree about who has drifted and how. Job-log forwarding
is left out of that diff: the report does not review it, and needs no token for it.

Every flag comes from `access_json`: its keys are the flags (`model.FLAGS`, in order), and
a manifest value is the desired member's `flags` entry of the same name, so a flag the
model gains appears in the report without a change here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Literal

from reconciler.access_rules import access_json, account_ownership
from reconciler.diff import DiffInput, diff_org
from reconciler.findings import policy_findings
from reconciler.model import (
    FLAGS_BY_NAME,
    Access,
    AppGrant,
    Departure,
    DesiredMember,
    DesiredOrg,
    LiveOrg,
    Location,
    NewAccount,
    ProjectGrant,
    selects,
)
from reconciler.plan import Action, ObjectKind
from reconciler.plan_warnings import EXPIRY_WARNING_DAYS
from reconciler.review.approvals import ApprovalInput, approval_of, removals_of
from reconciler.review.value import (
    NOT_IN_GIT,
    AccessReport,
    AccountState,
    Approval,
    DepartedPresence,
    DepartureNote,
    Drift,
    EvidenceSummary,
    FileHistory,
    FlagChange,
    FlagReview,
    FlagSource,
    GitSummary,
    GrantState,
    HeldGrant,
    MemberReview,
    MembershipEnd,
    MembershipEndState,
    OrgReview,
    PolicyException,
    PolicyProject,
    PolicyReview,
    ProvisionedAccount,
    Status,
    Where,
)

_ADMIN_ACCESS = access_json(Access.admin())
# Every permission flag, in the model's order: the one list the report is built from.
REVIEW_FLAGS: tuple[str, ...] = tuple(key for key in _ADMIN_ACCESS if key != "level")


@dataclass(frozen=True)
class ReviewInput:
    """What the collection step gathered: the orgs, their live state, the lines' history."""

    orgs: Sequence[DesiredOrg]
    live: Mapping[str, LiveOrg]  # by org id
    errors: Mapping[str, str] = field(default_factory=dict)  # org id -> why it was not read
    histories: Mapping[str, FileHistory] = field(default_factory=dict)  # by file, as named
    git: GitSummary = field(default_factory=GitSummary)
    caller: str = ""
    approvals: ApprovalInput = field(default_factory=ApprovalInput)


def build_report(
    review: ReviewInput, *, today: date, generated_at: str, tool_version: str
) -> AccessReport:
    lines = _Lines(review.histories, review.approvals)
    orgs = []
    for desired in review.orgs:
        live = review.live.get(desired.org_id)
        if live is None:
            error = review.errors.get(desired.org_id, "not read")
            orgs.append(OrgReview(desired.org_id, desired.source, error=error))
            continue
        orgs.append(_org(desired, live, today, lines))
    return AccessReport(
        generated_at=generated_at,
        today=today,
        tool_version=tool_version,
        caller=review.caller,
        flags=REVIEW_FLAGS,
        orgs=tuple(orgs),
        departed=_departed(review.orgs, review.live, lines),
        git=review.git,
        expiry_days=EXPIRY_WARNING_DAYS,
        evidence=EvidenceSummary(
            repository=review.approvals.repository,
            journals=review.approvals.journals,
            logins_known=review.approvals.logins is not None,
            note=review.approvals.note,
        ),
    )


class _Lines:
    """Location -> Where, with the line's history; one Where per line, shared. And the
    approval of a line's change, one per line and grantee."""

    def __init__(self, histories: Mapping[str, FileHistory], evidence: ApprovalInput) -> None:
        self.histories = histories
        self.evidence = evidence
        self.cache: dict[tuple[str, int], Where] = {}
        self.approvals: dict[tuple[str, int, str | None], Approval] = {}

    def approval(self, where: Where | None, grantee: str | None = None) -> Approval | None:
        if where is None:
            return None
        key = (where.file, where.line, grantee)
        found = self.approvals.get(key)
        if found is None:
            found = self.approvals[key] = approval_of(where.origin, self.evidence, grantee=grantee)
        return found

    def __call__(self, location: Location | None) -> Where | None:
        if location is None:
            return None
        key = (location.file, location.line)
        found = self.cache.get(key)
        if found is None:
            history = self.histories.get(location.file)
            origin = history.origin(location.line) if history else NOT_IN_GIT
            found = self.cache[key] = Where(location.file, location.line, origin)
        return found


def _org(desired: DesiredOrg, live: LiveOrg, today: date, lines: _Lines) -> OrgReview:
    actions = diff_org(replace(desired, forwarding=None), live, DiffInput(today, {}))
    drift_of: dict[str, Action] = {}
    for planned in actions:
        for key in planned.touches:
            if key.kind == ObjectKind.MEMBER:
                drift_of.setdefault(key.ident, planned)
    declared = desired.membership.members if desired.membership else {}
    provisioning = {account.user_id: account for account in desired.provisioning}
    held = _held_grants(desired, live, today, lines)
    held_by: dict[str, list[HeldGrant]] = {}
    for grant in held:
        held_by.setdefault(grant.holder, []).append(grant)
    members = []
    for user_id in sorted(set(live.members) | set(declared)):
        have = live.members.get(user_id)
        want = declared.get(user_id)
        # A provisioning entry speaks for a member only when the platform shows its email
        # for that member: otherwise the member is what the platform shows, no more.
        account = provisioning.get(user_id)
        if have is not None and account is not None and not _shown_ours(account, live):
            account = None
        departure = desired.departed.get(user_id)
        action = drift_of.get(user_id)
        status: Status
        if have is not None and departure is not None:
            status = "departed"
        elif have is not None and want is None and account is not None:
            status = "provisioned"
        elif action is not None:
            status = "drifted"
        elif want is not None:
            status = "declared"
        else:
            status = "unmanaged"
        live_access = access_json(have.access) if have else None
        declared_where = lines(want.where if want else account.where if account else None)
        declared_level = want.level if want else account.level if account else None
        members.append(
            MemberReview(
                user_id=user_id,
                name=have.name if have else None,
                live=live_access,
                status=status,
                flags=_flags(desired, want, live_access, lines),
                declared=declared_where,
                drift=_drift(action) if action is not None else None,
                departed=_note(departure, lines) if departure and have else None,
                provisioned=lines(account.where) if account else None,
                self_grants=tuple(held_by.get(user_id, ())),
                membership_ends=_membership_end(desired, want, today, lines),
                approval=lines.approval(
                    declared_where, user_id if declared_level == "ADMIN" else None
                ),
            )
        )
    return OrgReview(
        org_id=desired.org_id,
        source=desired.source,
        name=live.name,
        mode=desired.membership.mode if desired.membership else None,
        caller=live.caller,
        members=tuple(members),
        self_grants=held,
        self_grants_managed=desired.self_grants is not None,
        policies=_policies(desired, live, today, lines),
        provisioned=tuple(
            ProvisionedAccount(
                user_id=account.user_id,
                email=account.email,
                level=account.level,
                state=_account_state(account, live),
                where=lines(account.where),
            )
            for account in desired.provisioning
        ),
    )


def _flags(
    desired: DesiredOrg,
    want: DesiredMember | None,
    live: Mapping[str, object] | None,
    lines: _Lines,
) -> tuple[FlagReview, ...]:
    def live_value(name: str) -> object:
        return None if live is None else live.get(name)

    if want is None:
        return tuple(
            FlagReview(name, live_value(name), None, "unmanaged")
            for name in ("level", *REVIEW_FLAGS)
        )
    declared = lines(want.where)
    out = [FlagReview("level", live_value("level"), want.level, "member", declared)]
    for name in REVIEW_FLAGS:
        if want.level == "ADMIN" and not FLAGS_BY_NAME[name].independent:
            # the platform forces this flag on an ADMIN
            out.append(FlagReview(name, live_value(name), _ADMIN_ACCESS[name], "admin", declared))
            continue
        value = want.flags.get(name)
        if name in want.own_flags:
            out.append(FlagReview(name, live_value(name), value, "member", declared))
        elif value is not None:
            location = desired.member_defaults_where.get(name)
            source: FlagSource = (
                "org-defaults" if location and location.file == desired.source else "fleet-defaults"
            )
            out.append(FlagReview(name, live_value(name), value, source, lines(location)))
        else:
            out.append(FlagReview(name, live_value(name), None, "unmanaged"))
    return tuple(out)


def _policies(
    desired: DesiredOrg, live: LiveOrg, today: date, lines: _Lines
) -> tuple[PolicyReview, ...]:
    findings = policy_findings(desired, live, today)
    return tuple(
        PolicyReview(
            name=policy.name,
            mode=policy.mode,
            selector=policy.selector.describe(),
            require=policy.require,
            projects=tuple(
                PolicyProject(f.project.project_id, f.project.name, f.missing, f.exempt)
                for f in findings
                if f.policy is policy
            ),
            exceptions=tuple(
                PolicyException(e.project_id, e.reason, e.expires, e.active(today), lines(e.where))
                for e in policy.exceptions
            ),
            where=lines(policy.where),
        )
        for policy in desired.project_policies
    )


def _membership_end(
    desired: DesiredOrg, want: DesiredMember | None, today: date, lines: _Lines
) -> MembershipEnd | None:
    if want is None or want.expires is None:
        return None
    days = (want.expires - today).days
    state: MembershipEndState = (
        "ended"
        if want.expired(today)
        else "ending"
        if days <= desired.safety.expiry_notice_days
        else "active"
    )
    return MembershipEnd(want.expires, want.reason, days, state, lines(want.where))


def _drift(action: Action) -> Drift:
    before = action.before or {}
    after = action.after or {}
    changes = tuple(
        FlagChange(name, before.get(name), after.get(name))
        for name in ("level", *REVIEW_FLAGS)
        if before.get(name) != after.get(name)
    )
    return Drift(action.summary, action.reason, changes)


def _note(departure: Departure, lines: _Lines) -> DepartureNote:
    return DepartureNote(
        departure.user_id, departure.since, departure.reason, lines(departure.where)
    )


def _shown_ours(account: NewAccount, live: LiveOrg) -> bool:
    return account_ownership(account, live, {}) == "platform-email"


def _account_state(account: NewAccount, live: LiveOrg) -> AccountState:
    if account.user_id in live.members:
        return "member" if _shown_ours(account, live) else "unverified"
    return "not-a-member" if account.user_id in live.existing_accounts else "not-created"


# ---------------------------------------------------------------- self-grants


def _covering(
    grants: Sequence[ProjectGrant] | Sequence[AppGrant], object_id: str, name: str, today: date
) -> ProjectGrant | AppGrant | None:
    """The grant that keeps this object longest (an open-ended one first), else the
    expired grant that ended last; None when no grant selects the object."""
    matching = [g for g in grants if selects(g.selector, object_id, name)]
    if not matching:
        return None
    return max(matching, key=lambda g: (g.expires is None, g.expires or today))


def _selector(grant: ProjectGrant | AppGrant) -> str:
    selector = grant.selector
    return "all" if selector.kind == "all" else f"{selector.kind}: {selector.value}"


def _held(
    grant: ProjectGrant | AppGrant,
    kind: Literal["project", "app"],
    object_id: str,
    name: str,
    level: str,
    holder: str,
    today: date,
    lines: _Lines,
) -> HeldGrant:
    days_left = (grant.expires - today).days if grant.expires else None
    state: GrantState = "active"
    if days_left is not None and days_left < 0:
        state = "expired"
    elif days_left is not None and days_left <= EXPIRY_WARNING_DAYS:
        state = "expiring"
    where = lines(grant.where)
    return HeldGrant(
        kind=kind,
        object_id=object_id,
        name=name,
        level=level,
        holder=holder,
        selector=_selector(grant),
        expires=grant.expires,
        reason=grant.reason,
        days_left=days_left,
        state=state,
        where=where,
        approval=lines.approval(where, holder),
    )


def _held_grants(
    desired: DesiredOrg, live: LiveOrg, today: date, lines: _Lines
) -> tuple[HeldGrant, ...]:
    grants = desired.self_grants
    if grants is None:
        return ()
    holder = grants.admin or live.caller
    out: list[HeldGrant] = []
    for project in live.projects:
        if project.access != "ADMINISTER":
            continue
        grant = _covering(grants.projects, project.project_id, project.name, today)
        if grant is not None:
            out.append(
                _held(
                    grant,
                    "project",
                    project.project_id,
                    project.name,
                    "ADMINISTER",
                    holder,
                    today,
                    lines,
                )
            )
    for app in live.apps:
        if app.developers is None or holder not in app.developers:
            continue
        grant = _covering(grants.apps, app.app_id, app.name, today)
        if grant is not None:
            out.append(_held(grant, "app", app.app_id, app.name, "developer", holder, today, lines))
    return tuple(sorted(out, key=lambda g: (g.kind, g.name, g.object_id)))


# ---------------------------------------------------------------- departures


def _departed(
    orgs: Sequence[DesiredOrg], live: Mapping[str, LiveOrg], lines: _Lines
) -> tuple[DepartedPresence, ...]:
    departures: dict[str, Departure] = {}
    present: dict[str, list[tuple[str, str]]] = {}
    for desired in orgs:
        live_org = live.get(desired.org_id)
        for user_id, departure in desired.departed.items():
            departures.setdefault(user_id, departure)
            member = live_org.members.get(user_id) if live_org else None
            if member is not None:
                present.setdefault(user_id, []).append((desired.org_id, member.access.level))
    out = []
    for user_id in sorted(departures):
        note = _note(departures[user_id], lines)
        approval = lines.approval(note.where)
        here = tuple(present.get(user_id, ()))
        merged_at = approval.pull.merged_at if approval and approval.pull else None
        removals = removals_of(
            user_id, merged_at, (org for org, _ in here), lines.evidence.removals
        )
        out.append(DepartedPresence(note, here, approval=approval, removals=removals))
    return tuple(out)
