"""Paging of the find methods: limits, `next`, and keyset correctness under writes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.emulator import Emulator
from tests.emulator.sandbox import CONTROL_TOKEN, Api, small_seed

ADMIN = "admin-token"


@pytest.fixture(scope="module")
def big() -> Iterator[Api]:
    with Emulator(seed=small_seed(members=2500, projects=1200), control_token=CONTROL_TOKEN) as emu:
        api = Api(emu)
        yield api
        api.http.close()


def test_default_limit_is_1000_and_pages_chain(big: Api) -> None:
    first = big.ok(ADMIN, "/org-big/findMembers", {})
    assert len(first["results"]) == 1000
    assert first["next"] is not None
    rows = big.walk(ADMIN, "/org-big/findMembers", {"limit": 700})
    ids = [row["id"] for row in rows]
    assert len(ids) == 2502
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_last_page_has_null_next(big: Api) -> None:
    page = big.ok(ADMIN, "/org-big/findMembers", {"limit": 1000, "level": "ADMIN"})
    assert [row["id"] for row in page["results"]] == ["user-admin", "user-second"]
    assert page["next"] is None
    exact = big.ok(ADMIN, "/org-big/findMembers", {"limit": 2, "level": "ADMIN"})
    assert exact["next"] is None  # no empty extra page


def test_dxpy_style_doubling_walk(big: Api) -> None:
    rows: list[dict[str, Any]] = []
    body: dict[str, Any] = {"limit": 100, "describe": True}
    while True:
        page = big.ok(ADMIN, "/org-big/findProjects", body)
        rows.extend(page["results"])
        if page["next"] is None:
            break
        body = {**body, "starting": page["next"], "limit": min(body["limit"] * 2, 1000)}
    assert len(rows) == 1200
    assert all(row["level"] == "VIEW" for row in rows)


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "10"},
        {"limit": True},
        {"starting": "user-m000001"},
        {"starting": {"after": 5}},
        {"starting": {"id": "user-x"}},
    ],
)
def test_bad_paging_input(big: Api, body: dict[str, Any]) -> None:
    status, error_type, message = big.fails(ADMIN, "/org-big/findMembers", body)
    assert (status, error_type) == (422, "InvalidInput")
    assert "limit" in message or "starting" in message


def test_paging_while_members_are_added_and_removed() -> None:
    """Members present for the whole walk appear exactly once, in order."""
    seed = small_seed(members=3000)
    seed["users"] += [{"id": f"user-n{i:05d}", "first": "N", "last": str(i)} for i in range(300)]
    with Emulator(seed=seed, control_token=CONTROL_TOKEN) as emu:
        api = Api(emu)
        stable = {f"user-m{i:06d}" for i in range(3000) if i % 2 == 0}
        removable = [f"user-m{i:06d}" for i in range(3000) if i % 2 == 1]
        stop = threading.Event()

        def churn() -> None:
            writer = Api(emu)
            for index in range(300):
                if stop.is_set():
                    return
                writer.ok(ADMIN, "/org-big/invite", {"invitee": f"user-n{index:05d}"})
                writer.ok(ADMIN, "/org-big/removeMember", {"user": removable[index]})

        thread = threading.Thread(target=churn)
        thread.start()
        try:
            seen: list[str] = []
            body: dict[str, Any] = {"limit": 50}
            while True:
                page = api.ok(ADMIN, "/org-big/findMembers", body)
                seen.extend(row["id"] for row in page["results"])
                if page["next"] is None:
                    break
                body["starting"] = page["next"]
        finally:
            stop.set()
            thread.join()
        assert seen == sorted(seen)
        assert len(seen) == len(set(seen))
        assert stable <= set(seen)


def test_keyset_paging_between_pages_deterministic() -> None:
    """Between pages: delete the next row, insert rows behind and ahead of the cursor."""
    seed = small_seed(members=100)
    seed["users"] += [
        {"id": f"user-{prefix}{i:03d}", "first": "X", "last": "Y"}
        for prefix in ("a", "z")
        for i in range(20)
    ]
    with Emulator(seed=seed, control_token=CONTROL_TOKEN) as emu:
        api = Api(emu)
        seen: list[str] = []
        deleted: list[str] = []
        body: dict[str, Any] = {"limit": 10, "level": "MEMBER"}
        round_ = 0
        while True:
            page = api.ok(ADMIN, "/org-big/findMembers", body)
            seen.extend(row["id"] for row in page["results"])
            if page["next"] is None:
                break
            body["starting"] = page["next"]
            # the member right after this page goes away before we fetch the next page
            following = api.ok(ADMIN, "/org-big/findMembers", {**body, "limit": 1})["results"]
            if following:
                api.ok(ADMIN, "/org-big/removeMember", {"user": following[0]["id"]})
                deleted.append(following[0]["id"])
            if round_ < 20:
                api.ok(ADMIN, "/org-big/invite", {"invitee": f"user-a{round_:03d}"})  # behind
                api.ok(ADMIN, "/org-big/invite", {"invitee": f"user-z{round_:03d}"})  # ahead
            round_ += 1
        assert len(seen) == len(set(seen)) and seen == sorted(seen)
        assert not set(deleted) & set(seen)
        expected_members = {f"user-m{i:06d}" for i in range(100)} - set(deleted)
        assert {uid for uid in seen if uid.startswith("user-m")} == expected_members
        assert not any(uid.startswith("user-a") for uid in seen)  # inserted behind the cursor
        assert {uid for uid in seen if uid.startswith("user-z")} == {
            f"user-z{i:03d}" for i in range(round_ if round_ < 20 else 20)
        }
