"""Random bodies at random routes: never a 5xx, never a traceback, always a JSON answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.emulator import Emulator
from tests.emulator.sandbox import (
    ALICE,
    BOB,
    CONTROL_TOKEN,
    EXAMPLE_APP,
    EXAMPLE_PROJECT,
    MY_PROJECT,
    SANDBOX_SEED,
    Api,
)

ENTITIES = [
    "org-demo",
    "org-genomics",
    "org-nothing",
    "user-alice",
    "user-ghost",
    MY_PROJECT,
    EXAMPLE_PROJECT,
    "project-000000000000000000000000",
    EXAMPLE_APP,
    "app-qc_report",
    "app-qc_report/1.0.0",
    "app-nothing/2",
    "globalworkflow-x",
]
METHODS = [
    "describe", "update", "invite", "setMemberAccess", "removeMember", "findMembers",
    "findProjects", "findApps", "decreasePermissions", "addDevelopers", "removeDevelopers",
    "listDevelopers", "addAuthorizedUsers", "removeAuthorizedUsers", "listAuthorizedUsers",
    "whoami", "findOrgs", "findGlobalWorkflows", "new", "nope",
]  # fmt: skip
FIELDS = [
    "invitee", "level", "allowBillableActivities", "appAccess", "projectAccess", "user",
    "revokeProjectPermissions", "revokeAppPermissions", "describe", "limit", "starting", "id",
    "name", "policies", "jobLogsForwarding", "url", "token", "developers", "authorizedUsers",
    "user-bob", "user-dave", "user-alice", "org-demo", "PUBLIC", "billTo", "version",
    "tags", "properties", "created", "fields", "glob", "regexp", "flags", "after", "$and",
    "username", "email", "provisioningOrg", "handle", "memberListVisibility", "public",
    "allVersions", "containsPHI", "region", "memberListVisibility", "protected",
]  # fmt: skip
WORDS = [
    "ADMIN", "MEMBER", "VIEW", "UPLOAD", "CONTRIBUTE", "ADMINISTER", "NONE", "PUBLIC",
    "user-bob", "user-erin", "user-ghost", "org-demo", "org-genomics", MY_PROJECT,
    "https://x.io", "*", "[", "(", "a@b.c", "\u00e9", "", "0.0.1",
]  # fmt: skip

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(WORDS)
    | st.text(max_size=8)
)
values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.dictionaries(st.sampled_from(FIELDS), values, max_size=6)
VALID_ROUTES = [
    *(
        f"/org-demo/{m}"
        for m in (
            "describe",
            "update",
            "invite",
            "setMemberAccess",
            "removeMember",
            "findMembers",
            "findProjects",
            "findApps",
        )
    ),
    *(f"/org-genomics/{m}" for m in ("describe", "findMembers", "invite")),
    *(f"/{MY_PROJECT}/{m}" for m in ("describe", "invite", "decreasePermissions", "update")),
    *(f"/{EXAMPLE_PROJECT}/{m}" for m in ("describe", "invite", "decreasePermissions", "update")),
    *(
        f"/{EXAMPLE_APP}/{m}"
        for m in (
            "describe",
            "addDevelopers",
            "removeDevelopers",
            "listDevelopers",
            "addAuthorizedUsers",
        )
    ),
    "/app-qc_report/1.0.0/describe",
    "/app-qc_report/addDevelopers",
    *(
        f"/system/{m}"
        for m in ("whoami", "findOrgs", "findProjects", "findApps", "findGlobalWorkflows")
    ),
    "/user-alice/describe",
    "/user-bob/update",
    "/user/new",
    "/project/new",
    "/org/new",
]
routes = st.one_of(
    st.sampled_from(VALID_ROUTES),
    st.sampled_from(VALID_ROUTES),
    st.builds(lambda entity, method: f"/{entity}/{method}", st.sampled_from(ENTITIES), st.sampled_from(METHODS)),
    st.builds(lambda cls, method: f"/{cls}/{method}", st.sampled_from(["system", "org", "user", "project", "app"]), st.sampled_from(METHODS)),
    st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF, exclude_characters="?#"), max_size=30).map(lambda text: "/" + text),
)  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_api() -> Iterator[Api]:
    with Emulator(seed=SANDBOX_SEED, control_token=CONTROL_TOKEN) as emu:
        api = Api(emu)
        yield api
        api.http.close()


def check(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    payload = json.loads(response.content)
    if response.status_code >= 400:
        assert set(payload) == {"error"}
        assert isinstance(payload["error"]["type"], str)
        assert isinstance(payload["error"]["message"], str) and payload["error"]["message"]
    else:
        assert response.status_code == 200


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(route=routes, body=bodies, token=st.sampled_from([ALICE, BOB, None, "bad"]))
def test_random_json_bodies(
    fuzz_api: Api, route: str, body: dict[str, Any], token: str | None
) -> None:
    try:
        response = fuzz_api.call(token, route, body)
    except (UnicodeEncodeError, httpx.InvalidURL):
        return  # httpx cannot put that path on the wire at all
    check(response)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=routes,
    content=st.binary(max_size=64) | values.map(lambda value: json.dumps(value).encode()),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "", "application/json; charset=latin-1"]
    ),
)
def test_random_raw_bodies(fuzz_api: Api, route: str, content: bytes, content_type: str) -> None:
    try:
        response = fuzz_api.call(
            ALICE, route, content=content, headers={"Content-Type": content_type}
        )
    except (UnicodeEncodeError, httpx.InvalidURL):
        return
    check(response)


DESCRIBE_FIELDS = [
    "id", "name", "public", "level", "billTo", "permissions", "properties", "created",
    "policies", "handle", "describe", "x",
]  # fmt: skip
describe_inputs = st.one_of(
    st.booleans(),
    leaves,
    st.fixed_dictionaries(
        {},
        optional={
            "fields": st.dictionaries(
                st.sampled_from(DESCRIBE_FIELDS), st.booleans() | leaves, max_size=4
            )
            | leaves,
            "defaultFields": st.booleans() | leaves,
            "properties": st.booleans() | leaves,
            "permissions": st.booleans() | leaves,
            "appCaches": st.booleans(),
        },
    ),
)
FIND_ROUTES = [
    "/org-demo/findProjects", "/org-demo/findMembers", "/org-demo/findApps", "/system/findProjects",
    "/system/findOrgs", "/system/findApps", "/org-genomics/findMembers",
]  # fmt: skip
DESCRIBE_ROUTES = [
    f"/{MY_PROJECT}/describe", "/org-demo/describe", "/user-alice/describe", f"/{EXAMPLE_APP}/describe",
]  # fmt: skip


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=st.sampled_from(FIND_ROUTES + DESCRIBE_ROUTES),
    describe=describe_inputs,
    level=st.sampled_from([None, "ADMIN", "MEMBER", "VIEW"]),
    token=st.sampled_from([ALICE, BOB]),
)
def test_describe_inputs(
    fuzz_api: Api, route: str, describe: Any, level: str | None, token: str
) -> None:
    if route in DESCRIBE_ROUTES:
        body = describe if isinstance(describe, dict) else {"fields": describe}
    else:
        body = {"describe": describe, **({"level": level} if level else {})}
    check(fuzz_api.call(token, route, body))
