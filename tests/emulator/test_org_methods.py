"""Org methods: semantics, permissions and errors."""

from __future__ import annotations

import hashlib
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
    Api,
)

FULL = {"allowBillableActivities": True, "appAccess": True, "projectAccess": "ADMINISTER"}


def member(api: Api, org: str, user: str) -> dict[str, Any] | None:
    return api.org(org)["members"].get(user)


# -- describe


def test_describe_shows_the_callers_membership(api: Api) -> None:
    described = api.ok(DAVE, "/org-demo/describe")
    assert described["id"] == "org-demo"
    assert described["class"] == "org"
    assert described["name"] == "Demo Organization"
    assert described["handle"] == "demo"
    assert described["policies"] == {
        "memberListVisibility": "ADMIN",
        "restrictProjectTransfer": "ADMIN",
    }
    assert described["level"] == "MEMBER"
    assert described["allowBillableActivities"] is True
    assert described["appAccess"] is False
    assert described["projectAccess"] == "VIEW"
    assert "expiresAt" not in described
    assert "jobLogsForwarding" not in described


def test_describe_shows_expiry_and_forwarding_without_the_token(api: Api) -> None:
    described = api.ok(FRANK, "/org-genomics/describe")
    assert described["expiresAt"] == 4102444800000
    forwarding = described["jobLogsForwarding"]
    assert forwarding["tokenSignature"] == hashlib.sha256(b"sandbox-hec-token").hexdigest()
    assert "token" not in forwarding
    assert "sandbox-hec-token" not in str(api.state())


def test_describe_fields_selects(api: Api) -> None:
    assert api.ok(ALICE, "/org-demo/describe", {"fields": {"name": True}}) == {
        "id": "org-demo",
        "name": "Demo Organization",
    }


def test_describe_by_non_member_and_unknown(api: Api) -> None:
    assert api.fails(ERIN, "/org-demo/describe")[:2] == (401, "PermissionDenied")
    assert api.fails(ALICE, "/org-nothing/describe")[:2] == (404, "ResourceNotFound")


# -- update


def test_update_merges_policies_partially(api: Api) -> None:
    assert api.ok(ALICE, "/org-demo/update", {"policies": {"memberListVisibility": "MEMBER"}}) == {
        "id": "org-demo"
    }
    api.ok(ALICE, "/org-demo/update", {"policies": {"jobReuse": True}, "name": "Renamed"})
    org = api.org("org-demo")
    assert org["policies"] == {
        "memberListVisibility": "MEMBER",
        "restrictProjectTransfer": "ADMIN",
        "jobReuse": True,
    }
    assert org["name"] == "Renamed"
    api.ok(ALICE, "/org-demo/update", {})
    assert api.org("org-demo")["policies"]["memberListVisibility"] == "MEMBER"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"policies": {"restrictProjectTransfer": "PUBLIC"}}, "policies.restrictProjectTransfer"),
        ({"policies": {"jobReuse": "yes"}}, "policies.jobReuse"),
        ({"policies": {"madeUp": True}}, "policies.madeUp"),
        ({"policies": []}, "policies"),
        ({"name": ""}, "name"),
        ({"jobLogsForwarding": {"url": "https://x"}}, "jobLogsForwarding"),
        ({"jobLogsForwarding": {"url": "ftp://x", "token": "t"}}, "jobLogsForwarding.url"),
        ({"jobLogsForwarding": {"url": "https://x", "token": ""}}, "jobLogsForwarding.token"),
    ],
)
def test_update_rejects_bad_fields(api: Api, body: dict[str, Any], field: str) -> None:
    status, error_type, message = api.fails(ALICE, "/org-demo/update", body)
    assert (status, error_type) == (422, "InvalidInput")
    assert field in message
    assert api.org("org-demo")["name"] == "Demo Organization"


def test_update_needs_admin(api: Api) -> None:
    assert api.fails(BOB, "/org-demo/update", {"name": "x"})[:2] == (401, "PermissionDenied")


