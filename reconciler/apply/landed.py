"""How to tell whether a call landed when its answer was lost (a dropped connection, a 5xx).

The client resends a retry-safe call by itself, and asks one of these read-only checks
when the platform refuses that repeat (the first attempt may have landed late); for a
call that is not retry-safe it asks before sending it again, so a change is never made
twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from reconciler.errors import ResourceNotFound
from reconciler.model import normalise_user_id

if TYPE_CHECKING:
    from reconciler.platform.client import ReadClient


def landed_check(
    route: str, body: Mapping[str, Any], client: ReadClient
) -> Callable[[], bool] | None:
    target, _, method = route.strip("/").rpartition("/")
    if method == "invite" and target.startswith("org-"):
        invitee = str(body["invitee"])
        return lambda: bool(client.find_org_members(target, ids=[invitee]))
    if method == "removeMember":
        user = str(body["user"])
        return lambda: not client.find_org_members(target, ids=[user])
    if method == "invite" and target.startswith("project-"):
        invitee, level = str(body["invitee"]), body["level"]

        def project_invite_landed() -> bool:
            permissions = client.describe_project(target, permissions=True).get("permissions") or {}
            return permissions.get(invitee) == level

        return project_invite_landed
    if route == "/user/new":
        user_id = normalise_user_id(str(body["username"]))

        def account_exists() -> bool:
            try:
                client.describe_user(user_id)
            except ResourceNotFound:
                return False
            return True

        return account_exists
    return None
