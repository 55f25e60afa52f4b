"""The sandbox seed's cast, and a small client for calling the emulator in tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from reconciler.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
SANDBOX_SEED = Path(__file__).with_name("seed.yaml")
CONTROL_TOKEN = "test-control-token"

# Who is who in tests/emulator/seed.yaml
ALICE = "alice-token"  # ADMIN of org-demo, MEMBER of org-genomics
BOB = "bob-token"  # MEMBER of org-demo and org-genomics
CAROL = "carol-token"  # ADMIN of org-demo
DAVE = "dave-token"  # MEMBER of org-demo (VIEW, no app access)
ERIN = "erin-token"  # member of nothing
FRANK = "frank-token"  # ADMIN of org-genomics
MY_PROJECT = "project-GbZ1K9Q0yzvB3pJqB4x1f9Q2"  # org-demo; alice ADMINISTER, bob VIEW
EXAMPLE_PROJECT = "project-GbZ1K9Q0yzvB3pJqB4x1f9Q3"  # org-demo; bob ADMINISTER, alice CONTRIBUTE
REFERENCE_PROJECT = "project-GbZ1K9Q0yzvB3pJqB4x1f9Q4"  # org-demo; PUBLIC
GENOMICS_PROJECT = "project-GbZ1K9Q0yzvB3pJqB4x1f9Q5"  # org-genomics
ALICE_SCRATCH = "project-GbZ1K9Q0yzvB3pJqB4x1f9Q6"  # billed to user-alice
EXAMPLE_APP = "app-GbZ1K9Q0yzvB3pJqB4x1fA01"  # org-demo; developer alice
QC_APP_1_0 = "app-GbZ1K9Q0yzvB3pJqB4x1fA02"
QC_APP_1_1 = "app-GbZ1K9Q0yzvB3pJqB4x1fA03"  # developers bob, carol
VARIANT_APP = "app-GbZ1K9Q0yzvB3pJqB4x1fA04"  # org-genomics, unpublished


class Api:
    """Calls through one in-process transport, as any user or as the control plane."""

    def __init__(self, emu: Emulator, base_url: str = "http://emulator.test") -> None:
        self.emu = emu
        self.http = httpx.Client(transport=emu.transport(), base_url=base_url)

    def call(
        self, token: str | None, route: str, body: Any = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers.setdefault("Authorization", f"Bearer {token}")
        if "content" in kwargs:
            return self.http.post(route, headers=headers, **kwargs)
        return self.http.post(route, json={} if body is None else body, headers=headers, **kwargs)

    def ok(self, token: str, route: str, body: Any = None) -> Any:
        response = self.call(token, route, body)
        assert response.status_code == 200, response.text
        return response.json()

    def fails(self, token: str | None, route: str, body: Any = None) -> tuple[int, str, str]:
        response = self.call(token, route, body)
        assert response.status_code >= 400, response.text
        assert response.headers["content-type"].startswith("application/json")
        error = response.json()["error"]
        return response.status_code, error["type"], error["message"]

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(
            method,
            f"/_emulator/{path}",
            json=body,
            headers={"Authorization": f"Bearer {CONTROL_TOKEN}"},
        )
        assert response.status_code == 200, response.text
        return response.json()

    def state(self) -> dict[str, Any]:
        return self.control("GET", "state")

    def org(self, org_id: str) -> dict[str, Any]:
        return next(org for org in self.state()["orgs"] if org["id"] == org_id)

    def project(self, project_id: str) -> dict[str, Any]:
        return next(p for p in self.state()["projects"] if p["id"] == project_id)

    def requests(self) -> list[dict[str, Any]]:
        return self.control("GET", "requests")["requests"]

    def walk(self, token: str, route: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Every row of a find, page by page."""
        rows: list[dict[str, Any]] = []
        request = dict(body)
        while True:
            page = self.ok(token, route, request)
            rows.extend(page["results"])
            if page["next"] is None:
                return rows
            request["starting"] = page["next"]


def small_seed(members: int = 0, projects: int = 0) -> dict[str, Any]:
    """One org, an admin with a token, and as many plain members/projects as asked."""
    users: list[dict[str, Any]] = [
        {"id": "user-admin", "first": "Ada", "last": "Admin", "token": "admin-token"},
        {"id": "user-second", "first": "Sam", "last": "Second", "token": "second-token"},
    ]
    org_members: dict[str, Any] = {
        "user-admin": {"level": "ADMIN"},
        "user-second": {"level": "ADMIN"},
    }
    for index in range(members):
        user_id = f"user-m{index:06d}"
        users.append({"id": user_id, "first": "M", "last": str(index)})
        org_members[user_id] = {"level": "MEMBER"}
    return {
        "users": users,
        "orgs": [{"id": "org-big", "name": "Big", "members": org_members}],
        "projects": [
            {"name": f"p{index:06d}", "billTo": "org-big", "permissions": {"user-admin": "VIEW"}}
            for index in range(projects)
        ],
    }
