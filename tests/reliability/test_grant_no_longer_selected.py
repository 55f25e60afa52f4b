"""Access dxorg recorded adding, which no declared grant selects any more, is given back.

The grantee of a self-grant by name holds ADMINISTER on the project, so she can rename it:
no grant selects it then, and before this the plan skipped it ("converged", exit 0) while
her ADMINISTER outlived the grant's expiry. The record dxorg left on the project (or the
tag on the app) proves dxorg added that access; whether the grant expired, was removed
from the manifest or stopped selecting the object, the access goes back to the recorded
level. The emulator is served over HTTP and dxorg reads and writes it as it would the
platform (the rename is alice's own API call).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulator import Emulator
from tests.reliability.conftest import CliRunner
from tests.reliability.test_two_step import CALLER, CONTROL_TOKEN, ORG, RECORD, env_for

RENAMED = "project-" + "R" * 24
DROPPED = "project-" + "S" * 24
APP = "app-" + "T" * 24


def seed() -> dict[str, Any]:
    """State an earlier apply left: grants made, with dxorg's records of the levels before."""
    users = [
        {"id": CALLER, "first": "Alice", "last": "A", "email": "alice@example.com",
         "token": "alice-token"},
        {"id": "user-root", "first": "Ruth", "last": "Root", "email": "root@example.com",
         "token": "root-token"},
    ]  # fmt: skip
    project = {"billTo": ORG, "createdBy": "user-root", "created": 1700000000000, "dataUsage": 1.0}
    return {
        "users": users,
        "orgs": [{"id": ORG, "name": "Two", "policies": {},
                  "members": {CALLER: {"level": "ADMIN"}, "user-root": {"level": "ADMIN"}}}],
        "projects": [
            {**project, "id": RENAMED, "name": "trial_data",
             "permissions": {"user-root": "ADMINISTER", CALLER: "ADMINISTER"},
             "properties": {RECORD: "NONE"}},
            {**project, "id": DROPPED, "name": "other_data",
             "permissions": {"user-root": "ADMINISTER", CALLER: "ADMINISTER"},
             "properties": {RECORD: "CONTRIBUTE"}},
        ],
        "apps": [
            {"id": APP, "name": "tool_two", "version": "1.0.0", "title": "Tool", "billTo": ORG,
             "developers": ["user-root", CALLER], "tags": [RECORD]},
        ],
    }  # fmt: skip


@pytest.fixture
def served(tmp_path: Path):
    emu = Emulator(state_path=tmp_path / "state.db", seed=seed(), control_token=CONTROL_TOKEN)
    (tmp_path / "conf").mkdir()
    (tmp_path / "orgs").mkdir()
    try:
        with emu.serve(port=0) as server:
            yield server, env_for(server.port, tmp_path / "conf")
    finally:
        emu.close()


def state(url: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {CONTROL_TOKEN}"}
    return dict(httpx.get(f"{url}/_emulator/state", headers=headers, timeout=30).json())


def requests(url: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {CONTROL_TOKEN}"}
    answer = httpx.get(f"{url}/_emulator/requests", headers=headers, timeout=30).json()
    return list(answer["requests"])


def project(url: str, project_id: str) -> dict[str, Any]:
    return next(p for p in state(url)["projects"] if p["id"] == project_id)


def test_a_project_renamed_away_from_its_expired_grant_is_revoked(
    served, tmp_path: Path, cli: CliRunner
) -> None:
    server, env = served
    orgs, journal = tmp_path / "orgs", str(tmp_path / "journal.jsonl")
    (orgs / f"{ORG}.yaml").write_text(
        f"org: {ORG}\nselfGrants:\n  projects:\n"
        "    - {name: trial_data, expires: 2020-01-01}\n"
        "    - {name: other_data}\n"
    )
    # The grantee, holding ADMINISTER, renames the project away from the grant's selector.
    renamed = httpx.post(
        f"{server.url}/{RENAMED}/update",
        json={"name": "trial_data_v2"},
        headers={"Authorization": "Bearer alice-token"},
        timeout=30,
    )
    assert renamed.status_code == 200, renamed.text

    planned = cli("plan", str(orgs), "--detailed-exitcode", env=env)
    assert planned.code == 2, planned.text  # a change to make, never "No changes"
    assert f"revoke {CALLER}'s ADMINISTER on {RENAMED} (trial_data_v2)" in planned.out
    assert "no self-grant in " in planned.out and "selects it any more" in planned.out

    applied = cli("apply", str(orgs), "--auto-approve", "--journal", journal, env=env)
    assert applied.code == 0, applied.text
    assert "Verified: converged." in applied.out
    assert CALLER not in project(server.url, RENAMED)["permissions"]
    assert project(server.url, DROPPED)["permissions"][CALLER] == "ADMINISTER"  # still granted

    again = cli("plan", str(orgs), "--detailed-exitcode", env=env)
    assert again.code == 0, again.text
    # At no access alice may not clear the record: harmless, and said so.
    assert "no self-grant in " in again.out and "stays" in again.out


def test_grants_dropped_from_the_manifest_are_given_back(
    served, tmp_path: Path, cli: CliRunner
) -> None:
    server, env = served
    orgs, journal = tmp_path / "orgs", str(tmp_path / "journal.jsonl")
    (orgs / f"{ORG}.yaml").write_text(f"org: {ORG}\n")  # no selfGrants at all any more

    applied = cli("apply", str(orgs), "--auto-approve", "--journal", journal, env=env)
    assert applied.code == 0, applied.text
    assert "Verified: converged." in applied.out
    assert CALLER not in project(server.url, RENAMED)["permissions"]
    dropped = project(server.url, DROPPED)
    assert dropped["permissions"][CALLER] == "CONTRIBUTE"  # what she had before the grant
    assert RECORD not in (dropped.get("properties") or {})
    app = next(a for a in state(server.url)["apps"] if a["id"] == APP)
    assert CALLER not in app["developers"]

    # With no project grant declared, only the projects carrying alice's record are read:
    # the platform filters them (findProjects `properties`, a key that must exist).
    finds = [r for r in requests(server.url) if r["route"] == f"/{ORG}/findProjects"]
    assert finds and all(r["body"]["properties"] == {RECORD: True} for r in finds), finds
    assert cli("plan", str(orgs), "--detailed-exitcode", env=env).code == 0
