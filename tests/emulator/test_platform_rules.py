"""Platform rules the emulator follows: project levels, properties and tags, app tags,
removeMember's app rights, user/new, org/new handles and org settings."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.emulator import Emulator
from tests.emulator.sandbox import (
    ALICE,
    BOB,
    CAROL,
    CONTROL_TOKEN,
    DAVE,
    ERIN,
    EXAMPLE_APP,
    EXAMPLE_PROJECT,
    FRANK,
    MY_PROJECT,
    QC_APP_1_0,
    QC_APP_1_1,
    REFERENCE_PROJECT,
    SANDBOX_SEED,
    VARIANT_APP,
    Api,
)

LEVELS = ("ADMINISTER", "CONTRIBUTE", "UPLOAD", "VIEW", "NONE")

# -- the level of a project the caller holds no grant on


def test_an_org_project_without_a_grant_has_level_none(api: Api) -> None:
    rows = api.ok(CAROL, "/org-demo/findProjects", {"describe": True})["results"]
    mine = next(row for row in rows if row["id"] == MY_PROJECT)
    assert (mine["level"], mine["describe"]["level"]) == ("NONE", "NONE")
    assert all(row["level"] in LEVELS and row["describe"]["level"] in LEVELS for row in rows)
    assert api.ok(CAROL, f"/{MY_PROJECT}/describe")["level"] == "NONE"
    assert api.ok(CAROL, f"/{MY_PROJECT}/describe", {"fields": {"level": True}}) == {
        "id": MY_PROJECT,
        "level": "NONE",
    }


def test_find_projects_describe_true_is_the_default_project_describe(api: Api) -> None:
    # dx-toolkit's test_dx_find_org_projects_format: each row's describe equals
    # project-xxxx/describe with no input.
    for row in api.ok(ALICE, "/org-demo/findProjects", {"describe": True})["results"]:
        assert row["describe"] == api.ok(ALICE, f"/{row['id']}/describe")


# -- project properties


def test_set_properties_sets_and_deletes_keys(api: Api) -> None:
    assert api.ok(
        ALICE,
        f"/{MY_PROJECT}/setProperties",
        {"properties": {"team": None, "dxorg.grant": "user-carol ADMINISTER", "empty": ""}},
    ) == {"id": MY_PROJECT}
    expected = {"dxorg.grant": "user-carol ADMINISTER", "empty": ""}
    assert api.ok(ALICE, f"/{MY_PROJECT}/describe", {"properties": True})["properties"] == expected
    assert "properties" not in api.ok(ALICE, f"/{MY_PROJECT}/describe")
    by_fields = api.ok(ALICE, f"/{MY_PROJECT}/describe", {"fields": {"properties": True}})
    assert by_fields == {"id": MY_PROJECT, "properties": expected}
    # deleting a key that is not there is fine
    api.ok(ALICE, f"/{MY_PROJECT}/setProperties", {"properties": {"never-set": None}})


def test_find_projects_rows_carry_properties_when_asked(api: Api) -> None:
    api.ok(ALICE, f"/{EXAMPLE_PROJECT}/setProperties", {"properties": {"k": "v"}})
    rows = api.ok(
        ALICE,
        "/org-demo/findProjects",
        {"describe": {"fields": {"name": True, "properties": True}}},
    )["results"]
    assert [row["describe"] for row in rows] == [
        {"id": MY_PROJECT, "name": "my_new_project", "properties": {"team": "analysis"}},
        {"id": EXAMPLE_PROJECT, "name": "example_project", "properties": {"k": "v"}},
        {"id": REFERENCE_PROJECT, "name": "reference_genomes", "properties": {}},
    ]
    with_flag = api.ok(ALICE, "/org-demo/findProjects", {"describe": {"properties": True}})
    assert with_flag["results"][1]["describe"]["properties"] == {"k": "v"}
    found = api.ok(ALICE, "/org-demo/findProjects", {"properties": {"k": "v"}})["results"]
    assert [row["id"] for row in found] == [EXAMPLE_PROJECT]


def test_set_properties_needs_contribute(api: Api) -> None:
    # bob has VIEW on my_new_project; carol administers org-demo but holds no grant
    for token in (BOB, CAROL):
        assert api.fails(token, f"/{MY_PROJECT}/setProperties", {"properties": {"k": "v"}})[:2] == (
            401,
            "PermissionDenied",
        )
    assert api.fails(ERIN, f"/{MY_PROJECT}/setProperties", {"properties": {}})[:2] == (
        401,
        "PermissionDenied",
    )
    # alice holds CONTRIBUTE on example_project: enough
    api.ok(ALICE, f"/{EXAMPLE_PROJECT}/setProperties", {"properties": {"k": "v"}})
    assert api.project(MY_PROJECT)["properties"] == {"team": "analysis"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "properties"),
        ({"properties": ["k"]}, "properties"),
        ({"properties": {"k": 1}}, "properties.k"),
        ({"properties": {"": "v"}}, "nonempty"),
    ],
)
def test_set_properties_input_errors(api: Api, body: dict[str, Any], field: str) -> None:
    status, error_type, message = api.fails(ALICE, f"/{MY_PROJECT}/setProperties", body)
    assert (status, error_type) == (422, "InvalidInput") and field in message


def test_project_tags(api: Api) -> None:
    api.ok(ALICE, f"/{MY_PROJECT}/addTags", {"tags": ["audit", "wgs", "audit"]})
    assert api.project(MY_PROJECT)["tags"] == ["wgs", "audit"]
    api.ok(ALICE, f"/{MY_PROJECT}/removeTags", {"tags": ["wgs", "absent"]})
    assert api.ok(ALICE, f"/{MY_PROJECT}/describe")["tags"] == ["audit"]
    assert api.fails(BOB, f"/{MY_PROJECT}/addTags", {"tags": ["x"]})[:2] == (
        401,
        "PermissionDenied",
    )
    assert api.fails(ALICE, f"/{MY_PROJECT}/addTags", {"tags": [""]})[:2] == (
        422,
        "InvalidInput",
    )


# -- app tags


def test_app_tags_show_in_describe_aliases_and_find_apps(api: Api) -> None:
    assert api.ok(ALICE, f"/{EXAMPLE_APP}/addTags", {"tags": ["dxorg-grant"]}) == {
        "id": EXAMPLE_APP
    }
    described = api.ok(ERIN, "/app-example_app/describe")
    assert described["tags"] == ["dxorg-grant"]
    assert described["aliases"] == ["default", "0.0.1", "dxorg-grant"]
    rows = api.ok(ALICE, "/org-demo/findApps", {"describe": True})["results"]
    assert next(r for r in rows if r["id"] == EXAMPLE_APP)["describe"]["tags"] == ["dxorg-grant"]
    # a tag is an alias: the version can be addressed by it
    assert api.ok(ERIN, "/app-example_app/dxorg-grant/describe")["id"] == EXAMPLE_APP
    api.ok(ALICE, "/app-example_app/removeTags", {"tags": ["dxorg-grant"]})
    assert api.ok(ERIN, f"/{EXAMPLE_APP}/describe")["tags"] == []


def test_a_tag_names_one_version(api: Api) -> None:
    api.ok(BOB, "/app-qc_report/1.0.0/addTags", {"tags": ["stable"]})
    assert api.ok(BOB, "/app-qc_report/stable/describe")["id"] == QC_APP_1_0
    api.ok(BOB, f"/{QC_APP_1_1}/addTags", {"tags": ["stable"]})
    assert api.ok(BOB, "/app-qc_report/stable/describe")["id"] == QC_APP_1_1
    assert api.ok(BOB, f"/{QC_APP_1_0}/describe")["tags"] == []
    for tag in ("1.0.0", "default", "latest"):
        assert api.fails(BOB, f"/{QC_APP_1_1}/addTags", {"tags": [tag]})[:2] == (
            422,
            "InvalidInput",
        )


def test_app_tags_are_for_developers_only(api: Api) -> None:
    # carol administers org-demo (the billing org) but is no developer of example_app
    for token in (CAROL, ERIN):
        assert api.fails(token, f"/{EXAMPLE_APP}/addTags", {"tags": ["x"]})[:2] == (
            401,
            "PermissionDenied",
        )
    # frank is an ADMIN of org-genomics, a developer org of variant_caller
    api.ok(FRANK, f"/{VARIANT_APP}/addTags", {"tags": ["x"]})
    assert api.fails(ALICE, f"/{EXAMPLE_APP}/addTags", {})[:2] == (422, "InvalidInput")


# -- removeMember and app rights


def test_remove_member_revokes_developer_and_authorized_user_rights(api: Api) -> None:
    api.ok(ALICE, f"/{EXAMPLE_APP}/addAuthorizedUsers", {"authorizedUsers": ["user-bob"]})
    api.ok(CAROL, f"/{QC_APP_1_1}/addAuthorizedUsers", {"authorizedUsers": ["user-bob"]})
    result = api.ok(ALICE, "/org-demo/removeMember", {"user": "user-bob"})
    assert result["apps"] == {
        EXAMPLE_APP: ["AUTHORIZED_USER"],
        QC_APP_1_0: ["DEVELOPER", "AUTHORIZED_USER"],
        QC_APP_1_1: ["DEVELOPER", "AUTHORIZED_USER"],
    }
    apps = {app["id"]: app for app in api.state()["apps"]}
    assert apps[EXAMPLE_APP]["authorizedUsers"] == ["org-demo"]
    assert apps[QC_APP_1_0]["authorizedUsers"] == ["PUBLIC"]
    assert apps[QC_APP_1_1]["developers"] == ["user-carol"]


def test_remove_member_keeps_app_rights_when_asked(api: Api) -> None:
    api.ok(ALICE, f"/{EXAMPLE_APP}/addAuthorizedUsers", {"authorizedUsers": ["user-dave"]})
    result = api.ok(
        ALICE, "/org-demo/removeMember", {"user": "user-dave", "revokeAppPermissions": False}
    )
    assert result["apps"] == {}
    assert "user-dave" in api.ok(DAVE, f"/{EXAMPLE_APP}/listAuthorizedUsers")["authorizedUsers"]


# -- user/new


def test_user_new_without_an_org_creates_a_bare_account(api: Api) -> None:
    result = api.ok(
        BOB, "/user/new", {"username": "Solo", "email": "solo@example.com", "last": "S"}
    )
    assert result["id"] == "user-solo"
    user = next(u for u in api.state()["users"] if u["id"] == "user-solo")
    assert (user["billTo"], user["first"], user["last"]) == ("user-solo", "", "S")
    assert all("user-solo" not in org["members"] for org in api.state()["orgs"])
    assert api.ok(BOB, "/user-solo/describe")["handle"] == "solo"
    # token durations are taken as given, negative ones too (dx-toolkit sends -10000 s)
    api.ok(BOB, "/user/new", {"username": "t1x", "email": "t@x.io", "first": "T", "tokenDuration": -10_000_000})  # fmt: skip


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {"username": "nameless", "email": "n@example.com"},
            (422, "AuthServerInvalidInput", "first"),
        ),
        (
            {"username": "blank", "email": "b@x.io", "first": " ", "last": ""},
            (422, "AuthServerInvalidInput", "first"),
        ),
        (
            {"username": "bu", "email": "bu@example.com", "first": "B"},
            (422, "AuthServerInvalidInput", "username"),
        ),
        (
            {"username": "bademail", "email": "bad_email", "first": "B"},
            (422, "AuthServerInvalidInput", "email"),
        ),
        (
            {"username": "pork", "email": "p@x.io", "first": "P", "billTo": "does_not_exist"},
            (422, "AuthServerInvalidInput", "billTo"),
        ),
        (
            {
                "username": "nobody",
                "email": "n@x.io",
                "first": "N",
                "provisioningOrg": "org-nothing",
            },
            (404, "ResourceNotFound", "org-nothing"),
        ),
        (
            {
                "username": "notmine",
                "email": "n@x.io",
                "first": "N",
                "provisioningOrg": "org-genomics",
            },
            (401, "PermissionDenied", "org-genomics"),
        ),
    ],
)
def test_user_new_refusals(api: Api, body: dict[str, Any], error: tuple[int, str, str]) -> None:
    status, error_type, message = api.fails(ALICE, "/user/new", body)
    assert (status, error_type) == error[:2] and error[2] in message
    assert not any(u["handle"] == body["username"].lower() for u in api.state()["users"])


# -- org/new and org settings


def test_org_new_lower_cases_the_handle(api: Api) -> None:
    assert api.ok(ERIN, "/org/new", {"handle": "Erin_Lab", "name": "Erin's lab"}) == {
        "id": "org-erin_lab"
    }
    described = api.ok(ERIN, "/org-erin_lab/describe")
    assert (described["handle"], described["level"]) == ("erin_lab", "ADMIN")
    assert api.fails(ERIN, "/org/new", {"handle": "ERIN_LAB", "name": "again"})[:2] == (
        422,
        "InvalidInput",
    )
    assert api.fails(ERIN, "/org/new", {"handle": "DEMO", "name": "clash"})[:2] == (
        422,
        "InvalidInput",
    )


def test_org_settings_are_stored_and_described(api: Api) -> None:
    api.ok(
        ALICE,
        "/org-demo/update",
        {
            "name": "Demo",
            "samlIdP": "samlprovider",
            "policies": {"jobReuse": True, "detailedJobMetricsCollectDefault": False},
        },
    )
    described = api.ok(BOB, "/org-demo/describe")
    assert described["samlIdP"] == "samlprovider"
    assert described["name"] == "Demo"
    assert described["policies"] == {
        "memberListVisibility": "ADMIN",
        "restrictProjectTransfer": "ADMIN",
        "jobReuse": True,
        "detailedJobMetricsCollectDefault": False,
    }
    assert api.ok(ALICE, "/org-demo/describe", {"fields": {"samlIdP": True}}) == {
        "id": "org-demo",
        "samlIdP": "samlprovider",
    }
    assert api.org("org-demo")["samlIdP"] == "samlprovider"
    assert api.fails(ALICE, "/org-demo/update", {"samlIdP": 7})[:2] == (422, "InvalidInput")


# -- system/comeBackLater (test_dxpy.py TestHTTPResponses.test_retry_after*), on a clock the
# test moves


def test_come_back_later_answers_503_with_retry_after_until_the_time_comes() -> None:
    now = [1_700_000_000_000]
    with Emulator(seed=SANDBOX_SEED, control_token=CONTROL_TOKEN, clock=lambda: now[0]) as emu:
        api = Api(emu)
        assert api.ok(ALICE, "/system/comeBackLater") == {"currentTime": now[0]}
        wait = {"waitUntil": now[0] + 2_500}
        response = api.call(ALICE, "/system/comeBackLater", wait)
        assert (response.status_code, response.json()["error"]["type"]) == (
            503,
            "ServiceUnavailable",
        )
        assert response.headers["Retry-After"] == "3"  # whole seconds, rounded up
        silent = api.call(ALICE, "/system/comeBackLater", {**wait, "setRetryAfter": False})
        assert silent.status_code == 503 and "Retry-After" not in silent.headers
        now[0] += 2_500
        assert api.ok(ALICE, "/system/comeBackLater", wait) == {"currentTime": now[0]}
        assert api.fails(None, "/system/comeBackLater")[:2] == (401, "InvalidAuthentication")


# -- folders and destroy: what `dx cd`, `dx ls`, `dx mkdir` and `dx rmproject` send


def test_folders(api: Api) -> None:
    assert api.ok(BOB, f"/{MY_PROJECT}/listFolder") == {"objects": [], "folders": []}
    api.ok(ALICE, f"/{MY_PROJECT}/newFolder", {"folder": "/runs/2024/", "parents": True})
    api.ok(ALICE, f"/{MY_PROJECT}/newFolder", {"folder": "/runs"})  # exists: fine
    assert api.ok(BOB, f"/{MY_PROJECT}/listFolder", {"folder": "/runs", "only": "folders"}) == {
        "folders": ["/runs/2024"]
    }
    assert api.ok(ALICE, f"/{MY_PROJECT}/listFolder", {"only": "objects"}) == {"objects": []}
    assert api.fails(ALICE, f"/{MY_PROJECT}/listFolder", {"folder": "/nope"})[:2] == (
        404,
        "ResourceNotFound",
    )
    assert api.fails(ALICE, f"/{MY_PROJECT}/newFolder", {"folder": "/a/b"})[:2] == (
        404,
        "ResourceNotFound",
    )
    for bad in ("relative", "/a//b", "/a/../b"):
        assert api.fails(ALICE, f"/{MY_PROJECT}/newFolder", {"folder": bad})[:2] == (
            422,
            "InvalidInput",
        )
    # bob only views my_new_project; erin has no access at all
    assert api.fails(BOB, f"/{MY_PROJECT}/newFolder", {"folder": "/b"})[:2] == (
        401,
        "PermissionDenied",
    )
    assert api.fails(ERIN, f"/{MY_PROJECT}/listFolder")[:2] == (401, "PermissionDenied")


def test_destroy(api: Api) -> None:
    assert api.fails(BOB, f"/{MY_PROJECT}/destroy")[:2] == (401, "PermissionDenied")
    assert api.ok(ALICE, f"/{MY_PROJECT}/destroy", {"terminateJobs": True}) == {"id": MY_PROJECT}
    assert MY_PROJECT not in {p["id"] for p in api.state()["projects"]}
    assert api.fails(BOB, f"/{MY_PROJECT}/describe")[:2] == (404, "ResourceNotFound")
    # the same caller's repeat (destroy is retryable) is answered again; nobody else's
    assert api.ok(ALICE, f"/{MY_PROJECT}/destroy") == {"id": MY_PROJECT}
    assert api.fails(BOB, f"/{MY_PROJECT}/destroy")[:2] == (404, "ResourceNotFound")


def test_decrease_permissions_names_only_entities(api: Api) -> None:
    for key, error in (
        ("user-ghost", (404, "ResourceNotFound")),
        ("org-ghost", (404, "ResourceNotFound")),
        ("ghost@example.com", (422, "InvalidInput")),
    ):
        assert api.fails(ALICE, f"/{MY_PROJECT}/decreasePermissions", {key: None})[:2] == error
    assert api.project(MY_PROJECT)["permissions"]["user-bob"] == "VIEW"


def test_new_project_input_checks(api: Api) -> None:
    for body, error in (
        ({"name": "p", "tags": ["ok", ""]}, (422, "InvalidInput")),
        ({"name": "p", "properties": {"": "x"}}, (422, "InvalidInput")),
        ({"name": "p", "properties": {"k": 1}}, (422, "InvalidInput")),
        ({"name": "p", "region": "aws:nowhere"}, (422, "InvalidInput")),
        ({"name": "p", "containsPHI": True}, (401, "PermissionDenied")),
        ({"name": "p", "billTo": "user-ghost"}, (422, "InvalidInput")),
    ):
        assert api.fails(ALICE, "/project/new", body)[:2] == error, body
    assert "p" not in {p["name"] for p in api.state()["projects"]}
