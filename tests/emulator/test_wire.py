"""The wire protocol: auth, body handling, error shapes and headers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from reconciler.emulator import Emulator
from tests.emulator.sandbox import ALICE, CONTROL_TOKEN, Api


def test_every_response_is_json_with_length_and_request_id(api: Api) -> None:
    for response in (
        api.call(ALICE, "/system/whoami"),
        api.call(ALICE, "/no/such/route/here"),
        api.call(None, "/system/whoami"),
        api.http.get("/_emulator/state"),
    ):
        assert response.headers["content-type"] == "application/json"
        assert int(response.headers["content-length"]) == len(response.content)
        assert response.headers["x-request-id"]
        json.loads(response.content)


def test_request_ids_are_unique(api: Api) -> None:
    ids = {api.call(ALICE, "/system/whoami").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic YWxpY2U6eA=="},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {CONTROL_TOKEN}"},
    ],
)
def test_bad_credentials_are_invalid_authentication(api: Api, headers: dict[str, str]) -> None:
    response = api.call(None, "/system/whoami", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "InvalidAuthentication"


def test_whoami_and_client_ip(api: Api) -> None:
    assert api.ok(ALICE, "/system/whoami") == {"id": "user-alice"}
    assert api.ok(ALICE, "/system/whoami", {"fields": {"clientIp": True}})["clientIp"]


def test_empty_body_counts_as_empty_object(api: Api) -> None:
    response = api.call(ALICE, "/system/whoami", content=b"")
    assert response.status_code == 200
    assert response.json() == {"id": "user-alice"}


@pytest.mark.parametrize(
    ("content", "content_type", "status", "error_type"),
    [
        (b"{not json", "application/json", 400, "MalformedJSON"),
        (b"{}", "text/plain", 400, "MalformedJSON"),
        (b'{"a": NaN}', "application/json", 400, "MalformedJSON"),
        (b'{"a": 1e999}', "application/json", 400, "MalformedJSON"),
        (b"\xff\xfe{}", "application/json", 400, "MalformedJSON"),
        (b"[1, 2]", "application/json", 422, "InvalidInput"),
        (b'"text"', "application/json", 422, "InvalidInput"),
        (b"[" * 100_000, "application/json", 400, "MalformedJSON"),
        (json.dumps({"a": [[[[[[[[[[[[]]]]]]]]]]]] * 1}).encode(), "application/json", 200, ""),
        (b'{"limit": 123456789012345678901234567890}', "application/json", 422, "InvalidInput"),
        (b'{"x": "\\ud800"}', "application/json", 422, "InvalidInput"),
    ],
)
def test_bad_bodies(
    api: Api, content: bytes, content_type: str, status: int, error_type: str
) -> None:
    response = api.call(
        ALICE, "/system/whoami", content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    if error_type:
        error = response.json()["error"]
        assert error["type"] == error_type
        assert error["message"]


def test_deep_nesting_is_refused(api: Api) -> None:
    body: dict[str, object] = {}
    for _ in range(80):
        body = {"x": body}
    status, error_type, message = api.fails(ALICE, "/system/whoami", body)
    assert (status, error_type) == (422, "InvalidInput")
    assert "nested" in message


def test_content_type_with_charset_is_fine(api: Api) -> None:
    response = api.call(
        ALICE,
        "/system/whoami",
        content=b"{}",
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


def test_huge_body_is_refused_before_reading(api: Api) -> None:
    response = api.call(ALICE, "/org-demo/describe", content=b" " * (8 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "InvalidInput"


@pytest.mark.parametrize(
    "route",
    [
        "/nope",
        "/system/noSuchMethod",
        "/org-demo/noSuchMethod",
        "/org-demo/a/describe",
        "/",
        "/x/y/z/w",
    ],
)
def test_unknown_routes_are_404(api: Api, route: str) -> None:
    status, error_type, _ = api.fails(ALICE, route)
    assert (status, error_type) == (404, "ResourceNotFound")


def test_get_is_not_allowed(api: Api) -> None:
    response = api.http.get("/system/whoami", headers={"Authorization": f"Bearer {ALICE}"})
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "MethodNotAllowed"


def test_query_string_is_ignored(api: Api) -> None:
    assert api.ok(ALICE, "/system/whoami?x=1") == {"id": "user-alice"}


def test_bad_field_message_names_the_field(api: Api) -> None:
    status, error_type, message = api.fails(
        ALICE, "/org-demo/update", {"policies": {"memberListVisibility": "EVERYONE"}}
    )
    assert (status, error_type) == (422, "InvalidInput")
    assert "policies.memberListVisibility" in message
    _, _, message = api.fails(ALICE, "/org-demo/invite", {"invitee": 42})
    assert "invitee" in message
    _, _, message = api.fails(ALICE, "/org-demo/setMemberAccess", {"user-bob": {"level": "BOSS"}})
    assert "user-bob.level" in message


def test_control_plane_needs_the_control_token(api: Api) -> None:
    for headers in ({}, {"Authorization": f"Bearer {ALICE}"}, {"Authorization": "Bearer x"}):
        response = api.http.get("/_emulator/state", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "InvalidAuthentication"
    assert api.control("GET", "counters")["total"] == 0
    response = api.http.get(
        "/_emulator/nothing", headers={"Authorization": f"Bearer {CONTROL_TOKEN}"}
    )
    assert response.status_code == 404


def chunks(count: int, piece: bytes) -> Iterator[bytes]:
    for _ in range(count):
        yield piece


def test_streamed_bodies_in_process(api: Api) -> None:
    response = api.call(ALICE, "/org-demo/invite", content=chunks(1, b'{"invitee": 5}'))
    assert response.status_code == 422
    assert "invitee" in response.json()["error"]["message"]
    too_big = api.call(ALICE, "/org-demo/describe", content=chunks(9, b"x" * 1024 * 1024))
    assert too_big.status_code == 413


def test_body_cap_over_a_real_socket(emu: Emulator) -> None:
    headers = {"Authorization": f"Bearer {ALICE}", "Content-Type": "application/json"}
    limit = 8 * 1024 * 1024
    with emu.serve(port=0) as server, httpx.Client(base_url=server.url, headers=headers) as client:
        exact = client.post("/org-demo/describe", content=b"{}" + b" " * (limit - 2))
        assert exact.status_code == 200
        for content in (b"{}" + b" " * (limit - 1), chunks(9, b" " * 1024 * 1024)):
            response = client.post("/org-demo/describe", content=content)
            assert response.status_code == 413
            assert response.json()["error"]["type"] == "InvalidInput"
            assert response.headers["x-request-id"]
