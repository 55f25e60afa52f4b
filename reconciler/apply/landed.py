"""How to tell whether a call landed when its answer was lost (a dropped connection, a 5xx).

The client resends a retry-safe call by itself, and asks one of these read-only checks
when the platform refuses that repeat (the first attempt may have landed late); for a
call that is not retry-safe it asks before sending it again, so a change is never made
twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from reconciler.errors import DxorgError, ResourceNotFound
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
        return _account_landed(client, str(body["username"]), str(body["email"]))
    return None


class AccountNotShownOurs(DxorgError):
    """After a lost `/user/new` answer, an account holds the username but the platform does
    not show it is the one dxorg asked for: it may be somebody else's."""


def _account_landed(client: ReadClient, username: str, email: str) -> Callable[[], bool]:
    """Did a `/user/new` whose answer was lost create the account? Only when the platform
    shows the requested email for that username. No account: it did not land. An account
    whose email is not shown (the platform shows it only to its owner) or differs: not
    known to be ours, so neither landed nor safe to send again, and nobody is invited."""
    user_id = normalise_user_id(username)

    def account_is_ours() -> bool:
        try:
            described = client.describe_user(user_id, fields={"id": True, "email": True})
        except ResourceNotFound:
            return False
        shown = described.get("email")
        if isinstance(shown, str) and shown.strip().lower() == email.strip().lower():
            return True
        raise AccountNotShownOurs(
            f"{user_id} exists now, but the platform does not show {email} for it, so dxorg "
            "cannot tell whether this request created it or somebody else registered the "
            "username meanwhile: it is not invited. Plan again: it says what to verify"
        )

    return account_is_ours
