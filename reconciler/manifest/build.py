"""Schema-valid manifest values -> DesiredOrg, with the checks a schema cannot express.

Runs on every section the schema found no error in, so one run reports schema problems
and cross-check problems together. Defaults are folded in here, once:

- member flags (every flag of `model.FLAGS`, read-only ones too): the user's own value >
  org `members.defaults` > fleet `members.defaults` > unmanaged (left out of the
  member's `flags`); an ADMIN takes only flags independent of the level, from its own
  line (defaults never apply to ADMINs; the platform forces the others);
- provisioning flags (the settable ones): the same chain, ending at the platform's
  invite defaults;
- safety: org file > fleet defaults file > built-in default, per key (minAdmins, and each
  budget's count and percent on its own; null turns a limit off).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any, Literal, cast

from reconciler.errors import Problem
from reconciler.forwarding_token import reserved_name_problem
from reconciler.manifest.document import Document, JsonPath, dotted
from reconciler.model import (
    BUDGET_COLLECTIONS,
    DEFAULT_BUDGETS,
    FLAGS,
    IRREVERSIBLE_SETTINGS,
    ORG_SETTINGS,
    PROJECT_SETTINGS,
    AppGrant,
    AppSelector,
    Budget,
    Departure,
    DesiredMember,
    DesiredMembership,
    DesiredOrg,
    FlagValue,
    Forwarding,
    Location,
    NewAccount,
    PolicyException,
    PolicySelector,
    ProjectGrant,
    ProjectPolicy,
    ProjectSelector,
    SafetySettings,
    SelfGrants,
    normalise_user_id,
)

SELECTOR_KINDS: tuple[str, ...] = ("id", "name", "glob", "all")


@dataclass(frozen=True)
class FleetDefaults:
    """The validated contents of a directory's `_defaults.yaml`."""

    source: str
    member_defaults: Mapping[str, object] = field(default_factory=dict)
    safety: Mapping[str, Any] = field(default_factory=dict)
    departed: Mapping[str, Departure] = field(default_factory=dict)
    # Where each of `member_defaults` is set, by flag.
    member_defaults_where: Mapping[str, Location] = field(default_factory=dict)
    project_policies: tuple[ProjectPolicy, ...] = ()


def fleet_defaults(doc: Document) -> tuple[FleetDefaults, list[Problem]]:
    """The defaults of a schema-valid defaults file, and the problems a schema cannot see."""
    value = doc.value if isinstance(doc.value, dict) else {}
    members = value.get("members") or {}
    member_defaults = dict(members.get("defaults") or {})
    departed, problems = _departures(doc, value.get("departed") or [])
    policies = project_policies(doc, value.get("projectPolicies") or [], problems)
    return (
        FleetDefaults(
            source=doc.file,
            member_defaults=member_defaults,
            safety=dict(value.get("safety") or {}),
            departed=MappingProxyType(departed),
            member_defaults_where={
                flag: _location(doc, ("members", "defaults", flag)) for flag in member_defaults
            },
            project_policies=policies,
        ),
        problems,
    )


