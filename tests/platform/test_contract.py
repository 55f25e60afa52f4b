"""The response contract covers every field dxorg reads from the platform.

Every string key that the live read, the client and apply's landed checks read from a
mapping (``x.get("k")``, ``x["k"]``, ``"k" in x``, ``_string(x, "k", ...)``) must be a
field the contract declares, unless it is listed below as not part of an answer's body.
A reader that starts using a new field fails here until the contract says what it is.
"""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest

import reconciler
from reconciler.errors import ReadIncompleteError, TransportError
from reconciler.model import FLAGS
from reconciler.platform import PlatformConfig, ReadClient
from reconciler.platform.contract import RESPONSES, contract_problems, declared_fields
from reconciler.platform.routes import RETRYABLE

READERS = ("read_live.py", "platform/client.py", "apply/landed.py")

# Keys those modules read that are not fields of a response body, and why.
NOT_RESPONSE_FIELDS = {
    "Authorization": "a request header (removed from the auth probe)",
    "Content-Length": "a response header (the response size limit)",
    "Date": "a response header (the platform's clock)",
    "network_stream": "an httpx response extension (the socket, for the size limit)",
    "Retry-After": "a response header (the retry policy)",
    "X-Request-ID": "a response header (shown in errors)",
    "fields": "the request body being built (describe options)",
    "invitee": "a recorded call's request body (landed checks)",
    "user": "a recorded call's request body (landed checks)",
    "token": "a recorded call's request body (landed checks, org forwarding)",
    "$env": "a recorded call's request body (landed checks, the forwarding token's variable)",
    "username": "a recorded call's request body (landed checks, /user/new)",
}


def keys_read(source: str) -> set[str]:
    keys: set[object] = set()
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "pop")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            keys.add(node.args[0].value)
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and isinstance(node.slice, ast.Constant)
        ):
            keys.add(node.slice.value)
        elif (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Constant)
            and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops)
        ):
            keys.add(node.left.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "_string"
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
        ):
            keys.add(node.args[1].value)
        elif isinstance(node, ast.comprehension) and isinstance(node.iter, ast.Tuple):
            # `for k in ("first", "last")`: the keys a loop reads
            keys.update(e.value for e in node.iter.elts if isinstance(e, ast.Constant))
    return {k for k in keys if isinstance(k, str)}


@pytest.mark.parametrize("reader", READERS)
def test_every_field_a_reader_reads_is_in_the_contract(reader: str) -> None:
    path = Path(reconciler.__file__).parent / reader
    read = keys_read(path.read_text()) - set(NOT_RESPONSE_FIELDS)
    missing = sorted(read - declared_fields())
    assert missing == [], f"{reader} reads {missing}, which the contract does not declare"


def test_every_permission_flag_is_declared_for_member_rows() -> None:
    row = RESPONSES["/org-xxxx/findMembers"]["properties"]
    assert {flag.name for flag in FLAGS} <= set(row)
    assert {"first", "last"} <= set(row["describe"]["properties"])


def test_the_contract_is_keyed_by_routes_dxorg_knows() -> None:
    assert set(RESPONSES) <= set(RETRYABLE)


def test_the_coverage_check_finds_a_new_field() -> None:
    """The check itself can fail: a reader of an undeclared field is caught."""
    source = "def f(org):\n    return org.get('billingAccount'), org['region'], _string(org, 'zone', 'x')\n"
    tree_keys = keys_read(source)
    assert {"billingAccount", "region", "zone"} <= tree_keys - declared_fields()


def test_problems_name_the_route_the_row_and_the_field_never_the_value() -> None:
    problems = contract_problems(
        "/org-xxxx/findMembers", {"id": "user-x", "level": "MEMBER", "appAccess": "hunter2"}, row=4
    )
    assert problems == [
        "/org-xxxx/findMembers row 4: field 'allowBillableActivities' is missing",
        "/org-xxxx/findMembers row 4: field 'projectAccess' is missing",
        "/org-xxxx/findMembers row 4: field 'appAccess' is not a boolean (it is a string)",
    ]
    # An ADMIN row may leave the flags out (the level forces them).
    assert contract_problems("/org-xxxx/findMembers", {"id": "user-a", "level": "ADMIN"}) == []


@pytest.mark.parametrize(
    ("route", "body", "call", "error", "text"),
    [
        ("/system/whoami", {"id": 5}, "whoami", TransportError, "field 'id' is not a string"),
        (
            "/app-a/listDevelopers",
            {"developers": ["user-a", 3]},
            "developers",
            ReadIncompleteError,
            "field 'developers.1' is not a string",
        ),
    ],
)
def test_the_client_reads_whole_answers_through_the_contract(
    route: str, body: dict, call: str, error: type[Exception], text: str
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    config = PlatformConfig(protocol="http", host="x.invalid", port=None, token="t")
    with ReadClient(config, transport=transport) as client, pytest.raises(error) as raised:
        client.whoami() if call == "whoami" else client.list_app_developers("app-a")
    assert route in str(raised.value) and text in str(raised.value)
