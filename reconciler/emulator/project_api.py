"""Project methods: new, describe, invite, decreasePermissions, update, properties, tags,
destroy, and the folder methods `dx cd`, `dx ls` and `dx select` need."""

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
# The regions dx-toolkit's tests create projects and build apps in; the platform refuses any
# other region string with InvalidInput (test_dx_new_project_with_region: aws:not-a-region).
# Which regions a given billTo may use is UNKNOWN: every one here is open to everyone.
REGIONS = frozenset(
    {
        "aws:us-east-1",
        "aws:eu-central-1",
        "aws:eu-west-2",
        "aws:eu-west-2-g",
        "aws:ap-southeast-2",
        "aws:me-south-1",
        "azure:westus",
        "azure:westeurope",
        "azure:uksouth-ofh",
        "oci:us-ashburn-1",
    }
)
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
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM projects WHERE id = ?", (project_id,)
    ).fetchone()
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
        if (
            bill_to != caller
            and not conn.execute("SELECT 1 FROM users WHERE id = ?", (bill_to,)).fetchone()
        ):
            # dx-toolkit's test_bill_non_existent_user: `--bill-to user-wronguser` is InvalidInput.
            raise InvalidInput(f"Field 'billTo': the user {bill_to} does not exist")
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
    # dx-toolkit's TestDXProject.test_update_describe (PTFM-40852): restricting downloads
    # restricts the preview viewer too, and downloads cannot be unrestricted while the preview
    # viewer still is; an explicit previewViewerRestricted in the same call wins.
    download = body.optional_bool("downloadRestricted")
    preview = body.optional_bool("previewViewerRestricted")
    if download is True and not current.get("downloadRestricted") and preview is None:
        settings["previewViewerRestricted"] = True
    if download is False and settings.get("previewViewerRestricted"):
        raise InvalidInput(
            "previewViewerRestricted must be turned off before downloadRestricted can be"
        )
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


def check_phi(conn: sqlite3.Connection, bill_to: str) -> None:
    """dx-toolkit's test_dx_create_new_project_with_phi: a PHI project needs a billTo with PHI
    features (`PermissionDenied: PHI features must be enabled for ...`). Only orgs seeded with
    `phiFeatures` have them; how a user account gets them is UNKNOWN (none does here)."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT phi_features FROM orgs WHERE id = ?", (bill_to,)
    ).fetchone()
    if row is None or not row["phi_features"]:
        raise PermissionDenied(f"PHI features must be enabled for {bill_to}")


def new_properties(body: Fields) -> dict[str, str]:
    properties = body.optional_object("properties")
    if properties is None:
        return {}
    for key in properties.field_names():
        if not key:
            raise InvalidInput("Property keys must be nonempty strings")
    return {key: properties.required_string(key) for key in properties.field_names()}


def project_new(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    body = call.body
    name = body.required_string("name")
    if not name.strip():
        raise InvalidInput("Field 'name' must not be empty")
    region = body.optional_string("region") or DEFAULT_REGION
    if region not in REGIONS:
        raise InvalidInput(f"Field 'region': '{region}' is not a region this platform has")
    tags = body.optional_string_list("tags") or []
    if not all(tags):
        raise InvalidInput("Field 'tags' must hold only nonempty strings")
    properties = new_properties(body)
    bill_to = body.optional_string("billTo") or load_user(conn, call.caller)["bill_to"]
    check_billable(conn, bill_to, call.caller, call.now)
    settings = read_settings(body, {})
    if settings.get("containsPHI"):
        check_phi(conn, bill_to)
    project_id = random_id("project")
    conn.execute(
        "INSERT INTO projects (id, name, bill_to, created_by, created, modified, data_usage,"
        " region, summary, description, tags, properties, settings, version)"
        " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, 1)",
        (
            project_id,
            name,
            bill_to,
            call.caller,
            call.now,
            call.now,
            region,
            body.optional_string("summary") or "",
            body.optional_string("description") or "",
            json.dumps(list(dict.fromkeys(tags))),
            json.dumps(properties, sort_keys=True),
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


def resolve_invitee(conn: sqlite3.Connection, invitee: str) -> str:
    """The entity an invite names (an email address: the user who has it)."""
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
        if row is None:
            # dx-toolkit's test_dx_invite: an email nobody has is ResourceNotFound.
            raise ResourceNotFound(f"No user has the email address {invitee}")
        return str(row["id"])
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
    # Lower case, as `dx invite` prints it in test_dx_project_invite_without_email.
    return {"id": call.target, "state": "accepted"}


def project_decrease_permissions(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    project = load_project(conn, call.target)
    caller_level = project_levels(conn, call.caller, [call.target])[call.target]
    named = call.body.field_names()
    if caller_level is None and call.caller not in named:
        raise PermissionDenied(f"{call.caller} has no access to {call.target}")
    changes: list[tuple[str, str | None]] = []
    for entity in named:
        check_entity_exists(conn, entity)
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


def check_entity_exists(conn: sqlite3.Connection, entity: str) -> None:
    """dx-toolkit's test_dx_uninvite: naming a user (or org) that does not exist is
    ResourceNotFound; one that exists but holds no grant is skipped (see the retry rules)."""
    if entity == "PUBLIC":
        return
    table = "users" if entity.startswith("user-") else "orgs" if entity.startswith("org-") else None
    if table is None:
        raise InvalidInput(f"'{entity}' is not a user id, an org id or PUBLIC")
    if conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (entity,)).fetchone() is None:
        raise ResourceNotFound(f'The entity "{entity}" could not be found')


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


def folder_path(body: Fields, key: str = "folder", default: str | None = "/") -> str:
    """A folder path: absolute, no empty or dot segments, no trailing slash but on "/"."""
    path = body.optional_string(key) or default
    if path is None:
        raise InvalidInput(f"Missing required field '{key}'")
    if not path.startswith("/"):
        raise InvalidInput(f"Field '{key}' must be a path starting with '/'")
    trimmed = path.rstrip("/") or "/"
    if trimmed != "/" and any(part in ("", ".", "..") for part in trimmed[1:].split("/")):
        raise InvalidInput(f"Field '{key}' is not a valid folder path: {path}")
    return trimmed


def parent_of(folder: str) -> str:
    return folder.rsplit("/", 1)[0] or "/"


def project_folders(row: sqlite3.Row) -> list[str]:
    folders: list[str] = json.loads(row["folders"])
    return folders


def project_list_folder(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    """The folder's direct subfolders; no data objects (the emulator holds none).
    What `dx cd`, `dx ls` and dxpy's DXProject.list_folder read."""
    access = project_access(conn, call.target, call.caller)
    if access.level is None:
        raise PermissionDenied(f"{call.caller} has no access to {call.target}")
    folder = folder_path(call.body)
    only = call.body.optional_choice("only", ("objects", "folders", "all")) or "all"
    call.body.describe_flag()
    call.body.optional_bool("includeHidden")
    folders = project_folders(access.row)
    if folder not in folders:
        raise ResourceNotFound(f"The folder {folder} could not be found in {call.target}")
    result: dict[str, Any] = {}
    if only in ("objects", "all"):
        result["objects"] = []
    if only in ("folders", "all"):
        result["folders"] = sorted(f for f in folders if f != "/" and parent_of(f) == folder)
    return result


