"""Frozen records shared by the core: what the manifests want and what the platform has.

Identity is the natural key, normalised once at the edge: user ids are ``user-<lower>``,
org ids ``org-...``. ``None`` on a desired field means *unmanaged*: dxorg never changes it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Level = Literal["ADMIN", "MEMBER"]
ProjectAccess = Literal["ADMINISTER", "CONTRIBUTE", "UPLOAD", "VIEW", "NONE"]
MembershipMode = Literal["authoritative", "additive"]

LEVELS: tuple[str, ...] = ("ADMIN", "MEMBER")
PROJECT_ACCESS_LEVELS: tuple[str, ...] = ("NONE", "VIEW", "UPLOAD", "CONTRIBUTE", "ADMINISTER")


@dataclass(frozen=True)
class OrgSetting:
    """One of the org's own settings that a manifest may manage, by its API name (the
    manifest's key too): at the top level of `org-x/describe` and `org-x/update`, or under
    their `policies` (`policy`). The manifest schema says which values it takes.
    """

    name: str
    policy: bool = False
    # The JSON type org/describe reports it as, when set (a read of another type fails).
    json_type: Literal["string", "boolean"] = "string"


# The one table of org settings: the diff, the update call, the live read (and its
# contract), the plan's record of the org and the export all follow it, in this order.
ORG_SETTINGS: tuple[OrgSetting, ...] = (
    OrgSetting("samlIdP"),  # the SAML identity provider; the platform cannot clear it
    OrgSetting("memberListVisibility", policy=True),
    OrgSetting("restrictProjectTransfer", policy=True),
    OrgSetting("jobReuse", policy=True, json_type="boolean"),
    OrgSetting("detailedJobMetricsCollectDefault", policy=True, json_type="boolean"),
)
ORG_SETTINGS_BY_NAME: Mapping[str, OrgSetting] = {s.name: s for s in ORG_SETTINGS}
ORG_POLICY_KEYS: tuple[str, ...] = tuple(s.name for s in ORG_SETTINGS if s.policy)
TOP_LEVEL_SETTINGS: tuple[OrgSetting, ...] = tuple(s for s in ORG_SETTINGS if not s.policy)
# The budgeted collections of removals (see SafetySettings), each measured against its own
# size: members removed and admins demoted against the members and the admins, lowered
# access (project access lowered, app access taken away, any other permission flag taken
# away: `permissions`) against the members, revoked self-grants against the org's projects
# or apps read. Which flag counts against which: `PermissionFlag.budget`.
BUDGET_COLLECTIONS: tuple[str, ...] = (
    "members",
    "levels",
    "projectAccess",
    "appAccess",
    "permissions",
    "projectGrants",
    "appGrants",
)

# What dxorg records on the platform when a self-grant adds access, so that expiry can give
# back exactly what was there before: a project property (value: the admin's level before
# the grant, or NONE) and an app tag (the admin was not a developer before). On the platform,
# not in a local file, because the CI runner that applies a grant is gone when it expires.
GRANT_RECORD_PREFIX = "dxorg.selfGrant."
NO_ACCESS = "NONE"


def grant_record_key(user_id: str) -> str:
    return f"{GRANT_RECORD_PREFIX}{user_id}"


def normalise_user_id(name: str) -> str:
    """A handle or user id, the way `dx` normalises it: lower case with a ``user-`` prefix."""
    lowered = name.strip().lower()
    return lowered if lowered.startswith("user-") else f"user-{lowered}"


def project_access_rank(access: str) -> int:
    return PROJECT_ACCESS_LEVELS.index(access)


# The lowest project level at which the caller may write a project's properties (as on the
# platform): below it dxorg can neither write a grant's record before granting nor clear
# one after taking the grant back.
RECORDABLE_LEVEL = "CONTRIBUTE"


def can_write_record(level: str) -> bool:
    """May the caller, at this project level, set or clear the project's grant record?"""
    return project_access_rank(level) >= project_access_rank(RECORDABLE_LEVEL)


