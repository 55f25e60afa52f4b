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
from reconciler.model import PROJECT_ACCESS_LEVELS, normalise_user_id, project_access_rank

if TYPE_CHECKING:
    from reconciler.platform.client import CallOutcome, ReadClient, WriteClient


# The routes whose unknown outcome the client settles by a read before it sends again.
_CHECKED_BY_CLIENT = ("invite", "removeMember", "new")


def send_checked(client: WriteClient, route: str, body: Mapping[str, Any]) -> CallOutcome:
    """Send one call as apply sends every step: with the check that settles a lost answer
    of `route` before it is sent again (the only way dxorg writes to the platform)."""
    return client.call(route, body, landed=landed_check(route, body, client))


def landed_check(
    route: str, body: Mapping[str, Any], client: ReadClient
) -> Callable[[], bool] | None:
    """The check the client asks after a lost answer of `route` (None: it has none)."""
    if route.rpartition("/")[2] not in _CHECKED_BY_CLIENT:
        return None
    return effect_check(route, body, client)


def effect_check(
    route: str,
    body: Mapping[str, Any],
    client: ReadClient,
    *,
    token_signatures: Mapping[str, str | None] | None = None,
) -> Callable[[], bool] | None:
    """A read that says whether the live state shows the effect of this call, for each
    route dxorg sends; None where the effect cannot be seen (it then stays unknown).

    `body` is the call as planned or as sent; a forwarding token in it as planned
    (``{"$env": NAME}``) is compared by its signature in `token_signatures`.
    """
    target, _, method = route.strip("/").rpartition("/")
    if method == "invite" and target.startswith("org-"):
        invitee = str(body["invitee"])
        return lambda: bool(client.find_org_members(target, ids=[invitee]))
    if method == "removeMember":
        user = str(body["user"])
        return lambda: not client.find_org_members(target, ids=[user])
    if method == "invite" and target.startswith("project-"):
        return _project_invite_shown(client, target, str(body["invitee"]), str(body["level"]))
    if route == "/user/new":
        return _account_landed(client, str(body["username"]), str(body["email"]))
    if method == "setMemberAccess":
        return _member_access_shown(client, target, body)
    if method == "update" and target.startswith("org-"):
        return _org_update_shown(client, target, body, token_signatures or {})
    if method == "decreasePermissions":
        changes = dict(body)
        return lambda: all(
            _project_permissions(client, target).get(user) == level
            for user, level in changes.items()
        )
    if method == "setProperties":
        properties = dict(body["properties"])

        def properties_shown() -> bool:
            described = client.describe_project(target, fields={"properties": True})
            shown = described.get("properties") or {}
            return all(shown.get(key) == value for key, value in properties.items())

        return properties_shown
    if method == "addTags":
        tags = list(body["tags"])
        return lambda: set(tags) <= set(client.describe_app(target).get("tags") or ())
    if method in ("addDevelopers", "removeDevelopers"):
        developers = set(body["developers"])
        adding = method == "addDevelopers"

        def developers_shown() -> bool:
            listed = set(client.list_app_developers(target))
            return developers <= listed if adding else not developers & listed

        return developers_shown
    return None


def _project_invite_shown(
    client: ReadClient, project_id: str, invitee: str, level: str
) -> Callable[[], bool] | None:
    """The invitee holds at least `level`. At least, not exactly: an invite never lowers a
    level (only decreasePermissions does), so a landed invite shows the level asked for or
    a higher one the invitee already had or was given meanwhile. An email invitee is not
    shown under its address in `permissions`, so its effect cannot be seen."""
    entity = invitee.startswith(("user-", "org-")) or invitee == "PUBLIC"
    if not entity or level not in PROJECT_ACCESS_LEVELS:
        return None
    wanted = project_access_rank(level)

    def shown() -> bool:
        held = _project_permissions(client, project_id).get(invitee)
        return held in PROJECT_ACCESS_LEVELS and project_access_rank(str(held)) >= wanted

    return shown


def _project_permissions(client: ReadClient, project_id: str) -> Mapping[str, object]:
    permissions = client.describe_project(project_id, permissions=True).get("permissions")
    return permissions if isinstance(permissions, Mapping) else {}


def _member_access_shown(
    client: ReadClient, org_id: str, access: Mapping[str, Any]
) -> Callable[[], bool]:
    """Every user of the batch has the level and each flag as sent."""

    def shown() -> bool:
        rows = client.find_org_members(org_id, ids=list(access))
        by_id = {str(row.get("id")): row for row in rows}
        return all(
            user in by_id and all(by_id[user].get(k) == v for k, v in dict(spec).items())
            for user, spec in access.items()
        )

    return shown


def _org_update_shown(
    client: ReadClient,
    org_id: str,
    body: Mapping[str, Any],
    token_signatures: Mapping[str, str | None],
) -> Callable[[], bool] | None:
    """The name, SAML IdP, policies and forwarding as sent. A forwarding token is seen only
    by its signature: when that is not known, the call's effect cannot be seen."""
    forwarding = body.get("jobLogsForwarding")
    signature: str | None = None
    if isinstance(forwarding, Mapping) and forwarding:
        token = forwarding.get("token")
        if isinstance(token, Mapping):
            signature = token_signatures.get(str(token.get("$env")))
        if signature is None:
            return None

    def shown() -> bool:
        org = client.describe_org(org_id)
        for key, value in body.items():
            if key == "policies":
                policies = org.get("policies") or {}
                if any(policies.get(k) != v for k, v in dict(value).items()):
                    return False
            elif key == "jobLogsForwarding":
                now = org.get("jobLogsForwarding")
                now = now if isinstance(now, Mapping) and now.get("url") else None
                if not value:
                    if now is not None:
                        return False
                elif now is None or (now.get("url"), now.get("tokenSignature")) != (
                    value.get("url"),
                    signature,
                ):
                    return False
            elif org.get(key) != value:
                return False
        return True

    return shown


class AccountNotShownOurs(DxorgError):
    """After a lost `/user/new` answer, an account holds the username but the platform does
    not show it is the one dxorg asked for: it may be somebody else's."""


def _account_landed(client: ReadClient, username: str, email: str) -> Callable[[], bool]:
    """Did a `/user/new` whose answer was lost create the account? Only when the platform
    shows the requested email for that username. No account: it did not land. An account
    whose email is not shown (the platform shows it only to its owner) or differs: not
    known to be ours, so neither landed nor safe to send again, and nobody is invited.

    The account is looked up under the id the plan's invite names (the model's rule: lower
    case, surrounding spaces dropped). The platform's own rule, `user-` + the username in
    lower case (dx-toolkit's `dx new user`), gives the same id for every username it
    accepts: letters, digits, '.' and '_' only, so no space to drop and no `user-` prefix."""
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
