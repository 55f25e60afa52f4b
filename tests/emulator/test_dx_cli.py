"""The real `dx` CLI (dxpy 0.417.1) against the emulator over a loopback socket.

Covers every command of the org-management guide with its printed output, and checks
the emulator's state afterwards. One server for the module; state reset per test.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulator import Emulator
from tests.emulator.sandbox import (
    ALICE,
    BOB,
    CONTROL_TOKEN,
    EXAMPLE_APP,
    EXAMPLE_PROJECT,
    FRANK,
    MY_PROJECT,
    QC_APP_1_0,
    QC_APP_1_1,
    REFERENCE_PROJECT,
    SANDBOX_SEED,
)

pytestmark = pytest.mark.dxcli


def find_dx() -> str:
    beside_python = Path(sys.executable).parent / "dx"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("dx")
    if found is None:
        pytest.skip("the dx CLI (dxpy) is not installed")
    return found


class Sandbox:
    def __init__(self, emu: Emulator, url: str, port: int, conf_dir: Path) -> None:
        self.emu = emu
        self.url = url
        self.port = port
        self.conf_dir = conf_dir
        self.dx = find_dx()
        self.control = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {CONTROL_TOKEN}"}
        )

    def env(self, token: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("DX_")}
        env.update(
            {
                "DX_USER_CONF_DIR": str(self.conf_dir),
                "DX_APISERVER_PROTOCOL": "http",
                "DX_APISERVER_HOST": "127.0.0.1",
                "DX_APISERVER_PORT": str(self.port),
                "DX_AUTHSERVER_HOST": "http://127.0.0.1",
                "DX_AUTHSERVER_PORT": str(self.port),
                "DX_SECURITY_CONTEXT": json.dumps(
                    {"auth_token_type": "Bearer", "auth_token": token}
                ),
            }
        )
        env.pop("_DX_DEBUG", None)
        return env

    def run(
        self, *args: str, token: str = ALICE, expect: int = 0
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.dx, *args],
            env=self.env(token),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == expect, (args, result.stdout, result.stderr)
        return result

    def out(self, *args: str, token: str = ALICE) -> str:
        return self.run(*args, token=token).stdout

    def state(self) -> dict[str, Any]:
        response = self.control.get("/_emulator/state")
        assert response.status_code == 200
        return response.json()

    def members(self, org: str = "org-demo") -> dict[str, Any]:
        return next(o for o in self.state()["orgs"] if o["id"] == org)["members"]

    def permissions(self, project: str) -> dict[str, str]:
        return next(p for p in self.state()["projects"] if p["id"] == project)["permissions"]

    def developers(self, app_id: str) -> list[str]:
        return next(a for a in self.state()["apps"] if a["id"] == app_id)["developers"]

    def requests(self) -> list[dict[str, Any]]:
        return self.control.get("/_emulator/requests").json()["requests"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    conf_dir = tmp_path_factory.mktemp("dx-config")  # empty: no stored credentials leak in
    with (
        Emulator(seed=SANDBOX_SEED, control_token=CONTROL_TOKEN) as emu,
        emu.serve(host="127.0.0.1", port=0) as running,
    ):
        sandbox = Sandbox(emu, running.url, running.port, conf_dir)
        yield sandbox
        sandbox.control.close()


@pytest.fixture
def dx(server: Sandbox) -> Sandbox:
    for path in ("reset", "faults/clear", "requests/clear"):
        assert server.control.post(f"/_emulator/{path}", json={}).status_code == 200
    return server


def lines(text: str) -> list[str]:
    return text.rstrip("\n").split("\n")


def test_whoami(dx: Sandbox) -> None:
    assert dx.out("whoami") == "alice\n"
    assert dx.out("whoami", "--id") == "user-alice\n"


def test_find_org_members(dx: Sandbox) -> None:
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


def test_find_org_projects(dx: Sandbox) -> None:
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


def test_find_org_apps(dx: Sandbox) -> None:
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
def test_add_member(dx: Sandbox, flags: list[str], expected: dict[str, Any]) -> None:
    assert (
        dx.out("add", "member", "org-demo", "user-erin", *flags)
        == "Invited user-erin to org-demo\n"
    )
    assert dx.members()["user-erin"] == expected


def test_add_existing_member_fails(dx: Sandbox) -> None:
    result = dx.run("add", "member", "org-demo", "bob", "--level", "MEMBER", expect=3)
    assert "Cannot add a user who is already a member" in result.stderr


def test_update_member(dx: Sandbox) -> None:
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


def test_remove_member(dx: Sandbox) -> None:
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


def test_update_org_policies(dx: Sandbox) -> None:
    assert dx.out("update", "org", "org-demo", "--member-list-visibility", "MEMBER") == (
        "Updated org-demo\n"
    )
    dx.out("update", "org", "org-demo", "--project-transfer-ability", "ADMIN")
    policies = next(o for o in dx.state()["orgs"] if o["id"] == "org-demo")["policies"]
    assert policies == {"memberListVisibility": "MEMBER", "restrictProjectTransfer": "ADMIN"}
    # now a plain member may list the members
    assert len(lines(dx.out("find", "org", "members", "org-demo", "--brief", token=BOB))) == 5


def test_job_logs_forwarding(dx: Sandbox) -> None:
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


def test_describe_org_shows_expiry(dx: Sandbox) -> None:
    described = json.loads(dx.out("describe", "org-genomics", "--json", token=FRANK))
    assert described["expiresAt"] == 4102444800000
    assert described["level"] == "ADMIN"
    methods = [r["method"] for r in dx.requests()]
    assert methods == ["system/findApps", "system/findGlobalWorkflows", "org/describe"]


def test_invite_and_uninvite(dx: Sandbox) -> None:
    # carol, an org-demo ADMIN without a grant, gives herself access (the guide's self-grant)
    assert dx.out("invite", "user-carol", MY_PROJECT, "--no-email", token="carol-token") == (
        f"Invited user-carol to {MY_PROJECT} (ACCEPTED)\n"
    )
    assert dx.permissions(MY_PROJECT)["user-carol"] == "VIEW"
    dx.out("invite", "user-carol", MY_PROJECT, "ADMINISTER", "--no-email", token="carol-token")
    assert dx.permissions(MY_PROJECT)["user-carol"] == "ADMINISTER"
    body = next(r["body"] for r in dx.requests() if r["method"] == "project/invite")
    assert body == {"invitee": "user-carol", "level": "VIEW", "suppressEmailNotification": True}
    assert dx.out("uninvite", "carol", MY_PROJECT) == f"Uninvited user-carol from {MY_PROJECT}\n"
    assert "user-carol" not in dx.permissions(MY_PROJECT)


def test_developers(dx: Sandbox) -> None:
    assert dx.out("add", "developers", EXAMPLE_APP, "user-dave") == ""
    assert dx.developers(EXAMPLE_APP) == ["user-alice", "user-dave"]
    assert dx.out("list", "developers", "example_app") == "user-alice\nuser-dave\n"
    assert dx.out("remove", "developers", "app-example_app", "dave") == ""
    assert dx.developers(EXAMPLE_APP) == ["user-alice"]
    # the second call of each command goes to the hash id from the describe
    routes = [r["route"] for r in dx.requests()]
    assert f"/{EXAMPLE_APP}/addDevelopers" in routes and "/app-example_app/describe" in routes


def test_new_user(dx: Sandbox) -> None:
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


def test_find_orgs(dx: Sandbox) -> None:
    assert dx.out("find", "orgs", "--level", "ADMIN") == "org-demo : Demo Organization\n"
    assert dx.out("find", "orgs", "--level", "MEMBER", "--brief") == "org-demo\norg-genomics\n"


def test_errors(dx: Sandbox) -> None:
    denied = dx.run("find", "org", "projects", "org-demo", token=BOB, expect=3)
    assert "PermissionDenied" in denied.stderr
    unknown = dx.run("whoami", token="not-a-token", expect=3)
    assert "InvalidAuthentication" in unknown.stderr
    assert "code 401" in unknown.stderr


def test_dx_retries_injected_503(dx: Sandbox) -> None:
    rule = {"route": "/org-demo/findMembers", "fault": "503", "count": 2, "retryAfter": 0}
    assert dx.control.post("/_emulator/rules", json=rule).status_code == 200
    assert dx.out("find", "org", "members", "org-demo", "--brief").startswith("user-alice\n")
    statuses = [r["status"] for r in dx.requests() if r["method"] == "org/findMembers"]
    assert statuses == [503, 503, 200]


def test_describe_objects_in_text_form(dx: Sandbox) -> None:
    app = dx.out("describe", "app-example_app")
    assert "ID                                app-GbZ1K9Q0yzvB3pJqB4x1fA01" in app
    assert "Title                             Example App" in app
    project = dx.out("describe", MY_PROJECT)
    assert "Data usage                        0.06 GB" in project
    assert "Created by                        alice" in project
    user = dx.out("describe", "user-bob", token=BOB)
    assert "Name                              Bob Jones" in user