def test_job_logs_forwarding_enable_disable(emu: Emulator, api: Api) -> None:
    url = "https://hec.example.com/services/collector/event"
    api.ok(ALICE, "/org-demo/update", {"jobLogsForwarding": {"url": url, "token": "s3cret"}})
    forwarding = api.ok(ALICE, "/org-demo/describe")["jobLogsForwarding"]
    assert forwarding["url"] == url
    assert forwarding["tokenSignature"] == hashlib.sha256(b"s3cret").hexdigest()
    assert forwarding["updatedBy"] == "user-alice"
    assert isinstance(forwarding["updated"], int)
    assert set(forwarding) == {"url", "tokenSignature", "updated", "updatedBy"}
    assert "s3cret" not in str(api.state())
    assert "s3cret" not in str(api.requests())

    api.ok(CAROL, "/org-demo/update", {"jobLogsForwarding": {}})
    disabled = api.ok(ALICE, "/org-demo/describe")["jobLogsForwarding"]
    assert set(disabled) == {"updated", "updatedBy"}
    assert disabled["updatedBy"] == "user-carol"

    api.ok(ALICE, "/org-demo/update", {"jobLogsForwarding": {}})
    assert api.ok(ALICE, "/org-demo/describe")["jobLogsForwarding"] == disabled


def test_disabling_never_configured_forwarding_changes_nothing(api: Api) -> None:
    api.ok(ALICE, "/org-demo/update", {"jobLogsForwarding": {}})
    assert "jobLogsForwarding" not in api.ok(ALICE, "/org-demo/describe")


# -- invite


def test_invite_member_defaults_and_explicit_flags(api: Api) -> None:
    result = api.ok(ALICE, "/org-demo/invite", {"invitee": "user-erin"})
    assert result == {"id": "org-demo", "state": "ACCEPTED"}
    assert member(api, "org-demo", "user-erin") == {
        "level": "MEMBER",
        "allowBillableActivities": False,
        "appAccess": True,
        "projectAccess": "CONTRIBUTE",
    }
    api.ok(
        FRANK,
        "/org-genomics/invite",
        {
            "invitee": "user-erin",
            "level": "MEMBER",
            "allowBillableActivities": True,
            "appAccess": False,
            "projectAccess": "VIEW",
            "suppressEmailNotification": True,
        },
    )
    assert member(api, "org-genomics", "user-erin") == {
        "level": "MEMBER",
        "allowBillableActivities": True,
        "appAccess": False,
        "projectAccess": "VIEW",
    }


def test_invite_admin_forces_full_access(api: Api) -> None:
    api.ok(
        ALICE,
        "/org-demo/invite",
        {"invitee": "user-erin", "level": "ADMIN", "appAccess": False, "projectAccess": "NONE"},
    )
    assert member(api, "org-demo", "user-erin") == {"level": "ADMIN", **FULL}


def test_invite_errors(api: Api) -> None:
    assert api.fails(BOB, "/org-demo/invite", {"invitee": "user-erin"})[:2] == (
        401,
        "PermissionDenied",
    )
    assert api.fails(ALICE, "/org-demo/invite", {"invitee": "user-ghost"})[:2] == (
        404,
        "ResourceNotFound",
    )
    assert api.fails(ALICE, "/org-demo/invite", {})[:2] == (422, "InvalidInput")
    assert api.fails(ALICE, "/org-demo/invite", {"invitee": "org-genomics"})[:2] == (
        422,
        "InvalidInput",
    )
    status, error_type, message = api.fails(
        ALICE, "/org-demo/invite", {"invitee": "user-bob", "appAccess": False}
    )
    assert (status, error_type) == (422, "InvalidState")
    assert "already a member" in message and "appAccess: true -> false" in message
    assert member(api, "org-demo", "user-erin") is None


# -- setMemberAccess


def test_set_member_access_many_users_in_one_call(api: Api) -> None:
    api.ok(
        ALICE,
        "/org-demo/setMemberAccess",
        {
            "user-bob": {"level": "MEMBER", "allowBillableActivities": True},
            "user-dave": {"level": "ADMIN"},
        },
    )
    assert member(api, "org-demo", "user-bob") == {
        "level": "MEMBER",
        "allowBillableActivities": True,
        "appAccess": True,
        "projectAccess": "CONTRIBUTE",
    }
    assert member(api, "org-demo", "user-dave") == {"level": "ADMIN", **FULL}


