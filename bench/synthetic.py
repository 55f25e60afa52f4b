"""Synthetic fleets for the benchmarks: an emulator seed and the manifests for it.

`make_fleet` builds N orgs of M members (5 projects per 10 members, 1 app per 20),
and manifests that declare every member, with an exact amount of drift per org:
members whose access the manifest changes, users to invite, members to remove.
Deterministic for a given `seed`.

The seed is written as JSON (`seed.json`): the emulator reads it with `json.loads`,
so seeding 50,000 members costs well under a second of parsing instead of a minute
of YAML. The manifests are YAML, one flow mapping per member, as an admin would write.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ACCESS = ["VIEW", "UPLOAD", "CONTRIBUTE", "ADMINISTER"]
ADMINS = ("user-admin", "user-admin2")  # the bench's two org admins; user-admin holds the token
ADMIN_TOKEN = "bench-token"


@dataclass(frozen=True)
class Drift:
    """How far each org's manifest is from the live org, in members."""

    access: int = 0  # members whose projectAccess the manifest changes
    invites: int = 0  # users in the manifest who are not members yet
    removals: int = 0  # members the manifest leaves out (authoritative)


@dataclass
class OrgChanges:
    access: dict[str, str] = field(default_factory=dict)  # user -> new projectAccess
    invites: dict[str, str] = field(default_factory=dict)  # user -> projectAccess
    removals: list[str] = field(default_factory=list)


@dataclass
class Fleet:
    seed: dict[str, Any]
    manifests: dict[str, str] = field(default_factory=dict)  # org id -> YAML text
    # org id -> the changes the manifest asks for, for replaying them with `dx`
    changes: dict[str, OrgChanges] = field(default_factory=dict)

    @property
    def members(self) -> int:
        return sum(len(org["members"]) for org in self.seed["orgs"])

    def write(self, directory: Path) -> tuple[Path, Path]:
        """`seed.json` and `orgs/<org>.yaml` under `directory`; returns both paths."""
        orgs = directory / "orgs"
        orgs.mkdir(parents=True, exist_ok=True)
        seed_path = directory / "seed.json"
        seed_path.write_text(json.dumps(self.seed, separators=(",", ":")))
        for org_id, text in self.manifests.items():
            (orgs / f"{org_id}.yaml").write_text(text)
        return seed_path, orgs


def _id(prefix: str, n: int) -> str:
    return f"{prefix}-{n:024d}"


def _member_spec(access: str) -> str:
    return f"{{level: MEMBER, allowBillableActivities: false, appAccess: true, projectAccess: {access}}}"


def make_fleet(
    orgs: int = 1,
    members: int = 1000,
    drift: Drift | None = None,
    *,
    seed: int = 0,
    self_grants: bool = True,
) -> Fleet:
    """`orgs` orgs of `members` live members each (besides the two admins).

    In each org the first `drift.removals` members are left out of the manifest, the
    next `drift.access` get another projectAccess, and `drift.invites` more users exist
    but are not members yet.
    """
    drift = drift or Drift()
    if drift.removals + drift.access > members:
        raise ValueError("drift.removals + drift.access cannot exceed members")
    rng = random.Random(seed)
    users: list[dict[str, Any]] = [
        {"id": ADMINS[0], "first": "Bench", "last": "Admin", "email": "admin@bench.test"},
        {"id": ADMINS[1], "first": "Second", "last": "Admin", "email": "admin2@bench.test"},
    ]
    users[0]["token"] = ADMIN_TOKEN
    users[1]["token"] = "bench-token-2"
    seed_orgs: list[dict[str, Any]] = []
    projects: list[dict[str, Any]] = []
    apps: list[dict[str, Any]] = []
    fleet = Fleet(seed={})
    next_user = 0
    for o in range(orgs):
        org_id = f"org-bench{o:04d}"
        live: dict[str, dict[str, Any]] = {admin: {"level": "ADMIN"} for admin in ADMINS}
        wanted: dict[str, str] = {admin: "ADMIN" for admin in ADMINS}
        changes = OrgChanges()
        for index in range(members + drift.invites):
            uid = f"user-u{next_user:07d}"
            next_user += 1
            users.append(
                {"id": uid, "first": "User", "last": f"N{next_user}", "email": f"{uid}@bench.test"}
            )
            access = rng.choice(PROJECT_ACCESS)
            if index >= members:  # not a member yet: the manifest invites it
                changes.invites[uid] = access
                wanted[uid] = _member_spec(access)
                continue
            live[uid] = {
                "level": "MEMBER",
                "allowBillableActivities": False,
                "appAccess": True,
                "projectAccess": access,
            }
            if index < drift.removals:
                changes.removals.append(uid)
                continue
            want = access
            if index < drift.removals + drift.access:
                want = rng.choice([a for a in PROJECT_ACCESS if a != access])
                changes.access[uid] = want
            wanted[uid] = _member_spec(want)
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
                    "createdBy": ADMINS[1],
                    "created": 1700000000000,
                    "dataUsage": 0.0,
                    "permissions": {ADMINS[1]: "ADMINISTER"},
                }
            )
        for a in range(max(1, members // 20)):
            apps.append(
                {
                    "id": _id("app", o * 1_000_000 + a),
                    "name": f"app_{o}_{a}",
                    "version": "1.0.0",
                    "billTo": org_id,
                    "developers": [ADMINS[1]],
                }
            )
        lines = [
            f"org: {org_id}",
            "members:",
            "  mode: authoritative",
            "  users:",
            *(f"    {uid}: {spec}" for uid, spec in wanted.items()),
            # No removal budget: the drift is deliberate, and the plan must be applyable.
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
        fleet.changes[org_id] = changes
    fleet.seed = {"users": users, "orgs": seed_orgs, "projects": projects, "apps": apps}
    return fleet
