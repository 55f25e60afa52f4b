"""Project, app, user and system methods."""

from __future__ import annotations

import re

from tests.emulator.sandbox import (
    ALICE,
    ALICE_SCRATCH,
    BOB,
    CAROL,
    DAVE,
    ERIN,
    EXAMPLE_APP,
    EXAMPLE_PROJECT,
    FRANK,
    GENOMICS_PROJECT,
    MY_PROJECT,
    QC_APP_1_0,
    QC_APP_1_1,
    REFERENCE_PROJECT,
    VARIANT_APP,
    Api,
)

HASH_ID = re.compile(r"^(project|app)-[0-9A-Za-z]{24}$")


# -- projects


def test_project_describe(api: Api) -> None:
    described = api.ok(ALICE, f"/{MY_PROJECT}/describe", {"properties": True, "permissions": True})
    assert described["id"] == MY_PROJECT
    assert described["class"] == "project"
    assert described["level"] == "ADMINISTER"
    assert described["billTo"] == "org-demo"
    assert described["permissions"] == {"user-alice": "ADMINISTER", "user-bob": "VIEW"}
    assert described["properties"] == {"team": "analysis"}
    for field in ("created", "modified", "dataUsage", "region", "protected", "version"):
        assert field in described
    plain = api.ok(BOB, f"/{MY_PROJECT}/describe")
    assert plain["level"] == "VIEW"
    assert "permissions" not in plain and "properties" not in plain
    assert api.ok(ALICE, f"/{MY_PROJECT}/describe", {"fields": {"name": True}}) == {
        "id": MY_PROJECT,
        "name": "my_new_project",
    }


def test_project_describe_access(api: Api) -> None:
    # An org admin without a grant may look (level NONE); others may not.
    assert api.ok(CAROL, f"/{MY_PROJECT}/describe")["level"] == "NONE"
    assert api.fails(ERIN, f"/{MY_PROJECT}/describe")[:2] == (401, "PermissionDenied")
    assert api.ok(ERIN, f"/{REFERENCE_PROJECT}/describe")["level"] == "VIEW"  # PUBLIC
    assert api.fails(ALICE, "/project-000000000000000000000000/describe")[:2] == (
        404,
        "ResourceNotFound",
    )
    # org-genomics grants CONTRIBUTE; alice is a MEMBER capped at UPLOAD, bob at NONE
    assert api.ok(ALICE, f"/{GENOMICS_PROJECT}/describe")["level"] == "UPLOAD"
    assert api.fails(BOB, f"/{GENOMICS_PROJECT}/describe")[:2] == (401, "PermissionDenied")


def test_project_invite_and_self_grant(api: Api) -> None:
    assert api.ok(ALICE, f"/{MY_PROJECT}/invite", {"invitee": "user-dave", "level": "UPLOAD"}) == {
        "id": MY_PROJECT,
        "state": "accepted",
    }
    assert api.project(MY_PROJECT)["permissions"]["user-dave"] == "UPLOAD"
    # invite never lowers
    api.ok(ALICE, f"/{MY_PROJECT}/invite", {"invitee": "user-dave", "level": "VIEW"})
    assert api.project(MY_PROJECT)["permissions"]["user-dave"] == "UPLOAD"
    # carol (org admin, no grant) may grant herself, not others
    api.ok(
        CAROL,
        f"/{MY_PROJECT}/invite",
        {"invitee": "user-carol", "level": "ADMINISTER", "suppressEmailNotification": True},
    )
    assert api.project(MY_PROJECT)["permissions"]["user-carol"] == "ADMINISTER"
    assert api.fails(DAVE, f"/{MY_PROJECT}/invite", {"invitee": "user-dave", "level": "VIEW"})[
        :2
    ] == (401, "PermissionDenied")
    assert api.fails(BOB, f"/{MY_PROJECT}/invite", {"invitee": "user-erin", "level": "VIEW"})[
        :2
    ] == (401, "PermissionDenied")


