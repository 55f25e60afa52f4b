"""Project methods: new, describe, invite, decreasePermissions, update, properties, tags."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from reconciler.emulator.access import (
    LEVEL_RANK,
    PROJECT_LEVELS,
    ensure_not_expired,
    higher_level,
    load_org,
    load_user,
    membership_of,
    org_policies,
    project_levels,
)
from reconciler.emulator.api_errors import (
    InvalidInput,
    InvalidState,
    PermissionDenied,
    ResourceNotFound,
)
from reconciler.emulator.ids import random_id
from reconciler.emulator.inputs import Fields
from reconciler.emulator.routing import Call, Method
from reconciler.emulator.views import PROJECT_SETTINGS, project_view, select_fields

DEFAULT_REGION = "aws:us-east-1"
BOOLEAN_SETTINGS = (
    "protected",
    "restricted",
    "downloadRestricted",
    "previewViewerRestricted",
    "databaseUIViewOnly",
    "externalUploadRestricted",
    "httpsAppIsolatedBrowsing",
)


@dataclass(frozen=True)
class ProjectAccess:
    """A caller's standing on one project."""

    row: sqlite3.Row
    level: str | None
    # ADMINs of the org a project is billed to may grant themselves access to it.
    billing_org_admin: bool

    @property
    def administers(self) -> bool:
        return self.level == "ADMINISTER"


