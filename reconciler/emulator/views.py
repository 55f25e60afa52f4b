"""The JSON shapes of described objects: users, orgs, projects and apps."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from reconciler.emulator.access import Membership
from reconciler.emulator.ids import stable_id
from reconciler.emulator.inputs import Fields

# Project settings kept in one JSON column, with their defaults.
PROJECT_SETTINGS: dict[str, Any] = {
    "protected": False,
    "restricted": False,
    "downloadRestricted": False,
    "previewViewerRestricted": False,
    "containsPHI": False,
    "databaseUIViewOnly": False,
    "externalUploadRestricted": False,
    "httpsAppIsolatedBrowsing": False,
    "allowedExecutables": None,
    "databaseResultsRestricted": None,
}


def select_fields(view: dict[str, Any], options: Fields | None) -> dict[str, Any]:
    """Honour a describe input's ``fields`` map (``{"name": true}``) and ``defaultFields``."""
    if options is None:
        return view
    wanted = options.optional_object("fields")
    if wanted is None:
        return view
    chosen = {name for name in wanted.field_names() if wanted.raw(name) is True}
    if options.bool_or("defaultFields", False):
        return view
    return {key: value for key, value in view.items() if key in chosen or key == "id"}


def user_view(user: sqlite3.Row, *, own: bool) -> dict[str, Any]:
    """Anyone sees the public fields; only the user themself sees email and billTo."""
    view: dict[str, Any] = {
        "id": user["id"],
        "class": "user",
        "first": user["first"],
        "middle": user["middle"],
        "last": user["last"],
        "handle": user["handle"],
    }
    if own:
        view["email"] = user["email"]
        view["billTo"] = user["bill_to"]
        view["created"] = user["created"]
        view["appsInstalled"] = {}
    return view


def org_view(org: sqlite3.Row, membership: Membership | None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": org["id"],
        "class": "org",
        "name": org["name"],
        "handle": org["handle"],
        "created": org["created"],
        "policies": json.loads(org["policies"]),
    }
    if membership is not None:
        # The caller's own membership: the level and all nine flags, as findMembers lists.
        view["level"] = membership.level
        view.update(membership.ordered_flags())
    if org["expires_at"] is not None:
        view["expiresAt"] = org["expires_at"]
    if org["saml_idp"] is not None:
        view["samlIdP"] = org["saml_idp"]
    if org["job_logs_forwarding"] is not None:
        # Stored as url + tokenSignature + updated + updatedBy: the token never is.
        view["jobLogsForwarding"] = json.loads(org["job_logs_forwarding"])
    return view


def project_permissions(conn: sqlite3.Connection, project_id: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT entity_id, level FROM project_permissions WHERE project_id = ? ORDER BY entity_id",
        (project_id,),
    ).fetchall()
    return {row["entity_id"]: row["level"] for row in rows}


def project_view(
    conn: sqlite3.Connection,
    project: sqlite3.Row,
    level: str,
    options: Fields | None,
) -> dict[str, Any]:
    """Every default field plus those `options` asks for; `select_fields` then narrows."""
    settings = {**PROJECT_SETTINGS, **json.loads(project["settings"])}
    is_public = (
        conn.execute(
            "SELECT 1 FROM project_permissions WHERE project_id = ? AND entity_id = 'PUBLIC'",
            (project["id"],),
        ).fetchone()
        is not None
    )
    view: dict[str, Any] = {
        "id": project["id"],
        "class": "project",
        "name": project["name"],
        "summary": project["summary"],
        "description": project["description"],
        "billTo": project["bill_to"],
        "level": level,
        "public": is_public,
        "region": project["region"],
        "created": project["created"],
        "modified": project["modified"],
        "createdBy": {"user": project["created_by"]},
        "dataUsage": project["data_usage"],
        "sponsoredDataUsage": 0.0,
        "remoteDataUsage": 0.0,
        "tags": json.loads(project["tags"]),
        "version": project["version"],
        "pendingTransfer": None,
        "atSpendingLimit": False,
        **settings,
    }
    if options is not None:
        if options.bool_or("properties", False):
            view["properties"] = json.loads(project["properties"])
        if options.bool_or("permissions", False):
            view["permissions"] = project_permissions(conn, project["id"])
        if options.bool_or("appCaches", False):
            view["appCaches"] = {}
        wanted = options.optional_object("fields")
        if wanted is not None:
            # Fields outside the defaults are available on request too.
            if wanted.raw("properties") is True:
                view["properties"] = json.loads(project["properties"])
            if wanted.raw("permissions") is True:
                view["permissions"] = project_permissions(conn, project["id"])
    return view


def app_developers(conn: sqlite3.Connection, app_name: str) -> list[str]:
    rows = conn.execute(
        "SELECT developer FROM app_developers WHERE app_name = ? ORDER BY developer", (app_name,)
    ).fetchall()
    return [row["developer"] for row in rows]


def latest_app_id(conn: sqlite3.Connection, app_name: str) -> str | None:
    row = conn.execute(
        "SELECT id FROM apps WHERE name = ? ORDER BY created DESC, id DESC LIMIT 1", (app_name,)
    ).fetchone()
    return None if row is None else str(row["id"])


def app_view(conn: sqlite3.Connection, app: sqlite3.Row, caller: str) -> dict[str, Any]:
    developers = app_developers(conn, app["name"])
    is_default = latest_app_id(conn, app["name"]) == app["id"]
    tags: list[str] = json.loads(app["tags"])
    # A tag is an alias of this version (the Apps page: an app is reachable by its name and
    # its aliases, the version and the attached tags).
    aliases = (["default"] if is_default else []) + [app["version"], *tags]
    view: dict[str, Any] = {
        "id": app["id"],
        "class": "app",
        "name": app["name"],
        "version": app["version"],
        "aliases": aliases,
        "tags": tags,
        "summary": app["summary"],
        "billTo": app["bill_to"],
        "createdBy": app["created_by"],
        "created": app["created"],
        "modified": app["modified"],
        "published": app["published"],
        "deleted": False,
        "openSource": False,
        "categories": [],
        "dxapi": "1.0.0",
        "isDeveloperFor": caller in developers,
        # What `dx describe app-x` prints besides; the emulator runs no executables.
        "applet": stable_id("applet", app["id"]),
        "installed": False,
        "installs": 0,
        "details": {},
        "access": {},
        "authorizedUsers": json.loads(app["authorized_users"]),
    }
    if app["title"] is not None:
        view["title"] = app["title"]
    return view
