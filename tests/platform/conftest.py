"""The real emulator for platform tests, reached in-process or over a loopback socket.

Test modules import nothing from here: they get a `Harness` from the fixtures and read
the seed's ids and tokens from it, so the directory works as a package or without one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest

from reconciler.emulator import Emulator
from reconciler.platform import PlatformConfig, ReadClient, RetryPolicy, WriteClient
from tests.emulator_harness import EmulatorControl

CONTROL_TOKEN = "emulator-control"
ALICE_TOKEN = "alice-tok-5e1c7a9d"  # ADMIN of org-demo
BOB_TOKEN = "bob-tok-0b4d2f11"  # MEMBER of org-demo
PROJECT = "project-0123456789abcdefABCDEFGH"
APP = "app-0123456789abcdefABCDEFGH"
ALL_TOKENS = (ALICE_TOKEN, BOB_TOKEN)


def make_seed(extra_members: int = 0) -> dict[str, Any]:
    users: list[dict[str, Any]] = [
        {
            "id": "user-alice",
            "first": "Alice",
            "last": "A",
            "email": "a@x.org",
            "token": ALICE_TOKEN,
        },
        {"id": "user-bob", "first": "Bob", "last": "B", "email": "b@x.org", "token": BOB_TOKEN},
        {"id": "user-carol", "first": "Carol", "last": "C", "email": "c@x.org"},
        {"id": "user-dan", "first": "Dan", "last": "D", "email": "d@x.org"},
    ]
    members: dict[str, Any] = {"user-alice": {"level": "ADMIN"}, "user-bob": {"level": "MEMBER"}}
    for i in range(extra_members):
        uid = f"user-m{i:05d}"
        users.append({"id": uid, "first": "M", "last": str(i), "email": f"m{i}@x.org"})
        members[uid] = {"level": "MEMBER"}
    return {
        "users": users,
        "orgs": [
            {
                "id": "org-demo",
                "name": "Demo",
                "userProvisioning": True,
                "members": members,
            }
        ],
        "projects": [
            {
                "id": PROJECT,
                "name": "demo-project",
                "billTo": "org-demo",
                "permissions": {"user-alice": "ADMINISTER"},
            }
        ],
        "apps": [
            {
                "id": APP,
                "name": "demo_app",
                "version": "1.0.0",
                "billTo": "org-demo",
                "developers": ["user-alice"],
            }
        ],
    }


class Harness(EmulatorControl):
    """One emulator plus the means to reach it: a client factory and the control plane."""

    ALICE_TOKEN: ClassVar[str] = ALICE_TOKEN
    BOB_TOKEN: ClassVar[str] = BOB_TOKEN
    ALL_TOKENS: ClassVar[tuple[str, ...]] = ALL_TOKENS
    PROJECT: ClassVar[str] = PROJECT
    APP: ClassVar[str] = APP

    def __init__(
        self, emu: Emulator, mode: str, base_url: str, transport: httpx.BaseTransport | None
    ) -> None:
        if transport is None:
            super().__init__(url=base_url, token=CONTROL_TOKEN)
        else:
            super().__init__(emu, token=CONTROL_TOKEN)
        self.emu, self.mode, self.base_url, self.transport = emu, mode, base_url, transport
        self.sleeps: list[float] = []

    def _sleep(self, seconds: float) -> None:
        # Record what the policy asked for; wait only a token amount to keep tests fast.
        self.sleeps.append(seconds)
        time.sleep(min(seconds, 0.005))

    def policy(self, **kw: Any) -> RetryPolicy:
        kw.setdefault("backoff_base", 0.001)
        kw.setdefault("backoff_cap", 0.01)
        kw.setdefault("sleep", self._sleep)
        return RetryPolicy(**kw)

    def config(self, token: str | None = ALICE_TOKEN) -> PlatformConfig:
        host, port = self.base_url.removeprefix("http://").split(":")
        return PlatformConfig(
            protocol="http", host=host, port=int(port), token=token, auth_server_url=self.base_url
        )

    def reader(self, token: str | None = ALICE_TOKEN, **kw: Any) -> ReadClient:
        timeout = kw.pop("timeout", None)
        limits = kw.pop("limits", None)
        return ReadClient(
            self.config(token),
            transport=self.transport,
            retry=self.policy(**kw),
            timeout=timeout,
            limits=limits,
        )

    def writer(self, token: str | None = ALICE_TOKEN, **kw: Any) -> WriteClient:
        timeout = kw.pop("timeout", None)
        limits = kw.pop("limits", None)
        return WriteClient(
            self.config(token),
            transport=self.transport,
            retry=self.policy(**kw),
            timeout=timeout,
            limits=limits,
        )


def open_harness(emu: Emulator, mode: str) -> Iterator[Harness]:
    if mode == "inprocess":
        harness = Harness(emu, mode, "http://emulator.test:80", emu.transport())
        yield harness
        harness.http.close()
        return
    with emu.serve(host="127.0.0.1", port=0) as server:
        harness = Harness(emu, mode, server.url, None)
        yield harness
        harness.http.close()


@pytest.fixture(params=["inprocess", "loopback"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    with Emulator(state_path=":memory:", seed=make_seed(), control_token=CONTROL_TOKEN) as emu:
        yield from open_harness(emu, request.param)


@pytest.fixture(params=["inprocess", "loopback"], scope="module")
def big_emulator(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """2,500 extra members: more than two pages of findMembers."""
    with Emulator(
        state_path=":memory:", seed=make_seed(extra_members=2500), control_token=CONTROL_TOKEN
    ) as emu:
        yield from open_harness(emu, request.param)


@pytest.fixture
def loopback() -> Iterator[Harness]:
    """Over a real socket only: for read timeouts, which an in-process transport lacks."""
    with Emulator(state_path=":memory:", seed=make_seed(), control_token=CONTROL_TOKEN) as emu:
        yield from open_harness(emu, "loopback")