def test_project_invite_other_invitees(api: Api) -> None:
    api.ok(ALICE, f"/{MY_PROJECT}/invite", {"invitee": "org-genomics", "level": "VIEW"})
    api.ok(ALICE, f"/{MY_PROJECT}/invite", {"invitee": "erin@EXAMPLE.com", "level": "VIEW"})
    assert api.fails(ALICE, f"/{MY_PROJECT}/invite", {"invitee": "new@x.org", "level": "VIEW"})[
        :2
    ] == (404, "ResourceNotFound")
    permissions = api.project(MY_PROJECT)["permissions"]
    assert permissions["org-genomics"] == "VIEW" and permissions["user-erin"] == "VIEW"
    assert api.fails(ALICE, f"/{MY_PROJECT}/invite", {"invitee": "PUBLIC", "level": "UPLOAD"})[
        :2
    ] == (422, "InvalidInput")
    assert api.fails(ALICE, f"/{MY_PROJECT}/invite", {"invitee": "user-ghost", "level": "VIEW"})[
        :2
    ] == (404, "ResourceNotFound")
    assert api.fails(ALICE, f"/{MY_PROJECT}/invite", {"invitee": "user-bob"})[:2] == (
        422,
        "InvalidInput",
    )


def test_decrease_permissions(api: Api) -> None:
    assert api.ok(BOB, f"/{EXAMPLE_PROJECT}/decreasePermissions", {"user-alice": "VIEW"}) == {
        "id": EXAMPLE_PROJECT
    }
    assert api.project(EXAMPLE_PROJECT)["permissions"]["user-alice"] == "VIEW"
    # user-erin exists and holds no grant: skipped
    api.ok(BOB, f"/{EXAMPLE_PROJECT}/decreasePermissions", {"user-alice": None, "user-erin": None})
    assert "user-alice" not in api.project(EXAMPLE_PROJECT)["permissions"]
    assert api.fails(BOB, f"/{EXAMPLE_PROJECT}/decreasePermissions", {"org-demo": "ADMINISTER"})[
        :2
    ] == (422, "InvalidInput")
    # a viewer may drop only themself
    assert api.fails(BOB, f"/{MY_PROJECT}/decreasePermissions", {"user-alice": None})[:2] == (
        401,
        "PermissionDenied",
    )
    api.ok(BOB, f"/{MY_PROJECT}/decreasePermissions", {"user-bob": None})
    assert "user-bob" not in api.project(MY_PROJECT)["permissions"]


def test_project_update(api: Api) -> None:
    assert api.ok(ALICE, f"/{MY_PROJECT}/update", {"name": "renamed", "protected": True}) == {
        "id": MY_PROJECT
    }
    project = api.project(MY_PROJECT)
    assert (project["name"], project["protected"], project["version"]) == ("renamed", True, 2)
    assert api.fails(ALICE, f"/{MY_PROJECT}/update", {"version": 1, "name": "other"})[:2] == (
        422,
        "InvalidState",
    )
    # the same update again (what dxpy resends after a lost answer) is accepted, changing nothing
    assert api.ok(ALICE, f"/{MY_PROJECT}/update", {"version": 1, "name": "renamed"}) == {
        "id": MY_PROJECT
    }
    assert api.project(MY_PROJECT)["version"] == 2
    assert api.fails(BOB, f"/{MY_PROJECT}/update", {"name": "x"})[:2] == (401, "PermissionDenied")
    api.ok(ALICE, f"/{MY_PROJECT}/update", {"containsPHI": True})
    assert api.fails(ALICE, f"/{MY_PROJECT}/update", {"containsPHI": False})[:2] == (
        422,
        "InvalidInput",
    )


def test_project_transfer_rules(api: Api) -> None:
    # alice may bill to org-genomics (allowBillableActivities) and org-demo is hers to move
    api.ok(ALICE, f"/{ALICE_SCRATCH}/update", {"billTo": "org-genomics"})
    assert api.project(ALICE_SCRATCH)["billTo"] == "org-genomics"
    # bob administers example_project but is not an ADMIN of org-demo (restrictProjectTransfer)
    assert api.fails(BOB, f"/{EXAMPLE_PROJECT}/update", {"billTo": "user-bob"})[:2] == (
        401,
        "PermissionDenied",
    )
    api.ok(ALICE, "/org-demo/update", {"policies": {"restrictProjectTransfer": "MEMBER"}})
    api.ok(BOB, f"/{EXAMPLE_PROJECT}/update", {"billTo": "user-bob"})
    assert api.project(EXAMPLE_PROJECT)["billTo"] == "user-bob"


def test_project_new(api: Api) -> None:
    created = api.ok(DAVE, "/project/new", {"name": "dave_new", "billTo": "org-demo"})
    assert HASH_ID.match(created["id"])
    described = api.ok(DAVE, f"/{created['id']}/describe")
    assert (described["level"], described["billTo"], described["createdBy"]) == (
        "ADMINISTER",
        "org-demo",
        {"user": "user-dave"},
    )
    # bob has no billable activities in org-demo
    assert api.fails(BOB, "/project/new", {"name": "x", "billTo": "org-demo"})[:2] == (
        401,
        "PermissionDenied",
    )
    own = api.ok(BOB, "/project/new", {"name": "bob_own"})
    assert api.project(own["id"])["billTo"] == "user-bob"