def test_set_member_access_is_all_or_nothing(api: Api) -> None:
    before = api.org("org-demo")["members"]
    status, error_type, message = api.fails(
        ALICE,
        "/org-demo/setMemberAccess",
        {"user-bob": {"level": "ADMIN"}, "user-dave": {"level": "ADMIN", "appAccess": True}},
    )
    assert (status, error_type) == (422, "InvalidInput")
    assert "user-dave" in message
    assert api.org("org-demo")["members"] == before


def test_demotion_without_flags_gets_member_defaults(api: Api) -> None:
    api.ok(ALICE, "/org-demo/setMemberAccess", {"user-carol": {"level": "MEMBER"}})
    assert member(api, "org-demo", "user-carol") == {
        "level": "MEMBER",
        "allowBillableActivities": False,
        "appAccess": True,
        "projectAccess": "CONTRIBUTE",
    }


def test_member_keeps_flags_not_mentioned(api: Api) -> None:
    api.ok(ALICE, "/org-demo/setMemberAccess", {"user-dave": {"projectAccess": "UPLOAD"}})
    assert member(api, "org-demo", "user-dave") == {
        "level": "MEMBER",
        "allowBillableActivities": True,
        "appAccess": False,
        "projectAccess": "UPLOAD",
    }


def test_set_member_access_errors(api: Api) -> None:
    assert api.fails(ALICE, "/org-demo/setMemberAccess", {"user-erin": {"level": "MEMBER"}})[
        :2
    ] == (422, "InvalidInput")
    assert api.fails(ALICE, "/org-demo/setMemberAccess", {"user-ghost": {"level": "MEMBER"}})[
        :2
    ] == (404, "ResourceNotFound")
    assert api.fails(ALICE, "/org-demo/setMemberAccess", {"user-bob": "ADMIN"})[:2] == (
        422,
        "InvalidInput",
    )
    assert api.fails(DAVE, "/org-demo/setMemberAccess", {"user-dave": {"level": "ADMIN"}})[:2] == (
        401,
        "PermissionDenied",
    )


def test_an_org_always_keeps_an_admin(api: Api) -> None:
    api.ok(ALICE, "/org-demo/setMemberAccess", {"user-carol": {"level": "MEMBER"}})
    status, error_type, _ = api.fails(
        ALICE, "/org-demo/setMemberAccess", {"user-alice": {"level": "MEMBER"}}
    )
    assert (status, error_type) == (422, "InvalidState")
    assert api.fails(ALICE, "/org-demo/removeMember", {"user": "user-alice"})[:2] == (
        422,
        "InvalidState",
    )
    assert member(api, "org-demo", "user-alice") == {"level": "ADMIN", **FULL}


# -- removeMember


def test_remove_member_revokes_org_billed_permissions(api: Api) -> None:
    result = api.ok(
        ALICE,
        "/org-demo/removeMember",
        {"user": "user-bob", "revokeProjectPermissions": True, "revokeAppPermissions": True},
    )
    assert result == {
        "id": "org-demo",
        "projects": {MY_PROJECT: "VIEW", EXAMPLE_PROJECT: "ADMINISTER"},
        "apps": {QC_APP_1_0: ["DEVELOPER"], QC_APP_1_1: ["DEVELOPER"]},
    }
    assert member(api, "org-demo", "user-bob") is None
    assert "user-bob" not in api.project(MY_PROJECT)["permissions"]
    qc = next(app for app in api.state()["apps"] if app["id"] == QC_APP_1_1)
    assert qc["developers"] == ["user-carol"]
    # bob is still in org-genomics
    assert member(api, "org-genomics", "user-bob") is not None


def test_remove_member_can_keep_explicit_permissions(api: Api) -> None:
    result = api.ok(
        ALICE,
        "/org-demo/removeMember",
        {"user": "user-bob", "revokeProjectPermissions": False, "revokeAppPermissions": False},
    )
    assert result["projects"] == {} and result["apps"] == {}
    assert api.project(MY_PROJECT)["permissions"]["user-bob"] == "VIEW"


def test_remove_member_defaults_to_revoking(api: Api) -> None:
    result = api.ok(CAROL, "/org-demo/removeMember", {"user": "user-alice"})
    assert set(result["projects"]) == {MY_PROJECT, EXAMPLE_PROJECT, REFERENCE_PROJECT}
    assert result["apps"] == {EXAMPLE_APP: ["DEVELOPER"]}
    # explicit permissions on projects billed elsewhere are untouched
    assert api.project("project-GbZ1K9Q0yzvB3pJqB4x1f9Q6")["permissions"] == {
        "user-alice": "ADMINISTER"
    }


