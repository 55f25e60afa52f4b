"""Org methods: describe, update, invite, setMemberAccess, removeMember and the org finds."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from reconciler.emulator.access import (
    ADMIN_ACCESS,
    ADMIN_FORCED,
    FLAG_COLUMNS,
    INDEPENDENT_FLAGS,
    MEMBER_COLUMNS,
    MEMBER_DEFAULT_FLAGS,
    MEMBER_LIST_VISIBILITY,
    ORG_LEVELS,
    PROJECT_ACCESS,
    PROJECT_TRANSFER,
    FlagValue,
    Membership,
    ensure_not_expired,
    ensure_org_keeps_an_admin,
    load_org,
    load_user,
    membership_from_row,
    membership_of,
    org_policies,
    project_levels,
    require_admin,
    require_member,
)
from reconciler.emulator.api_errors import InvalidInput, InvalidState, PermissionDenied
from reconciler.emulator.inputs import Fields
from reconciler.emulator.nonces import remember_answer, replayed_answer
from reconciler.emulator.paging import (
    PageRequest,
    after_condition,
    finish_page,
    id_list_condition,
    name_condition,
    page_request,
    time_range_condition,
)
from reconciler.emulator.routing import Call, Method
from reconciler.emulator.views import app_view, org_view, project_view, select_fields

# org/new's policies when the input leaves them out. dx-toolkit's test_org_update makes an
# org with no policies and then asserts that restrictProjectTransfer is not ADMIN (and that
# memberListVisibility is not MEMBER); `dx new org` always sends both, ADMIN by default.
DEFAULT_POLICIES: dict[str, Any] = {
    "memberListVisibility": "ADMIN",
    "restrictProjectTransfer": "MEMBER",
}
_ORG_HANDLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def merge_policies(current: dict[str, Any], update: Fields) -> dict[str, Any]:
    """Partial merge: only the keys sent change; each is checked on its own."""
    merged = dict(current)
    for key in update.field_names():
        if key == "memberListVisibility":
            merged[key] = update.optional_choice(key, MEMBER_LIST_VISIBILITY)
        elif key == "restrictProjectTransfer":
            merged[key] = update.optional_choice(key, PROJECT_TRANSFER)
        elif key in ("jobReuse", "detailedJobMetricsCollectDefault"):
            merged[key] = update.optional_bool(key)
        else:
            raise InvalidInput(f"Unknown org policy '{update.name(key)}'")
    return merged


def token_signature(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_forwarding(
    current: dict[str, Any] | None, update: Fields, caller: str, now: int
) -> dict[str, Any] | None:
    """`{url, token}` enables (only the token's sha256 is kept); `{}` disables.

    Disabling keeps just who and when; disabling what is already disabled changes nothing.
    """
    keys = set(update.field_names())
    if not keys:
        if current is not None and "url" in current:
            return {"updated": now, "updatedBy": caller}
        return current
    if keys != {"url", "token"}:
        raise InvalidInput(
            f'Field \'{update.where}\' must be {{}} or exactly {{"url", "token"}}, got keys '
            + ", ".join(sorted(keys))
        )
    url = update.required_string("url")
    token = update.required_string("token")
    if not re.match(r"^https?://[^\s/]+", url):
        raise InvalidInput(f"Field '{update.name('url')}' must be an http(s) URL")
    if not token:
        raise InvalidInput(f"Field '{update.name('token')}' must not be empty")
    return {
        "url": url,
        "tokenSignature": token_signature(token),
        "updated": now,
        "updatedBy": caller,
    }


def org_new(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    # dxpy sends a nonce and resends after a lost answer: the same nonce gets the same answer.
    replay = replayed_answer(call, conn)
    if replay is not None:
        return replay
    typed = call.body.required_string("handle")
    if not _ORG_HANDLE.match(typed) or len(typed) > 100:
        raise InvalidInput("Field 'handle' may hold only letters, digits, '.', '_' and '-'")
    handle = typed.lower()  # `dx new org --handle`: converted to lowercase to form the id
    name = call.body.nonempty_string("name") or handle
    policies_in = call.body.optional_object("policies")
    policies = merge_policies(DEFAULT_POLICIES, policies_in) if policies_in else DEFAULT_POLICIES
    org_id = f"org-{handle}"
    taken = conn.execute(
        "SELECT 1 FROM orgs WHERE lower(id) = ? OR lower(handle) = ?", (org_id, handle)
    ).fetchone()
    if taken is not None:
        raise InvalidInput(f"The org handle '{handle}' is already taken")
    conn.execute(
        "INSERT INTO orgs (id, handle, name, policies, expires_at, user_provisioning,"
        " job_logs_forwarding, saml_idp, created) VALUES (?, ?, ?, ?, NULL, 0, NULL, NULL, ?)",
        (org_id, handle, name, json.dumps(policies), call.now),
    )
    insert_membership(conn, org_id, call.caller, ADMIN_ACCESS)
    answer = {"id": org_id}
    remember_answer(call, conn, answer)
    return answer


def org_describe(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    org = load_org(conn, call.target)
    membership = require_member(conn, org["id"], call.caller)
    return select_fields(org_view(org, membership), call.body)


def org_update(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    org = load_org(conn, call.target)
    require_admin(conn, org["id"], call.caller)
    ensure_not_expired(org, call.now)
    body = call.body
    name = body.nonempty_string("name")
    saml_idp = body.optional_string("samlIdP")
    policies_in = body.optional_object("policies")
    forwarding_in = body.optional_object("jobLogsForwarding")
    policies = org_policies(org)
    if policies_in is not None:
        policies = merge_policies(policies, policies_in)
    current_forwarding = (
        None if org["job_logs_forwarding"] is None else json.loads(org["job_logs_forwarding"])
    )
    forwarding = current_forwarding
    if forwarding_in is not None:
        forwarding = new_forwarding(current_forwarding, forwarding_in, call.caller, call.now)
    conn.execute(
        "UPDATE orgs SET name = ?, saml_idp = ?, policies = ?, job_logs_forwarding = ?"
        " WHERE id = ?",
        (
            name if name is not None else org["name"],
            saml_idp if saml_idp is not None else org["saml_idp"],
            json.dumps(policies),
            None if forwarding is None else json.dumps(forwarding),
            org["id"],
        ),
    )
    return {"id": org["id"]}


_MEMBER_COLUMN_LIST = ", ".join(MEMBER_COLUMNS)
_INSERT_MEMBER = (
    f"INSERT INTO members (org_id, user_id, {_MEMBER_COLUMN_LIST})"
    f" VALUES (?, ?, {', '.join('?' * len(MEMBER_COLUMNS))})"
)
_UPDATE_MEMBER = (
    "UPDATE members SET "
    + ", ".join(f"{column} = ?" for column in MEMBER_COLUMNS)
    + " WHERE org_id = ? AND user_id = ?"
)


def insert_membership(
    conn: sqlite3.Connection, org_id: str, user_id: str, access: Membership
) -> None:
    conn.execute(_INSERT_MEMBER, (org_id, user_id, *access.column_values()))


def given_flags(spec: Fields) -> dict[str, FlagValue]:
    """The permission flags a request names, each checked for its type."""
    flags: dict[str, FlagValue] = {}
    for name in FLAG_COLUMNS:
        value: FlagValue | None = (
            spec.optional_choice(name, PROJECT_ACCESS)
            if name == "projectAccess"
            else spec.optional_bool(name)
        )
        if value is not None:
            flags[name] = value
    return flags


def org_invite(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    org = load_org(conn, call.target)
    require_admin(conn, org["id"], call.caller)
    ensure_not_expired(org, call.now)
    body = call.body
    invitee = body.required_string("invitee")
    if not invitee.startswith("user-"):
        raise InvalidInput("Field 'invitee' must be a user id (user-xxxx)")
    level = body.optional_choice("level", ORG_LEVELS) or "MEMBER"
    flags = given_flags(body)
    body.optional_bool("suppressEmailNotification")
    load_user(conn, invitee)
    # An ADMIN invite ignores the flags ADMIN forces (dx-toolkit: ADMIN with --no-app-access
    # --project-access NONE lists full access); the independent ones are kept.
    access = Membership.admin(flags) if level == "ADMIN" else Membership.member(flags)
    current = membership_of(conn, org["id"], invitee)
    if current is not None:
        if current == access:
            # invite is retryable: dxpy resends it after a lost answer, so a repeat that
            # asks for exactly what is there succeeds and changes nothing.
            return {"id": org["id"], "state": "ACCEPTED"}
        raise InvalidState(
            f"{invitee} is already a member of {org['id']} with other access "
            f"({'; '.join(current.differences(access))}); use setMemberAccess to change it"
        )
    insert_membership(conn, org["id"], invitee, access)
    return {"id": org["id"], "state": "ACCEPTED"}


def existing_membership(conn: sqlite3.Connection, org_id: str, user_id: str) -> Membership:
    if not user_id.startswith("user-"):
        raise InvalidInput(f"'{user_id}' is not a user id (user-xxxx)")
    membership = membership_of(conn, org_id, user_id)
    if membership is None:
        load_user(conn, user_id)  # an unknown user is ResourceNotFound
        raise InvalidInput(f"{user_id} is not a member of {org_id}")
    return membership


def requested_access(current: Membership, spec: Fields) -> Membership:
    for key in spec.field_names():
        if key != "level" and key not in FLAG_COLUMNS:
            raise InvalidInput(f"Unknown field '{spec.name(key)}'")
    level = spec.optional_choice("level", ORG_LEVELS) or current.level
    flags = given_flags(spec)
    if level == "ADMIN":
        forced = [name for name in flags if name in ADMIN_FORCED]
        if forced:
            raise InvalidInput(
                f"'{spec.where}': level ADMIN cannot be combined with permission flags "
                f"({', '.join(forced)}); ADMINs always have them"
            )
        return Membership.admin({**current.flags, **flags})
    # A demoted ADMIN starts from the MEMBER defaults (the independent flags stay as they
    # are); a MEMBER keeps every flag not given.
    base: dict[str, FlagValue] = (
        dict(current.flags)
        if current.level == "MEMBER"
        else {**MEMBER_DEFAULT_FLAGS, **{name: current.flags[name] for name in INDEPENDENT_FLAGS}}
    )
    return Membership.member({**base, **flags})


def org_set_member_access(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    org = load_org(conn, call.target)
    require_admin(conn, org["id"], call.caller)
    ensure_not_expired(org, call.now)
    changes: list[tuple[str, Membership]] = []
    for user_id in call.body.field_names():
        spec = call.body.optional_object(user_id)
        assert spec is not None
        current = existing_membership(conn, org["id"], user_id)
        changes.append((user_id, requested_access(current, spec)))
    for user_id, access in changes:
        conn.execute(_UPDATE_MEMBER, (*access.column_values(), org["id"], user_id))
    ensure_org_keeps_an_admin(conn, org["id"])
    return {"id": org["id"]}


def org_remove_member(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    org = load_org(conn, call.target)
    require_admin(conn, org["id"], call.caller)
    ensure_not_expired(org, call.now)
    user_id = call.body.required_string("user")
    revoke_projects = call.body.bool_or("revokeProjectPermissions", True)
    revoke_apps = call.body.bool_or("revokeAppPermissions", True)
    if not user_id.startswith("user-"):
        raise InvalidInput(f"Field 'user' must be a user id (user-xxxx), got '{user_id}'")
    if membership_of(conn, org["id"], user_id) is None:
        load_user(conn, user_id)  # an unknown user is ResourceNotFound
        # removeMember is retryable: a repeat after a lost answer finds the user gone and
        # succeeds, revoking nothing more.
        return {"id": org["id"], "projects": {}, "apps": {}}
    conn.execute("DELETE FROM members WHERE org_id = ? AND user_id = ?", (org["id"], user_id))
    ensure_org_keeps_an_admin(conn, org["id"])
    projects = revoke_project_grants(conn, org["id"], user_id) if revoke_projects else {}
    apps = revoke_app_grants(conn, org["id"], user_id) if revoke_apps else {}
    return {"id": org["id"], "projects": projects, "apps": apps}


def revoke_project_grants(conn: sqlite3.Connection, org_id: str, user_id: str) -> dict[str, str]:
    """The user's explicit grants on projects billed to the org: removed, and listed."""
    rows = conn.execute(
        "SELECT pp.project_id, pp.level FROM project_permissions pp"
        " JOIN projects p ON p.id = pp.project_id"
        " WHERE pp.entity_id = ? AND p.bill_to = ? ORDER BY pp.project_id",
        (user_id, org_id),
    ).fetchall()
    conn.executemany(
        "DELETE FROM project_permissions WHERE project_id = ? AND entity_id = ?",
        [(row["project_id"], user_id) for row in rows],
    )
    return {row["project_id"]: row["level"] for row in rows}


def revoke_app_grants(conn: sqlite3.Connection, org_id: str, user_id: str) -> dict[str, list[str]]:
    """Developer and authorized-user rights on apps billed to the org (`dx remove member`:
    "explicit app developer and user permissions"): removed, and listed per app version."""
    developed = {
        row["app_name"]
        for row in conn.execute(
            "SELECT app_name FROM app_developers WHERE developer = ?", (user_id,)
        )
    }
    revoked: dict[str, list[str]] = {}
    touched: dict[str, list[str]] = {}
    for row in conn.execute(
        "SELECT id, name, authorized_users FROM apps WHERE bill_to = ? ORDER BY id", (org_id,)
    ).fetchall():
        authorized: list[str] = json.loads(row["authorized_users"])
        rights = (["DEVELOPER"] if row["name"] in developed else []) + (
            ["AUTHORIZED_USER"] if user_id in authorized else []
        )
        if rights:
            revoked[row["id"]] = rights
            touched[row["name"]] = [user for user in authorized if user != user_id]
    for name, authorized in touched.items():
        # Both lists belong to the app name, shared by every version.
        conn.execute(
            "DELETE FROM app_developers WHERE app_name = ? AND developer = ?", (name, user_id)
        )
        conn.execute(
            "UPDATE apps SET authorized_users = ? WHERE name = ?", (json.dumps(authorized), name)
        )
    return revoked


def may_list_members(visibility: str, membership: Membership | None) -> bool:
    if visibility == "PUBLIC":
        return True
    if membership is None:
        return False
    return membership.is_admin or visibility == "MEMBER"


def org_find_members(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    org = load_org(conn, call.target)
    visibility = org_policies(org).get("memberListVisibility", "ADMIN")
    if not may_list_members(visibility, membership_of(conn, org["id"], call.caller)):
        raise PermissionDenied(
            f"The member list of {org['id']} is visible to {visibility} level only"
        )
    body = call.body
    page = page_request(body)
    level = body.optional_choice("level", ORG_LEVELS)
    describe = body.describe_flag()
    sql = (
        "SELECT m.*, u.first, u.middle, u.last, u.handle FROM members m"
        " JOIN users u ON u.id = m.user_id WHERE m.org_id = ?"
    )
    params: list[Any] = [org["id"]]
    if level is not None:
        sql += " AND m.level = ?"
        params.append(level)
    for fragment, values in (
        id_list_condition(body, "m.user_id"),
        after_condition(page, "m.user_id"),
    ):
        sql += fragment
        params.extend(values)
    sql += " ORDER BY m.user_id LIMIT ?"
    params.append(page.limit + 1)
    rows, next_page = finish_page(
        conn.execute(sql, params).fetchall(), page, lambda row: row["user_id"]
    )
    results = []
    for row in rows:
        result = membership_from_row(row).member_row(row["user_id"])
        if describe:
            result["describe"] = {
                "id": row["user_id"],
                "class": "user",
                "first": row["first"],
                "middle": row["middle"],
                "last": row["last"],
                "handle": row["handle"],
            }
        results.append(result)
    return {"results": results, "next": next_page}


def tags_condition(body: Fields) -> tuple[str, list[Any]]:
    if not body.has("tags"):
        return "", []
    value = body.raw("tags")
    tags: list[Any]
    if isinstance(value, str):
        tags = [value]
    elif isinstance(value, dict) and set(value) == {"$and"} and isinstance(value["$and"], list):
        tags = value["$and"]
    else:
        raise InvalidInput("Field 'tags' must be a string or {\"$and\": [strings]}")
    if not all(isinstance(tag, str) for tag in tags):
        raise InvalidInput("Field 'tags' must hold only strings")
    sql = "".join(
        " AND EXISTS (SELECT 1 FROM json_each(projects.tags) WHERE value = ?)" for _ in tags
    )
    return sql, list(tags)


def properties_condition(body: Fields) -> tuple[str, list[Any]]:
    if not body.has("properties"):
        return "", []
    value = body.raw("properties")
    if not isinstance(value, dict):
        raise InvalidInput("Field 'properties' must be an object")
    clauses = value["$and"] if set(value) == {"$and"} else [value]
    if not isinstance(clauses, list) or not all(isinstance(c, dict) for c in clauses):
        raise InvalidInput("Field 'properties.$and' must be an array of objects")
    sql, params = "", []
    for clause in clauses:
        for key, wanted in clause.items():
            if wanted is True:
                sql += " AND EXISTS (SELECT 1 FROM json_each(projects.properties) WHERE key = ?)"
                params.append(key)
            elif isinstance(wanted, str):
                sql += (
                    " AND EXISTS (SELECT 1 FROM json_each(projects.properties)"
                    " WHERE key = ? AND value = ?)"
                )
                params.extend([key, wanted])
            else:
                raise InvalidInput(f"Field 'properties.{key}' must be a string or true")
    return sql, params


def org_find_projects(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    org = load_org(conn, call.target)
    require_admin(conn, org["id"], call.caller)
    body = call.body
    page = page_request(body)
    describe = body.describe_flag()
    describe_options = (
        body.optional_object("describe") if isinstance(body.raw("describe"), dict) else None
    )
    sql = "SELECT * FROM projects WHERE bill_to = ?"
    params: list[Any] = [org["id"]]
    public = body.optional_bool("public")
    contains_phi = body.optional_bool("containsPHI")
    region = body.optional_string("region")
    public_sql = (
        "EXISTS (SELECT 1 FROM project_permissions pp"
        " WHERE pp.project_id = projects.id AND pp.entity_id = 'PUBLIC')"
    )
    if public is not None:
        sql += f" AND {public_sql}" if public else f" AND NOT {public_sql}"
    if contains_phi is not None:
        sql += " AND COALESCE(json_extract(settings, '$.containsPHI'), 0) = ?"
        params.append(int(contains_phi))
    if region is not None:
        sql += " AND region = ?"
        params.append(region)
    for fragment, values in (
        name_condition(body, "name"),
        id_list_condition(body, "id"),
        time_range_condition(body, "created", "created"),
        tags_condition(body),
        properties_condition(body),
        after_condition(page, "id"),
    ):
        sql += fragment
        params.extend(values)
    sql += " ORDER BY id LIMIT ?"
    params.append(page.limit + 1)
    rows, next_page = finish_page(conn.execute(sql, params).fetchall(), page, lambda r: r["id"])
    levels = project_levels(conn, call.caller, [row["id"] for row in rows])
    results = []
    for row in rows:
        # An admin listing an org project they hold no grant on sees NONE (never null: dx
        # prints the level, and dx-toolkit expects ADMINISTER|CONTRIBUTE|UPLOAD|VIEW|NONE).
        level = levels[row["id"]] or "NONE"
        view = project_view(conn, row, level, describe_options)
        result: dict[str, Any] = {
            "id": row["id"],
            "level": level,
            "public": view["public"],
        }
        if describe:
            result["describe"] = select_fields(view, describe_options)
        results.append(result)
    return {"results": results, "next": next_page}


def app_filters(body: Fields, table: str = "apps") -> tuple[str, list[Any]]:
    """Filters shared by org/findApps and system/findApps."""
    sql, params = "", []
    if not body.bool_or("allVersions", False):
        sql += (
            f" AND {table}.id = (SELECT a2.id FROM apps a2 WHERE a2.name = {table}.name"
            " ORDER BY a2.created DESC, a2.id DESC LIMIT 1)"
        )
    published = body.optional_bool("published")
    if published is not None:
        sql += f" AND {table}.published > 0" if published else f" AND {table}.published = 0"
    created_by = body.optional_string("createdBy")
    if created_by is not None:
        sql += f" AND {table}.created_by = ?"
        params.append(created_by)
    developer = body.optional_string("developer")
    if developer is not None:
        sql += (
            " AND EXISTS (SELECT 1 FROM app_developers d"
            f" WHERE d.app_name = {table}.name AND d.developer = ?)"
        )
        params.append(developer)
    authorized = body.optional_string("authorizedUser")
    if authorized is not None:
        sql += f" AND EXISTS (SELECT 1 FROM json_each({table}.authorized_users) WHERE value = ?)"
        params.append(authorized)
    body.optional_string("category")
    for fragment, values in (
        name_condition(body, f"{table}.name"),
        time_range_condition(body, "created", f"{table}.created"),
        time_range_condition(body, "modified", f"{table}.modified"),
    ):
        sql += fragment
        params.extend(values)
    return sql, params


def org_find_apps(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    org = load_org(conn, call.target)
    require_admin(conn, org["id"], call.caller)
    body = call.body
    page = page_request(body)
    describe = body.describe_flag()
    filters, params = app_filters(body)
    after_sql, after_params = after_condition(page, "apps.id")
    rows = conn.execute(
        f"SELECT * FROM apps WHERE bill_to = ?{filters}{after_sql} ORDER BY id LIMIT ?",
        [org["id"], *params, *after_params, page.limit + 1],
    ).fetchall()
    return app_page(conn, rows, page, describe, call.caller)


def app_page(
    conn: sqlite3.Connection,
    rows: Sequence[sqlite3.Row],
    page: PageRequest,
    describe: bool,
    caller: str,
) -> dict[str, Any]:
    """A findApps answer (org or system): ids, with each app's describe when asked."""
    page_rows, next_page = finish_page(rows, page, lambda r: r["id"])
    results = []
    for row in page_rows:
        result: dict[str, Any] = {"id": row["id"]}
        if describe:
            result["describe"] = app_view(conn, row, caller)
        results.append(result)
    return {"results": results, "next": next_page}


METHODS: tuple[Method, ...] = (
    Method("org", "new", org_new, writes=True, retryable=False, nonce=True),
    Method("org", "describe", org_describe, writes=False),
    Method("org", "update", org_update, writes=True),
    Method("org", "invite", org_invite, writes=True),
    Method("org", "setMemberAccess", org_set_member_access, writes=True),
    Method("org", "removeMember", org_remove_member, writes=True),
    Method("org", "findMembers", org_find_members, writes=False),
    Method("org", "findProjects", org_find_projects, writes=False),
    Method("org", "findApps", org_find_apps, writes=False),
)
