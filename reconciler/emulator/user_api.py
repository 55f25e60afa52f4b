"""User methods: describe, update, and ``user/new`` (answered as the auth server)."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from reconciler.emulator.access import ensure_not_expired, load_org, load_user, membership_of
from reconciler.emulator.api_errors import AuthServerInvalidInput, InvalidInput, PermissionDenied
from reconciler.emulator.routing import Call, Handler, Method
from reconciler.emulator.views import select_fields, user_view

# At least three characters: dx-toolkit lists `--username bu` among the inputs the API refuses.
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._]{2,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def user_describe(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    user = load_user(conn, call.target)
    return select_fields(user_view(user, own=user["id"] == call.caller), call.body)


def user_update(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    user = load_user(conn, call.target)
    if user["id"] != call.caller:
        raise PermissionDenied("Users may only update their own account")
    body = call.body
    bill_to = body.optional_string("billTo")
    if bill_to is not None and bill_to != call.caller:
        if not bill_to.startswith("org-"):
            raise InvalidInput("Field 'billTo' must be your own user id or an org id")
        org = load_org(conn, bill_to)
        membership = membership_of(conn, bill_to, call.caller)
        if membership is None or not membership.allow_billable:
            raise PermissionDenied(f"{call.caller} is not allowed billable activities in {bill_to}")
        ensure_not_expired(org, call.now)
    names = {key: body.optional_string(key) for key in ("first", "middle", "last")}
    conn.execute(
        "UPDATE users SET bill_to = ?, first = ?, middle = ?, last = ? WHERE id = ?",
        (
            bill_to or user["bill_to"],
            names["first"] if names["first"] is not None else user["first"],
            names["middle"] if names["middle"] is not None else user["middle"],
            names["last"] if names["last"] is not None else user["last"],
            user["id"],
        ),
    )
    return {"id": user["id"]}


def provisioning_orgs(call: Call) -> list[str]:
    orgs = []
    for key in ("provisioningOrg", "billTo"):
        value = call.body.optional_string(key)
        if value is not None:
            if not value.startswith("org-"):
                raise InvalidInput(f"Field '{key}' must be an org id")
            if value not in orgs:
                orgs.append(value)
    return orgs


def user_new(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
    """A new account: for anyone on its own (dx-toolkit's test_create_user_account_only),
    and for ADMINs of an org holding the userProvisioning licence on the org's behalf."""
    body = call.body
    username = body.required_string("username")
    email = body.required_string("email")
    if not _USERNAME.match(username):
        raise InvalidInput(
            "Field 'username' must be 3 to 64 characters: a letter or digit, then letters, "
            "digits, '.' and '_'"
        )
    if not _EMAIL.match(email):
        raise InvalidInput("Field 'email' must be an email address")
    first = body.optional_string("first") or ""
    middle = body.optional_string("middle") or ""
    last = body.optional_string("last") or ""
    if not first.strip() and not last.strip():
        # dx-toolkit: `dx new user --username u --email e` is refused by the API.
        raise InvalidInput("A new account needs a first or a last name ('first' or 'last')")
    body.optional_int("tokenDuration")
    body.optional_string("occupation")
    for org_id in provisioning_orgs(call):
        org = load_org(conn, org_id)
        membership = membership_of(conn, org_id, call.caller)
        if membership is None or not membership.is_admin:
            raise PermissionDenied(f"ADMIN permission is required in {org_id}")
        if not org["user_provisioning"]:
            raise PermissionDenied(f"{org_id} is not licensed to provision user accounts")
        ensure_not_expired(org, call.now)
    handle = username.lower()
    user_id = f"user-{handle}"
    if conn.execute("SELECT 1 FROM users WHERE id = ? OR handle = ?", (user_id, handle)).fetchone():
        raise InvalidInput(f"The username '{username}' is already taken")
    if conn.execute("SELECT 1 FROM users WHERE email_key = ?", (email.lower(),)).fetchone():
        raise InvalidInput(f"An account with the email '{email}' already exists")
    # Without billTo the account pays for itself; no org membership comes with it.
    bill_to = body.optional_string("billTo") or user_id
    conn.execute(
        "INSERT INTO users (id, handle, first, middle, last, email, email_key, token, bill_to,"
        " created) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
        (user_id, handle, first, middle, last, email, email.lower(), bill_to, call.now),
    )
    return {"id": user_id, "userId": user_id, "emailSentTo": email, "status": "created"}


def as_auth_server(handler: Handler) -> Handler:
    """user/new is the auth server's: its refusals of the input reach dxpy as a type it has no
    class for (dx-toolkit's test_create_user_account_and_set_bill_to_negative expects
    `DXAPIError` for a missing name, a bad email, a short username, and a `billTo` org that
    does not exist, while `--on-behalf-of org-does_not_exist` stays ResourceNotFound)."""

    def answer(call: Call, conn: sqlite3.Connection) -> dict[str, Any]:
        bill_to = call.body.raw("billTo")
        unknown_org = (
            isinstance(bill_to, str)
            and bill_to.startswith("org-")
            and conn.execute("SELECT 1 FROM orgs WHERE id = ?", (bill_to,)).fetchone() is None
        )
        if unknown_org:
            raise AuthServerInvalidInput(f"Field 'billTo': the org {bill_to} does not exist")
        try:
            return handler(call, conn)
        except InvalidInput as error:
            if type(error) is not InvalidInput:
                raise
            raise AuthServerInvalidInput(error.message, details=error.details) from error

    return answer


METHODS: tuple[Method, ...] = (
    Method("user", "describe", user_describe, writes=False),
    Method("user", "update", user_update, writes=True, retryable=False),
    # Served by the auth server; `dx new user` sends it with max_retries=0.
    Method("user", "new", as_auth_server(user_new), writes=True, retryable=False),
)
