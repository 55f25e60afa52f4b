"""Every method behaves as its retry class requires.

dxpy resends a retryable method after a lost answer (its generated wrappers default
`always_retry` from dx-toolkit's wrapper_table.json), so the platform must accept the
repeat; org/new carries a nonce instead. The installed dxpy is the reference here.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import dxpy.api
import pytest

from reconciler.emulator import Emulator
from reconciler.emulator.routing import Method
from tests.emulator.sandbox import (
    ALICE,
    ALICE_SCRATCH,
    BOB,
    CAROL,
    CONTROL_TOKEN,
    DAVE,
    ERIN,
    EXAMPLE_APP,
    EXAMPLE_PROJECT,
    MY_PROJECT,
    QC_APP_1_1,
    REPO,
    Api,
)

DXPY_CLASS_PREFIX = {"globalworkflow": "global_workflow"}


def methods(emu: Emulator) -> list[Method]:
    return list(emu.wsgi_app.methods.values())


def dxpy_wrapper(method: Method) -> Any:
    snake = re.sub("[A-Z]+", lambda m: "_" + m.group(0).lower(), method.name)
    prefix = DXPY_CLASS_PREFIX.get(method.entity_class, method.entity_class)
    return getattr(dxpy.api, f"{prefix}_{snake}", None)


def test_each_method_declares_the_retry_class_dxpy_uses(emu: Emulator) -> None:
    checked = 0
    for method in methods(emu):
        wrapper = dxpy_wrapper(method)
        if (method.entity_class, method.name) == ("user", "new"):
            # The auth server's route: not in the wrapper table; `dx new user` never retries.
            assert wrapper is None and not method.retryable and not method.nonce
            continue
        if (method.entity_class, method.name) == ("system", "comeBackLater"):
            # A test route (dxpy's own retry tests call it through DXHTTPRequest): no wrapper.
            assert wrapper is None and method.retryable and not method.writes
            continue
        assert wrapper is not None, method.key
        always_retry = inspect.signature(wrapper).parameters["always_retry"].default
        adds_nonce = "update_nonce" in inspect.getsource(wrapper)
        assert (method.nonce, method.retryable or method.nonce) == (adds_nonce, always_retry), (
            method.key
        )
        checked += 1
    assert checked == len(methods(emu)) - 2


# One sample call per retryable write, made twice: the repeat must be accepted and change
# nothing. The keys must be exactly the retryable writes (checked below).
REPEATS: dict[tuple[str, str], tuple[str, str, dict[str, Any]]] = {
    ("org", "update"): (
        ALICE,
        "/org-demo/update",
        {"name": "Renamed", "samlIdP": "idp-1", "policies": {"jobReuse": True}},
    ),
    ("org", "invite"): (
        ALICE,
        "/org-demo/invite",
        {"invitee": "user-erin", "level": "MEMBER", "appAccess": False, "treManagement": True},
    ),
    ("org", "setMemberAccess"): (
        ALICE,
        "/org-demo/setMemberAccess",
        {"user-bob": {"level": "ADMIN"}, "user-dave": {"dataSearch": True}},
    ),
    ("org", "removeMember"): (ALICE, "/org-demo/removeMember", {"user": "user-bob"}),
    ("project", "decreasePermissions"): (
        ALICE,
        f"/{MY_PROJECT}/decreasePermissions",
        {"user-bob": None, "user-alice": "CONTRIBUTE"},
    ),
    ("project", "update"): (ALICE, f"/{MY_PROJECT}/update", {"name": "renamed", "version": 1}),
    ("project", "setProperties"): (
        ALICE,
        f"/{MY_PROJECT}/setProperties",
        {"properties": {"team": None, "grant": "user-alice"}},
    ),
    ("project", "addTags"): (ALICE, f"/{MY_PROJECT}/addTags", {"tags": ["audit"]}),
    ("project", "newFolder"): (
        ALICE,
        f"/{MY_PROJECT}/newFolder",
        {"folder": "/runs/2024", "parents": True},
    ),
    ("project", "destroy"): (ALICE, f"/{ALICE_SCRATCH}/destroy", {"terminateJobs": True}),
    ("project", "removeTags"): (ALICE, f"/{MY_PROJECT}/removeTags", {"tags": ["wgs"]}),
    ("app", "addDevelopers"): (
        ALICE,
        f"/{EXAMPLE_APP}/addDevelopers",
        {"developers": ["user-dave"]},
    ),
    ("app", "removeDevelopers"): (
        CAROL,
        f"/{QC_APP_1_1}/removeDevelopers",
        {"developers": ["user-bob"]},
    ),
    ("app", "addAuthorizedUsers"): (
        ALICE,
        f"/{EXAMPLE_APP}/addAuthorizedUsers",
        {"authorizedUsers": ["user-erin"]},
    ),
    ("app", "removeAuthorizedUsers"): (
        ALICE,
        f"/{EXAMPLE_APP}/removeAuthorizedUsers",
        {"authorizedUsers": ["org-demo"]},
    ),
    ("app", "addTags"): (ALICE, f"/{EXAMPLE_APP}/addTags", {"tags": ["granted"]}),
    ("app", "removeTags"): (ALICE, "/app-example_app/removeTags", {"tags": ["none-yet"]}),
}


def without_clock(state: Any) -> Any:
    """The state minus the times a write stamps (a repeat may stamp again)."""
    if isinstance(state, dict):
        return {k: without_clock(v) for k, v in state.items() if k not in ("modified", "updated")}
    if isinstance(state, list):
        return [without_clock(item) for item in state]
    return state


def test_the_sample_repeats_cover_every_retryable_write(emu: Emulator) -> None:
    retryable_writes = {m.key for m in methods(emu) if m.writes and m.retryable}
    assert set(REPEATS) == retryable_writes


@pytest.mark.parametrize("method", sorted(REPEATS), ids="/".join)
def test_a_repeat_of_a_retryable_write_is_accepted_and_changes_nothing(
    api: Api, method: tuple[str, str]
) -> None:
    token, route, body = REPEATS[method]
    api.ok(token, route, body)
    after_first = without_clock(api.state())
    history = api.control("GET", "admin-history")["history"]
    api.ok(token, route, body)
    assert without_clock(api.state()) == after_first
    # an org write records its admins again, unchanged
    repeated = api.control("GET", "admin-history")["history"][len(history) :]
    assert all(entry["adminIds"] == history[-1]["adminIds"] for entry in repeated)


def test_a_repeated_invite_with_other_access_is_refused_and_says_what_differs(api: Api) -> None:
    api.ok(ALICE, "/org-demo/invite", {"invitee": "user-erin", "level": "MEMBER"})
    before = api.org("org-demo")["members"]
    for body, difference in (
        ({"level": "ADMIN"}, "level: MEMBER -> ADMIN"),
        ({"projectAccess": "VIEW"}, 'projectAccess: "CONTRIBUTE" -> "VIEW"'),
        ({"treManagement": True}, "treManagement: false -> true"),
    ):
        status, error_type, message = api.fails(
            ALICE, "/org-demo/invite", {"invitee": "user-erin", **body}
        )
        assert (status, error_type) == (422, "InvalidState")
        assert difference in message and "setMemberAccess" in message
    assert api.org("org-demo")["members"] == before
    # an ADMIN's repeat matches whatever forced flags it names (they are ignored)
    assert api.ok(ALICE, "/org-demo/invite", {"invitee": "user-carol", "level": "ADMIN", "appAccess": False}) == {"id": "org-demo", "state": "ACCEPTED"}  # fmt: skip


def test_remove_member_repeat_revokes_nothing_more(api: Api) -> None:
    first = api.ok(ALICE, "/org-demo/removeMember", {"user": "user-bob"})
    assert first["projects"] and first["apps"]
    # someone grants bob again meanwhile; the repeat does not touch that
    api.ok(ALICE, f"/{MY_PROJECT}/invite", {"invitee": "user-bob", "level": "VIEW"})
    assert api.ok(ALICE, "/org-demo/removeMember", {"user": "user-bob"}) == {
        "id": "org-demo",
        "projects": {},
        "apps": {},
    }
    assert api.project(MY_PROJECT)["permissions"]["user-bob"] == "VIEW"


def test_decrease_permissions_repeats_after_leaving_a_project(api: Api) -> None:
    # bob leaves (only his own entry: needs no ADMINISTER), and the repeat finds him gone
    body = {"user-bob": None}
    api.ok(BOB, f"/{MY_PROJECT}/decreasePermissions", body)
    api.ok(BOB, f"/{MY_PROJECT}/decreasePermissions", body)
    assert "user-bob" not in api.project(MY_PROJECT)["permissions"]
    # bob, ADMINISTER on example_project, removes alice and himself in one call
    both = {"user-alice": None, "user-bob": None}
    api.ok(BOB, f"/{EXAMPLE_PROJECT}/decreasePermissions", both)
    api.ok(BOB, f"/{EXAMPLE_PROJECT}/decreasePermissions", both)
    assert api.project(EXAMPLE_PROJECT)["permissions"] == {"org-demo": "VIEW"}
    # someone without access who was never on the project learns nothing
    assert api.fails(ERIN, f"/{MY_PROJECT}/decreasePermissions", {"user-alice": None})[:2] == (
        401,
        "PermissionDenied",
    )
    # a real change still needs ADMINISTER
    assert api.fails(DAVE, f"/{EXAMPLE_PROJECT}/decreasePermissions", {"org-demo": None})[:2] == (
        401,
        "PermissionDenied",
    )


def test_non_retryable_writes_stay_strict(api: Api) -> None:
    api.ok(ERIN, "/org/new", {"handle": "erins", "name": "Erin's lab"})
    assert api.fails(ERIN, "/org/new", {"handle": "erins", "name": "Erin's lab"})[:2] == (
        422,
        "InvalidInput",
    )
    body = {"username": "zed", "email": "zed@example.com", "first": "Zed"}
    api.ok(ALICE, "/user/new", body)
    assert api.fails(ALICE, "/user/new", body)[:2] == (422, "AuthServerInvalidInput")
    assert len([u for u in api.state()["users"] if u["id"] == "user-zed"]) == 1


def test_org_new_replays_the_answer_for_a_repeated_nonce(api: Api) -> None:
    body = {"handle": "replayed", "name": "Replayed", "nonce": "n-1"}
    assert api.ok(ERIN, "/org/new", body) == {"id": "org-replayed"}
    assert api.ok(ERIN, "/org/new", body) == {"id": "org-replayed"}
    assert [o["id"] for o in api.state()["orgs"]].count("org-replayed") == 1
    # the same nonce with a changed input is another request
    status, error_type, message = api.fails(ERIN, "/org/new", {**body, "name": "Other"})
    assert (status, error_type) == (422, "InvalidInput") and "nonce" in message
    # a nonce belongs to its caller: anyone else's is a new request, and the handle is taken
    assert api.fails(ALICE, "/org/new", body)[:2] == (422, "InvalidInput")
    assert api.fails(ERIN, "/org/new", {"handle": "x", "nonce": "n" * 129})[:2] == (
        422,
        "InvalidInput",
    )


def test_a_nonce_is_replayed_for_an_hour() -> None:
    now = [1_700_000_000_000]
    with Emulator(seed=None, control_token=CONTROL_TOKEN, clock=lambda: now[0]) as emu:
        api = Api(emu)
        api.control("POST", "reset", {"seed": {"users": [{"id": "user-u", "token": "u-token"}]}})
        body = {"handle": "timed", "name": "Timed", "nonce": "n-2"}
        api.ok("u-token", "/org/new", body)
        now[0] += 59 * 60 * 1000
        assert api.ok("u-token", "/org/new", body) == {"id": "org-timed"}
        now[0] += 2 * 60 * 1000
        assert api.fails("u-token", "/org/new", body)[:2] == (422, "InvalidInput")


def test_the_readme_lists_the_retry_class_of_every_method(emu: Emulator) -> None:
    readme = (REPO / "reconciler" / "emulator" / "README.md").read_text(encoding="utf-8")
    for method in methods(emu):
        if method.name == "new":
            route = f"/{method.entity_class}/new"
        elif method.entity_class == "system":
            route = f"/system/{method.name}"
        else:
            route = f"/{method.entity_class}-xxxx/{method.name}"
        untabled = method.key in (("user", "new"), ("system", "comeBackLater"))
        retry_class = "(not in the table)" if untabled else str(method.retryable).lower()
        assert f"| `{route}` | {retry_class} |" in readme, route