def test_remove_member_errors(api: Api) -> None:
    assert api.fails(ALICE, "/org-demo/removeMember", {"user": "user-ghost"})[:2] == (
        404,
        "ResourceNotFound",
    )
    assert api.fails(ALICE, "/org-demo/removeMember", {"user": "org-genomics"})[:2] == (
        422,
        "InvalidInput",
    )
    assert api.fails(ALICE, "/org-demo/removeMember", {})[:2] == (422, "InvalidInput")
    assert api.fails(BOB, "/org-demo/removeMember", {"user": "user-dave"})[:2] == (
        401,
        "PermissionDenied",
    )


# -- findMembers


def test_find_members_rows_and_filters(api: Api) -> None:
    rows = api.ok(ALICE, "/org-demo/findMembers", {"describe": True})["results"]
    assert [row["id"] for row in rows] == [
        "user-alice",
        "user-bob",
        "user-carol",
        "user-dave",
        "user-grace",
    ]
    alice = rows[0]
    assert alice["level"] == "ADMIN" and alice["dataDeletion"] is True
    assert alice["describe"] == {
        "id": "user-alice",
        "class": "user",
        "first": "Alice",
        "middle": "",
        "last": "Smith",
        "handle": "alice",
    }
    bob = rows[1]
    assert bob["level"] == "MEMBER" and bob["projectMemberDemotion"] is False
    assert "describe" not in api.ok(ALICE, "/org-demo/findMembers")["results"][0]
    admins = api.ok(ALICE, "/org-demo/findMembers", {"level": "ADMIN"})["results"]
    assert [row["id"] for row in admins] == ["user-alice", "user-carol"]
    by_id = api.ok(ALICE, "/org-demo/findMembers", {"id": ["user-dave", "user-erin"]})
    assert [row["id"] for row in by_id["results"]] == ["user-dave"]
    assert by_id["next"] is None


def test_member_list_visibility(api: Api) -> None:
    assert api.fails(BOB, "/org-demo/findMembers")[:2] == (401, "PermissionDenied")
    api.ok(ALICE, "/org-demo/update", {"policies": {"memberListVisibility": "MEMBER"}})
    assert len(api.ok(BOB, "/org-demo/findMembers")["results"]) == 5
    assert api.fails(ERIN, "/org-demo/findMembers")[:2] == (401, "PermissionDenied")
    api.ok(ALICE, "/org-demo/update", {"policies": {"memberListVisibility": "PUBLIC"}})
    assert len(api.ok(ERIN, "/org-demo/findMembers")["results"]) == 5


# -- findProjects / findApps


def test_find_projects_levels_and_describe(api: Api) -> None:
    rows = api.ok(ALICE, "/org-demo/findProjects", {"describe": True})["results"]
    assert [(row["id"], row["level"]) for row in rows] == [
        (MY_PROJECT, "ADMINISTER"),
        (EXAMPLE_PROJECT, "CONTRIBUTE"),
        (REFERENCE_PROJECT, "ADMINISTER"),
    ]
    described = rows[0]["describe"]
    assert described["name"] == "my_new_project"
    assert described["createdBy"] == {"user": "user-alice"}
    assert described["dataUsage"] == 0.059
    assert described["created"] == 1700000000000
    assert rows[2]["public"] is True
    # carol sees example_project only through the org grant (VIEW, ADMIN gets it in full)
    levels = {row["id"]: row["level"] for row in api.ok(CAROL, "/org-demo/findProjects")["results"]}
    assert levels == {MY_PROJECT: "NONE", EXAMPLE_PROJECT: "VIEW", REFERENCE_PROJECT: "ADMINISTER"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"name": "my_new_project"}, [MY_PROJECT]),
        ({"name": {"glob": "*_project"}}, [MY_PROJECT, EXAMPLE_PROJECT]),
        ({"name": {"regexp": "^REF", "flags": "i"}}, [REFERENCE_PROJECT]),
        ({"id": [EXAMPLE_PROJECT, "project-nothing"]}, [EXAMPLE_PROJECT]),
        ({"tags": "wgs"}, [MY_PROJECT]),
        ({"properties": {"team": "analysis"}}, [MY_PROJECT]),
        ({"properties": {"team": True}}, [MY_PROJECT]),
        ({"public": True}, [REFERENCE_PROJECT]),
        ({"created": {"after": 1700000400000}}, [EXAMPLE_PROJECT, REFERENCE_PROJECT]),
        ({"containsPHI": False}, [MY_PROJECT, EXAMPLE_PROJECT, REFERENCE_PROJECT]),
        ({"region": "azure:westus"}, []),
    ],
)
def test_find_projects_filters(api: Api, query: dict[str, Any], expected: list[str]) -> None:
    rows = api.ok(ALICE, "/org-demo/findProjects", {**query, "describe": False})["results"]
    assert [row["id"] for row in rows] == expected