@dataclass(frozen=True)
class Location:
    """Where a value came from, for messages: file and 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def location_text(where: Location | None, source: str) -> str:
    """Where a value was set, or else the manifest it belongs to."""
    return str(where) if where else source


# ---------------------------------------------------------------- permission flags

# A flag's value: a boolean, or a project access level (projectAccess).
FlagValue = bool | str
FlagKind = Literal["boolean", "projectAccess"]


@dataclass(frozen=True)
class PermissionFlag:
    """One member permission flag: everything dxorg knows about it, in one place.

    The table `FLAGS` below is the only list of flags: the manifest loader, diff, steps,
    rails, the live read, export and the report all iterate over it.
    """

    name: str  # the API name, which is also the manifest key
    kind: FlagKind
    member_default: FlagValue  # what a MEMBER gets when an invite or demotion leaves it out
    # The value level ADMIN forces (the platform shows it whatever was sent); None: the flag
    # is independent of the level (an ADMIN may have it or not, a level change keeps it).
    admin_value: FlagValue | None
    # An API request that sets it is established (invite, setMemberAccess): dxorg writes
    # it. A flag that is not settable is read-only: compared and warned about, never sent.
    settable: bool
    # The removal budget that taking it away (a lower value) counts against; None: never
    # taken away by dxorg (read-only).
    budget: str | None
    # Reported in every findMembers row, by every platform version (older ones report only
    # these), and sent by every `dx add member`; the later flags may be missing from a row.
    always_present: bool

    @property
    def independent(self) -> bool:
        return self.admin_value is None

    def default_for(self, level: str) -> FlagValue:
        """The value a member of `level` has when nothing set it."""
        if level == "ADMIN" and self.admin_value is not None:
            return self.admin_value
        return self.member_default

    def valid(self, value: object) -> bool:
        if self.kind == "projectAccess":
            return value in PROJECT_ACCESS_LEVELS
        return isinstance(value, bool)

    def lowered(self, before: FlagValue, after: FlagValue) -> bool:
        """Does going from `before` to `after` take access away?"""
        if self.kind == "projectAccess":
            return project_access_rank(str(after)) < project_access_rank(str(before))
        return before is True and after is False


# Every member permission flag, in the platform's order (findMembers rows, dx-toolkit's
# tests). MEMBER defaults and ADMIN values: dx-toolkit's test_add_membership_default and
# test_update_membership_positive; which are independent of the level and which can be
# set: see reconciler/emulator/README.md, "Member permission flags".
FLAGS: tuple[PermissionFlag, ...] = (
    PermissionFlag(
        name="allowBillableActivities",
        kind="boolean",
        member_default=False,
        admin_value=True,
        settable=True,
        budget="permissions",
        always_present=True,
    ),
    PermissionFlag(
        name="appAccess",
        kind="boolean",
        member_default=True,
        admin_value=True,
        settable=True,
        budget="appAccess",
        always_present=True,
    ),
    PermissionFlag(
        name="projectAccess",
        kind="projectAccess",
        member_default="CONTRIBUTE",
        admin_value="ADMINISTER",
        settable=True,
        budget="projectAccess",
        always_present=True,
    ),
    PermissionFlag(
        name="archivalManagement",
        kind="boolean",
        member_default=False,
        admin_value=True,
        settable=False,
        budget=None,
        always_present=False,
    ),
    PermissionFlag(
        name="dataDeletion",
        kind="boolean",
        member_default=False,
        admin_value=True,
        settable=False,
        budget=None,
        always_present=False,
    ),
    PermissionFlag(
        name="dataSearch",
        kind="boolean",
        member_default=False,
        admin_value=True,
        settable=False,
        budget=None,
        always_present=False,
    ),
    PermissionFlag(
        name="projectMemberDemotion",
        kind="boolean",
        member_default=False,
        admin_value=True,
        settable=False,
        budget=None,
        always_present=False,
    ),
    PermissionFlag(
        name="treManagement",
        kind="boolean",
        member_default=False,
        admin_value=None,
        settable=True,
        budget="permissions",
        always_present=False,
    ),
    PermissionFlag(
        name="cloudIntegrationManagement",
        kind="boolean",
        member_default=False,
        admin_value=None,
        settable=False,
        budget=None,
        always_present=False,
    ),
)
FLAGS_BY_NAME: Mapping[str, PermissionFlag] = {flag.name: flag for flag in FLAGS}
_FLAG_INDEX: Mapping[str, int] = {flag.name: index for index, flag in enumerate(FLAGS)}


@dataclass(frozen=True)
class Access:
    """A member's complete access, as the platform stores it: the level and every flag.

    `values` holds one value per entry of `FLAGS`, in that order (a tuple, so that an
    Access is hashable: planning caches on it). An ADMIN always has the values ADMIN
    forces; build one with `Access.admin()` or `Access.of("ADMIN", ...)`.
    """

    level: Level
    values: tuple[FlagValue, ...]

    def __post_init__(self) -> None:
        if len(self.values) != len(FLAGS):
            raise ValueError(f"an Access needs {len(FLAGS)} flag values, not {len(self.values)}")
        if self.level == "ADMIN":
            for flag, value in zip(FLAGS, self.values, strict=True):
                if flag.admin_value is not None and value != flag.admin_value:
                    raise ValueError(f"an ADMIN always has {flag.name} {flag.admin_value}")

    def __getitem__(self, name: str) -> FlagValue:
        return self.values[_FLAG_INDEX[name]]

    @staticmethod
    def of(level: Level, values: Mapping[str, FlagValue] | None = None) -> Access:
        """The level's defaults, with `values` (by API name) over them. For ADMIN, the
        flags ADMIN forces take the forced value whatever `values` says."""
        given = values or {}
        return Access(
            level,
            tuple(
                flag.admin_value
                if level == "ADMIN" and flag.admin_value is not None
                else given.get(flag.name, flag.default_for(level))
                for flag in FLAGS
            ),
        )

    @staticmethod
    def admin(values: Mapping[str, FlagValue] | None = None) -> Access:
        return Access.of("ADMIN", values)

    @staticmethod
    def member(values: Mapping[str, FlagValue] | None = None) -> Access:
        return Access.of("MEMBER", values)

    def flags(self) -> dict[str, FlagValue]:
        """Every flag by API name, in the platform's order."""
        return {flag.name: value for flag, value in zip(FLAGS, self.values, strict=True)}


