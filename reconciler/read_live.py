"""Read one org's live state through a read-only client, and fail closed.

Only what the manifest manages is read: projects and apps only when a self-grant
names them. Every `find*` is paged at 1000 by the client; the only per-user calls
are for users the plan would invite or create, to tell whether their accounts exist. Any error or malformed row aborts the read with ReadIncompleteError: a failed
or partial read must never look like an org with nobody in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from reconciler.access_rules import grantee_allowed
from reconciler.errors import ApiError, PermissionDenied, ReadIncompleteError, ResourceNotFound
from reconciler.model import (
    FLAGS,
    NO_ACCESS,
    PROJECT_ACCESS_LEVELS,
    PROJECT_SETTINGS,
    TOP_LEVEL_SETTINGS,
    Access,
    DesiredOrg,
    FlagValue,
    LiveApp,
    LiveForwarding,
    LiveMember,
    LiveOrg,
    LiveProject,
    OrgSetting,
    SelfGrants,
    grant_record_key,
    selects,
)

if TYPE_CHECKING:
    from reconciler.platform.client import ReadClient


def read_org(
    client: ReadClient, desired: DesiredOrg, caller: str, *, check_invitees: bool = True
) -> LiveOrg:
    """Everything `desired` manages, as the platform has it now.

    `check_invitees=False` leaves out the one describe per user to invite: whether such an
    account exists only feeds the plan's unknown-user check (`unknown_users`, then empty), so apply's
    stale-plan read, which compares fingerprints, does without those calls.
    """
    org_id = desired.org_id
    try:
        return _read(client, desired, caller, check_invitees)
    except ReadIncompleteError:
        raise
    except ApiError as exc:
        raise ReadIncompleteError(f"{org_id}: reading the live org failed: {exc}") from exc


def _read(client: ReadClient, desired: DesiredOrg, caller: str, check_invitees: bool) -> LiveOrg:
    org_id = desired.org_id
    org = client.describe_org(org_id)
    caller_level = org.get("level")
    if caller_level != "ADMIN":
        raise ReadIncompleteError(
            f"{org_id}: the token's user {caller} is not an ADMIN of this org "
            f"(level {caller_level or 'none'}); dxorg needs an org admin token"
        )
    grants = desired.self_grants or SelfGrants(admin=None)
    # Grants are planned only for the token's own user (the rails refuse any other grantee).
    # Read even with no grant declared: a project or app carrying dxorg's record of a
    # self-grant that no grant selects any more (removed, its selector changed, the project
    # renamed) holds access dxorg added and must give back.
    reads_grants = grantee_allowed(desired, caller)

    def read_members() -> dict[str, LiveMember]:
        return _members(org_id, client.find_org_members(org_id, describe=True))

    policies = bool(desired.project_policies)

    def read_projects() -> tuple[LiveProject, ...]:
        if reads_grants or policies:
            # Every project when a declared grant or a policy selects among them; else only
            # those carrying the caller's grant record (the platform filters for it).
            return _projects(
                client,
                org_id,
                caller,
                recorded_only=not (grants.projects or policies),
                with_settings=policies,
            )
        return ()

    def read_apps() -> tuple[LiveApp, ...]:
        if reads_grants:
            return _apps(client, org_id, grants, caller)
        return ()

    # The listings do not depend on each other: read together, their pages' round trips
    # overlap (a 50,000-member org pages through 51 + 25 + 3). Errors come in this order.
    members, projects, apps = cast(
        "tuple[dict[str, LiveMember], tuple[LiveProject, ...], tuple[LiveApp, ...]]",
        tuple(client.map(lambda read: read(), [read_members, read_projects, read_apps])),
    )

    # Accounts to provision, and users to invite: do they exist (and can the token see them)?
    # A provisioning entry that names a member is described too: only the email the
    # platform shows for it can make that member the account the entry provisions.
    accounts = [a.user_id for a in desired.provisioning]
    invitees = [
        u
        for u in (desired.membership.members if desired.membership and check_invitees else ())
        if u not in members
    ]
    provisioned = set(accounts)
    found = dict(
        zip(
            accounts + invitees,
            client.map(lambda u: _account_state(client, u, u in provisioned), accounts + invitees),
            strict=True,
        )
    )
    states = {user_id: state for user_id, (state, _) in found.items()}

    return LiveOrg(
        org_id=org_id,
        name=_string(org, "name", org_id),
        caller=caller,
        policies=dict(org.get("policies") or {}),
        members=members,
        projects=projects,
        apps=apps,
        forwarding=_forwarding(org.get("jobLogsForwarding")),
        expires_at=org.get("expiresAt") if isinstance(org.get("expiresAt"), int) else None,
        settings={
            s.name: _top_level_setting(org_id, s, org.get(s.name)) for s in TOP_LEVEL_SETTINGS
        },
        existing_accounts={u: found[u][1] for u in accounts if states[u] != "missing"},
        unknown_users=frozenset(u for u in invitees if states[u] == "missing"),
        hidden_users=frozenset(u for u in invitees if states[u] == "hidden"),
    )


def _account_state(client: ReadClient, user_id: str, with_email: bool) -> tuple[str, str | None]:
    """ "exists", "missing" (no such account) or "hidden" (it exists, the token may not see
    it); and, when asked, the email the platform shows this token (None if not shown: the
    platform shows it only to the account itself)."""
    try:
        described = client.describe_user(
            user_id, fields={"id": True, "email": True} if with_email else None
        )
    except ResourceNotFound:
        return "missing", None
    except PermissionDenied:
        return "hidden", None
    email = described.get("email")
    return "exists", email if isinstance(email, str) else None


def _string(row: Mapping[str, object], key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        raise ReadIncompleteError(f"{where}: the platform's answer has no {key!r}")
    return value


def _members(org_id: str, rows: Sequence[Mapping[str, object]]) -> dict[str, LiveMember]:
    out: dict[str, LiveMember] = {}
    # An org has a few dozen distinct accesses: one Access object each, not one per member.
    shared: dict[tuple[object, ...], Access] = {}
    for row in rows:
        user_id = _string(row, "id", f"{org_id} findMembers")
        # Typed, so that a malformed 1 is never taken for a True seen before.
        key = tuple(
            (type(value), value)
            for value in (row.get("level"), *(row.get(flag.name, _ABSENT) for flag in FLAGS))
        )
        try:
            access = shared.get(key)
        except TypeError:  # an unhashable value cannot be valid: _access says what is wrong
            access = None
        if access is None:
            access = shared[key] = _access(org_id, user_id, row)
        described = row.get("describe")
        name = None
        if isinstance(described, Mapping):
            name = (
                " ".join(str(described[k]) for k in ("first", "last") if described.get(k)) or None
            )
        out[user_id] = LiveMember(user_id, access, name)
    return out


_ABSENT = object()


def _access(org_id: str, user_id: str, row: Mapping[str, object]) -> Access:
    """A findMembers row's access, or ReadIncompleteError.

    A MEMBER row must carry the flags every platform version reports; a later flag missing
    from a row (older platforms report six keys) takes the level's default. A flag that is
    there with a value of the wrong type fails the read. On an ADMIN the flags ADMIN forces
    are the forced values whatever the row says.
    """
    level = row.get("level")
    if level != "ADMIN" and level != "MEMBER":
        raise ReadIncompleteError(f"{org_id} findMembers: row for {user_id} has no level")
    values: dict[str, FlagValue] = {}
    for flag in FLAGS:
        if flag.name not in row:
            if flag.always_present and level == "MEMBER":
                raise ReadIncompleteError(
                    f"{org_id} findMembers: incomplete row for {user_id} (no {flag.name})"
                )
            continue
        value = row[flag.name]
        if not flag.valid(value):
            kind = "project access level" if flag.kind == "projectAccess" else "boolean"
            raise ReadIncompleteError(
                f"{org_id} findMembers: row for {user_id} has {flag.name} {value!r}, "
                f"which is not a {kind}"
            )
        values[flag.name] = cast("FlagValue", value)
    return Access.of(level, values)


def _projects(
    client: ReadClient,
    org_id: str,
    caller: str,
    *,
    recorded_only: bool,
    with_settings: bool = False,
) -> tuple[LiveProject, ...]:
    """The org's projects (`recorded_only`: only those carrying the caller's grant record,
    which the platform filters for: no grant declared can select any other)."""
    fields = {"name": True, "properties": True}
    if with_settings:
        # What project policies compare, and the version `project-x/update` is sent with.
        fields |= {"tags": True, "version": True, **dict.fromkeys(PROJECT_SETTINGS, True)}
    record_key = grant_record_key(caller)
    rows = client.find_org_projects(
        org_id,
        properties={record_key: True} if recorded_only else None,
        describe={"fields": fields},
    )
    projects = []
    for row in rows:
        project_id = _string(row, "id", f"{org_id} findProjects")
        described = row.get("describe")
        if not isinstance(described, Mapping):
            raise ReadIncompleteError(f"{org_id} findProjects: no describe for {project_id}")
        level = row.get("level")
        if level is not None and level not in PROJECT_ACCESS_LEVELS:
            raise ReadIncompleteError(f"{org_id} findProjects: unknown level for {project_id}")
        properties = described.get("properties") or {}
        if not isinstance(properties, Mapping):
            raise ReadIncompleteError(
                f"{org_id} findProjects: malformed properties of {project_id}"
            )
        record = properties.get(record_key)
        projects.append(
            LiveProject(
                project_id,
                _string(described, "name", project_id),
                level or NO_ACCESS,
                record if record in PROJECT_ACCESS_LEVELS else None,
                **(_project_settings(org_id, project_id, described) if with_settings else {}),
            )
        )
    return tuple(projects)


def _project_settings(org_id: str, project_id: str, described: Mapping[str, Any]) -> dict[str, Any]:
    """Tags, restriction settings and version, as policies need them; fail closed on a
    malformed one (a policy never acts on a guess). A setting the platform leaves out is
    off: it is reported only once set."""
    where = f"{org_id} findProjects: {project_id}"
    tags = described.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ReadIncompleteError(f"{where}: malformed tags")
    version = described.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise ReadIncompleteError(f"{where}: malformed version")
    settings: dict[str, bool] = {}
    for name in PROJECT_SETTINGS:
        value = described.get(name, False)
        if not isinstance(value, bool):
            raise ReadIncompleteError(f"{where}: {name} is not a boolean")
        settings[name] = value
    return {"tags": tuple(tags), "settings": settings, "version": version}


def _apps(
    client: ReadClient, org_id: str, self_grants: SelfGrants, caller: str
) -> tuple[LiveApp, ...]:
    rows = client.find_org_apps(org_id, describe=True)
    grants = self_grants.apps
    record_tag = grant_record_key(caller)
    apps = []
    for row in rows:
        app_id = _string(row, "id", f"{org_id} findApps")
        described = row.get("describe")
        if not isinstance(described, Mapping):
            raise ReadIncompleteError(f"{org_id} findApps: no describe for {app_id}")
        tags = described.get("tags") or []
        if not isinstance(tags, list):
            raise ReadIncompleteError(f"{org_id} findApps: malformed tags of {app_id}")
        apps.append(
            LiveApp(
                app_id,
                _string(described, "name", app_id),
                str(described.get("version", "")),
                grant_recorded=record_tag in tags,
            )
        )

    def with_developers(app: LiveApp) -> LiveApp:
        developers = client.list_app_developers(app.app_id)
        return replace(app, developers=tuple(sorted(developers)))

    # Only the apps a grant selects, or that carry the caller's record, are asked about.
    selected = [
        a
        for a in apps
        if a.grant_recorded or any(selects(g.selector, a.app_id, a.name) for g in grants)
    ]
    described = {a.app_id: a for a in client.map(with_developers, selected)}
    return tuple(described.get(app.app_id, app) for app in apps)


def _top_level_setting(org_id: str, setting: OrgSetting, value: object) -> object:
    if value is None or isinstance(value, str if setting.json_type == "string" else bool):
        return value
    raise ReadIncompleteError(
        f"{org_id} describe: {setting.name} is {value!r}, not a {setting.json_type}"
    )


def _forwarding(value: object) -> LiveForwarding | None:
    if not isinstance(value, Mapping) or not value.get("url"):
        return None  # never configured, or disabled ({updated, updatedBy} only)
    signature = value.get("tokenSignature")
    return LiveForwarding(str(value["url"]), signature if isinstance(signature, str) else None)