def test_find_projects_and_apps_need_admin(api: Api) -> None:
    for route in ("/org-demo/findProjects", "/org-demo/findApps"):
        assert api.fails(BOB, route)[:2] == (401, "PermissionDenied")
        assert api.fails(ERIN, route)[:2] == (401, "PermissionDenied")
    assert api.fails(ALICE, "/org-demo/findProjects", {"name": {"regexp": "("}})[:2] == (
        422,
        "InvalidInput",
    )


def test_find_apps(api: Api) -> None:
    rows = api.ok(ALICE, "/org-demo/findApps", {"describe": True})["results"]
    assert [row["id"] for row in rows] == [EXAMPLE_APP, QC_APP_1_1]
    example = rows[0]["describe"]
    assert (example["name"], example["version"], example["title"], example["billTo"]) == (
        "example_app",
        "0.0.1",
        "Example App",
        "org-demo",
    )
    all_versions = api.ok(ALICE, "/org-demo/findApps", {"allVersions": True})["results"]
    assert [row["id"] for row in all_versions] == [EXAMPLE_APP, QC_APP_1_0, QC_APP_1_1]
    assert "describe" not in all_versions[0]
    by_developer = api.ok(ALICE, "/org-demo/findApps", {"developer": "user-carol"})["results"]
    assert [row["id"] for row in by_developer] == [QC_APP_1_1]
    by_glob = api.ok(ALICE, "/org-demo/findApps", {"name": {"glob": "ex*"}})["results"]
    assert [row["id"] for row in by_glob] == [EXAMPLE_APP]


# -- expiry


def expired_seed() -> dict[str, Any]:
    return {
        "users": [
            {"id": "user-root", "first": "R", "last": "T", "token": "root-token"},
            {"id": "user-other", "first": "O", "last": "T"},
        ],
        "orgs": [
            {
                "id": "org-old",
                "name": "Old",
                "expiresAt": 1000,
                "userProvisioning": True,
                "members": {"user-root": {"level": "ADMIN"}},
            }
        ],
    }


def test_expired_org_refuses_writes_and_billing_but_describes() -> None:
    with Emulator(seed=expired_seed(), control_token=CONTROL_TOKEN) as emu:
        api = Api(emu)
        assert api.ok("root-token", "/org-old/describe")["expiresAt"] == 1000
        assert api.ok("root-token", "/org-old/findMembers")["results"]
        for route, body in [
            ("/org-old/invite", {"invitee": "user-other"}),
            ("/org-old/update", {"name": "x"}),
            ("/org-old/setMemberAccess", {"user-root": {"level": "ADMIN"}}),
            ("/project/new", {"name": "p", "billTo": "org-old"}),
            (
                "/user/new",
                {
                    "username": "newbie",
                    "email": "n@example.com",
                    "first": "New",
                    "provisioningOrg": "org-old",
                },
            ),
        ]:
            status, error_type, _ = api.fails("root-token", route, body)
            assert (status, error_type) == (403, "OrgExpired"), route
        assert api.org("org-old")["members"] == {"user-root": {"level": "ADMIN", **FULL}}


def test_org_new(api: Api) -> None:
    result = api.ok(ERIN, "/org/new", {"handle": "erins", "name": "Erin's lab"})
    assert result == {"id": "org-erins"}
    assert api.ok(ERIN, "/org-erins/describe")["level"] == "ADMIN"
    assert api.fails(ERIN, "/org/new", {"handle": "erins"})[:2] == (422, "InvalidInput")
