"""System methods: whoami, the caller-centred finds (orgs, projects, apps, workflows) and
comeBackLater."""

from __future__ import annotations

import math
import sqlite3
from typing import Any

from reconciler.emulator.access import (
    LEVEL_RANK,
    ORG_LEVELS,
    PROJECT_LEVELS,
    membership_from_row,
    project_levels,
)
from reconciler.emulator.api_errors import InvalidInput, ServiceUnavailable
from reconciler.emulator.inputs import Fields
from reconciler.emulator.org_api import (
    app_filters,
    app_page,
    properties_condition,
    tags_condition,
)
from reconciler.emulator.paging import (
    after_condition,
    finish_page,
    id_list_condition,
    name_condition,
    page_request,
    time_range_condition,
)
from reconciler.emulator.routing import Call, Method
from reconciler.emulator.views import org_view, project_view, select_fields

# Candidate rows are read in chunks while filling a page by the caller's level.
_SCAN_CHUNK = 500


def whoami(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    result: dict[str, Any] = {"id": call.caller}
    fields = call.body.optional_object("fields")
    if fields is not None and fields.raw("clientIp") is True:
        result["clientIp"] = call.client_ip
    return result


def find_orgs(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    body = call.body
    level = body.optional_choice("level", ORG_LEVELS)
    if level is None:
        raise InvalidInput("Missing required field 'level'")
    page = page_request(body)
    describe = body.describe_flag()
    sql = "SELECT o.*, m.* FROM members m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = ?"
    params: list[Any] = [call.caller]
    if level == "ADMIN":
        sql += " AND m.level = 'ADMIN'"
    allow_billable = body.optional_bool("allowBillableActivities")
    if allow_billable is not None:
        sql += " AND m.allow_billable = ?"
        params.append(int(allow_billable))
    for fragment, values in (id_list_condition(body, "o.id"), after_condition(page, "o.id")):
        sql += fragment
        params.extend(values)
    sql += " ORDER BY o.id LIMIT ?"
    params.append(page.limit + 1)
    rows, next_page = finish_page(conn.execute(sql, params).fetchall(), page, lambda r: r["id"])
    results = []
    for row in rows:
        result: dict[str, Any] = {"id": row["id"]}
        if describe:
            result["describe"] = org_view(row, membership_from_row(row))
        results.append(result)
    return {"results": results, "next": next_page}


def bill_to_condition(body: Fields) -> tuple[str, list[Any]]:
    if not body.has("billTo"):
        return "", []
    value = body.raw("billTo")
    owners = [value] if isinstance(value, str) else value
    if not isinstance(owners, list) or not all(isinstance(owner, str) for owner in owners):
        raise InvalidInput("Field 'billTo' must be a string or an array of strings")
    if not owners:
        return " AND 0", []
    return f" AND bill_to IN ({','.join('?' * len(owners))})", list(owners)


def find_projects(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    """Projects the caller can reach at `level` or above (default VIEW)."""
    body = call.body
    page = page_request(body)
    minimum = body.optional_choice("level", PROJECT_LEVELS) or "VIEW"
    describe = body.describe_flag()
    describe_options = (
        body.optional_object("describe") if isinstance(body.raw("describe"), dict) else None
    )
    include_public = body.bool_or("public", False)
    reach = "entity_id = ? OR entity_id IN (SELECT org_id FROM members WHERE user_id = ?)"
    if include_public:
        reach += " OR entity_id = 'PUBLIC'"
    sql = f"SELECT * FROM projects WHERE id IN (SELECT project_id FROM project_permissions WHERE {reach})"
    params: list[Any] = [call.caller, call.caller]
    region = body.optional_string("region")
    if region is not None:
        sql += " AND region = ?"
        params.append(region)
    contains_phi = body.optional_bool("containsPHI")
    if contains_phi is not None:
        sql += " AND COALESCE(json_extract(settings, '$.containsPHI'), 0) = ?"
        params.append(int(contains_phi))
    for fragment, values in (
        name_condition(body, "name"),
        id_list_condition(body, "id"),
        bill_to_condition(body),
        time_range_condition(body, "created", "created"),
        tags_condition(body),
        properties_condition(body),
        after_condition(page, "id"),
    ):
        sql += fragment
        params.extend(values)
    sql += " ORDER BY id"
    cursor = conn.execute(sql, params)
    matches: list[tuple[sqlite3.Row, str]] = []
    while len(matches) <= page.limit:
        chunk = cursor.fetchmany(_SCAN_CHUNK)
        if not chunk:
            break
        levels = project_levels(conn, call.caller, [row["id"] for row in chunk])
        for row in chunk:
            level = levels[row["id"]]
            if level is not None and LEVEL_RANK[level] >= LEVEL_RANK[minimum]:
                matches.append((row, level))
    cursor.close()
    rows, next_page = finish_page(matches, page, lambda match: match[0]["id"])
    results = []
    for row, level in rows:
        view = project_view(conn, row, level, describe_options)
        result: dict[str, Any] = {"id": row["id"], "level": level, "public": view["public"]}
        if describe:
            result["describe"] = select_fields(view, describe_options)
        results.append(result)
    return {"results": results, "next": next_page}


def find_apps(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    """Published apps, plus unpublished ones the caller develops."""
    body = call.body
    page = page_request(body)
    describe = body.describe_flag()
    filters, params = app_filters(body)
    owner_sql, owner_params = bill_to_condition(body)
    after_sql, after_params = after_condition(page, "apps.id")
    visible = (
        " AND (apps.published > 0 OR EXISTS (SELECT 1 FROM app_developers d"
        " WHERE d.app_name = apps.name AND d.developer = ?))"
    )
    rows = conn.execute(
        f"SELECT * FROM apps WHERE 1{visible}{filters}{owner_sql}{after_sql} ORDER BY id LIMIT ?",
        [call.caller, *params, *owner_params, *after_params, page.limit + 1],
    ).fetchall()
    return app_page(conn, rows, page, describe, call.caller)


def find_global_workflows(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    page_request(call.body)
    return {"results": [], "next": None}


def come_back_later(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    """dxpy's own retry tests (test_dxpy.py TestHTTPResponses.test_retry_after*): `{}` answers
    the server's `currentTime` (ms); with `waitUntil` in the future the call is 503 with
    `Retry-After` in whole seconds until then (none when `setRetryAfter` is false), and
    succeeds once the time has come."""
    wait_until = call.body.optional_int("waitUntil")
    set_retry_after = call.body.bool_or("setRetryAfter", True)
    if wait_until is not None and call.now < wait_until:
        headers = {}
        if set_retry_after:
            headers["Retry-After"] = str(math.ceil((wait_until - call.now) / 1000))
        raise ServiceUnavailable(f"Come back at {wait_until}", headers=headers)
    return {"currentTime": call.now}


METHODS: tuple[Method, ...] = (
    Method("system", "whoami", whoami, writes=False),
    Method("system", "findOrgs", find_orgs, writes=False),
    Method("system", "findProjects", find_projects, writes=False),
    Method("system", "findApps", find_apps, writes=False),
    Method("system", "findGlobalWorkflows", find_global_workflows, writes=False),
    Method("system", "comeBackLater", come_back_later, writes=False),
)
