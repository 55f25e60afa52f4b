"""App methods: describe, the developer / authorized-user lists, and tags.

An app is addressed by hash id (``app-<24 chars>``), by name (``app-<name>``, the latest
version) or by name and version (``app-<name>/<version>``). Developers belong to the
app name and so to every version.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from reconciler.emulator.access import load_org, load_user, membership_of
from reconciler.emulator.api_errors import InvalidInput, PermissionDenied, ResourceNotFound
from reconciler.emulator.ids import is_hash_id
from reconciler.emulator.routing import Call, Method
from reconciler.emulator.views import app_developers, app_view

DEFAULT_ALIASES = ("default", "latest")


def resolve_app(conn: sqlite3.Connection, target: str, alias: str | None) -> sqlite3.Row:
    row: sqlite3.Row | None
    if alias is None and is_hash_id(target, "app"):
        row = conn.execute("SELECT * FROM apps WHERE id = ?", (target,)).fetchone()
        if row is not None:
            return row
    name = target[len("app-") :]
    if alias is None or alias in DEFAULT_ALIASES:
        row = conn.execute(
            "SELECT * FROM apps WHERE name = ? ORDER BY created DESC, id DESC LIMIT 1", (name,)
        ).fetchone()
    else:
        # An alias is a version or a tag attached to one version.
        row = conn.execute(
            "SELECT * FROM apps WHERE name = ? AND (version = ? OR EXISTS"
            " (SELECT 1 FROM json_each(apps.tags) WHERE value = ?))"
            " ORDER BY version = ? DESC LIMIT 1",
            (name, alias, alias, alias),
        ).fetchone()
    if row is None:
        shown = target if alias is None else f"{target}/{alias}"
        raise ResourceNotFound(f'The specified app "{shown}" could not be found')
    return row


def is_developer(conn: sqlite3.Connection, app: sqlite3.Row, caller: str) -> bool:
    """A developer directly, or an ADMIN of an org that is a developer."""
    developers = app_developers(conn, app["name"])
    if caller in developers:
        return True
    for developer in developers:
        if developer.startswith("org-"):
            membership = membership_of(conn, developer, caller)
            if membership is not None and membership.is_admin:
                return True
    return False


def may_manage(conn: sqlite3.Connection, app: sqlite3.Row, caller: str) -> bool:
    """Developers manage an app; ADMINs of its billing org may make themselves developers."""
    if is_developer(conn, app, caller):
        return True
    membership = membership_of(conn, app["bill_to"], caller)
    return membership is not None and membership.is_admin


def entity_list(call: Call, key: str) -> list[str]:
    entities = call.body.optional_string_list(key)
    if entities is None:
        raise InvalidInput(f"Missing required field '{key}'")
    return entities


def check_entities(conn: sqlite3.Connection, entities: list[str], *, allow_public: bool) -> None:
    for entity in entities:
        if entity.startswith("user-"):
            load_user(conn, entity)
        elif entity.startswith("org-"):
            load_org(conn, entity)
        elif not (allow_public and entity == "PUBLIC"):
            raise InvalidInput(f"'{entity}' is not a user or org id")


def app_describe(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    app = resolve_app(conn, call.target, call.route.alias)
    return app_view(conn, app, call.caller)


def app_list_developers(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    app = resolve_app(conn, call.target, call.route.alias)
    return {"developers": app_developers(conn, app["name"])}


def app_add_developers(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    app = resolve_app(conn, call.target, call.route.alias)
    developers = entity_list(call, "developers")
    if not may_manage(conn, app, call.caller):
        raise PermissionDenied(f"{call.caller} is not a developer of {app['name']}")
    check_entities(conn, developers, allow_public=False)
    conn.executemany(
        "INSERT OR IGNORE INTO app_developers (app_name, developer) VALUES (?, ?)",
        [(app["name"], developer) for developer in developers],
    )
    return {"id": app["id"]}


def app_remove_developers(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    app = resolve_app(conn, call.target, call.route.alias)
    developers = entity_list(call, "developers")
    if not may_manage(conn, app, call.caller):
        raise PermissionDenied(f"{call.caller} is not a developer of {app['name']}")
    conn.executemany(
        "DELETE FROM app_developers WHERE app_name = ? AND developer = ?",
        [(app["name"], developer) for developer in developers],
    )
    return {"id": app["id"]}


def app_list_authorized_users(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    app = resolve_app(conn, call.target, call.route.alias)
    return {"authorizedUsers": json.loads(app["authorized_users"])}


def change_authorized_users(call: Call, conn: sqlite3.Connection, *, add: bool) -> dict[str, Any]:
    app = resolve_app(conn, call.target, call.route.alias)
    users = entity_list(call, "authorizedUsers")
    if not may_manage(conn, app, call.caller):
        raise PermissionDenied(f"{call.caller} is not a developer of {app['name']}")
    current: list[str] = json.loads(app["authorized_users"])
    if add:
        check_entities(conn, users, allow_public=True)
        updated = sorted(set(current) | set(users))
    else:
        updated = [user for user in current if user not in set(users)]
    conn.execute(
        "UPDATE apps SET authorized_users = ? WHERE name = ?", (json.dumps(updated), app["name"])
    )
    return {"id": app["id"]}


def app_add_authorized_users(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    return change_authorized_users(call, conn, add=True)


def app_remove_authorized_users(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    return change_authorized_users(call, conn, add=False)


def change_app_tags(call: Call, conn: sqlite3.Connection, *, add: bool) -> dict[str, Any]:
    """Tags of the addressed version; a tag names one version, so adding it to this one
    takes it off the others of the same name."""
    app = resolve_app(conn, call.target, call.route.alias)
    tags = entity_list(call, "tags")
    if not all(tags):
        raise InvalidInput("Field 'tags' must hold only nonempty strings")
    if not is_developer(conn, app, call.caller):
        raise PermissionDenied(f"Only developers of {app['name']} may change its tags")
    versions = {
        row["version"]
        for row in conn.execute("SELECT version FROM apps WHERE name = ?", (app["name"],))
    }
    current: list[str] = json.loads(app["tags"])
    if add:
        clash = next((t for t in tags if t in DEFAULT_ALIASES or t in versions), None)
        if clash is not None:
            raise InvalidInput(f"'{clash}' is a version or a reserved alias, not a usable tag")
        added = [tag for tag in dict.fromkeys(tags) if tag not in current]
        for other in conn.execute(
            "SELECT id, tags FROM apps WHERE name = ? AND id != ?", (app["name"], app["id"])
        ).fetchall():
            kept = [tag for tag in json.loads(other["tags"]) if tag not in set(added)]
            conn.execute("UPDATE apps SET tags = ? WHERE id = ?", (json.dumps(kept), other["id"]))
        updated = current + added
    else:
        updated = [tag for tag in current if tag not in set(tags)]
    conn.execute(
        "UPDATE apps SET tags = ?, modified = ? WHERE id = ?",
        (json.dumps(updated), call.now, app["id"]),
    )
    return {"id": app["id"]}


def app_add_tags(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    return change_app_tags(call, conn, add=True)


def app_remove_tags(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    return change_app_tags(call, conn, add=False)


def global_workflow_describe(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    # The emulator has no global workflows; `dx` tries one when an app name fails.
    shown = call.target if call.route.alias is None else f"{call.target}/{call.route.alias}"
    raise ResourceNotFound(f'The specified global workflow "{shown}" could not be found')


METHODS: tuple[Method, ...] = (
    Method("app", "describe", app_describe, writes=False),
    Method("app", "listDevelopers", app_list_developers, writes=False),
    Method("app", "addDevelopers", app_add_developers, writes=True),
    Method("app", "removeDevelopers", app_remove_developers, writes=True),
    Method("app", "listAuthorizedUsers", app_list_authorized_users, writes=False),
    Method("app", "addAuthorizedUsers", app_add_authorized_users, writes=True),
    Method("app", "removeAuthorizedUsers", app_remove_authorized_users, writes=True),
    Method("app", "addTags", app_add_tags, writes=True),
    Method("app", "removeTags", app_remove_tags, writes=True),
    Method("globalworkflow", "describe", global_workflow_describe, writes=False),
)