def project_policies(
    doc: Document, items: list[Any], problems: list[Problem]
) -> tuple[ProjectPolicy, ...]:
    """The `projectPolicies` of a schema-checked file; what a schema cannot see goes to
    `problems` (a name given twice, `containsPHI` without `irreversible`, a bad date)."""

    def problem(path: JsonPath, message: str, *, key: bool = False) -> None:
        line, column = doc.at(path, key=key)
        problems.append(Problem(doc.file, line, column, f"{dotted(path)}: {message}"))

    out: list[ProjectPolicy] = []
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        path: JsonPath = ("projectPolicies", index)
        name = item["name"]
        if name in first:
            problem(
                (*path, "name"),
                f"the policy {name} is also projectPolicies[{first[name]}]; give each policy "
                "one name",
            )
            continue
        first[name] = index
        require = tuple(s for s in PROJECT_SETTINGS if item["require"].get(s) is True)
        irreversible = bool(item.get("irreversible", False))
        for setting in sorted(IRREVERSIBLE_SETTINGS & set(require)):
            if not irreversible:
                problem(
                    (*path, "require", setting),
                    f"{setting} can never be turned off again once the platform sets it: "
                    "add `irreversible: true` to the policy to say that is meant",
                    key=True,
                )
        selection = item["projects"]
        kind = next(k for k in ("all", "glob", "tag", "ids") if k in selection)
        values: tuple[str, ...] = (
            () if kind == "all" else tuple(selection[kind]) if kind == "ids" else (selection[kind],)
        )
        exceptions: list[PolicyException] = []
        seen: dict[str, int] = {}
        for number, entry in enumerate(item.get("exceptions") or []):
            where: JsonPath = (*path, "exceptions", number)
            if entry["project"] in seen:
                problem(
                    (*where, "project"),
                    f"{entry['project']} is also exceptions[{seen[entry['project']]}]",
                )
                continue
            seen[entry["project"]] = number
            try:
                expires = date.fromisoformat(entry["expires"])
            except ValueError:
                problem((*where, "expires"), "is not a valid date (YYYY-MM-DD)")
                continue
            exceptions.append(
                PolicyException(entry["project"], entry["reason"], expires, _location(doc, where))
            )
        out.append(
            ProjectPolicy(
                name=name,
                selector=PolicySelector(cast('Literal["all", "glob", "tag", "ids"]', kind), values),
                require=require,
                mode=item.get("mode", "report"),
                exceptions=tuple(exceptions),
                irreversible=irreversible,
                where=_location(doc, path),
            )
        )
    return tuple(out)


def _location(doc: Document, path: JsonPath) -> Location:
    return Location(doc.file, doc.at(path, key=True)[0])


def _departures(doc: Document, items: list[Any]) -> tuple[dict[str, Departure], list[Problem]]:
    departed: dict[str, Departure] = {}
    first: dict[str, int] = {}
    problems: list[Problem] = []
    for index, item in enumerate(items):
        path: JsonPath = ("departed", index)
        spec: Mapping[str, Any] = {"user": item} if isinstance(item, str) else item
        user_id = normalise_user_id(spec["user"])
        if user_id in departed:
            line, column = doc.at(path)
            problems.append(
                Problem(
                    doc.file,
                    line,
                    column,
                    f"{dotted(path)}: {user_id} is listed twice (also departed[{first[user_id]}], "
                    f"line {doc.at(('departed', first[user_id]))[0]})",
                )
            )
            continue
        since: date | None = None
        if "since" in spec:
            try:
                since = date.fromisoformat(spec["since"])
            except ValueError:
                line, column = doc.at((*path, "since"))
                problems.append(
                    Problem(
                        doc.file, line, column, f"{dotted((*path, 'since'))}: is not a valid date"
                    )
                )
        first[user_id] = index
        departed[user_id] = Departure(
            user_id, since, spec.get("reason"), Location(doc.file, doc.at(path)[0])
        )
    return departed, problems


def departure_text(departure: Departure) -> str:
    """`_defaults.yaml:5, since 2026-11-30: left the company`, for messages."""
    text = str(departure.where) if departure.where else "departed"
    if departure.since:
        text += f", since {departure.since}"
    if departure.reason:
        text += f": {departure.reason}"
    return text