def test_system_find_projects(api: Api) -> None:
    rows = api.ok(DAVE, "/system/findProjects", {"describe": True})["results"]
    assert [(row["id"], row["level"]) for row in rows] == [(EXAMPLE_PROJECT, "VIEW")]
    named = api.ok(ALICE, "/system/findProjects", {"name": "example_project", "level": "VIEW"})
    assert [row["id"] for row in named["results"]] == [EXAMPLE_PROJECT]
    administered = api.ok(ALICE, "/system/findProjects", {"level": "ADMINISTER"})["results"]
    assert [row["id"] for row in administered] == [MY_PROJECT, REFERENCE_PROJECT, ALICE_SCRATCH]
    public = api.ok(ERIN, "/system/findProjects", {"public": True})["results"]
    assert [row["id"] for row in public] == [REFERENCE_PROJECT]


# -- apps


def test_app_describe_by_id_name_and_version(api: Api) -> None:
    by_id = api.ok(ERIN, f"/{QC_APP_1_0}/describe")
    assert (by_id["id"], by_id["version"]) == (QC_APP_1_0, "1.0.0")
    latest = api.ok(ERIN, "/app-qc_report/describe")
    assert latest["id"] == QC_APP_1_1 and "default" in latest["aliases"]
    assert api.ok(ERIN, "/app-qc_report/1.0.0/describe")["id"] == QC_APP_1_0
    assert api.ok(ERIN, "/app-qc_report/default/describe")["id"] == QC_APP_1_1
    assert api.fails(ERIN, "/app-qc_report/9.9.9/describe")[:2] == (404, "ResourceNotFound")
    assert api.fails(ERIN, "/app-nothing/describe")[:2] == (404, "ResourceNotFound")
    assert api.fails(ERIN, "/globalworkflow-qc_report/describe")[:2] == (404, "ResourceNotFound")
    assert api.ok(ALICE, f"/{EXAMPLE_APP}/describe")["isDeveloperFor"] is True


def test_developers(api: Api) -> None:
    assert api.ok(ERIN, "/app-example_app/listDevelopers") == {"developers": ["user-alice"]}
    api.ok(ALICE, f"/{EXAMPLE_APP}/addDevelopers", {"developers": ["user-dave", "org-genomics"]})
    assert api.ok(ERIN, f"/{EXAMPLE_APP}/listDevelopers")["developers"] == [
        "org-genomics",
        "user-alice",
        "user-dave",
    ]
    api.ok(ALICE, "/app-example_app/removeDevelopers", {"developers": ["org-genomics"]})
    assert api.ok(ERIN, f"/{EXAMPLE_APP}/listDevelopers")["developers"] == [
        "user-alice",
        "user-dave",
    ]
    # developers are shared by all versions of a name
    api.ok(BOB, "/app-qc_report/1.0.0/addDevelopers", {"developers": ["user-erin"]})
    assert "user-erin" in api.ok(ERIN, f"/{QC_APP_1_1}/listDevelopers")["developers"]


def test_developer_permissions(api: Api) -> None:
    # erin develops nothing and administers no org
    assert api.fails(ERIN, f"/{EXAMPLE_APP}/addDevelopers", {"developers": ["user-erin"]})[:2] == (
        401,
        "PermissionDenied",
    )
    # carol is an ADMIN of org-demo, which the app is billed to: a self-grant works
    api.ok(CAROL, f"/{EXAMPLE_APP}/addDevelopers", {"developers": ["user-carol"]})
    # frank is ADMIN of org-genomics, a developer org of variant_caller (unpublished)
    api.ok(FRANK, f"/{VARIANT_APP}/removeDevelopers", {"developers": ["org-genomics"]})
    assert api.fails(ALICE, f"/{EXAMPLE_APP}/addDevelopers", {"developers": ["user-ghost"]})[
        :2
    ] == (404, "ResourceNotFound")
    assert api.fails(ALICE, f"/{EXAMPLE_APP}/addDevelopers", {})[:2] == (422, "InvalidInput")


