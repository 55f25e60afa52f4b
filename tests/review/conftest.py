"""A fleet in a real git repository (two authors, then an uncommitted edit) and an emulator
(in-process) whose live orgs differ from it in every way the report must show.

    org-demo (authoritative)
      alice, root ADMIN: declared, match (root also has treManagement, on its own line)
      bob: the manifest (Ben's commit) lowers him to VIEW, live CONTRIBUTE: drifted
      carol: MEMBER, flags from the org's and the fleet's member defaults: declared, inherited
      erin: a provisioning entry, a member now, whose email the platform does not show
      alice (unverified: reviewed as what the platform shows); zoe: to provision, no account
      eve: departed (fleet list), still a member
      alice holds self-grants: clinical-1 (expires in 10 days), scratch (expired 1 day
      ago, still held), the app `tool` (no expiry)
    org-lab (additive)
      alice, root ADMIN; dave: a member nobody lists (unmanaged); eve: departed, still there
      grace: declared in the work tree (uncommitted), not a member: drifted
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator import Emulator
from reconciler.manifest import load_fleet
from reconciler.platform import ReadClient
from reconciler.review.collect import review_fleet
from reconciler.review.value import AccessReport
from tests.integration.conftest import APP1, CONTROL_TOKEN, FAST_RETRY, P1, P2, config_for

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
ADA = ("Ada Admin", "ada@example.com")
BEN = ("Ben Reviewer", "ben@example.com")


def member(project: str = "CONTRIBUTE", *, app: bool = True, billable: bool = False) -> dict:
    return {
        "level": "MEMBER",
        "allowBillableActivities": billable,
        "appAccess": app,
        "projectAccess": project,
    }


def review_seed() -> dict[str, Any]:
    users = ["alice", "root", "bob", "carol", "dave", "eve", "erin", "grace"]
    return {
        "users": [
            {
                "id": f"user-{u}",
                "first": u.title(),
                "last": "Tester",
                "email": f"{u}@example.com",
                "token": f"{u}-token",
            }
            for u in users
        ],
        "orgs": [
            {
                "id": "org-demo",
                "name": "Demo Organization",
                "policies": {"memberListVisibility": "ADMIN", "restrictProjectTransfer": "ADMIN"},
                "members": {
                    "user-alice": {"level": "ADMIN"},
                    "user-root": {"level": "ADMIN", "treManagement": True},
                    "user-bob": member("CONTRIBUTE"),
                    "user-carol": member("UPLOAD"),
                    "user-eve": member("VIEW"),
                    "user-erin": member("VIEW", billable=True),
                },
            },
            {
                "id": "org-lab",
                "name": "Lab",
                "policies": {"memberListVisibility": "ADMIN", "restrictProjectTransfer": "ADMIN"},
                "members": {
                    "user-alice": {"level": "ADMIN"},
                    "user-root": {"level": "ADMIN"},
                    "user-dave": member("CONTRIBUTE"),
                    "user-eve": member("UPLOAD", app=False),
                },
            },
        ],
        "projects": [
            {
                "id": P1,
                "name": "clinical-1",
                "billTo": "org-demo",
                "createdBy": "user-root",
                "created": 1700000000000,
                "dataUsage": 1.5,
                "permissions": {"user-root": "ADMINISTER", "user-alice": "ADMINISTER"},
            },
            {
                "id": P2,
                "name": "scratch",
                "billTo": "org-demo",
                "createdBy": "user-root",
                "created": 1700000000000,
                "dataUsage": 0.1,
                "permissions": {"user-root": "ADMINISTER", "user-alice": "ADMINISTER"},
            },
        ],
        "apps": [
            {
                "id": APP1,
                "name": "tool",
                "version": "1.0.0",
                "title": "Tool",
                "billTo": "org-demo",
                "developers": ["user-root", "user-alice"],
            }
        ],
    }


DEFAULTS_V1 = """\
# yaml-language-server: $schema=../schemas/defaults.schema.json
members:
  defaults: {allowBillableActivities: false, appAccess: true}