def load_project(conn: sqlite3.Connection, project_id: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM projects WHERE id = ?", (project_id,)).fetchone()
    if row is None:
        raise ResourceNotFound(f'The specified project "{project_id}" could not be found')
    return row


def project_access(conn: sqlite3.Connection, project_id: str, caller: str) -> ProjectAccess:
    row = load_project(conn, project_id)
    level = project_levels(conn, caller, [project_id])[project_id]
    membership = membership_of(conn, row["bill_to"], caller)
    access = ProjectAccess(row, level, membership is not None and membership.is_admin)
    if access.level is None and not access.billing_org_admin:
        raise PermissionDenied(f"{caller} has no access to {project_id}")
    return access


def check_billable(conn: sqlite3.Connection, bill_to: str, caller: str, now: int) -> None:
    """May the caller bill new spending to `bill_to` (themself, or an org allowing it)?"""
    if bill_to.startswith("user-"):
        if bill_to != caller:
            raise PermissionDenied(f"{caller} cannot bill to another user ({bill_to})")
        return
    if not bill_to.startswith("org-"):
        raise InvalidInput("Field 'billTo' must be a user or org id")
    org = load_org(conn, bill_to)
    membership = membership_of(conn, bill_to, caller)
    if membership is None or not membership.allow_billable:
        raise PermissionDenied(f"{caller} is not allowed billable activities in {bill_to}")
    ensure_not_expired(org, now)


def read_settings(body: Fields, current: dict[str, Any]) -> dict[str, Any]:
    settings = dict(current)
    for key in BOOLEAN_SETTINGS:
        value = body.optional_bool(key)
        if value is not None:
            settings[key] = value
    contains_phi = body.optional_bool("containsPHI")
    if contains_phi is not None:
        if not contains_phi and settings.get("containsPHI"):
            raise InvalidInput("Field 'containsPHI' can only be set to true")
        settings["containsPHI"] = contains_phi
    if body.has("allowedExecutables"):
        if body.raw("allowedExecutables") is None:
            settings["allowedExecutables"] = None
        else:
            settings["allowedExecutables"] = body.optional_string_list("allowedExecutables")
    if body.has("databaseResultsRestricted"):
        settings["databaseResultsRestricted"] = body.optional_int("databaseResultsRestricted")
    options = body.optional_object("httpsAppIsolatedBrowsingOptions")
    if options is not None:
        settings["httpsAppIsolatedBrowsingOptions"] = dict(options.data)
    return settings


def project_new(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    body = call.body
    name = body.required_string("name")
    if not name.strip():
        raise InvalidInput("Field 'name' must not be empty")
    bill_to = body.optional_string("billTo") or load_user(conn, call.caller)["bill_to"]
    check_billable(conn, bill_to, call.caller, call.now)
    settings = read_settings(body, {})
    project_id = random_id("project")
    conn.execute(
        "INSERT INTO projects (id, name, bill_to, created_by, created, modified, data_usage,"
        " region, summary, description, tags, properties, settings, version)"
        " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, '[]', '{}', ?, 1)",
        (
            project_id,
            name,
            bill_to,
            call.caller,
            call.now,
            call.now,
            body.optional_string("region") or DEFAULT_REGION,
            body.optional_string("summary") or "",
            body.optional_string("description") or "",
            json.dumps(settings),
        ),
    )
    conn.execute(
        "INSERT INTO project_permissions (project_id, entity_id, level) VALUES (?, ?, ?)",
        (project_id, call.caller, "ADMINISTER"),
    )
    return {"id": project_id}


def project_describe(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    access = project_access(conn, call.target, call.caller)
    # A billing-org ADMIN without a grant describes the project at level NONE (not null:
    # `dx describe` prints the level).
    level = access.level or "NONE"
    return select_fields(project_view(conn, access.row, level, call.body), call.body)


def resolve_invitee(conn: sqlite3.Connection, invitee: str) -> str | None:
    """The entity an invite names; None for an email address nobody has yet."""
    if invitee == "PUBLIC":
        return invitee
    if invitee.startswith("user-"):
        return str(load_user(conn, invitee)["id"])
    if invitee.startswith("org-"):
        return str(load_org(conn, invitee)["id"])
    if "@" in invitee:
        row = conn.execute(
            "SELECT id FROM users WHERE email_key = ?", (invitee.strip().lower(),)
        ).fetchone()
        return None if row is None else str(row["id"])
    raise InvalidInput("Field 'invitee' must be a user id, an org id, an email address or PUBLIC")


def project_invite(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    access = project_access(conn, call.target, call.caller)
    body = call.body
    invitee = body.required_string("invitee")
    level = body.optional_choice("level", PROJECT_LEVELS)
    if level is None:
        raise InvalidInput("Missing required field 'level'")
    body.optional_bool("suppressEmailNotification")
    if not access.administers and not (access.billing_org_admin and invitee == call.caller):
        # Org admins without ADMINISTER may only grant themselves access.
        raise PermissionDenied(f"ADMINISTER permission is required to invite to {call.target}")
    if invitee == "PUBLIC" and level != "VIEW":
        raise InvalidInput("PUBLIC can only be invited at level VIEW")
    entity = resolve_invitee(conn, invitee)
    if entity is None:
        return {"id": call.target, "state": "PENDING"}
    current = conn.execute(
        "SELECT level FROM project_permissions WHERE project_id = ? AND entity_id = ?",
        (call.target, entity),
    ).fetchone()
    # An invite never lowers a level; decreasePermissions does that.
    new_level = higher_level(None if current is None else current["level"], level)
    conn.execute(
        "INSERT INTO project_permissions (project_id, entity_id, level) VALUES (?, ?, ?)"
        " ON CONFLICT (project_id, entity_id) DO UPDATE SET level = excluded.level",
        (call.target, entity, new_level),
    )
    return {"id": call.target, "state": "ACCEPTED"}


def project_decrease_permissions(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    project = load_project(conn, call.target)
    caller_level = project_levels(conn, call.caller, [call.target])[call.target]
    named = call.body.field_names()
    if caller_level is None and call.caller not in named:
        raise PermissionDenied(f"{call.caller} has no access to {call.target}")
    changes: list[tuple[str, str | None]] = []
    for entity in named:
        new_level = call.body.raw(entity)
        if new_level is not None and new_level not in (*PROJECT_LEVELS, "NONE"):
            raise InvalidInput(
                f"Field '{entity}' must be null or one of {', '.join(PROJECT_LEVELS)}"
            )
        target_level = None if new_level == "NONE" else new_level
        current = conn.execute(
            "SELECT level FROM project_permissions WHERE project_id = ? AND entity_id = ?",
            (call.target, entity),
        ).fetchone()
        if current is None or current["level"] == target_level:
            # Nothing to decrease: decreasePermissions is retryable, and a repeat after a
            # lost answer finds the change already made.
            continue
        if entity != call.caller and caller_level != "ADMINISTER":
            raise PermissionDenied(
                f"ADMINISTER permission is required to change others' access to {call.target}"
            )
        if target_level is not None and LEVEL_RANK[target_level] > LEVEL_RANK[current["level"]]:
            raise InvalidInput(
                f"Field '{entity}': {target_level} is higher than the current {current['level']}"
            )
        changes.append((entity, target_level))
    for entity, target_level in changes:
        if target_level is None:
            conn.execute(
                "DELETE FROM project_permissions WHERE project_id = ? AND entity_id = ?",
                (call.target, entity),
            )
        else:
            conn.execute(
                "UPDATE project_permissions SET level = ? WHERE project_id = ? AND entity_id = ?",
                (target_level, call.target, entity),
            )
    return {"id": project["id"]}


def check_transfer(conn: sqlite3.Connection, project: sqlite3.Row, call: Call) -> None:
    """`restrictProjectTransfer: ADMIN` on the current billing org lets only its admins move."""
    current = project["bill_to"]
    if not current.startswith("org-"):
        return
    org = conn.execute("SELECT * FROM orgs WHERE id = ?", (current,)).fetchone()
    if org is None:
        return
    if org_policies(org).get("restrictProjectTransfer", "ADMIN") == "ADMIN":
        membership = membership_of(conn, current, call.caller)
        if membership is None or not membership.is_admin:
            raise PermissionDenied(
                f"Only ADMINs of {current} may transfer its projects (restrictProjectTransfer)"
            )


def project_update(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    access = project_access(conn, call.target, call.caller)
    if not access.administers:
        raise PermissionDenied(f"ADMINISTER permission is required to update {call.target}")
    project = access.row
    body = call.body
    version = body.optional_int("version")
    name = body.nonempty_string("name")
    summary = body.optional_string("summary")
    description = body.optional_string("description")
    bill_to = body.optional_string("billTo")
    current_settings = {**PROJECT_SETTINGS, **json.loads(project["settings"])}
    settings = read_settings(body, current_settings)
    if version is not None and version != project["version"]:
        unchanged = settings == current_settings and all(
            value is None or value == project[column]
            for value, column in (
                (name, "name"),
                (summary, "summary"),
                (description, "description"),
                (bill_to, "bill_to"),
            )
        )
        if unchanged:
            # update is retryable: a repeat after a lost answer carries the version the
            # first call moved on from, and asks for what is already there.
            return {"id": call.target}
        raise InvalidState(f"{call.target} is at version {project['version']}, not {version}")
    if bill_to is not None and bill_to != project["bill_to"]:
        check_transfer(conn, project, call)
        check_billable(conn, bill_to, call.caller, call.now)
    conn.execute(
        "UPDATE projects SET name = ?, summary = ?, description = ?, bill_to = ?, settings = ?,"
        " version = version + 1, modified = ? WHERE id = ?",
        (
            name if name is not None else project["name"],
            summary if summary is not None else project["summary"],
            description if description is not None else project["description"],
            bill_to if bill_to is not None else project["bill_to"],
            json.dumps(settings),
            call.now,
            call.target,
        ),
    )
    return {"id": call.target}


def require_contribute(access: ProjectAccess, what: str) -> None:
    """Metadata writes (properties, tags) need CONTRIBUTE or higher, as on the platform."""
    if access.level is None or LEVEL_RANK[access.level] < LEVEL_RANK["CONTRIBUTE"]:
        raise PermissionDenied(f"CONTRIBUTE permission is required to {what} {access.row['id']}")


def project_set_properties(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    """`{"properties": {key: value or null}}`: null deletes the key, a string sets it."""
    access = project_access(conn, call.target, call.caller)
    changes = call.body.optional_object("properties")
    if changes is None:
        raise InvalidInput("Missing required field 'properties'")
    for key in changes.field_names():
        if not key:
            raise InvalidInput("Property keys must be nonempty strings")
        if changes.raw(key) is not None:
            changes.required_string(key)
    require_contribute(access, "set properties on")
    properties: dict[str, str] = json.loads(access.row["properties"])
    for key in changes.field_names():
        value = changes.raw(key)
        if value is None:
            properties.pop(key, None)
        else:
            properties[key] = value
    conn.execute(
        "UPDATE projects SET properties = ?, modified = ? WHERE id = ?",
        (json.dumps(properties, sort_keys=True), call.now, call.target),
    )
    return {"id": call.target}


def tag_list(call: Call) -> list[str]:
    tags = call.body.optional_string_list("tags")
    if tags is None:
        raise InvalidInput("Missing required field 'tags'")
    if not all(tags):
        raise InvalidInput("Field 'tags' must hold only nonempty strings")
    return tags


def change_project_tags(call: Call, conn: sqlite3.Connection, *, add: bool) -> dict[str, Any]:
    access = project_access(conn, call.target, call.caller)
    tags = tag_list(call)
    require_contribute(access, "tag")
    current: list[str] = json.loads(access.row["tags"])
    if add:
        updated = current + [tag for tag in dict.fromkeys(tags) if tag not in current]
    else:
        updated = [tag for tag in current if tag not in set(tags)]
    conn.execute(
        "UPDATE projects SET tags = ?, modified = ? WHERE id = ?",
        (json.dumps(updated), call.now, call.target),
    )
    return {"id": call.target}


def project_add_tags(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    return change_project_tags(call, conn, add=True)


def project_remove_tags(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    return change_project_tags(call, conn, add=False)


METHODS: tuple[Method, ...] = (
    Method("project", "new", project_new, writes=True, retryable=False),
    Method("project", "describe", project_describe, writes=False),
    Method("project", "invite", project_invite, writes=True, retryable=False),
    Method("project", "decreasePermissions", project_decrease_permissions, writes=True),
    Method("project", "update", project_update, writes=True),
    Method("project", "setProperties", project_set_properties, writes=True),
    Method("project", "addTags", project_add_tags, writes=True),
    Method("project", "removeTags", project_remove_tags, writes=True),
)
