"""The plan: a value that every output format and `apply` consume.

A plan holds, per org, the *actions* (one reviewable change each, with its reason)
and the *steps* (the exact API calls, in order, each serving one or more actions:
access updates for many members share one batched `setMemberAccess` step).
Secrets never enter a plan: a token is written as ``{"$env": "NAME"}`` and apply
reads the variable when it sends the call.

Its vocabulary is typed: an action's `ActionKind` and `Phase`, the `ObjectKey`s of the
live objects it was planned from, and its change (`changes`, one type per kind). The plan
file (`plan_file`) writes and reads this value; nothing else does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from reconciler.changes import (
    AccountChange,
    AppGrantChange,
    AppRevocationChange,
    Change,
    ForwardingRemoval,
    ForwardingSetting,
    GrantRecordClearing,
    MemberAccessChange,
    MemberInvitation,
    MemberRemoval,
    OrgSettingChange,
    ProjectGrantChange,
    ProjectRevocationChange,
    ProjectSettingsChange,
)

# 2.0: a plan records the live values its actions were planned from, the manifests' digests
# and the removals left out; apply no longer trusts a plan's own verdict (it re-plans).
# 3.0: a plan names the platform and the user it was read from; apply refuses another.
# 3.1: `onlyExpiries`, and an action's `expiry` (a membership whose date has come).
FORMAT_VERSION = "3.1"

Symbol = Literal["+", "~", "-"]
Server = Literal["api", "auth"]


class Phase(StrEnum):
    """The phases of a plan, in the order apply runs them: grant before revoke, so nobody
    is locked out. A `StrEnum`: each is its text wherever it is printed or saved."""

    PROVISION = "provision"  # create accounts, then invite them
    INVITE = "invite"  # invite members, promote to ADMIN
    ACCESS = "access"  # access flag updates
    ORG = "org"  # org name and policies, self-grants, job-log forwarding
    DEMOTE = "demote"  # ADMIN -> MEMBER
    REMOVE = "remove"  # member removals, expired self-grant revocations


PHASES: tuple[Phase, ...] = tuple(Phase)


def phase_index(phase: Phase) -> int:
    return PHASES.index(phase)


class ActionKind(StrEnum):
    """What an action does, declared in the order actions are listed within a phase."""

    PROVISION = "provision"
    INVITE_MEMBER = "invite-member"
    PROMOTE = "promote"
    UPDATE_ACCESS = "update-access"
    UPDATE_ORG = "update-org"
    GRANT_PROJECT = "grant-project"
    GRANT_APP = "grant-app"
    CLEAR_GRANT_RECORD = "clear-grant-record"
    UPDATE_PROJECT = "update-project"
    SET_FORWARDING = "set-forwarding"
    DISABLE_FORWARDING = "disable-forwarding"
    DEMOTE = "demote"
    REMOVE_MEMBER = "remove-member"
    REVOKE_PROJECT = "revoke-project"
    REVOKE_APP = "revoke-app"


KIND_ORDER: tuple[ActionKind, ...] = tuple(ActionKind)


def kind_order(kind: ActionKind) -> int:
    return KIND_ORDER.index(kind)


class ObjectKind(StrEnum):
    """The kinds of live object a plan reads (see `fingerprints`)."""

    ORG = "org"
    FORWARDING = "forwarding"
    MEMBER = "member"
    ACCOUNT = "account"
    PROJECT = "project"
    APP = "app"


# The kinds of object there is one of per org: their key is the kind alone.
_SINGLE_OBJECTS = frozenset({ObjectKind.ORG, ObjectKind.FORWARDING})


@dataclass(frozen=True, slots=True)
class ObjectKey:
    """One live object a plan reads: its kind and its id (none for the org's own objects).

    Written as text (``org``, ``forwarding``, ``member:<user>``, ``account:<user>``,
    ``project:<id>``, ``app:<id>``) in a plan file's `touches`, `fingerprints` and
    `liveValues`, and in messages; `str` makes that text, `parse` reads it back.
    """

    kind: ObjectKind
    ident: str = ""

    def __str__(self) -> str:
        return self.kind.value if self.kind in _SINGLE_OBJECTS else f"{self.kind}:{self.ident}"

    @classmethod
    def parse(cls, text: str) -> ObjectKey:
        kind, colon, ident = text.partition(":")
        try:
            parsed = ObjectKind(kind)
        except ValueError:
            raise ValueError(f"unknown live object key {text!r}") from None
        if (parsed in _SINGLE_OBJECTS) == bool(colon):
            raise ValueError(f"unknown live object key {text!r}")
        return cls(parsed, ident)

    @classmethod
    def member(cls, user_id: str) -> ObjectKey:
        return cls(ObjectKind.MEMBER, user_id)

    @classmethod
    def account(cls, user_id: str) -> ObjectKey:
        return cls(ObjectKind.ACCOUNT, user_id)

    @classmethod
    def project(cls, project_id: str) -> ObjectKey:
        return cls(ObjectKind.PROJECT, project_id)

    @classmethod
    def app(cls, app_id: str) -> ObjectKey:
        return cls(ObjectKind.APP, app_id)


ORG_KEY = ObjectKey(ObjectKind.ORG)
FORWARDING_KEY = ObjectKey(ObjectKind.FORWARDING)


@dataclass(frozen=True)
class ApiCall:
    """One exact API call: POST `route` with `body` on the API (or auth) server."""

    route: str
    body: Mapping[str, object]
    server: Server = "api"

    @property
    def method(self) -> str:
        return self.route.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class DepartureCause:
    """The fleet's `departed` entry a removal follows from: where it is (file:line, or
    "departed"), since when (ISO date) and why, as the manifest says."""

    where: str
    since: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class ExpiryCause:
    """The entry whose `expires` date has come (where, the date as ISO text, why)."""

    where: str
    expires: str
    reason: str | None


@dataclass(frozen=True)
class Action:
    """One reviewable change to one object.

    `touches` names the live objects (fingerprint keys) whose state the action was
    planned from; apply re-reads them and refuses a stale plan. `removals` names the
    budget collections the action takes access away from.
    """

    id: str
    kind: ActionKind
    symbol: Symbol
    target: str
    summary: str
    reason: str
    phase: Phase
    touches: tuple[ObjectKey, ...]
    change: Change
    removals: tuple[str, ...] = ()
    # A removal for offboarding: the fleet's `departed` entry.
    departure: DepartureCause | None = None
    # An action because a date the manifests set has come (a membership's `expires`, a
    # project policy exception's): the entry.
    expiry: ExpiryCause | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.change, CHANGE_TYPES[self.kind]):
            raise TypeError(
                f"{self.id}: a {self.kind} action cannot make a {type(self.change).__name__}"
            )

    @property
    def before(self) -> dict[str, object] | None:
        """The changed object before, as JSON (as a plan file and the reviews show it)."""
        return self.change.before_json()

    @property
    def after(self) -> dict[str, object] | None:
        """The changed object after, as JSON."""
        return self.change.after_json()


# The type of change each kind of action makes (an invitation is a member's or an account's).
CHANGE_TYPES: Mapping[ActionKind, tuple[type[Change], ...]] = {
    ActionKind.PROVISION: (AccountChange,),
    ActionKind.INVITE_MEMBER: (MemberInvitation, AccountChange),
    ActionKind.PROMOTE: (MemberAccessChange,),
    ActionKind.UPDATE_ACCESS: (MemberAccessChange,),
    ActionKind.UPDATE_ORG: (OrgSettingChange,),
    ActionKind.GRANT_PROJECT: (ProjectGrantChange,),
    ActionKind.GRANT_APP: (AppGrantChange,),
    ActionKind.CLEAR_GRANT_RECORD: (GrantRecordClearing,),
    ActionKind.UPDATE_PROJECT: (ProjectSettingsChange,),
    ActionKind.SET_FORWARDING: (ForwardingSetting,),
    ActionKind.DISABLE_FORWARDING: (ForwardingRemoval,),
    ActionKind.DEMOTE: (MemberAccessChange,),
    ActionKind.REMOVE_MEMBER: (MemberRemoval,),
    ActionKind.REVOKE_PROJECT: (ProjectRevocationChange,),
    ActionKind.REVOKE_APP: (AppRevocationChange,),
}


# Self-grant actions that only ever follow from a grant's expiry.
GRANT_EXPIRY_KINDS = frozenset(
    {ActionKind.REVOKE_PROJECT, ActionKind.REVOKE_APP, ActionKind.CLEAR_GRANT_RECORD}
)


def is_expiry(action: Action) -> bool:
    """Is the action the consequence of a date the manifests set having come (a membership
    or self-grant that expired) or of a departure? `--only-expiries` keeps only these."""
    return (
        action.expiry is not None
        or action.departure is not None
        or action.kind in GRANT_EXPIRY_KINDS
    )


@dataclass(frozen=True)
class Step:
    """One API call of the plan, serving `actions`, run after `depends_on` steps."""

    id: str
    phase: Phase
    call: ApiCall
    actions: tuple[str, ...]
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Violation:
    """A safety rail the plan would break; the plan cannot be applied while any remain."""

    rule: str
    message: str
    step: str | None = None
    overridden: bool = False


@dataclass(frozen=True)
class PlanWarning:
    code: str
    message: str


# The warning of an org whose job-log forwarding could not be checked (its token variable
# is unset): the org may differ there, so it is never "no changes" nor "converged".
FORWARDING_UNCHECKED = "forwarding-unchecked"


# The warnings of memberships about to end (see `plan_warnings.membership_expiry_warnings`).
EXPIRY_NOTICE_CODES = frozenset({"membership-expiring", "admin-expiring"})


@dataclass(frozen=True)
class OrgPlan:
    org_id: str
    source: str
    caller: str
    actions: tuple[Action, ...] = ()
    steps: tuple[Step, ...] = ()
    violations: tuple[Violation, ...] = ()
    warnings: tuple[PlanWarning, ...] = ()
    # Both by the text of the object's key (`str(ObjectKey)`), as the plan file has them.
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    # The value of every live object an action touches, as read (see `fingerprints`).
    live_values: Mapping[str, object] = field(default_factory=dict)
    # sha256 of each manifest file the org was planned from, by path.
    manifests: Mapping[str, str] = field(default_factory=dict)
    # Summaries of the actions --skip-removals (the removals) or --only-expiries (all but
    # expiries and departures) left out: still differences, never applied.
    left_out: tuple[str, ...] = ()
    # Differences dxorg finds but will not change itself (an expired self-grant it has no
    # record of making): drift for a person to resolve, never an action.
    unresolved: tuple[str, ...] = ()
    error: str | None = None  # the org could not be planned (read failed, ...)

    @property
    def blocking_violations(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if not v.overridden)

    @property
    def applyable(self) -> bool:
        return self.error is None and not self.blocking_violations

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    @property
    def unchecked(self) -> tuple[str, ...]:
        """What the plan could not compare (forwarding without its token): may differ."""
        return tuple(w.message for w in self.warnings if w.code == FORWARDING_UNCHECKED)

    @property
    def expiring(self) -> tuple[str, ...]:
        """Memberships that end within the notice window, and admins whose coming expiry
        the admin rails will refuse: not drift yet, but a person should decide now."""
        return tuple(w.message for w in self.warnings if w.code in EXPIRY_NOTICE_CODES)

    @property
    def differs(self) -> bool:
        """The live org differs, or may, from its manifest: changes to make, removals left
        out, differences only a person can resolve, or something left unchecked."""
        return bool(self.actions or self.left_out or self.unresolved or self.unchecked)

    def counts(self) -> dict[str, int]:
        out = {"+": 0, "~": 0, "-": 0}
        for action in self.actions:
            out[action.symbol] += 1
        return out


@dataclass(frozen=True)
class PlatformIdentity:
    """The platform a plan was read from and the token's user there; never the token.

    `api_server` is the API server's URL, or SANDBOX for the embedded emulator, which
    `sandbox_state` (its state file, resolved) tells apart from every other sandbox.
    """

    api_server: str
    user: str
    sandbox_state: str | None = None

    @property
    def where(self) -> str:
        if self.api_server == SANDBOX:
            return f"the sandbox {self.sandbox_state}"
        return self.api_server

    def describe(self) -> str:
        return f"{self.where} as {self.user}"


SANDBOX = "sandbox"


@dataclass(frozen=True)
class Plan:
    orgs: tuple[OrgPlan, ...]
    created_at: str  # ISO 8601, UTC
    tool_version: str
    platform: PlatformIdentity
    overrides: tuple[str, ...] = ()
    skip_removals: bool = False
    only_expiries: bool = False
    format_version: str = FORMAT_VERSION
    # A saved plan: the config repository's root, its manifest paths being relative to it
    # (reconciler.config_repo); None in a plan not saved to a file.
    root: str | None = None

    @property
    def left_out_by(self) -> str:
        """The option that left actions out of this plan (for messages)."""
        return leaving_out(skip_removals=self.skip_removals, only_expiries=self.only_expiries)

    @property
    def applyable(self) -> bool:
        return all(o.applyable for o in self.orgs)

    @property
    def has_changes(self) -> bool:
        return any(o.has_changes for o in self.orgs)

    @property
    def differs(self) -> bool:
        return any(o.differs for o in self.orgs)

    @property
    def left_out(self) -> int:
        return sum(len(o.left_out) for o in self.orgs)

    @property
    def unresolved(self) -> int:
        return sum(len(o.unresolved) for o in self.orgs)

    @property
    def unchecked(self) -> int:
        return sum(len(o.unchecked) for o in self.orgs)

    @property
    def has_errors(self) -> bool:
        return any(o.error is not None for o in self.orgs)

    def counts(self) -> dict[str, int]:
        out = {"+": 0, "~": 0, "-": 0}
        for org in self.orgs:
            for symbol, n in org.counts().items():
                out[symbol] += n
        return out

    def offboarding(self) -> list[Departing]:
        """The removals of departed people, grouped by person across the fleet."""
        people: dict[str, Departing] = {}
        for org in self.orgs:
            for action in org.actions:
                if action.departure is None:
                    continue
                person = people.setdefault(
                    action.target, Departing(action.target, action.departure, [])
                )
                person.removals.append((org.org_id, action))
        return [people[user] for user in sorted(people)]


@dataclass(frozen=True)
class Departing:
    """One departed person's removals: (org id, action) in plan order."""

    user_id: str
    departure: DepartureCause
    removals: list[tuple[str, Action]]


def leaving_out(*, skip_removals: bool, only_expiries: bool) -> str:
    """The options that leave actions out of a plan, as given on the command line."""
    given = [
        name
        for name, on in (("--skip-removals", skip_removals), ("--only-expiries", only_expiries))
        if on
    ]
    return " and ".join(given) or "--skip-removals"


def fingerprint(value: object) -> str:
    """A short, stable digest of a JSON-able value (canonical key order)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
