"""The access review report as a value: what every renderer (Markdown, CSV, JSON, HTML) reads.

Built by `review.build` from the manifests, the live orgs and the git history of the
manifest lines; nothing here does I/O. Every permission flag of a member comes from one
list, `AccessReport.flags` (the keys of `diff.access_json`), so when the model gains a
flag every format shows it without a change here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

# How a manifest line got there, as git tells it.
LineState = Literal["committed", "uncommitted", "not-in-git"]
# What the manifests say about a live member (see docs/report.md):
# declared: listed, and the live access matches; drifted: the live org differs from the
# manifest (the plan would change it); unmanaged: the manifest does not own this member
# (no members section, or additive and not listed); departed: in the fleet's departed
# list and still a member; provisioned: a member a provisioning entry names, for whom the
# platform shows that entry's email (else the member is reviewed as what the platform shows).
Status = Literal["declared", "drifted", "unmanaged", "departed", "provisioned"]
STATUSES: tuple[str, ...] = ("declared", "drifted", "unmanaged", "departed", "provisioned")
# Where a flag's manifest value comes from.
FlagSource = Literal["member", "org-defaults", "fleet-defaults", "admin", "unmanaged"]
GrantState = Literal["active", "expiring", "expired"]
# unverified: an account with the entry's username is a member, but the platform does not
# show the entry's email for it, so it is not shown to be the account the entry provisions.
AccountState = Literal["member", "unverified", "not-a-member", "not-created"]
# What GitHub shows about how a manifest line was approved (see docs/report.md).
ApprovalState = Literal[
    "approved",  # merged by a pull request someone other than its author approved
    "self-approved",  # merged, approved only by its own author
    "no-approval",  # merged without any approval, or committed without a pull request
    "not-merged",  # uncommitted, or its pull request is not merged yet
    "not-on-github",  # no GitHub repository to ask, or GitHub does not know the commit
    "not-in-git",  # the line has no commit to look up
    "unavailable",  # GitHub could not be asked: `note` says why
]
APPROVAL_STATES: tuple[str, ...] = (
    "approved",
    "self-approved",
    "no-approval",
    "not-merged",
    "not-on-github",
    "not-in-git",
    "unavailable",
)
# The approval flags an auditor looks for; `approved-by-grantee`: an ADMIN level or a
# self-grant approved by the person it grants.
APPROVAL_FLAGS: tuple[str, ...] = ("self-approved", "no-approval", "approved-by-grantee")
# Whether the person a line grants approved it: unknown without their GitHub login.
GranteeCheck = Literal["not-the-grantee", "approved-by-grantee", "unknown", "not-applicable"]


@dataclass(frozen=True)
class LineOrigin:
    """Who last changed a manifest line: from `git blame`, or why that is not known."""

    state: LineState
    commit: str | None = None
    author: str | None = None
    email: str | None = None
    date: str | None = None  # the author date, ISO 8601 with its offset
    subject: str | None = None
    # e.g. "shallow clone: changed in or before this commit"; "git is not installed"
    note: str | None = None

    def describe(self) -> str:
        if self.state == "not-in-git":
            return f"not in git ({self.note})" if self.note else "not in git"
        if self.state == "uncommitted":
            return "uncommitted"
        text = f"{(self.commit or '')[:10]} {self.author}, {(self.date or '')[:10]}: {self.subject}"
        return f"{text} ({self.note})" if self.note else text


NOT_IN_GIT = LineOrigin("not-in-git")
UNCOMMITTED = LineOrigin("uncommitted")


@dataclass(frozen=True)
class FileHistory:
    """`git blame` of one manifest file: the origin of each line (1-based), and of any
    line not in `lines` (the whole file is uncommitted, or not in git)."""

    lines: Mapping[int, LineOrigin] = field(default_factory=dict)
    otherwise: LineOrigin = NOT_IN_GIT

    def origin(self, line: int) -> LineOrigin:
        return self.lines.get(line, self.otherwise)


@dataclass(frozen=True)
class PullReview:
    """One submitted review of a pull request, as GitHub lists it."""

    login: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
    submitted_at: str | None  # ISO 8601


@dataclass(frozen=True)
class PullRequest:
    """The pull request that brought a commit in, and its reviews."""

    number: int
    url: str
    author: str  # its author's login
    state: str  # open or closed
    merged_at: str | None  # ISO 8601; None: not merged
    reviews: tuple[PullReview, ...] = ()


@dataclass(frozen=True)
class CommitEvidence:
    """What GitHub says about one commit: the pull request that merged it (a merged one
    before an open one), none, or why GitHub could not say."""

    known: bool = True  # False: GitHub does not have this commit
    pull: PullRequest | None = None
    error: str | None = None  # GitHub could not be asked


@dataclass(frozen=True)
class Approval:
    """Who approved the change that last set a manifest line, and what an auditor flags."""

    state: ApprovalState
    pull: PullRequest | None = None
    approvers: tuple[str, ...] = ()  # logins whose last review before the merge approved
    flags: tuple[str, ...] = ()  # of APPROVAL_FLAGS
    grantee: GranteeCheck = "not-applicable"
    grantee_login: str | None = None
    note: str | None = None

    def describe(self) -> str:
        words = {
            "not-merged": "not merged yet",
            "not-on-github": "not on GitHub",
            "not-in-git": "not in git",
            "unavailable": "approval unavailable",
            "no-approval": "no approval",
        }
        if self.pull is None:
            text = words.get(self.state, self.state)
        else:
            who = ", ".join(self.approvers) or "nobody"
            merged = f"merged {self.pull.merged_at}" if self.pull.merged_at else "not merged yet"
            text = f"PR #{self.pull.number} by {self.pull.author}, approved by {who}, {merged}"
        if self.grantee == "unknown":
            text += "; the grantee's GitHub login is unknown"
        if self.flags:
            text += f" [{', '.join(self.flags)}]"
        return f"{text} ({self.note})" if self.note else text


@dataclass(frozen=True)
class Removal:
    """When a departed user's removal from one org took effect, as far as the run sees."""

    org_id: str
    state: Literal["removed", "not-yet-removed"]
    removed_at: str | None = None  # the journal's `call-done` time, ISO 8601
    delay_seconds: int | None = None  # removed_at - the departure's merge time

    def describe(self) -> str:
        if self.state == "not-yet-removed":
            return f"{self.org_id}: not yet removed"
        text = f"{self.org_id}: removed {self.removed_at}"
        if self.delay_seconds is not None:
            text += f", {describe_delay(self.delay_seconds)} after the merge"
        return text