class _OrgBuilder:
    """Builds one DesiredOrg; collects problems instead of raising."""

    def __init__(
        self, doc: Document, error_paths: set[JsonPath], defaults: FleetDefaults | None
    ) -> None:
        self.doc = doc
        self.failed = bool(error_paths)
        # Every path at or above a schema error: those values are skipped, not cross-checked.
        self.bad_paths = {path[:end] for path in error_paths for end in range(len(path) + 1)}
        self.defaults = defaults
        self.problems: list[Problem] = []
        self.raw: dict[str, Any] = doc.value if isinstance(doc.value, dict) else {}
        self.listed: set[str] = set()  # user ids under members.users, however well-formed
        self.departed: Mapping[str, Departure] = defaults.departed if defaults else {}
        self.own_flag_sets: dict[frozenset[str], frozenset[str]] = {}  # one object per set
        self.flag_sets: dict[frozenset[tuple[str, FlagValue]], Mapping[str, FlagValue]] = {}

    def problem(self, path: JsonPath, message: str, *, key: bool = False) -> None:
        line, column = self.doc.at(path, key=key)
        self.problems.append(Problem(self.doc.file, line, column, f"{dotted(path)}: {message}"))

    def where(self, path: JsonPath) -> Location:
        return Location(self.doc.file, self.doc.at(path, key=True)[0])

    def not_departed(self, path: JsonPath, user_id: str, *, key: bool = False) -> None:
        """A departed user listed here is an error naming both lines."""
        departure = self.departed.get(user_id)
        if departure is not None:
            self.problem(
                path,
                f"{user_id} has departed ({departure_text(departure)}); remove them here, "
                "or from departed if they are back",
                key=key,
            )

    def bad(self, *path: str | int) -> bool:
        """Did the schema reject this value or anything inside it?"""
        return path in self.bad_paths

    def section(self, name: str) -> dict[str, Any] | None:
        """A top-level mapping section, if present and a mapping."""
        value = self.raw.get(name)
        return value if isinstance(value, dict) else None

    def build(self) -> DesiredOrg | None:
        membership = self.membership()
        self_grants = self.self_grants(membership)
        forwarding = self.forwarding()
        provisioning = self.provisioning()
        safety = self.safety()
        project_policies = self.project_policies()
        if self.failed or self.problems:
            return None
        return DesiredOrg(
            org_id=self.raw["org"],
            source=self.doc.file,
            name=self.raw.get("name"),
            settings=self.org_settings(),
            membership=membership,
            self_grants=self_grants,
            forwarding=forwarding,
            provisioning=provisioning,
            safety=safety,
            departed=self.departed,
            member_defaults_where=self.member_defaults_where(),
            project_policies=project_policies,
        )

    def org_settings(self) -> dict[str, object]:
        """The org settings the manifest sets: top-level keys and `policies` keys."""
        policies = self.raw.get("policies") or {}
        out = {}
        for setting in ORG_SETTINGS:
            where = policies if setting.policy else self.raw
            if where.get(setting.name) is not None:
                out[setting.name] = where[setting.name]
        return out

    # ------------------------------------------------------------------ members

    def member_defaults(self) -> dict[str, object]:
        """Org `members.defaults` over fleet `members.defaults`, flag by flag."""
        merged: dict[str, object] = dict(self.defaults.member_defaults) if self.defaults else {}
        members = self.section("members")
        if members is not None and not self.bad("members", "defaults"):
            merged.update(members.get("defaults") or {})
        return merged

    def member_defaults_where(self) -> dict[str, Location]:
        """Where each default of `member_defaults` is set: the org file, else the fleet's."""
        where: dict[str, Location] = (
            dict(self.defaults.member_defaults_where) if self.defaults else {}
        )
        members = self.section("members")
        if members is not None and isinstance(members.get("defaults"), dict):
            for flag in members["defaults"]:
                where[flag] = self.where(("members", "defaults", flag))
        return where

    def admin_flags(self, path: JsonPath, spec: Mapping[str, Any]) -> dict[str, FlagValue]:
        """The flags of an ADMIN entry: only those independent of the level; one that ADMIN
        forces is an error (the platform ignores or refuses it)."""
        for flag in FLAGS:
            if flag.admin_value is not None and flag.name in spec:
                self.problem(
                    (*path, flag.name),
                    f"ADMIN members always have full access; remove {flag.name} "
                    "(or make the level MEMBER)",
                    key=True,
                )
        return {f.name: spec[f.name] for f in FLAGS if f.independent and f.name in spec}

    def shared_flags(self, flags: dict[str, FlagValue]) -> Mapping[str, FlagValue]:
        """One read-only mapping per distinct set of flags: most members share a few."""
        key = frozenset(flags.items())
        found = self.flag_sets.get(key)
        if found is None:
            found = self.flag_sets[key] = MappingProxyType(flags)
        return found

    def membership(self) -> DesiredMembership | None:
        section = self.section("members")
        if (
            section is None
            or "mode" not in section
            or self.bad("members", "mode")
            or self.bad("members", "allowEmpty")
        ):
            return None
        users = section.get("users")
        if not isinstance(users, dict):
            return None
        mode = section["mode"]
        allow_empty = bool(section.get("allowEmpty", False))
        defaults = self.member_defaults()
        members: dict[str, DesiredMember] = {}
        listed = self.listed  # every listed user, including entries the schema rejected
        spelled: dict[str, str] = {}  # user id -> the key it was first written as
        for key, entry in users.items():
            path: JsonPath = ("members", "users", key)
            user_id = normalise_user_id(key)
            if user_id in spelled:
                first = self.doc.at(("members", "users", spelled[user_id]), key=True)[0]
                self.problem(
                    path,
                    f"the same user as '{spelled[user_id]}' (line {first}): both are {user_id}; "
                    "list each user once",
                    key=True,
                )
                continue
            spelled[user_id] = key
            listed.add(user_id)
            self.not_departed(path, user_id, key=True)
            if self.bad(*path):
                continue
            spec: Mapping[str, Any] = {"level": entry} if isinstance(entry, str) else entry
            own = frozenset(flag.name for flag in FLAGS if flag.name in spec)
            if spec["level"] == "ADMIN":
                # Defaults never apply to an ADMIN: an independent flag only from its own line.
                flags = self.admin_flags(path, spec)
            else:
                flags = {
                    flag.name: spec.get(flag.name, defaults.get(flag.name))
                    for flag in FLAGS
                    if flag.name in spec or flag.name in defaults
                }
            members[user_id] = DesiredMember(
                user_id,
                spec["level"],
                flags=self.shared_flags(flags),
                where=self.where(path),
                own_flags=self.own_flag_sets.setdefault(own, own),
                expires=self.expiry(path, spec),
                reason=spec.get("reason"),
            )
        if mode == "authoritative" and not users and not allow_empty:
            self.problem(
                ("members", "users"),
                "an empty authoritative list removes every member; set members.allowEmpty: "
                "true if that is really meant",
                key=True,
            )
        protected = self.listed_users("protected", listed)
        required = self.listed_users("requiredAdmins", listed)
        for name, named in (("protected", protected), ("requiredAdmins", required)):
            for user_id, index in named.items():
                member = members.get(user_id)
                if member is not None and member.expires is not None:
                    self.problem(
                        ("members", name, index),
                        f"{user_id}'s membership expires on {member.expires} (line "
                        f"{member.where.line if member.where else '?'}), but members.{name} "
                        "keeps them: drop the expiry, or take them out of this list",
                    )
        for user_id, index in required.items():
            member = members.get(user_id)
            if member is not None and member.level != "ADMIN":
                self.problem(
                    ("members", "requiredAdmins", index),
                    f"{user_id} is a required admin but is listed with level MEMBER",
                )
        return DesiredMembership(
            mode=mode,
            members=members,
            protected=frozenset(protected),
            required_admins=frozenset(required),
            allow_empty=allow_empty,
        )

    def expiry(self, path: JsonPath, spec: Mapping[str, Any]) -> date | None:
        """A member entry's `expires` date (the schema checked its shape)."""
        if "expires" not in spec:
            return None
        try:
            return date.fromisoformat(spec["expires"])
        except ValueError:
            self.problem((*path, "expires"), "is not a valid date (YYYY-MM-DD)")
            return None

    def listed_users(self, name: str, listed: set[str]) -> dict[str, int]:
        """The normalised ids in `members.<name>` (each must be a listed user), with indexes."""
        found: dict[str, int] = {}
        names = self.raw["members"].get(name)
        if not isinstance(names, list):
            return found
        for index, raw in enumerate(names):
            path: JsonPath = ("members", name, index)
            if self.bad(*path):
                continue
            user_id = normalise_user_id(raw)
            if user_id in found:
                self.problem(path, f"{user_id} is listed twice (also at [{found[user_id]}])")
                continue
            found[user_id] = index
            self.not_departed(path, user_id)
            if user_id not in listed:
                self.problem(path, f"{user_id} is not listed under members.users")
        return found

    # ------------------------------------------------------------------ self-grants

    def self_grants(self, membership: DesiredMembership | None) -> SelfGrants | None:
        section = self.section("selfGrants")
        if section is None:
            return None
        admin = None
        if "admin" in section and not self.bad("selfGrants", "admin"):
            admin = normalise_user_id(section["admin"])
            self.not_departed(("selfGrants", "admin"), admin)
        if admin is not None and membership is not None:
            member = membership.members.get(admin)
            if admin not in self.listed:
                self.problem(
                    ("selfGrants", "admin"),
                    f"{admin} is not listed under members.users; only an org admin can "
                    "grant themselves access",
                )
            elif member is not None and member.level != "ADMIN":
                self.problem(
                    ("selfGrants", "admin"),
                    f"{admin} is listed with level MEMBER; only an org admin can grant "
                    "themselves access",
                )
        projects = tuple(
            ProjectGrant(ProjectSelector(kind, value), expires, reason, where)
            for kind, value, expires, reason, where in self.grants("projects")
        )
        apps = tuple(
            AppGrant(AppSelector(kind, value), expires, reason, where)
            for kind, value, expires, reason, where in self.grants("apps")
        )
        return SelfGrants(admin=admin, projects=projects, apps=apps)

    def grants(
        self, name: str
    ) -> list[tuple[Literal["id", "name", "glob", "all"], str, date | None, str | None, Location]]:
        out: list[
            tuple[Literal["id", "name", "glob", "all"], str, date | None, str | None, Location]
        ] = []
        seen: dict[tuple[str, str], int] = {}
        items = self.raw["selfGrants"].get(name)
        for index, item in enumerate(items if isinstance(items, list) else []):
            path: JsonPath = ("selfGrants", name, index)
            if self.bad(*path):
                continue
            kind = next(k for k in SELECTOR_KINDS if k in item)
            value = "" if kind == "all" else str(item[kind])
            if (kind, value) in seen:
                self.problem(
                    path,
                    f"the same {name} as selfGrants.{name}[{seen[kind, value]}]; "
                    "give each selection once",
                )
                continue
            seen[kind, value] = index
            expires: date | None = None
            if "expires" in item:
                try:
                    expires = date.fromisoformat(item["expires"])
                except ValueError:
                    self.problem((*path, "expires"), "is not a valid date (YYYY-MM-DD)")
            selector_kind = cast('Literal["id", "name", "glob", "all"]', kind)
            out.append((selector_kind, value, expires, item.get("reason"), self.where(path)))
        return out

    # ------------------------------------------------------------------ forwarding

    def forwarding(self) -> Forwarding | None:
        section = self.section("jobLogsForwarding")
        if section is None or self.bad("jobLogsForwarding"):
            return None
        if section.get("disabled"):
            return Forwarding(enabled=False)
        token_env: str = section["tokenEnv"]
        # The schema admits any upper-case name; a long digit-laden one without '_' is far
        # more likely a pasted token than a variable. The value is never echoed.
        if len(token_env) >= 24 and "_" not in token_env and any(c.isdigit() for c in token_env):
            self.problem(
                ("jobLogsForwarding", "tokenEnv"),
                "looks like a literal token, not an environment variable name; put the token "
                "in an environment variable and give its name here (value not shown)",
            )
        reserved = reserved_name_problem(token_env)
        if reserved is not None:
            self.problem(("jobLogsForwarding", "tokenEnv"), reserved)
        return Forwarding(enabled=True, url=section["url"], token_env=token_env)

    # ------------------------------------------------------------------ provisioning

    def provisioning(self) -> tuple[NewAccount, ...]:
        defaults = self.member_defaults()
        accounts: list[NewAccount] = []
        seen: dict[str, int] = {}
        items = self.raw.get("provisioning")
        for index, item in enumerate(items if isinstance(items, list) else []):
            path: JsonPath = ("provisioning", index)
            if self.bad(*path):
                continue
            user_id = normalise_user_id(item["username"])
            if user_id in seen:
                self.problem(
                    (*path, "username"),
                    f"{user_id} is provisioned twice (also provisioning[{seen[user_id]}])",
                )
                continue
            seen[user_id] = index
            self.not_departed((*path, "username"), user_id)
            if user_id in self.listed:
                line = self.doc.at(("members", "users"), key=True)[0]
                self.problem(
                    (*path, "username"),
                    f"{user_id} is also listed under members.users (line {line}); an existing "
                    "account is added there, a new one here — not both",
                )
            level = item.get("level", "MEMBER")
            set_bill_to = bool(item.get("setBillTo", False))
            flags: dict[str, FlagValue]
            if level == "ADMIN":
                flags = self.admin_flags(path, item)
            else:
                # Settable flags only (the schema admits no other here): an account's
                # access is set once, by its invite.
                flags = {
                    flag.name: item.get(flag.name, defaults.get(flag.name))
                    for flag in FLAGS
                    if flag.settable and (flag.name in item or flag.name in defaults)
                }
                if set_bill_to and item.get("allowBillableActivities") is False:
                    self.problem(
                        (*path, "allowBillableActivities"),
                        "setBillTo: true needs allowBillableActivities: true (the platform "
                        "forces it); remove one of them",
                        key=True,
                    )
                if set_bill_to:
                    flags["allowBillableActivities"] = True
            accounts.append(
                NewAccount(
                    username=item["username"],
                    email=item["email"],
                    first=item["first"],
                    last=item["last"],
                    middle=item.get("middle"),
                    level=level,
                    flags=flags,
                    set_bill_to=set_bill_to,
                    where=self.where(path),
                )
            )
        return tuple(accounts)

    # ------------------------------------------------------------------ safety

    def project_policies(self) -> tuple[ProjectPolicy, ...]:
        """The org's own policies, then the fleet's that it does not name."""
        items = self.raw.get("projectPolicies")
        own = (
            project_policies(self.doc, items, self.problems)
            if isinstance(items, list) and not self.bad("projectPolicies")
            else ()
        )
        names = {policy.name for policy in own}
        fleet = self.defaults.project_policies if self.defaults else ()
        return own + tuple(p for p in fleet if p.name not in names)

    def safety(self) -> SafetySettings:
        own: Mapping[str, Any] = {} if self.bad("safety") else self.section("safety") or {}
        fleet: Mapping[str, Any] = self.defaults.safety if self.defaults else {}
        return merge_safety(own, fleet)


