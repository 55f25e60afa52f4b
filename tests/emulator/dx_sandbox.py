"""The real `dx` CLI against an emulator on a loopback socket, for the CLI tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulator import Emulator
from tests.emulator.sandbox import ALICE, CONTROL_TOKEN


def find_dx() -> str:
    beside_python = Path(sys.executable).parent / "dx"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("dx")
    if found is None:
        pytest.skip("the dx CLI (dxpy) is not installed")
    return found


def lines(text: str) -> list[str]:
    return text.rstrip("\n").split("\n")


class DxSandbox:
    def __init__(self, emu: Emulator, url: str, port: int, conf_dir: Path) -> None:
        self.emu = emu
        self.url = url
        self.port = port
        self.conf_dir = conf_dir
        self.dx = find_dx()
        self.control = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {CONTROL_TOKEN}"}
        )
        self.http = httpx.Client(base_url=url)

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

    def api(self, route: str, body: Any = None, token: str = ALICE) -> Any:
        """A direct API call (what dx-toolkit's tests do with dxpy.api) that must succeed."""
        response = self.http.post(
            route, json={} if body is None else body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        return response.json()

    def rule(self, route: str, fault: str, count: int = 1) -> None:
        rule = {"route": route, "fault": fault, "count": count, "retryAfter": 0}
        assert self.control.post("/_emulator/rules", json=rule).status_code == 200

    def state(self) -> dict[str, Any]:
        response = self.control.get("/_emulator/state")
        assert response.status_code == 200
        return response.json()

    def org(self, org: str = "org-demo") -> dict[str, Any]:
        return next(o for o in self.state()["orgs"] if o["id"] == org)

    def members(self, org: str = "org-demo") -> dict[str, Any]:
        return self.org(org)["members"]

    def member_row(self, user: str, org: str = "org-demo") -> dict[str, Any]:
        """The findMembers row of one user, as dx-toolkit's tests read it."""
        rows = self.api(f"/{org}/findMembers", {"id": [user]})["results"]
        assert len(rows) == 1, rows
        return dict(rows[0])

    def permissions(self, project: str) -> dict[str, str]:
        return next(p for p in self.state()["projects"] if p["id"] == project)["permissions"]

    def developers(self, app_id: str) -> list[str]:
        return next(a for a in self.state()["apps"] if a["id"] == app_id)["developers"]

    def requests(self) -> list[dict[str, Any]]:
        return self.control.get("/_emulator/requests").json()["requests"]

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["method"] == method]

    def close(self) -> None:
        self.control.close()
        self.http.close()