def describe_delay(seconds: int) -> str:
    sign = "-" if seconds < 0 else ""
    minutes, _ = divmod(abs(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{sign}{days} d {hours} h"
    return f"{sign}{hours} h {minutes} min" if hours else f"{sign}{minutes} min"


@dataclass(frozen=True)
class Where:
    """A manifest line, and who last changed it."""

    file: str
    line: int
    origin: LineOrigin = NOT_IN_GIT

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class FlagReview:
    """One flag (or the level) of one member: live, as the manifest wants it, and why."""

    name: str
    live: object  # None when the user is not a member
    manifest: object  # None when unmanaged
    source: FlagSource
    where: Where | None = None  # the line that sets it (the member's, or a defaults line)

    @property
    def inherited(self) -> bool:
        return self.source in ("org-defaults", "fleet-defaults")


@dataclass(frozen=True)
class FlagChange:
    name: str
    live: object
    manifest: object


@dataclass(frozen=True)
class Drift:
    """How the live member differs from the manifest: the plan's own words for it."""

    summary: str
    reason: str
    changes: tuple[FlagChange, ...] = ()


@dataclass(frozen=True)
class DepartureNote:
    user_id: str
    since: date | None
    reason: str | None
    where: Where | None

    def describe(self) -> str:
        text = f"since {self.since}" if self.since else "departed"
        if self.reason:
            text += f": {self.reason}"
        return f"{text} ({self.where})" if self.where else text


# A membership with an `expires` date: active, ending (within `safety.expiryNoticeDays`:
# extend it now), or ended (the date has come; a member still there is drift).
MembershipEndState = Literal["active", "ending", "ended"]


@dataclass(frozen=True)
class MembershipEnd:
    """When a member's membership ends, as its manifest entry says."""

    expires: date
    reason: str | None
    days_left: int  # negative or zero: ended
    state: MembershipEndState
    where: Where | None

    def describe(self) -> str:
        when = (
            f"ended on {self.expires}"
            if self.state == "ended"
            else f"ends on {self.expires}, in {self.days_left} day(s)"
        )
        return when + (f": {self.reason}" if self.reason else "")


@dataclass(frozen=True)
class HeldGrant:
    """A self-grant an admin holds now: ADMINISTER on a project, or developer of an app."""

    kind: Literal["project", "app"]
    object_id: str
    name: str
    level: str  # ADMINISTER, or "developer"
    holder: str  # user id
    selector: str  # how the manifest names it: `glob: clinical-*`
    expires: date | None
    reason: str | None
    days_left: int | None  # None: no expiry; negative: expired and still held
    state: GrantState
    where: Where | None
    approval: Approval | None = None  # of the grant's line

    @property
    def highlighted(self) -> bool:
        return self.state != "active"


@dataclass(frozen=True)
class MemberReview:
    """One user of one org: a live member, or a declared one who is not a member."""

    user_id: str
    name: str | None
    live: Mapping[str, object] | None  # access_json of the live access; None: not a member
    status: Status
    flags: tuple[FlagReview, ...]  # level first, then every flag of `AccessReport.flags`
    declared: Where | None = None  # the member's line (or provisioning entry)
    drift: Drift | None = None
    departed: DepartureNote | None = None
    provisioned: Where | None = None
    self_grants: tuple[HeldGrant, ...] = ()
    membership_ends: MembershipEnd | None = None
    approval: Approval | None = None  # of the declared line

    @property
    def level(self) -> str | None:
        return None if self.live is None else str(self.live["level"])

    @property
    def inherited(self) -> tuple[FlagReview, ...]:
        return tuple(flag for flag in self.flags if flag.inherited)

    @property
    def unmanaged_flags(self) -> tuple[str, ...]:
        return tuple(flag.name for flag in self.flags if flag.source == "unmanaged")

    @property
    def expiring(self) -> bool:
        return any(grant.highlighted for grant in self.self_grants)

    @property
    def membership_ending(self) -> bool:
        """The membership ends within the notice window, or has ended and they are still
        a member: someone should extend it, or let it go."""
        ends = self.membership_ends
        return ends is not None and ends.state != "active" and self.live is not None


@dataclass(frozen=True)
class ProvisionedAccount:
    user_id: str
    email: str
    level: str
    state: AccountState
    where: Where | None


@dataclass(frozen=True)
class PolicyException:
    project_id: str
    reason: str
    expires: date
    active: bool  # false: expired, the project is covered again
    where: Where | None


@dataclass(frozen=True)
class PolicyProject:
    """One project a policy covers, and how it stands."""

    project_id: str
    name: str
    missing: tuple[str, ...]  # the required settings it lacks
    exempt: bool  # an active exception covers it

    @property
    def compliant(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class PolicyReview:
    name: str
    mode: str  # enforce | report
    selector: str  # how it names its projects: `glob: clinical-*`
    require: tuple[str, ...]
    projects: tuple[PolicyProject, ...]
    exceptions: tuple[PolicyException, ...]
    where: Where | None

    @property
    def non_compliant(self) -> tuple[PolicyProject, ...]:
        return tuple(p for p in self.projects if not p.compliant and not p.exempt)


@dataclass(frozen=True)
class OrgReview:
    org_id: str
    source: str
    name: str | None = None  # the live name (None when the read failed)
    mode: str | None = None  # members.mode; None: membership unmanaged
    caller: str | None = None
    members: tuple[MemberReview, ...] = ()
    self_grants: tuple[HeldGrant, ...] = ()
    self_grants_managed: bool = False  # the manifest has a selfGrants section
    provisioned: tuple[ProvisionedAccount, ...] = ()
    policies: tuple[PolicyReview, ...] = ()
    error: str | None = None  # the live org could not be read

    def count(self, status: str) -> int:
        return sum(1 for member in self.members if member.status == status)

    @property
    def live_members(self) -> tuple[MemberReview, ...]:
        return tuple(member for member in self.members if member.live is not None)

    @property
    def admins(self) -> int:
        return sum(1 for member in self.members if member.level == "ADMIN")


@dataclass(frozen=True)
class DepartedPresence:
    """A departed user, and the orgs (with their level) where they are still a member."""

    departure: DepartureNote
    present_in: tuple[tuple[str, str], ...]  # (org id, level)
    approval: Approval | None = None  # of the departure's line: its merge time
    removals: tuple[Removal, ...] = ()  # one per org the run knows the user was or is in


@dataclass(frozen=True)
class GitSummary:
    """What the provenance is based on, for the report's header."""

    roots: tuple[str, ...] = ()  # the work trees the manifests are in
    shallow: bool = False
    note: str | None = None  # e.g. "the manifests are not in a git work tree"


@dataclass(frozen=True)
class EvidenceSummary:
    """Where the approval evidence comes from, for the report's header."""

    repository: str | None = None  # owner/name on GitHub; None: not on GitHub
    journals: tuple[str, ...] = ()  # the apply journals read for removal times
    logins_known: bool = False  # a DNAnexus user -> GitHub login mapping was given
    note: str | None = None  # e.g. "3 commits could not be looked up: ..."


@dataclass(frozen=True)
class AccessReport:
    generated_at: str  # ISO 8601, UTC
    today: date
    tool_version: str
    caller: str
    flags: tuple[str, ...]  # every permission flag, in the platform's order
    orgs: tuple[OrgReview, ...]
    departed: tuple[DepartedPresence, ...] = ()
    git: GitSummary = field(default_factory=GitSummary)
    expiry_days: int = 30  # grants expiring within this many days are highlighted
    evidence: EvidenceSummary = field(default_factory=EvidenceSummary)

    @property
    def approvals(self) -> tuple[Approval, ...]:
        """Every approval the report holds: members', self-grants' and departures'."""
        found = [m.approval for _, m in self.members]
        found += [g.approval for _, g in self.self_grants]
        found += [d.approval for d in self.departed]
        return tuple(a for a in found if a is not None)

    @property
    def has_errors(self) -> bool:
        return any(org.error for org in self.orgs)

    @property
    def members(self) -> tuple[tuple[OrgReview, MemberReview], ...]:
        return tuple((org, member) for org in self.orgs for member in org.members)

    @property
    def self_grants(self) -> tuple[tuple[OrgReview, HeldGrant], ...]:
        return tuple((org, grant) for org in self.orgs for grant in org.self_grants)

    @property
    def users(self) -> tuple[str, ...]:
        """Every user who is a member of some org, sorted."""
        return tuple(
            sorted({m.user_id for org in self.orgs for m in org.members if m.live is not None})
        )

    def counts(self) -> dict[str, int]:
        out = {status: 0 for status in STATUSES}
        for _, member in self.members:
            out[member.status] += 1
        grants = [grant for _, grant in self.self_grants]
        return {
            "orgs": len(self.orgs),
            "users": len(self.users),
            "memberships": sum(len(org.live_members) for org in self.orgs),
            **out,
            "inherited": sum(1 for _, m in self.members if m.inherited),
            "selfGrants": len(grants),
            "expiring": sum(1 for g in grants if g.state == "expiring"),
            "expired": sum(1 for g in grants if g.state == "expired"),
            "departedPresent": sum(1 for d in self.departed if d.present_in),
            "membershipsEnding": sum(1 for _, m in self.members if m.membership_ending),
            "policyFindings": sum(len(p.non_compliant) for org in self.orgs for p in org.policies),
            **{
                _camel(flag): sum(1 for a in self.approvals if flag in a.flags)
                for flag in APPROVAL_FLAGS
            },
            "errors": sum(1 for org in self.orgs if org.error),
        }


def _camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(word.title() for word in rest)
