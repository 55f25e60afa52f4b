"""Synthetic fleets for the benchmarks: an emulator seed and the manifests for it.

`make_fleet` builds N orgs of M members (5 projects per 10 members, 1 app per 20),
and manifests that declare every member, with a chosen fraction of drift: members
whose access the manifest changes, members to invite, members to remove. Deterministic
for a given `seed`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_ACCESS = ["VIEW", "UPLOAD", "CONTRIBUTE", "ADMINISTER"]


@dataclass
class Drift:
    access: float = 0.0  # fraction of members whose projectAccess the manifest changes
    invites: int = 0  # users in the manifest who are not members yet
    removals: int = 0  # members the manifest leaves out (authoritative)


@dataclass
class Fleet:
    seed: dict[str, Any]
    manifests: dict[str, str] = field(default_factory=dict)  # org id -> YAML text

    def write(self, directory: Path) -> tuple[Path, Path]:
        orgs = directory / "orgs"
        orgs.mkdir(parents=True, exist_ok=True)
        seed_path = directory / "seed.yaml"
        seed_path.write_text(yaml.safe_dump(self.seed, sort_keys=False, width=200))
        for org_id, text in self.manifests.items():
            (orgs / f"{org_id}.yaml").write_text(text)
        return seed_path, orgs


def _id(prefix: str, n: int) -> str:
    return f"{prefix}-{n:024d}"


def make_fleet(
    orgs: int = 1,
    members: int = 1000,
    drift: Drift | None = None,
    *,
    seed: int = 0,
    self_grants: bool = True,
) -> Fleet:
    drift = drift or Drift()
    rng = random.Random(seed)
    users: list[dict[str, Any]] = [
        {
            "id": "user-admin",
            "first": "Bench",
            "last": "Admin",
            "email": "admin@bench.test",
            "token": "bench-token",
        },
        {
            "id": "user-admin2",
            "first": "Second",
            "last": "Admin",
            "email": "admin2@bench.test",
            "token": "bench-token-2",
        },
    ]
    seed_orgs, projects, apps = [], [], []
    fleet = Fleet(seed={})
    next_user = 0
    for o in range(orgs):
        org_id = f"org-bench{o:04d}"
        live: dict[str, dict[str, Any]] = {
            "user-admin": {"level": "ADMIN"},
            "user-admin2": {"level": "ADMIN"},
        }
        wanted: dict[str, str] = {"user-admin": "ADMIN", "user-admin2": "ADMIN"}
        member_ids = []
        for _ in range(members + drift.invites):
            uid = f"user-u{next_user:07d}"
            next_user += 1
            users.append(
                {"id": uid, "first": "User", "last": f"N{next_user}", "email": f"{uid}@bench.test"}
            )
            member_ids.append(uid)
        for index, uid in enumerate(member_ids):
            access = rng.choice(PROJECT_ACCESS)
            is_invite = index >= members
            is_removal = index < drift.removals
            if not is_invite:
                live[uid] = {
                    "level": "MEMBER",
                    "allowBillableActivities": False,
                    "appAccess": True,
                    "projectAccess": access,
                }
            if is_removal:
                continue
            want = access
            if not is_invite and rng.random() < drift.access:
                want = rng.choice([a for a in PROJECT_ACCESS if a != access])
            wanted[uid] = (
                f"{{level: MEMBER, allowBillableActivities: false, appAccess: true, projectAccess: {want}}}"
            )
        seed_orgs.append(
            {
                "id": org_id,
                "name": f"Bench org {o}",
                "policies": {"memberListVisibility": "ADMIN", "restrictProjectTransfer": "ADMIN"},
                "members": live,
            }
        )
        for p in range(members // 2):
            projects.append(
                {
                    "id": _id("project", o * 1_000_000 + p),
                    "name": f"project-{o}-{p}",
                    "billTo": org_id,
                    "createdBy": "user-admin2",
                    "created": 1700000000000,
                    "dataUsage": 0.0,
                    "permissions": {"user-admin2": "ADMINISTER"},
                }
            )
        for a in range(max(1, members // 20)):
            apps.append(
                {
                    "id": _id("app", o * 1_000_000 + a),
                    "name": f"app_{o}_{a}",
                    "version": "1.0.0",
                    "billTo": org_id,
                    "developers": ["user-admin2"],
                }
            )
        lines = [
            f"org: {org_id}",
            "members:",
            "  mode: authoritative",
            "  users:",
            *(f"    {uid}: {spec}" for uid, spec in wanted.items()),
            "safety:",
            "  removalBudget:",
            "    members: {count: null, percent: null}",
            "    levels: {count: null, percent: null}",
            "    projectAccess: {count: null, percent: null}",
            "    appAccess: {count: null, percent: null}",
        ]
        if self_grants:
            lines += [
                "selfGrants:",
                "  projects:",
                f'    - {{glob: "project-{o}-1?", reason: bench}}',
                "  apps:",
                f"    - {{name: app_{o}_0, reason: bench}}",
            ]
        fleet.manifests[org_id] = "\n".join(lines) + "\n"
    fleet.seed = {"users": users, "orgs": seed_orgs, "projects": projects, "apps": apps}
    return fleet