def test_authorized_users(api: Api) -> None:
    api.ok(ALICE, f"/{EXAMPLE_APP}/addAuthorizedUsers", {"authorizedUsers": ["user-erin"]})
    assert api.ok(ALICE, f"/{EXAMPLE_APP}/listAuthorizedUsers")["authorizedUsers"] == [
        "org-demo",
        "user-erin",
    ]
    api.ok(ALICE, f"/{EXAMPLE_APP}/removeAuthorizedUsers", {"authorizedUsers": ["org-demo"]})
    assert api.ok(ERIN, f"/{EXAMPLE_APP}/describe")["authorizedUsers"] == ["user-erin"]


def test_system_find_apps(api: Api) -> None:
    rows = api.ok(ERIN, "/system/findApps", {"describe": True})["results"]
    assert [row["id"] for row in rows] == [EXAMPLE_APP, QC_APP_1_1]
    mine = api.ok(FRANK, "/system/findApps", {"name": "variant_caller"})["results"]
    assert [row["id"] for row in mine] == [VARIANT_APP]
    # what `dx describe org-x` asks first
    assert api.ok(
        ALICE, "/system/findApps", {"name": "org-demo", "describe": True, "limit": 100}
    ) == {
        "results": [],
        "next": None,
    }
    assert api.ok(ALICE, "/system/findGlobalWorkflows", {"name": "org-demo", "limit": 100}) == {
        "results": [],
        "next": None,
    }


# -- users and orgs


def test_user_describe(api: Api) -> None:
    own = api.ok(ALICE, "/user-alice/describe")
    assert (own["handle"], own["email"], own["billTo"]) == (
        "alice",
        "alice@example.com",
        "org-demo",
    )
    other = api.ok(BOB, "/user-alice/describe")
    assert "email" not in other and other["first"] == "Alice"
    assert api.fails(BOB, "/user-ghost/describe")[:2] == (404, "ResourceNotFound")


def test_user_update(api: Api) -> None:
    api.ok(DAVE, "/user-dave/update", {"billTo": "org-demo"})
    assert api.ok(DAVE, "/user-dave/describe")["billTo"] == "org-demo"
    assert api.fails(BOB, "/user-bob/update", {"billTo": "org-demo"})[:2] == (
        401,
        "PermissionDenied",
    )
    assert api.fails(BOB, "/user-dave/update", {"first": "X"})[:2] == (401, "PermissionDenied")


def test_user_new_provisioning(api: Api) -> None:
    body = {"username": "NewPerson", "email": "new@example.com", "first": "New", "last": "Person"}
    result = api.ok(ALICE, "/user/new", {**body, "billTo": "org-demo"})
    assert result["id"] == "user-newperson"
    user = next(u for u in api.state()["users"] if u["id"] == "user-newperson")
    assert (user["billTo"], user["hasToken"], user["first"]) == ("org-demo", False, "New")
    # unique username and email
    assert api.fails(ALICE, "/user/new", {**body, "billTo": "org-demo"})[:2] == (
        422,
        "AuthServerInvalidInput",
    )
    status, error_type, message = api.fails(
        ALICE,
        "/user/new",
        {
            "username": "other",
            "email": "NEW@example.com",
            "first": "O",
            "provisioningOrg": "org-demo",
        },
    )
    assert (status, error_type) == (422, "AuthServerInvalidInput") and "email" in message
    # bob is not an admin; org-genomics has no licence
    assert api.fails(BOB, "/user/new", {**body, "username": "bob2", "provisioningOrg": "org-demo"})[
        :2
    ] == (401, "PermissionDenied")
    assert api.fails(
        FRANK, "/user/new", {**body, "username": "frank2", "provisioningOrg": "org-genomics"}
    )[:2] == (401, "PermissionDenied")
    assert api.fails(ALICE, "/user/new", {"username": "bad name!", "email": "x@y.z"})[:2] == (
        422,
        "AuthServerInvalidInput",
    )


def test_find_orgs(api: Api) -> None:
    admin = api.ok(ALICE, "/system/findOrgs", {"level": "ADMIN", "describe": True})["results"]
    assert [row["id"] for row in admin] == ["org-demo"]
    assert admin[0]["describe"]["name"] == "Demo Organization"
    member = api.ok(ALICE, "/system/findOrgs", {"level": "MEMBER"})["results"]
    assert [row["id"] for row in member] == ["org-demo", "org-genomics"]
    billable = api.ok(BOB, "/system/findOrgs", {"level": "MEMBER", "allowBillableActivities": True})
    assert billable["results"] == []
    assert api.fails(ALICE, "/system/findOrgs", {})[:2] == (422, "InvalidInput")
