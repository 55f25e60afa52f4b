"""The real `dx` CLI (dxpy 0.417.1) against the emulator over a loopback socket.

Covers every command of the org-management guide with its printed output, and checks
the emulator's state afterwards. One server for the module; state reset per test.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from tests.emulator.dx_sandbox import DxSandbox, lines
from tests.emulator.sandbox import (
    BOB,
    EXAMPLE_APP,
    EXAMPLE_PROJECT,
    FRANK,
    MY_PROJECT,
    QC_APP_1_0,
    QC_APP_1_1,
    REFERENCE_PROJECT,
)

pytestmark = pytest.mark.dxcli


def test_whoami(dx: DxSandbox) -> None:
    assert dx.out("whoami") == "alice\n"
    assert dx.out("whoami", "--id") == "user-alice\n"


def test_find_org_members(dx: DxSandbox) -> None:
    assert lines(dx.out("find", "org", "members", "org-demo")) == [
        "user-alice : Alice Smith  (ADMIN)",
        "user-bob : Bob Jones  (MEMBER)",
        "user-carol : Carol Nguyen  (ADMIN)",
        "user-dave : Dave Brown  (MEMBER)",
        "user-grace : Grace Kim  (MEMBER)",
    ]
    assert lines(dx.out("find", "org", "members", "org-demo", "--level", "ADMIN")) == [
        "user-alice : Alice Smith  (ADMIN)",
        "user-carol : Carol Nguyen  (ADMIN)",
    ]
    assert lines(dx.out("find", "org", "members", "org-demo", "--brief")) == [
        "user-alice",
        "user-bob",
        "user-carol",
        "user-dave",
        "user-grace",
    ]
    rows = json.loads(dx.out("find", "org", "members", "org-demo", "--json"))
    assert rows[3]["id"] == "user-dave"
    assert (rows[3]["level"], rows[3]["appAccess"], rows[3]["projectAccess"]) == (
        "MEMBER",
        False,
        "VIEW",
    )
    assert rows[0]["describe"]["first"] == "Alice"


def test_find_org_projects(dx: DxSandbox) -> None:
    assert lines(dx.out("find", "org", "projects", "org-demo")) == [
        f"{MY_PROJECT} : my_new_project (ADMINISTER)",
        f"{EXAMPLE_PROJECT} : example_project (CONTRIBUTE)",
        f"{REFERENCE_PROJECT} : reference_genomes (ADMINISTER)",
    ]
    assert lines(dx.out("find", "org", "projects", "org-demo", "--brief")) == [
        MY_PROJECT,
        EXAMPLE_PROJECT,
        REFERENCE_PROJECT,
    ]
    rows = json.loads(dx.out("find", "org", "projects", "org-demo", "--json"))
    # the guide's jq: .id, .name, .level, .createdBy.user, .dataUsage of each describe
    summary = [
        (r["describe"]["id"], r["describe"]["name"], r["describe"]["level"],
         r["describe"]["createdBy"]["user"], r["describe"]["dataUsage"])
        for r in rows
    ]  # fmt: skip
    assert summary[:2] == [
        (MY_PROJECT, "my_new_project", "ADMINISTER", "user-alice", 0.059),
        (EXAMPLE_PROJECT, "example_project", "CONTRIBUTE", "user-bob", 0.048),
    ]
    globbed = dx.out("find", "org", "projects", "org-demo", "--brief", "--name", "*_project")
    assert lines(globbed) == [MY_PROJECT, EXAMPLE_PROJECT]


def test_find_org_apps(dx: DxSandbox) -> None:
    assert lines(dx.out("find", "org", "apps", "org-demo")) == [
        "  Example App (example_app), v0.0.1",
        "  QC Report (qc_report), v1.1.0",
    ]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (
            ["--level", "MEMBER", "--allow-billable-activities", "--project-access", "CONTRIBUTE"],
            {"level": "MEMBER", "allowBillableActivities": True, "appAccess": True, "projectAccess": "CONTRIBUTE"},
        ),
        (
            ["--level", "MEMBER", "--project-access", "VIEW", "--no-app-access"],
            {"level": "MEMBER", "allowBillableActivities": False, "appAccess": False, "projectAccess": "VIEW"},
        ),
        (
            ["--level", "ADMIN"],
            {"level": "ADMIN", "allowBillableActivities": True, "appAccess": True, "projectAccess": "ADMINISTER"},
        ),
    ],
)  # fmt: skip
def test_add_member(dx: DxSandbox, flags: list[str], expected: dict[str, Any]) -> None:
    assert (
        dx.out("add", "member", "org-demo", "user-erin", *flags)
        == "Invited user-erin to org-demo\n"
    )
    assert dx.members()["user-erin"] == expected


def test_add_existing_member_fails(dx: DxSandbox) -> None:
    result = dx.run("add", "member", "org-demo", "bob", "--level", "MEMBER", expect=3)
    assert "Cannot add a user who is already a member" in result.stderr


def test_update_member(dx: DxSandbox) -> None:
    update = ("update", "member", "org-demo", "user-bob", "--level", "MEMBER")
    assert dx.out(*update, "--allow-billable-activities", "true") == (
        "Updated membership of user-bob in org-demo\n"
    )
    assert dx.members()["user-bob"]["allowBillableActivities"] is True
    dx.out(*update, "--app-access", "false")
    assert dx.members()["user-bob"]["appAccess"] is False
    assert dx.out(*update, "--project-access", "ADMINISTER") == (
        "Updated membership of user-bob in org-demo\n"
    )
    assert dx.members()["user-bob"] == {
        "level": "MEMBER",
        "allowBillableActivities": True,
        "appAccess": False,
        "projectAccess": "ADMINISTER",
    }
    dx.out("update", "member", "org-demo", "user-bob", "--level", "ADMIN")
    assert dx.members()["user-bob"] == {
        "level": "ADMIN",
        "allowBillableActivities": True,
        "appAccess": True,
        "projectAccess": "ADMINISTER",
    }
    # demotion: dx sends the MEMBER defaults
    dx.out("update", "member", "org-demo", "user-carol", "--level", "MEMBER")
    assert dx.members()["user-carol"] == {
        "level": "MEMBER",
        "allowBillableActivities": False,
        "appAccess": True,
        "projectAccess": "CONTRIBUTE",
    }
    sent = [r["body"] for r in dx.requests() if r["method"] == "org/setMemberAccess"]
    assert sent[3] == {"user-bob": {"level": "ADMIN"}}


def test_remove_member(dx: DxSandbox) -> None:
    assert dx.out("remove", "member", "org-demo", "user-bob", "-y") == (
        "Removed user-bob from org-demo\n"
        "Removed user-bob from the following projects:\n"
        f"\t{MY_PROJECT}\n"
        f"\t{EXAMPLE_PROJECT}\n"
        "Removed user-bob from the following apps:\n"
        f"\t{QC_APP_1_0}\n"
        f"\t{QC_APP_1_1}\n"
    )
    assert "user-bob" not in dx.members()
    assert "user-bob" not in dx.permissions(MY_PROJECT)
    assert dx.out("remove", "member", "org-demo", "grace", "-y") == (
        "Removed user-grace from org-demo\n"
        "Removed user-grace from the following projects:\n"
        "\tNone\n"
        "Removed user-grace from the following apps:\n"
        "\tNone\n"
    )


def test_update_org_policies(dx: DxSandbox) -> None:
    assert dx.out("update", "org", "org-demo", "--member-list-visibility", "MEMBER") == (
        "Updated org-demo\n"
    )
    dx.out("update", "org", "org-demo", "--project-transfer-ability", "ADMIN")
    policies = next(o for o in dx.state()["orgs"] if o["id"] == "org-demo")["policies"]
    assert policies == {"memberListVisibility": "MEMBER", "restrictProjectTransfer": "ADMIN"}
    # now a plain member may list the members
    assert len(lines(dx.out("find", "org", "members", "org-demo", "--brief", token=BOB))) == 5


def test_job_logs_forwarding(dx: DxSandbox) -> None:
    url = "https://http-inputs-examplecompany.splunkcloud.com/services/collector/event"
    token = "abc11d22-de34-567f-g8h9-i012jk34lm34"
    config = json.dumps({"url": url, "token": token})
    dx.out("update", "org", "--job-logs-forwarding-json", config, "org-demo")
    described = json.loads(dx.out("describe", "org-demo", "--json"))
    forwarding = described["jobLogsForwarding"]
    assert forwarding["url"] == url
    assert forwarding["tokenSignature"] == hashlib.sha256(token.encode()).hexdigest()
    assert forwarding["updatedBy"] == "user-alice"
    assert isinstance(forwarding["updated"], int)
    assert "token" not in forwarding
    assert token not in json.dumps(dx.state()) + json.dumps(dx.requests())

    dx.out("update", "org", "--job-logs-forwarding-json", "{}", "org-demo")
    disabled = json.loads(dx.out("describe", "org-demo", "--json"))["jobLogsForwarding"]
    assert set(disabled) == {"updated", "updatedBy"}


def test_describe_org_shows_expiry(dx: DxSandbox) -> None:
    described = json.loads(dx.out("describe", "org-genomics", "--json", token=FRANK))
    assert described["expiresAt"] == 4102444800000
    assert described["level"] == "ADMIN"
    methods = [r["method"] for r in dx.requests()]
    assert methods == ["system/findApps", "system/findGlobalWorkflows", "org/describe"]


def test_invite_and_uninvite(dx: DxSandbox) -> None:
    # carol, an org-demo ADMIN without a grant, gives herself access (the guide's self-grant)
    assert dx.out("invite", "user-carol", MY_PROJECT, "--no-email", token="carol-token") == (
        f"Invited user-carol to {MY_PROJECT} (accepted)\n"
    )
    assert dx.permissions(MY_PROJECT)["user-carol"] == "VIEW"
    dx.out("invite", "user-carol", MY_PROJECT, "ADMINISTER", "--no-email", token="carol-token")
    assert dx.permissions(MY_PROJECT)["user-carol"] == "ADMINISTER"
    body = next(r["body"] for r in dx.requests() if r["method"] == "project/invite")
    assert body == {"invitee": "user-carol", "level": "VIEW", "suppressEmailNotification": True}
    assert dx.out("uninvite", "carol", MY_PROJECT) == f"Uninvited user-carol from {MY_PROJECT}\n"
    assert "user-carol" not in dx.permissions(MY_PROJECT)


def test_developers(dx: DxSandbox) -> None:
    assert dx.out("add", "developers", EXAMPLE_APP, "user-dave") == ""
    assert dx.developers(EXAMPLE_APP) == ["user-alice", "user-dave"]
    assert dx.out("list", "developers", "example_app") == "user-alice\nuser-dave\n"
    assert dx.out("remove", "developers", "app-example_app", "dave") == ""
    assert dx.developers(EXAMPLE_APP) == ["user-alice"]
    # the second call of each command goes to the hash id from the describe
    routes = [r["route"] for r in dx.requests()]
    assert f"/{EXAMPLE_APP}/addDevelopers" in routes and "/app-example_app/describe" in routes


def test_new_user(dx: DxSandbox) -> None:
    result = dx.run(
        "new", "user", "--username", "Zed", "--email", "zed@example.com", "--first", "Zed",
        "--last", "Zero", "--org", "org-demo", "--level", "MEMBER", "--set-bill-to",
    )  # fmt: skip
    assert result.stdout == "Created new user account (user-zed)\n"
    user = next(u for u in dx.state()["users"] if u["id"] == "user-zed")
    assert (user["email"], user["billTo"], user["first"]) == ("zed@example.com", "org-demo", "Zed")
    assert dx.members()["user-zed"] == {
        "level": "MEMBER",
        "allowBillableActivities": True,
        "appAccess": True,
        "projectAccess": "CONTRIBUTE",
    }
    assert [r["method"] for r in dx.requests()] == ["user/new", "org/invite"]


def test_find_orgs(dx: DxSandbox) -> None:
    assert dx.out("find", "orgs", "--level", "ADMIN") == "org-demo : Demo Organization\n"
    assert dx.out("find", "orgs", "--level", "MEMBER", "--brief") == "org-demo\norg-genomics\n"


def test_errors(dx: DxSandbox) -> None:
    denied = dx.run("find", "org", "projects", "org-demo", token=BOB, expect=3)
    assert "PermissionDenied" in denied.stderr
    unknown = dx.run("whoami", token="not-a-token", expect=3)
    assert "InvalidAuthentication" in unknown.stderr
    assert "code 401" in unknown.stderr


def test_dx_retries_injected_503(dx: DxSandbox) -> None:
    rule = {"route": "/org-demo/findMembers", "fault": "503", "count": 2, "retryAfter": 0}
    assert dx.control.post("/_emulator/rules", json=rule).status_code == 200
    assert dx.out("find", "org", "members", "org-demo", "--brief").startswith("user-alice\n")
    statuses = [r["status"] for r in dx.requests() if r["method"] == "org/findMembers"]
    assert statuses == [503, 503, 200]


def test_describe_objects_in_text_form(dx: DxSandbox) -> None:
    app = dx.out("describe", "app-example_app")
    assert "ID                                app-GbZ1K9Q0yzvB3pJqB4x1fA01" in app
    assert "Title                             Example App" in app
    project = dx.out("describe", MY_PROJECT)
    assert "Data usage                        0.06 GB" in project
    assert "Created by                        alice" in project
    user = dx.out("describe", "user-bob", token=BOB)
    assert "Name                              Bob Jones" in user