# ---------------------------------------------------------------- desired state


@dataclass(frozen=True)
class DesiredMember:
    """One member as the manifest wants it.

    `flags` holds the managed flags by API name; a flag that is not there is unmanaged.
    For level ADMIN only flags independent of the level can be there (the platform forces
    the others). Member defaults (org and fleet) are already folded in by the manifest
    loader; read-only flags are there too (compared, never written).
    """

    user_id: str
    level: Level
    flags: Mapping[str, FlagValue] = field(default_factory=dict, hash=False)
    where: Location | None = field(default=None, compare=False)
    # The flags (API names) set on the member's own line; the others came from
    # `DesiredOrg.member_defaults_where`, or are unmanaged. For reports, not for planning.
    own_flags: frozenset[str] = field(default=frozenset(), compare=False)
    # The day the membership ends: from then on the entry reads as absent and a live member
    # is removed, whatever the members mode (see `expired`). None: it never ends.
    expires: date | None = None
    reason: str | None = None

    def expired(self, today: date) -> bool:
        """On or after its `expires` date the entry no longer grants membership."""
        return self.expires is not None and today >= self.expires

    def expiry_text(self) -> str:
        """Where and why the membership ends, for plans and reviews (foreign text: the
        caller escapes it for its medium)."""
        text = f"{self.where}" if self.where else self.user_id
        if self.reason:
            text += f": {self.reason}"
        return text


@dataclass(frozen=True)
class DesiredMembership:
    """The members section. `mode` says who owns the list:

    - authoritative: a live member not listed here is removed (subject to the rails);
    - additive: listed members are added and updated, nobody is ever removed.
    """

    mode: MembershipMode
    members: Mapping[str, DesiredMember]
    protected: frozenset[str] = frozenset()
    required_admins: frozenset[str] = frozenset()
    # An authoritative empty list removes everyone; only when the file says so.
    allow_empty: bool = False


@dataclass(frozen=True)
class ProjectSelector:
    """Which org projects a self-grant covers: by id, exact name, glob on name, or all."""

    kind: Literal["id", "name", "glob", "all"]
    value: str = ""


@dataclass(frozen=True)
class AppSelector:
    """Which org apps a self-grant covers: by id (app-<hash>), exact name, glob, or all."""

    kind: Literal["id", "name", "glob", "all"]
    value: str = ""


def glob_match(pattern: str, name: str) -> bool:
    """Case-sensitive shell-style glob, as the platform's `{"glob": ...}` name filter."""
    return fnmatch.fnmatchcase(name, pattern)


def selects(selector: ProjectSelector | AppSelector, object_id: str, name: str) -> bool:
    if selector.kind == "all":
        return True
    if selector.kind == "id":
        return object_id == selector.value
    if selector.kind == "name":
        return name == selector.value
    return glob_match(selector.value, name)


