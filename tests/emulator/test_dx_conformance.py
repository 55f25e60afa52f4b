"""The checks dx-toolkit's own platform tests make, run with the real `dx` against the emulator.

For each `dx` command that dx-toolkit's TestDXClientOrg, TestDXClientMembership,
TestDXClientNewUser and TestDXClientFind* classes exercise for orgs, members, projects,
apps and new users, the same expectations: response fields and defaults, errors, and the
printed formats. Written anew from what those tests check; one loopback server per module.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.emulator.dx_sandbox import DxSandbox, lines
from tests.emulator.sandbox import (
    ALICE,
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
    SANDBOX_SEED,
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
        f"Invited user-erin to {MY_PROJECT} (accepted)\n"
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
    # the auth server's refusals reach dx as a type dxpy has no class for: a plain DXAPIError
    unknown_type = "dxpy.exceptions.DXAPIError: AuthServerInvalidInput"
    for args, error in [
        (["--username", "nameless", "--email", "n@example.com"], unknown_type),
        (["--username", "bademail", "--email", "bad_email", "--first", "A"], unknown_type),
        (["--username", "bu", "--email", "bu@example.com", "--first", "A"], unknown_type),
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
            unknown_type,
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


# -- What dx-toolkit's own tests found the emulator answering unlike the platform. Each test
# names the dx-toolkit test it mirrors (src/python/test/test_dxclient.py unless test_dxpy.py).


def test_uninvite_an_entity_that_does_not_exist(dx: DxSandbox) -> None:
    # TestDXClient.test_dx_uninvite
    for query in (
        ["Ψ", MY_PROJECT],
        ["alice.nonexistent", MY_PROJECT],
        ["user-alice.nonexistent", MY_PROJECT],
        ["alice.nonexistent@example.com", MY_PROJECT],
    ):
        refused = dx.run("uninvite", *query, expect=3)
        assert "ResourceNotFound" in refused.stderr, (query, refused.stderr)
    before = dx.permissions(MY_PROJECT)
    # erin exists and holds no grant: nothing to do, and no error
    assert dx.out("uninvite", "erin", MY_PROJECT) == f"Uninvited user-erin from {MY_PROJECT}\n"
    assert dx.permissions(MY_PROJECT) == before


def test_invite_someone_who_does_not_exist(dx: DxSandbox) -> None:
    # TestDXClient.test_dx_invite
    for query in (
        ["alice.nonexistent", MY_PROJECT, "VIEW"],
        ["user-alice.nonexistent", MY_PROJECT, "VIEW"],
        ["alice.nonexistent@example.com", MY_PROJECT, "VIEW"],
    ):
        refused = dx.run("invite", *query, expect=3)
        assert "ResourceNotFound" in refused.stderr, (query, refused.stderr)
    assert "invalid choice" in dx.run("invite", "erin", MY_PROJECT, "ПРОСМОТР", expect=2).stderr
    assert "user-erin" not in dx.permissions(MY_PROJECT)
    # an email an account has grants that account
    assert dx.out("invite", "erin@example.com", MY_PROJECT, "VIEW", "--no-email") == (
        f"Invited erin@example.com to {MY_PROJECT} (accepted)\n"
    )
    assert dx.permissions(MY_PROJECT)["user-erin"] == "VIEW"


def test_invite_prints_the_state_in_lower_case(dx: DxSandbox) -> None:
    # TestDXClient.test_dx_project_invite_without_email; test_dxpy.py
    # TestDXProject.test_invite_without_email
    project = dx.out("new", "project", "invite_target", "--brief").strip()
    assert "user-bob" not in dx.api(f"/{project}/describe", {"fields": {"permissions": True}})["permissions"]  # fmt: skip
    assert dx.out("invite", "user-bob", project, "VIEW", "--no-email") == (
        f"Invited user-bob to {project} (accepted)\n"
    )
    permissions = dx.api(f"/{project}/describe", {"fields": {"permissions": True}})["permissions"]
    assert permissions["user-bob"] == "VIEW"
    assert dx.calls("project/invite")[0]["body"]["suppressEmailNotification"] is True


def test_org_new_without_policies(dx: DxSandbox) -> None:
    # TestDXClientOrg.test_org_update: the org it updates is made with no policies
    dx.api("/org/new", {"name": "no_policies", "handle": "no_policies"})
    policies = describe_org(dx, "org-no_policies")["policies"]
    assert policies == {"memberListVisibility": "ADMIN", "restrictProjectTransfer": "MEMBER"}
    dx.out("update", "org", "org-no_policies", "--member-list-visibility", "MEMBER", "--brief")
    dx.out("update", "org", "org-no_policies", "--project-transfer-ability", "ADMIN", "--brief")
    assert describe_org(dx, "org-no_policies")["policies"] == {
        "memberListVisibility": "MEMBER",
        "restrictProjectTransfer": "ADMIN",
    }
    # `dx new org` sends both policies itself, ADMIN unless told otherwise
    dx.out("new", "org", "Org", "--handle", "with_policies", "--brief")
    assert describe_org(dx, "org-with_policies")["policies"] == {
        "memberListVisibility": "ADMIN",
        "restrictProjectTransfer": "ADMIN",
    }


def test_new_project_with_phi_needs_phi_features(dx: DxSandbox) -> None:
    # TestDXClientNewProject.test_dx_create_new_project_with_phi
    refused = dx.run("new", "project", "--phi", "phi_project", expect=3)
    assert "PermissionDenied: PHI features must be enabled for" in refused.stderr
    refused = dx.run("new", "project", "--phi", "phi_project", "--bill-to", "org-demo", expect=3)
    assert "PermissionDenied: PHI features must be enabled for org-demo" in refused.stderr
    assert "phi_project" not in {p["name"] for p in dx.state()["projects"]}
    # an org with PHI features (a seed says so) may bill one
    seed = yaml.safe_load(Path(SANDBOX_SEED).read_text(encoding="utf-8"))
    next(org for org in seed["orgs"] if org["id"] == "org-genomics")["phiFeatures"] = True
    assert dx.control.post("/_emulator/reset", json={"seed": seed}).status_code == 200
    project = dx.out("new", "project", "--phi", "phi_project", "--bill-to", "org-genomics", "--brief").strip()  # fmt: skip
    assert dx.api(f"/{project}/describe")["containsPHI"] is True
    assert dx.out("find", "projects", "--phi", "true", "--brief", "--name", "phi_project") == (
        f"{project}\n"
    )


def test_update_project(dx: DxSandbox) -> None:
    # TestDXClientUpdateProject: test_update_strings, test_update_multiple_items,
    # test_update_project_by_name, test_update_booleans, test_bill_non_existent_user
    project = dx.out("new", "project", "to_update", "--brief").strip()
    for item, value in (("name", "renamed"), ("summary", "a summary"), ("description", "words")):
        dx.out("update", "project", project, f"--{item}", value)
        assert dx.api(f"/{project}/describe", {item: "true"})[item] == value
    answer = dx.out(
        "update", "project", project, "--name", "again", "--summary", "s2", "--description",
        "d2", "--protected", "false",
    )  # fmt: skip
    assert json.loads(answer) == {"id": project}
    assert dx.out("update", "project", project, "--name", "again", "--brief") == f"{project}\n"
    dx.out("update", "project", "again", "--name", "by_name")
    assert dx.api(f"/{project}/describe")["name"] == "by_name"
    for flag in ("protected", "restricted"):
        dx.out("update", "project", project, f"--{flag}", "true")
        assert dx.api(f"/{project}/describe")[flag] is True
    refused = dx.run("update", "project", project, "--bill-to", "user-wronguser", expect=3)
    assert "InvalidInput" in refused.stderr
    # an existing user who is not the caller is still refused as a permission matter
    refused = dx.run("update", "project", project, "--bill-to", "user-bob", expect=3)
    assert "PermissionDenied" in refused.stderr
    assert dx.api(f"/{project}/describe")["billTo"] == "org-demo"


def test_new_project_keeps_tags_properties_and_settings(dx: DxSandbox) -> None:
    # test_dxpy.py TestDXProject.test_new (DXProject.new sends project/new; `dx api` does too)
    body = {
        "name": "newprojname2",
        "protected": True,
        "restricted": True,
        "downloadRestricted": True,
        "description": "new description",
        "properties": {"prop1": "val1"},
        "tags": ["tag1", "tag2", "tag3"],
    }
    made = json.loads(dx.out("api", "project", "new", json.dumps(body)))
    described = dx.api(f"/{made['id']}/describe", {"properties": True})
    assert described["tags"] == ["tag1", "tag2", "tag3"]
    assert described["properties"] == {"prop1": "val1"}
    assert (described["protected"], described["restricted"]) == (True, True)
    assert (described["downloadRestricted"], described["previewViewerRestricted"]) == (True, True)
    # later runs see no tag or property left to add
    assert dx.out("find", "projects", "--tag", "tag2", "--property", "prop1=val1", "--brief") == (
        f"{made['id']}\n"
    )
    plain = dx.out("new", "project", "plain", "--brief").strip()
    described = dx.api(f"/{plain}/describe", {"properties": True})
    assert (described["tags"], described["properties"], described["downloadRestricted"]) == (
        [],
        {},
        False,
    )


def test_new_project_region(dx: DxSandbox) -> None:
    # TestDXClientNewProject.test_dx_new_project_with_region; TestDXClientFind
    # .test_dx_find_projects_by_region
    east = dx.out("new", "project", "--brief", "--region", "aws:us-east-1", "InUSEast").strip()
    assert dx.api(f"/{east}/describe")["region"] == "aws:us-east-1"
    west = dx.out("new", "project", "--brief", "--region", "azure:westus", "InWest").strip()
    assert dx.out("find", "projects", "--region", "azure:westus", "--brief") == f"{west}\n"
    refused = dx.run("new", "project", "--brief", "--region", "aws:not-a-region", "Bad", expect=3)
    assert "InvalidInput" in refused.stderr
    assert "Bad" not in {p["name"] for p in dx.state()["projects"]}


def test_download_and_preview_restrictions(dx: DxSandbox) -> None:
    # test_dxpy.py TestDXProject.test_update_describe (PTFM-40852)
    project = dx.out("new", "project", "restricted", "--brief").strip()

    def restrictions() -> tuple[bool, bool]:
        described = dx.api(f"/{project}/describe")
        return described["downloadRestricted"], described["previewViewerRestricted"]

    dx.out("update", "project", project, "--download-restricted", "true", "--brief")
    assert restrictions() == (True, True)
    refused = dx.run("update", "project", project, "--download-restricted", "false", expect=3)
    assert "InvalidInput" in refused.stderr
    dx.out("update", "project", project, "--preview-viewer-restricted", "false", "--brief")
    assert restrictions() == (True, False)
    dx.out("update", "project", project, "--download-restricted", "false", "--brief")
    assert restrictions() == (False, False)


def test_select_cd_ls_mkdir_and_rmproject(dx: DxSandbox, tmp_path: Path) -> None:
    # DXTestCase.setUp (`dx cd project:/`) and tearDown (project-x/destroy), dx select/ls
    env = {**dx.env(ALICE), "DX_USER_CONF_DIR": str(tmp_path)}  # dx select writes its config

    def run(*args: str, expect: int = 0) -> str:
        result = subprocess.run(
            [dx.dx, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert result.returncode == expect, (args, result.stdout, result.stderr)
        return result.stdout + result.stderr

    assert run("select", MY_PROJECT) == f"Selected project {MY_PROJECT}\n"
    assert run("ls") == ""
    run("mkdir", "-p", "/runs/2024")
    run("cd", "/runs")
    assert run("pwd") == "my_new_project:/runs\n"
    assert run("ls") == "2024/\n"
    assert run("ls", f"{MY_PROJECT}:/") == "runs/\n"
    assert "ResourceNotFound" in run("cd", "/nowhere", expect=3)
    assert "parent folder of /a/b does not exist" in run("mkdir", "/a/b", expect=3)
    made = run("new", "project", "scratch", "--select", "--brief").strip()
    assert run("pwd") == "scratch:/\n"
    assert run("rmproject", "-y", "scratch") == 'Successfully deleted project "scratch"\n'
    assert made not in {p["id"] for p in dx.state()["projects"]}
    # only ADMINISTER may destroy: bob views my_new_project
    refused = dx.run("rmproject", "-y", MY_PROJECT, token="bob-token", expect=3)
    assert "code 401" in refused.stdout and "Was unable to remove" in refused.stdout
    assert MY_PROJECT in {p["id"] for p in dx.state()["projects"]}


def test_come_back_later(dx: DxSandbox) -> None:
    # test_dxpy.py TestHTTPResponses.test_retry_after: dxpy waits out Retry-After and retries
    # Both calls from one dxpy process, as that test makes them: two `dx api` processes
    # would be a process start apart, which on a busy machine is longer than the wait.
    script = (
        "import json, dxpy\n"
        "now = dxpy.DXHTTPRequest('/system/comeBackLater', {})['currentTime']\n"
        "answer = dxpy.DXHTTPRequest('/system/comeBackLater', {'waitUntil': now + 1000})\n"
        "print(json.dumps({'now': now, 'answer': answer}))\n"
    )
    python = Path(dx.dx).with_name("python")
    result = subprocess.run(
        [str(python), "-c", script], env=dx.env(ALICE), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    now, answer = seen["now"], seen["answer"]
    assert answer["currentTime"] >= now + 1000
    statuses = [call["status"] for call in dx.calls("system/comeBackLater")]
    assert statuses[0] == 200 and statuses[-1] == 200 and 503 in statuses[1:-1]
