"""The emulator under bad requests on a real socket: what tests/emulator does not cover
(it fuzzes routes and bodies in-process, and checks the body cap over a socket). Every
HTTP method on every kind of route, broken HTTP, a client that stalls mid-body and idle
connections: never a 5xx, never a write, and the server keeps serving everyone else.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from reconciler.emulator import Emulator, RunningServer
from tests.emulator.sandbox import ALICE, CONTROL_TOKEN, SANDBOX_SEED

METHODS = ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "PROPFIND", "POST"]
ROUTES = [
    "/org-demo/describe",
    "/org-demo/invite",
    "/org-demo/removeMember",
    "/system/whoami",
    "/nope",
    "/",
    "/org-demo/x/y/z",
    "/_emulator/state",
    "/_emulator/reset",
    "/_emulator/nothing",
]
INVITE = {"invitee": "user-erin", "level": "ADMIN"}
REMOVE = {"user": "user-bob"}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Emulator, RunningServer]]:
    with (
        Emulator(seed=SANDBOX_SEED, control_token=CONTROL_TOKEN) as emu,
        emu.serve(port=0) as running,
    ):
        yield emu, running


def members(emu: Emulator) -> dict[str, object]:
    return next(o for o in emu.control.state()["orgs"] if o["id"] == "org-demo")["members"]


@pytest.mark.parametrize("token", [ALICE, CONTROL_TOKEN, None])
def test_every_method_on_every_kind_of_route(
    server: tuple[Emulator, RunningServer], token: str | None
) -> None:
    emu, running = server
    before = members(emu)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=running.url, headers=headers) as client:
        for route in ROUTES:
            for method in METHODS:
                if method == "POST" and route in (
                    "/org-demo/invite",
                    "/org-demo/removeMember",
                    "/_emulator/reset",
                ):
                    continue  # real writes: checked below to be refused for the other methods
                body = (
                    INVITE
                    if route.endswith("invite")
                    else REMOVE
                    if route.endswith("Member")
                    else {}
                )
                response = client.request(method, route, content=json.dumps(body))
                assert response.status_code < 500, (method, route, response.status_code)
                assert response.headers["x-request-id"], (method, route)
                if method == "HEAD":
                    continue
                assert int(response.headers["content-length"]) == len(response.content)
                payload = response.json()
                if response.status_code >= 400:
                    assert set(payload) == {"error"} and payload["error"]["message"], (
                        method,
                        route,
                    )
                if method != "POST" and not route.startswith("/_emulator"):
                    assert response.status_code == 405, (method, route, response.status_code)
    assert members(emu) == before, "a non-POST request changed the org"


def raw_exchange(port: int, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send raw bytes, half-close, and read what comes back (b"" if the server just closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The server may answer and close before a large request is all sent: that is a
        # refusal, not a failure of the test, so read whatever it said. Which error the
        # closed socket gives depends on timing: EPIPE, ECONNRESET, or ENOTCONN (errno
        # 107) from shutdown() once the peer is gone; all are OSError.
        with contextlib.suppress(OSError):
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        with contextlib.suppress(OSError):  # reset or timed out: what came so far is the answer
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


def alive(running: RunningServer) -> None:
    started = time.monotonic()
    response = httpx.post(
        f"{running.url}/system/whoami",
        json={},
        headers={"Authorization": f"Bearer {ALICE}"},
        timeout=5,
    )
    assert response.json() == {"id": "user-alice"}
    assert time.monotonic() - started < 2


HEAD = b"POST /org-demo/invite HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ALICE.encode()
BROKEN: dict[str, bytes] = {
    "garbage": b"\x00\x01GARBAGE\r\n\r\n",
    "no-http-version": b"POST /system/whoami\r\n\r\n",
    "http-0.9": b"GET /\r\n",
    "bad-version": b"POST /system/whoami HTTP/9.9\r\n\r\n",
    "negative-length": HEAD + b"\r\nContent-Length: -5\r\n\r\n{}",
    "non-numeric-length": HEAD + b"\r\nContent-Length: lots\r\n\r\n{}",
    "length-longer-than-body": HEAD
    + b"\r\nContent-Length: 500\r\n\r\n"
    + json.dumps(INVITE).encode(),
    "bad-chunking": HEAD + b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "huge-header": HEAD + b"\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    "many-headers": HEAD + b"".join(b"\r\nX-%d: 1" % i for i in range(5000)) + b"\r\n\r\n",
    "two-content-lengths": HEAD + b"\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}",
    "non-utf8-path": b"POST /org-demo/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_http_gets_no_5xx_writes_nothing_and_the_server_lives_on(
    server: tuple[Emulator, RunningServer], name: str
) -> None:
    emu, running = server
    before = members(emu)
    answer = raw_exchange(running.port, BROKEN[name])
    if answer:
        status_line = answer.split(b"\r\n", 1)[0]
        assert not status_line.startswith((b"HTTP/1.0 5", b"HTTP/1.1 5")), status_line
    assert members(emu) == before
    assert "user-erin" not in members(emu)
    alive(running)


def test_a_client_stalling_mid_body_blocks_nobody(server: tuple[Emulator, RunningServer]) -> None:
    emu, running = server
    stalled = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(3)]
    try:
        for sock in stalled:
            sock.sendall(HEAD + b'\r\nContent-Length: 1000\r\n\r\n{"invitee": ')
        alive(running)
    finally:
        for sock in stalled:
            sock.close()
    alive(running)
    assert "user-erin" not in members(emu)


def test_a_hundred_idle_connections_starve_nobody(server: tuple[Emulator, RunningServer]) -> None:
    _, running = server
    idle = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(100)]
    try:
        alive(running)
    finally:
        for sock in idle:
            sock.close()
    alive(running)