@dataclass(frozen=True)
class ProjectGrant:
    selector: ProjectSelector
    expires: date | None = None
    reason: str | None = None
    where: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AppGrant:
    selector: AppSelector
    expires: date | None = None
    reason: str | None = None
    where: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SelfGrants:
    """Admin self-grants. `admin` is None for "the user the token belongs to"."""

    admin: str | None
    projects: tuple[ProjectGrant, ...] = ()
    apps: tuple[AppGrant, ...] = ()


@dataclass(frozen=True)
class Forwarding:
    """Job-log forwarding to Splunk HEC. The token is only ever named by an env variable."""

    enabled: bool
    url: str | None = None
    token_env: str | None = None


@dataclass(frozen=True)
class NewAccount:
    """An account to provision for the org (`user/new`, then the org invite)."""

    username: str
    email: str
    first: str
    last: str
    middle: str | None = None
    level: Level = "MEMBER"
    # The settable flags it is invited with, by API name, member defaults folded in; a
    # flag not here gets the level's default. `setBillTo` implies allowBillableActivities.
    flags: Mapping[str, FlagValue] = field(default_factory=dict, hash=False)
    set_bill_to: bool = False
    where: Location | None = field(default=None, compare=False)

    @property
    def user_id(self) -> str:
        return normalise_user_id(self.username)


# ---------------------------------------------------------------- project policies

# The project settings a policy may require (`project-x/update`, ADMINISTER needed), each a
# restriction: `true` is the stricter value, so "at least" means raised to true, never
# lowered. `containsPHI` cannot be turned off again once on (the platform refuses it).
PROJECT_SETTINGS: tuple[str, ...] = (
    "protected",
    "restricted",
    "downloadRestricted",
    "externalUploadRestricted",
    "previewViewerRestricted",
    "databaseUIViewOnly",
    "httpsAppIsolatedBrowsing",
    "containsPHI",
)
IRREVERSIBLE_SETTINGS: frozenset[str] = frozenset({"containsPHI"})
PolicyMode = Literal["enforce", "report"]


@dataclass(frozen=True)
class PolicySelector:
    """Which projects billed to the org a policy covers: all, a glob on the name, a tag,
    or a list of ids."""

    kind: Literal["all", "glob", "tag", "ids"]
    values: tuple[str, ...] = ()

    def selects(self, project_id: str, name: str, tags: Sequence[str]) -> bool:
        if self.kind == "all":
            return True
        if self.kind == "glob":
            return glob_match(self.values[0], name)
        if self.kind == "tag":
            return self.values[0] in tags
        return project_id in self.values

    def describe(self) -> str:
        if self.kind == "all":
            return "all: true"
        if self.kind == "ids":
            return "ids: " + ", ".join(self.values)
        return f"{self.kind}: {self.values[0]}"


@dataclass(frozen=True)
class PolicyException:
    """One project a policy leaves alone, until `expires` (its last day)."""

    project_id: str
    reason: str
    expires: date
    where: Location | None = field(default=None, compare=False)

    def active(self, today: date) -> bool:
        return today <= self.expires


@dataclass(frozen=True)
class ProjectPolicy:
    name: str
    selector: PolicySelector
    # Each required setting (all `true`: a restriction required at least).
    require: tuple[str, ...]
    mode: PolicyMode = "report"
    exceptions: tuple[PolicyException, ...] = ()
    irreversible: bool = False
    where: Location | None = field(default=None, compare=False)

    def exception_for(self, project_id: str) -> PolicyException | None:
        return next((e for e in self.exceptions if e.project_id == project_id), None)


@dataclass(frozen=True)
class Budget:
    """How much of one collection a plan may remove: both limits apply when set."""

    count: int | None = None
    percent: float | None = None


DEFAULT_BUDGETS: Mapping[str, Budget] = {
    "members": Budget(count=10, percent=25.0),
    "levels": Budget(count=5, percent=25.0),
    "projectAccess": Budget(count=20, percent=25.0),
    "appAccess": Budget(count=20, percent=25.0),
    "permissions": Budget(count=20, percent=25.0),
    # A revocation only gives back what dxorg recorded adding, on a date the manifest set:
    # no default limit, so that a CI-driven fleet never keeps expired access for lack of an
    # override a human must type.
    "projectGrants": Budget(),
    "appGrants": Budget(),
}


# How many days before a membership's `expires` date plans, the drift issue and the access
# review start saying so (`safety.expiryNoticeDays`), so that extending it is a one-line
# pull request before anyone loses access.
DEFAULT_EXPIRY_NOTICE_DAYS = 14


