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


@dataclass(frozen=True)
class GitSummary:
    """What the provenance is based on, for the report's header."""

    roots: tuple[str, ...] = ()  # the work trees the manifests are in
    shallow: bool = False
    note: str | None = None  # e.g. "the manifests are not in a git work tree"


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
            "errors": sum(1 for org in self.orgs if org.error),
        }