"""
DEFAULTS_V2 = (
    DEFAULTS_V1
    + """\
departed:
  - {user: eve, since: 2026-11-20, reason: "left the company"}
"""
)
DEMO_V1 = """\
org: org-demo
members:
  mode: authoritative
  defaults: {projectAccess: UPLOAD}
  users:
    alice: ADMIN
    root: {level: ADMIN, treManagement: true}
    bob: MEMBER
    carol: MEMBER
selfGrants:
  admin: alice
  projects:
    - {glob: "clinical-*", expires: 2026-12-06, reason: "incident 42"}
    - {name: scratch, expires: 2026-11-25, reason: "quarterly audit"}
  apps:
    - {name: tool, reason: "on-call debugging"}
provisioning:
  - {username: erin, email: erin@example.com, first: Erin, last: Tester}
  - {username: zoe, email: zoe@example.com, first: Zoe, last: Tester}
"""
DEMO_V2 = DEMO_V1.replace("    bob: MEMBER\n", "    bob: {level: MEMBER, projectAccess: VIEW}\n")
LAB = """\
org: org-lab
members:
  mode: additive
  users:
    alice: ADMIN
    root: ADMIN
"""
LAB_WORK_TREE = LAB + "    grace: MEMBER\n"


def git(repo: Path, *args: str, author: tuple[str, str] | None = None, when: str = "") -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    if author:
        env.update(
            GIT_AUTHOR_NAME=author[0],
            GIT_AUTHOR_EMAIL=author[1],
            GIT_COMMITTER_NAME=author[0],
            GIT_COMMITTER_EMAIL=author[1],
            GIT_AUTHOR_DATE=when,
            GIT_COMMITTER_DATE=when,
        )
    result = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@dataclass
class FleetRepo:
    root: Path
    orgs: Path
    first: str  # Ada's commit: every file
    second: str  # Ben's commit: bob's access, the departure

    def line(self, name: str, text: str) -> int:
        """The 1-based number of the line of `orgs/name` that contains `text`."""
        lines = (self.orgs / name).read_text().splitlines()
        [number] = [i + 1 for i, line in enumerate(lines) if text in line]
        return number


def write(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text))


@pytest.fixture
def fleet_repo(tmp_path: Path) -> FleetRepo:
    root = tmp_path / "config"
    orgs = root / "orgs"
    write(orgs, {"_defaults.yaml": DEFAULTS_V1, "org-demo.yaml": DEMO_V1, "org-lab.yaml": LAB})
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(
        root,
        "commit",
        "-qm",
        "Add the demo and lab orgs",
        author=ADA,
        when="2026-10-01T10:00:00+02:00",
    )
    first = git(root, "rev-parse", "HEAD")
    write(orgs, {"_defaults.yaml": DEFAULTS_V2, "org-demo.yaml": DEMO_V2})
    git(
        root,
        "commit",
        "-qam",
        "Offboard eve; bob to VIEW",
        author=BEN,
        when="2026-11-20T16:45:00-05:00",
    )
    second = git(root, "rev-parse", "HEAD")
    write(orgs, {"org-lab.yaml": LAB_WORK_TREE})  # not committed
    return FleetRepo(root, orgs, first, second)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(
        state_path=tmp_path / "state.db", seed=review_seed(), control_token=CONTROL_TOKEN
    )
    yield emu
    emu.close()


@pytest.fixture
def read_client(emulator: Emulator) -> Iterator[ReadClient]:
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        yield client


def review(paths: list[Path], client: ReadClient) -> AccessReport:
    return review_fleet(load_fleet(paths), client, now=NOW)


@pytest.fixture
def report(fleet_repo: FleetRepo, read_client: ReadClient) -> AccessReport:
    return review([fleet_repo.orgs], read_client)