def merge_safety(own: Mapping[str, Any], fleet: Mapping[str, Any]) -> SafetySettings:
    """Org file > fleet defaults > built-in, key by key; an explicit null turns a limit off."""
    builtin = SafetySettings()
    min_admins = own.get("minAdmins", fleet.get("minAdmins", builtin.min_admins))
    notice = own.get("expiryNoticeDays", fleet.get("expiryNoticeDays", builtin.expiry_notice_days))
    own_budgets: Mapping[str, Any] = own.get("removalBudget") or {}
    fleet_budgets: Mapping[str, Any] = fleet.get("removalBudget") or {}
    budgets: dict[str, Budget] = {}
    for collection in BUDGET_COLLECTIONS:
        mine: Mapping[str, Any] = own_budgets.get(collection) or {}
        theirs: Mapping[str, Any] = fleet_budgets.get(collection) or {}
        base = DEFAULT_BUDGETS[collection]
        count = mine.get("count", theirs.get("count", base.count))
        percent = mine.get("percent", theirs.get("percent", base.percent))
        budgets[collection] = Budget(
            count=None if count is None else int(count),
            percent=None if percent is None else float(percent),
        )
    return SafetySettings(
        min_admins=int(min_admins), expiry_notice_days=int(notice), budgets=budgets
    )


def build_org(
    doc: Document, error_paths: set[JsonPath], defaults: FleetDefaults | None
) -> tuple[DesiredOrg | None, list[Problem]]:
    """The DesiredOrg of a schema-checked file (None if anything is wrong) and the problems.

    `error_paths` are where the schema found errors; values there are not cross-checked.
    """
    builder = _OrgBuilder(doc, error_paths, defaults)
    org = builder.build()
    return org, builder.problems
