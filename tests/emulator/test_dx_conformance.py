"""The checks dx-toolkit's own platform tests make, run with the real `dx` against the emulator.

For each `dx` command that dx-toolkit's TestDXClientOrg, TestDXClientMembership,
TestDXClientNewUser and TestDXClientFind* classes exercise for orgs, members, projects,
apps and new users, the same expectations: response fields and defaults, errors, and the
printed formats. Written anew from what those tests check; one loopback server per module.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.emulator.dx_sandbox import DxSandbox, lines
from tests.emulator.sandbox import (
    ALICE_SCRATCH,
    BOB,
    CAROL,
    ERIN,
    EXAMPLE_APP,
    EXAMPLE_PROJECT,
    FRANK,
    GENOMICS_PROJECT,
    MY_PROJECT,
    QC_APP_1_0,
    QC_APP_1_1,
    REFERENCE_PROJECT,
)
from tests.emulator.test_member_flags import ADMIN_FLAGS, MEMBER_FLAGS

pytestmark = pytest.mark.dxcli

PROJECT_LINE = re.compile(
    r"^project-[a-zA-Z0-9]{24} : .* \((?:ADMINISTER|CONTRIBUTE|UPLOAD|VIEW|NONE)\)$"
)


def admin_row(user: str) -> dict[str, Any]:
    return {"id": user, "level": "ADMIN", **ADMIN_FLAGS}


def member_row(user: str, **flags: Any) -> dict[str, Any]:
    return {"id": user, "level": "MEMBER", **MEMBER_FLAGS, **flags}


def describe_org(dx: DxSandbox, org: str) -> dict[str, Any]:
    described: dict[str, Any] = dx.api(f"/{org}/describe")
    return described


def remove(dx: DxSandbox, user: str, org: str = "org-demo") -> None:
    dx.api(f"/{org}/removeMember", {"user": user})
    assert dx.api(f"/{org}/findMembers", {"id": [user]})["results"] == []


# -- dx new org (TestDXClientOrg)


def test_new_org(dx: DxSandbox) -> None:
    assert dx.out("new", "org", "Test New Org", "--handle", "Lab_One", "--brief") == (
        "org-lab_one\n"
    )
    described = describe_org(dx, "org-lab_one")
    assert (described["handle"], described["name"]) == ("lab_one", "Test New Org")
    assert described["policies"] == {
        "memberListVisibility": "ADMIN",
        "restrictProjectTransfer": "ADMIN",
    }
    assert dx.member_row("user-alice", "org-lab_one") == admin_row("user-alice")
    dx.out(
        "new", "org", "Test New Org", "--handle", "policy_org", "--member-list-visibility",
        "PUBLIC", "--project-transfer-ability", "MEMBER", "--brief",
    )  # fmt: skip
    assert describe_org(dx, "org-policy_org")["policies"] == {
        "memberListVisibility": "PUBLIC",
        "restrictProjectTransfer": "MEMBER",
    }
    assert dx.out("new", "org", "Test New Org", "--handle", "plain_org") == (
        'Created new org called "Test New Org" (org-plain_org)\n'
    )
    missing = dx.run("new", "org", "Test New Org", expect=2)
    complaint = missing.stderr.strip().splitlines()[-1]
    assert "--handle" in complaint and "required" in complaint


def test_new_org_after_a_dropped_response(dx: DxSandbox) -> None:
    # org/new is not retryable, but dxpy adds a nonce and resends; the nonce is answered
    dx.rule("/org/new", "drop-after")
    assert dx.out("new", "org", "Dropped", "--handle", "dropped", "--brief") == "org-dropped\n"
    calls = dx.calls("org/new")
    assert [(c["status"], c["fault"]) for c in calls] == [(200, "drop-after"), (200, None)]
    assert calls[0]["body"]["nonce"] == calls[1]["body"]["nonce"]
    assert [o["id"] for o in dx.state()["orgs"]].count("org-dropped") == 1


# -- dx update org (TestDXClientOrg)


def test_update_org(dx: DxSandbox) -> None:
    def name_and_policies() -> tuple[str, dict[str, Any]]:
        described = describe_org(dx, "org-demo")
        return described["name"], described["policies"]

    name, policies = name_and_policies()
    assert dx.out("update", "org", "org-demo", "--brief") == "org-demo\n"
    assert name_and_policies() == (name, policies)
    assert dx.out("update", "org", "org-demo", "--name", "foo", "--brief") == "org-demo\n"
    assert name_and_policies() == ("foo", policies)
    dx.out("update", "org", "org-demo", "--member-list-visibility", "PUBLIC", "--brief")
    policies = {**policies, "memberListVisibility": "PUBLIC"}
    assert name_and_policies() == ("foo", policies)
    dx.out("update", "org", "org-demo", "--project-transfer-ability", "MEMBER", "--brief")
    policies = {**policies, "restrictProjectTransfer": "MEMBER"}
    assert name_and_policies() == ("foo", policies)
    dx.out("update", "org", "org-demo", "--saml-idp", "samlprovider", "--brief")
    assert describe_org(dx, "org-demo")["samlIdP"] == "samlprovider"
    dx.out(
        "update", "org", "org-demo", "--name", "bar", "--member-list-visibility", "ADMIN",
        "--project-transfer-ability", "ADMIN", "--brief",
    )  # fmt: skip
    assert name_and_policies() == (
        "bar",
        {**policies, "memberListVisibility": "ADMIN", "restrictProjectTransfer": "ADMIN"},
    )
    printed = dx.out(
        "update", "org", "org-demo", "--enable-job-reuse",
        "--detailed-job-metrics-collect-default", "true",
    )  # fmt: skip
    assert re.match(r"^Updated.*org-demo$", printed.strip())
    assert describe_org(dx, "org-demo")["policies"]["jobReuse"] is True
    assert describe_org(dx, "org-demo")["policies"]["detailedJobMetricsCollectDefault"] is True
    refused = dx.run("update", "org", "org-demo", "--project-transfer-ability", "PUBLIC", expect=2)
    assert "--project-transfer-ability" in refused.stderr and "invalid" in refused.stderr


# -- dx add / update / remove member (TestDXClientMembership)


def test_add_member_defaults_and_options(dx: DxSandbox) -> None:
    dx.out("add", "member", "org-demo", "erin", "--level", "ADMIN")
    assert dx.member_row("user-erin") == admin_row("user-erin")
    remove(dx, "user-erin")
    dx.out("add", "member", "org-demo", "user-erin", "--level", "MEMBER")
    assert dx.member_row("user-erin") == member_row("user-erin")
    remove(dx, "user-erin")
    dx.out(
        "add", "member", "org-demo", "erin", "--level", "ADMIN", "--no-app-access",
        "--project-access", "NONE",
    )  # fmt: skip
    assert dx.member_row("user-erin") == admin_row("user-erin")
    remove(dx, "user-erin")
    dx.out(
        "add", "member", "org-demo", "erin", "--level", "MEMBER", "--allow-billable-activities",
        "--no-app-access", "--project-access", "NONE",
    )  # fmt: skip
    assert dx.member_row("user-erin") == member_row(
        "user-erin", allowBillableActivities=True, appAccess=False, projectAccess="NONE"
    )
    again = dx.run("add", "member", "org-demo", "erin", "--level", "ADMIN", expect=3)
    assert "DXCLIError" in again.stderr and "already a member" in again.stderr


def test_update_member(dx: DxSandbox) -> None:
    dx.api("/org-demo/invite", {"invitee": "user-erin", "level": "ADMIN"})
    dx.out(
        "update", "member", "org-demo", "erin", "--level", "MEMBER", "--allow-billable-activities",
        "false", "--project-access", "VIEW", "--app-access", "true",
    )  # fmt: skip
    assert dx.member_row("user-erin") == member_row("user-erin", projectAccess="VIEW")
    dx.out(
        "update", "member", "org-demo", "user-erin", "--allow-billable-activities", "true",
        "--app-access", "false",
    )  # fmt: skip
    assert dx.member_row("user-erin") == member_row(
        "user-erin", projectAccess="VIEW", allowBillableActivities=True, appAccess=False
    )
    # ADMIN to MEMBER without flags: dx sends the MEMBER defaults
    dx.api("/org-demo/setMemberAccess", {"user-erin": {"level": "ADMIN"}})
    dx.out("update", "member", "org-demo", "erin", "--level", "MEMBER")
    assert dx.member_row("user-erin") == member_row("user-erin")
    dx.out("update", "member", "org-demo", "erin", "--level", "MEMBER", "--allow-billable-activities", "true")  # fmt: skip
    dx.out("update", "member", "org-demo", "erin", "--level", "MEMBER")
    assert dx.member_row("user-erin") == member_row("user-erin", allowBillableActivities=True)
    stranger = dx.run("update", "member", "org-demo", "frank", "--level", "ADMIN", expect=3)
    assert "DXCLIError" in stranger.stderr and "not a member" in stranger.stderr
    # an ADMIN takes no flags: refused by the API
    admin = dx.run("update", "member", "org-demo", "alice", "--allow-billable-activities", "true", expect=3)  # fmt: skip
    assert "InvalidInput" in admin.stderr
    assert dx.member_row("user-alice") == admin_row("user-alice")


def test_remove_member(dx: DxSandbox) -> None:
    dx.api(f"/{EXAMPLE_APP}/addAuthorizedUsers", {"authorizedUsers": ["user-bob"]})
    assert dx.out("remove", "member", "org-demo", "bob", "-y") == (
        "Removed user-bob from org-demo\n"
        "Removed user-bob from the following projects:\n"
        f"\t{MY_PROJECT}\n"
        f"\t{EXAMPLE_PROJECT}\n"
        "Removed user-bob from the following apps:\n"
        f"\t{EXAMPLE_APP}\n"
        f"\t{QC_APP_1_0}\n"
        f"\t{QC_APP_1_1}\n"
    )
    assert dx.api("/org-demo/findMembers", {"id": ["user-bob"]})["results"] == []
    assert "user-bob" not in dx.api(f"/{EXAMPLE_APP}/listAuthorizedUsers")["authorizedUsers"]
    gone = dx.run("remove", "member", "org-demo", "bob", "-y", expect=3)
    assert "DXCLIError" in gone.stderr and "not a member" in gone.stderr
    # --keep-explicit-*: grants on org projects and app rights stay
    dx.api(f"/{MY_PROJECT}/invite", {"invitee": "user-dave", "level": "VIEW"})
    dx.api(f"/{EXAMPLE_APP}/addDevelopers", {"developers": ["user-dave"]})
    kept = dx.out(
        "remove", "member", "org-demo", "user-dave", "-y", "--keep-explicit-project-permissions",
        "--keep-explicit-app-permissions",
    )  # fmt: skip
    assert kept.endswith("projects:\n\tNone\nRemoved user-dave from the following apps:\n\tNone\n")
    assert dx.permissions(MY_PROJECT)["user-dave"] == "VIEW"
    assert "user-dave" in dx.developers(EXAMPLE_APP)
    assert dx.calls("org/removeMember")[-1]["body"] == {
        "user": "user-dave",
        "revokeProjectPermissions": False,
        "revokeAppPermissions": False,
    }


def test_membership_commands_after_a_dropped_response(dx: DxSandbox) -> None:
    """The answer is lost after the call landed; dxpy resends and the repeat is accepted."""
    dx.rule("/org-demo/invite", "drop-after")
    assert dx.out("add", "member", "org-demo", "erin", "--level", "MEMBER") == (
        "Invited user-erin to org-demo\n"
    )
    dx.rule("/org-demo/setMemberAccess", "drop-after")
    dx.out("update", "member", "org-demo", "erin", "--level", "ADMIN")
    assert dx.member_row("user-erin") == admin_row("user-erin")
    dx.rule("/org-demo/removeMember", "drop-after")
    assert dx.out("remove", "member", "org-demo", "erin", "-y").startswith(
        "Removed user-erin from org-demo\n"
    )
    assert "user-erin" not in dx.members()
    for method in ("org/invite", "org/setMemberAccess", "org/removeMember"):
        assert [(c["status"], c["fault"]) for c in dx.calls(method)] == [
            (200, "drop-after"),
            (200, None),
        ], method


def test_project_sharing_after_a_dropped_response(dx: DxSandbox) -> None:
    # decreasePermissions is retryable; project invite is not, but dxpy resends any call
    # whose connection closed unanswered, and an invite to the level held changes nothing
    dx.rule(f"/{MY_PROJECT}/decreasePermissions", "drop-after")
    assert dx.out("uninvite", "bob", MY_PROJECT) == f"Uninvited user-bob from {MY_PROJECT}\n"
    dx.rule(f"/{MY_PROJECT}/invite", "drop-after")
    assert dx.out("invite", "erin", MY_PROJECT, "UPLOAD", "--no-email") == (
        f"Invited user-erin to {MY_PROJECT} (ACCEPTED)\n"
    )
    assert {k: v for k, v in dx.permissions(MY_PROJECT).items() if k != "user-alice"} == {
        "user-erin": "UPLOAD"
    }
    assert [c["status"] for c in dx.calls("project/decreasePermissions")] == [200, 200]
    assert [c["status"] for c in dx.calls("project/invite")] == [200, 200]


# -- dx new user (TestDXClientNewUser)


def test_new_user_account_only(dx: DxSandbox) -> None:
    assert dx.out("new", "user", "--username", "asset_a", "--email", "a@example.com", "--first", "Asset", "--brief") == "user-asset_a\n"  # fmt: skip
    dx.out("new", "user", "--username", "asset_b", "--email", "b@example.com", "--last", "The", "--brief")  # fmt: skip
    dx.out(
        "new", "user", "--username", "asset_c", "--email", "c@example.com", "--first", "Asset",
        "--middle", "T.", "--last", "The", "--token-duration=-10d", "--brief",
    )  # fmt: skip
    users = {u["id"]: u for u in dx.state()["users"]}
    assert users["user-asset_a"]["first"] == "Asset"
    assert users["user-asset_b"]["last"] == "The"
    assert (users["user-asset_c"]["first"], users["user-asset_c"]["middle"]) == ("Asset", "T.")
    assert users["user-asset_a"]["billTo"] == "user-asset_a"
    assert dx.api("/user-asset_c/describe")["last"] == "The"
    members = [member for org in dx.state()["orgs"] for member in org["members"]]
    assert not [m for m in members if m.startswith("user-asset_")]
    assert [c["method"] for c in dx.requests()].count("org/invite") == 0


def test_new_user_refusals(dx: DxSandbox) -> None:
    for args, error in [
        (["--username", "nameless", "--email", "n@example.com"], "InvalidInput"),
        (["--username", "bademail", "--email", "bad_email", "--first", "A"], "InvalidInput"),
        (["--username", "bu", "--email", "bu@example.com", "--first", "A"], "InvalidInput"),
        (
            [
                "--username",
                "nobill",
                "--email",
                "nb@example.com",
                "--first",
                "A",
                "--org",
                "does_not_exist",
                "--set-bill-to",
            ],
            "InvalidInput",
        ),
        (
            [
                "--username",
                "nowhere",
                "--email",
                "nw@example.com",
                "--first",
                "A",
                "--on-behalf-of",
                "org-does_not_exist",
            ],
            "ResourceNotFound",
        ),
        (
            [
                "--username",
                "notmine",
                "--email",
                "nm@example.com",
                "--first",
                "A",
                "--on-behalf-of",
                "org-genomics",
            ],
            "PermissionDenied",
        ),
        (
            [
                "--username",
                "noorg",
                "--email",
                "no@example.com",
                "--first",
                "A",
                "--level",
                "MEMBER",
            ],
            "DXCLIError",
        ),
    ]:
        refused = dx.run("new", "user", *args, expect=3)
        assert error in refused.stderr, (args, refused.stderr)
    assert not {"user-nameless", "user-bu", "user-nobill", "user-nowhere", "user-notmine"} & {
        u["id"] for u in dx.state()["users"]
    }
    # the account is made; the invite to an org that does not exist is what fails
    half = dx.run(
        "new", "user", "--username", "halfway", "--email", "h@example.com", "--first", "A",
        "--on-behalf-of", "org-demo", "--org", "does_not_exist", expect=3,
    )  # fmt: skip
    assert "ResourceNotFound" in half.stderr
    assert "user-halfway" in {u["id"] for u in dx.state()["users"]}


def test_new_user_invited_to_an_org(dx: DxSandbox) -> None:
    base = ["new", "user", "--email", "{}@example.com", "--first", "Asset", "--brief"]

    def new_user(username: str, *extra: str) -> str:
        args = [part.format(username.lower()) for part in base]
        return dx.out(*args[:2], "--username", username, *args[2:], *extra).strip()

    user = new_user("asset_d", "--on-behalf-of", "org-demo", "--org", "org-demo")
    assert dx.member_row(user) == member_row("user-asset_d")
    assert new_user("ASSET_UP", "--on-behalf-of", "org-demo", "--org", "org-demo") == (
        "user-asset_up"
    )
    assert dx.member_row("user-asset_up") == member_row("user-asset_up")
    user = new_user(
        "asset_e", "--on-behalf-of", "org-demo", "--org", "org-demo", "--level", "MEMBER",
        "--allow-billable-activities", "--no-app-access", "--project-access", "VIEW",
    )  # fmt: skip
    assert dx.member_row(user) == member_row(
        user, allowBillableActivities=True, appAccess=False, projectAccess="VIEW"
    )
    user = new_user(
        "asset_f", "--on-behalf-of", "org-demo", "--org", "org-demo", "--level", "ADMIN",
        "--no-app-access", "--project-access", "VIEW",
    )  # fmt: skip
    assert dx.member_row(user) == admin_row(user)
    # --set-bill-to: the account pays through the org and may bill it
    user = new_user("asset_g", "--set-bill-to", "--org", "org-demo", "--level", "MEMBER", "--project-access", "VIEW")  # fmt: skip
    assert dx.member_row(user) == member_row(user, allowBillableActivities=True, projectAccess="VIEW")  # fmt: skip
    assert next(u for u in dx.state()["users"] if u["id"] == user)["billTo"] == "org-demo"


# -- dx find org members / projects / apps (TestDXClientFindInOrg)


def test_find_org_members(dx: DxSandbox) -> None:
    brief = lines(dx.out("find", "org", "members", "org-demo", "--brief"))
    assert brief == [row["id"] for row in dx.api("/org-demo/findMembers")["results"]]
    assert brief == sorted(brief)
    assert lines(dx.out("find", "org", "members", "org-demo", "--level", "ADMIN", "--brief")) == [
        "user-alice",
        "user-carol",
    ]
    assert lines(dx.out("find", "org", "members", "org-demo", "--level", "MEMBER", "--brief")) == [
        "user-bob",
        "user-dave",
        "user-grace",
    ]
    for line in lines(dx.out("find", "org", "members", "org-demo")):
        assert re.match(r"^user-[a-zA-Z0-9]* : .* \((?:ADMIN|MEMBER)\)$", line), line
    rows = json.loads(dx.out("find", "org", "members", "org-demo", "--json"))
    user_fields = {"fields": {"class": True, "first": True, "last": True, "middle": True, "handle": True}}  # fmt: skip
    for row in rows:
        described = row.pop("describe")
        assert described == dx.api(f"/{row['id']}/describe", user_fields)
        assert row == dx.member_row(row["id"])


def test_find_org_projects_filters(dx: DxSandbox) -> None:
    # tags and properties as dx-toolkit sets them, on an org project and on one billed elsewhere
    for project in (EXAMPLE_PROJECT, ALICE_SCRATCH):
        dx.out("tag", project, "tag-1", "tag-2")
        dx.out("set_properties", project, "property-1=value1", "property-2=value2")

    def brief(*options: str) -> list[str]:
        return [line for line in dx.out("find", "org", "projects", "org-demo", "--brief", *options).split("\n") if line]  # fmt: skip

    every = [MY_PROJECT, EXAMPLE_PROJECT, REFERENCE_PROJECT]
    assert brief() == every == [r["id"] for r in dx.api("/org-demo/findProjects")["results"]]
    assert dx.out("find", "org", "projects", "org-demo", "--ids", ALICE_SCRATCH) == ""
    assert brief("--ids", EXAMPLE_PROJECT, ALICE_SCRATCH) == [EXAMPLE_PROJECT]
    assert brief("--tag", "tag-1", "--tag", "tag-2") == [EXAMPLE_PROJECT]
    assert brief("--tag", "tag-1", "--tag", "tag-3") == []
    assert brief("--property", "property-1", "--property", "property-2=value2") == [EXAMPLE_PROJECT]
    assert brief("--property", "property-1", "--property", "property-3") == []
    assert brief("--region", "aws:us-east-1") == every
    assert brief("--region", "azure:westus") == []
    assert brief("--public-only") == [REFERENCE_PROJECT]
    assert brief("--private-only") == [MY_PROJECT, EXAMPLE_PROJECT]
    assert brief("--created-before", "1700000400000") == [MY_PROJECT]
    assert brief("--created-after", "1700000400000", "--created-before", "1700000800000") == [EXAMPLE_PROJECT]  # fmt: skip
    assert brief("--phi", "true") == []
    assert brief("--phi", "false") == every


def test_find_org_projects_without_a_grant(dx: DxSandbox) -> None:
    """carol administers org-demo but holds no grant on my_new_project: level NONE."""
    assert all(
        re.match(r"^project-[a-zA-Z0-9]{24}$", line)
        for line in lines(dx.out("find", "org", "projects", "org-demo", "--brief", token=CAROL))
    )
    printed = lines(dx.out("find", "org", "projects", "org-demo", token=CAROL))
    assert printed[0] == f"{MY_PROJECT} : my_new_project (NONE)"
    assert all(PROJECT_LINE.match(line) for line in printed), printed
    rows = json.loads(dx.out("find", "org", "projects", "org-demo", "--json", token=CAROL))
    assert [(r["id"], r["level"], r["public"]) for r in rows] == [
        (MY_PROJECT, "NONE", False),
        (EXAMPLE_PROJECT, "VIEW", False),
        (REFERENCE_PROJECT, "ADMINISTER", True),
    ]
    for row in rows:
        assert row["describe"] == dx.api(f"/{row['id']}/describe", token=CAROL)
    described = dx.out("describe", MY_PROJECT, token=CAROL)
    assert "Access level                      NONE" in described
    as_json = json.loads(dx.out("describe", MY_PROJECT, "--json", token=CAROL))
    assert (as_json["level"], as_json["properties"]) == ("NONE", {"team": "analysis"})


def test_find_org_apps(dx: DxSandbox) -> None:
    brief = lines(dx.out("find", "org", "apps", "org-demo", "--brief"))
    assert brief == [EXAMPLE_APP, QC_APP_1_1]
    assert brief == [row["id"] for row in dx.api("/org-demo/findApps")["results"]]
    pattern = re.compile(r"^(\s\s|(\s\S)*x(\s\S)*)[a-zA-Z0-9_ ]*\s\([a-zA-Z0-9_]*\),\sv[0-9.]*$")
    printed = lines(dx.out("find", "org", "apps", "org-demo"))
    assert all(pattern.match(line) for line in printed), printed
    assert sorted(line.strip().split(" (")[0] for line in printed) == ["Example App", "QC Report"]


# -- dx find orgs / projects / apps (TestDXClientFind)


def test_find_orgs(dx: DxSandbox) -> None:
    def ids(*options: str, token: str = BOB) -> list[str]:
        return [row["id"] for row in json.loads(dx.out("find", "orgs", *options, "--json", token=token))]  # fmt: skip

    assert ids("--level", "MEMBER") == ["org-demo", "org-genomics"]
    assert ids("--level", "MEMBER", "--with-billable-activities") == []
    assert ids("--level", "MEMBER", "--without-billable-activities") == ["org-demo", "org-genomics"]
    assert ids("--level", "ADMIN", token=FRANK) == ["org-genomics"]
    assert ids("--level", "ADMIN", "--with-billable-activities", token=FRANK) == ["org-genomics"]
    assert ids("--level", "ADMIN", "--without-billable-activities", token=FRANK) == []
    assert dx.out("find", "orgs", "--level", "MEMBER", "--brief", token=BOB) == "org-demo\norg-genomics\n"  # fmt: skip
    assert lines(dx.out("find", "orgs", "--level", "MEMBER", "--delim", " @ ", token=BOB)) == [
        "org-demo @ Demo Organization",
        "org-genomics @ Genomics Core",
    ]
    described = json.loads(dx.out("find", "orgs", "--level", "MEMBER", "--json", token=BOB))
    assert {k: described[0]["describe"][k] for k in MEMBER_FLAGS} == MEMBER_FLAGS


def test_find_projects(dx: DxSandbox) -> None:
    assert dx.out("find", "projects", "--name", "my_new_project") == (
        f"{MY_PROJECT} : my_new_project (ADMINISTER)\n"
    )
    assert dx.out("find", "projects", "--brief", "--name", "my_new_project") == f"{MY_PROJECT}\n"
    rows = json.loads(dx.out("find", "projects", "--json", "--name", "my_new_project"))
    assert [row["id"] for row in rows] == [MY_PROJECT]
    public = dx.out("find", "projects", "--public", token=ERIN)
    assert "reference_genomes (VIEW)" in public and "my_new_project" not in public
    created = dx.out(
        "new", "project", "fresh_project", "--region", "aws:us-east-1", "--brief"
    ).strip()
    assert dx.api(f"/{created}/describe")["region"] == "aws:us-east-1"
    assert dx.out("find", "projects", "--created-after=-1d", "--brief") == f"{created}\n"
    assert dx.out("find", "projects", "--region", "azure:westus", "--brief") == ""
    dx.out("tag", created, "Ψ", "world")
    dx.out("set_properties", created, "Ψ=world", "foo=bar", "bar=")
    assert dx.api(f"/{created}/describe", {"properties": True})["properties"] == {
        "Ψ": "world",
        "foo": "bar",
        "bar": "",
    }
    assert dx.out("find", "projects", "--tag", "Ψ", "--tag", "world", "--brief") == f"{created}\n"
    assert dx.out("find", "projects", "--property", "Ψ=world", "--property", "bar=", "--brief") == f"{created}\n"  # fmt: skip
    assert dx.out("find", "projects", "--phi", "true", "--brief", "--name", "fresh_project") == ""
    assert dx.out("find", "projects", "--phi", "false", "--brief", "--name", "fresh_project") == (
        f"{created}\n"
    )
    assert GENOMICS_PROJECT in dx.out("find", "projects", "--phi", "true", "--brief")
    billed = dx.out("new", "project", "org_billed", "--bill-to", "org-demo", "--brief").strip()
    assert dx.api(f"/{billed}/describe", {"fields": {"billTo": True}})["billTo"] == "org-demo"
    missing = dx.run("new", "project", "nowhere", "--bill-to", "org-invalid", "--brief", expect=3)
    assert "ResourceNotFound" in missing.stderr


def test_find_apps(dx: DxSandbox) -> None:
    published = dx.out("find", "apps", token=FRANK)
    assert "example_app" in published and "qc_report" in published
    assert "variant_caller" not in published
    unpublished = dx.out("find", "apps", "--unpublished", token=FRANK)
    assert "variant_caller" in unpublished and "qc_report" not in unpublished
    by_name = dx.out("find", "apps", "--name", "qc_report", token=FRANK)
    assert "qc_report" in by_name and "example_app" not in by_name
    every_version = dx.out("find", "apps", "--all", token=FRANK)
    assert "v1.0.0" in every_version and "v1.1.0" in every_version