def project_new_folder(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    """A new folder; `parents: true` makes the missing ancestors too (as `mkdir -p`). Needs
    CONTRIBUTE, the level of the other metadata writes; the platform's own is UNKNOWN."""
    access = project_access(conn, call.target, call.caller)
    require_contribute(access, "make a folder in")
    folder = folder_path(call.body, default=None)
    parents = call.body.bool_or("parents", False)
    folders = project_folders(access.row)
    chain = [folder]
    while chain[-1] != "/":
        chain.append(parent_of(chain[-1]))
    missing = [path for path in chain if path not in folders]
    if missing and not parents and parent_of(folder) in missing:
        raise ResourceNotFound(f"The parent folder of {folder} does not exist (see 'parents')")
    conn.execute(
        "UPDATE projects SET folders = ?, modified = ? WHERE id = ?",
        (json.dumps(sorted({*folders, *missing})), call.now, call.target),
    )
    return {"id": call.target}


def project_destroy(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    """Deletes the project and every grant on it; needs ADMINISTER (the API reference's
    project-x/destroy; dx-toolkit's tests clean up with it). `terminateJobs` is accepted:
    the emulator runs no jobs. Whether the platform answers a repeat the same is UNKNOWN."""
    call.body.optional_bool("terminateJobs")
    destroyed = conn.execute(
        "SELECT destroyed_by FROM destroyed_projects WHERE id = ?", (call.target,)
    ).fetchone()
    if destroyed is not None and destroyed["destroyed_by"] == call.caller:
        # destroy is retryable: the repeat after a lost answer finds the work done.
        return {"id": call.target}
    access = project_access(conn, call.target, call.caller)
    if not access.administers:
        raise PermissionDenied(f"ADMINISTER permission is required to destroy {call.target}")
    conn.execute("DELETE FROM project_permissions WHERE project_id = ?", (call.target,))
    conn.execute("DELETE FROM projects WHERE id = ?", (call.target,))
    conn.execute(
        "INSERT INTO destroyed_projects (id, destroyed_by, at) VALUES (?, ?, ?)",
        (call.target, call.caller, call.now),
    )
    return {"id": call.target}


METHODS: tuple[Method, ...] = (
    Method("project", "new", project_new, writes=True, retryable=False),
    Method("project", "describe", project_describe, writes=False),
    Method("project", "invite", project_invite, writes=True, retryable=False),
    Method("project", "decreasePermissions", project_decrease_permissions, writes=True),
    Method("project", "update", project_update, writes=True),
    Method("project", "setProperties", project_set_properties, writes=True),
    Method("project", "addTags", project_add_tags, writes=True),
    Method("project", "removeTags", project_remove_tags, writes=True),
    Method("project", "listFolder", project_list_folder, writes=False),
    Method("project", "newFolder", project_new_folder, writes=True),
    Method("project", "destroy", project_destroy, writes=True),
)