@dataclass(frozen=True)
class SafetySettings:
    min_admins: int = 2
    expiry_notice_days: int = DEFAULT_EXPIRY_NOTICE_DAYS
    budgets: Mapping[str, Budget] = field(default_factory=lambda: dict(DEFAULT_BUDGETS))


@dataclass(frozen=True)
class Departure:
    """Someone who has left, from the fleet defaults file's `departed` list."""

    user_id: str
    since: date | None = None
    reason: str | None = None
    where: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class DesiredOrg:
    """One org manifest, validated and normalised. Sections left out are ``None``."""

    org_id: str
    source: str
    name: str | None = None
    # The org settings (`ORG_SETTINGS`) the manifest manages, by API name.
    settings: Mapping[str, object] = field(default_factory=dict)
    membership: DesiredMembership | None = None
    self_grants: SelfGrants | None = None
    forwarding: Forwarding | None = None
    provisioning: tuple[NewAccount, ...] = ()
    safety: SafetySettings = field(default_factory=SafetySettings)
    # sha256 of every file this org was built from (its manifest, the fleet defaults), by
    # path: a saved plan records them, and apply refuses when the manifests have changed.
    manifests: Mapping[str, str] = field(default_factory=dict, compare=False)
    # The fleet's departures (by user id), from the defaults file that applies to this org.
    departed: Mapping[str, Departure] = field(default_factory=dict)
    # Where each member default that won was set (org or fleet `members.defaults`), by flag.
    member_defaults_where: Mapping[str, Location] = field(default_factory=dict, compare=False)
    # The org's `projectPolicies`, then the fleet's (an org policy of the same name wins).
    project_policies: tuple[ProjectPolicy, ...] = ()

    @property
    def policies(self) -> dict[str, object]:
        """The org policies (settings under `policies`) the manifest manages, by name."""
        return {k: v for k, v in self.settings.items() if ORG_SETTINGS_BY_NAME[k].policy}


# ---------------------------------------------------------------- live state


@dataclass(frozen=True)
class LiveMember:
    user_id: str
    access: Access
    name: str | None = None  # "First Last", when the read described users


@dataclass(frozen=True)
class LiveProject:
    project_id: str
    name: str
    access: str  # the caller's access level on it; NONE (`NO_ACCESS`) when it holds none
    # The caller's level before a dxorg self-grant, as recorded on the project (None: no record).
    grant_record: str | None = None
    # Read only when the org has project policies: the project's tags, its restriction
    # settings (`PROJECT_SETTINGS`, by name) and its `version` (for `project-x/update`).
    tags: tuple[str, ...] = ()
    settings: Mapping[str, bool] | None = field(default=None, hash=False)
    version: int | None = None


@dataclass(frozen=True)
class LiveApp:
    app_id: str
    name: str
    version: str
    developers: tuple[str, ...] | None = None  # None: not read (no grant names this app)
    # A dxorg self-grant made the caller a developer (the app carries its record tag).
    grant_recorded: bool = False


@dataclass(frozen=True)
class LiveForwarding:
    url: str | None
    token_signature: str | None  # sha256 hex of the token, as the platform reports it


@dataclass(frozen=True)
class LiveOrg:
    """Everything one read of an org returned."""

    org_id: str
    name: str
    caller: str
    policies: Mapping[str, object]
    members: Mapping[str, LiveMember]
    projects: tuple[LiveProject, ...]
    apps: tuple[LiveApp, ...]
    forwarding: LiveForwarding | None
    expires_at: int | None = None  # ms since the epoch
    # The top-level org settings (`TOP_LEVEL_SETTINGS`) as read, by API name (None: never
    # set); the policies are in `policies`, every one the platform reported.
    settings: Mapping[str, object] = field(default_factory=dict)
    # Accounts to provision that already exist on the platform (members or not), with the
    # email the platform shows for each (None: not visible to this token, which is every
    # account but the token's own: the platform shows an email only to its owner).
    existing_accounts: Mapping[str, str | None] = field(default_factory=dict)
    # Users the manifest lists who are not members: no such account at all, or an account
    # the token is not allowed to see.
    unknown_users: frozenset[str] = frozenset()
    hidden_users: frozenset[str] = frozenset()


def live_setting(live: LiveOrg, setting: OrgSetting) -> object:
    """An org setting's live value (None: not set)."""
    return (live.policies if setting.policy else live.settings).get(setting.name)
