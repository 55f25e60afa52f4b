"""A big org and its manifest: several hundred changes of every kind dxorg makes, and
the checks that an apply of them landed, each exactly once, and nothing else.

Shared by the fault, crash and load tests and by `bench/soak.py`.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

ORG = "org-big"
CALLER = "user-alice"
GRANT_RECORD = f"dxorg.selfGrant.{CALLER}"
API_TOKEN = "big-alice-token-91c2"
ROOT_TOKEN = "big-root-token-5e7a"
HEC_TOKEN = "hec-big-7f3d9a-secret"
HEC_ENV = "SPLUNK_HEC_TOKEN"
HEC_URL = "https://splunk.example.com/services/collector/event"
MEMBER_FLAGS = ("allowBillableActivities", "appAccess", "projectAccess")
PROJECT_ACCESS = ("NONE", "VIEW", "UPLOAD", "CONTRIBUTE", "ADMINISTER")
ADMIN_ROW = {
    "level": "ADMIN",
    "allowBillableActivities": True,
    "appAccess": True,
    "projectAccess": "ADMINISTER",
}
SEEDED_MEMBER = {
    "level": "MEMBER",
    "allowBillableActivities": False,
    "appAccess": True,
    "projectAccess": "CONTRIBUTE",
}
UNLIMITED = "{count: null, percent: null}"


def platform_id(prefix: str, number: int) -> str:
    return f"{prefix}-{number:024d}"


@dataclass(frozen=True)
class BigOrg:
    """How many of each kind of change. The defaults give about 360 actions, 270 write calls."""

    keep: int = 50
    update: int = 100
    remove: int = 100
    invite: int = 100
    provision: int = 20
    promote: int = 5
    demote: int = 3
    grant_projects: int = 15
    revoke_projects: int = 5
    grant_apps: int = 4
    revoke_apps: int = 2

    # ------------------------------------------------------------ who is who

    def users(self, kind: str, count: int) -> list[str]:
        return [f"user-{kind}{i:03d}" for i in range(count)]

    @property
    def updated(self) -> list[str]:
        return self.users("c", self.update)

    @property
    def removed(self) -> list[str]:
        return self.users("r", self.remove)

    @property
    def invited(self) -> list[str]:
        return self.users("n", self.invite)

    @property
    def accounts(self) -> list[str]:
        return self.users("acct", self.provision)

    def projects(self) -> list[tuple[str, str, bool]]:
        """(id, name, alice holds ADMINISTER now)."""
        grants = [
            (platform_id("project", i), f"grant-{i:02d}", False) for i in range(self.grant_projects)
        ]
        revokes = [
            (platform_id("project", 500 + i), f"old-{i:02d}", True)
            for i in range(self.revoke_projects)
        ]
        return grants + revokes

    def apps(self) -> list[tuple[str, str, bool]]:
        """(id, name, alice is a developer now)."""
        grants = [(platform_id("app", i), f"tool_{i}", False) for i in range(self.grant_apps)]
        revokes = [
            (platform_id("app", 500 + i), f"legacy_{i}", True) for i in range(self.revoke_apps)
        ]
        return grants + revokes

    @staticmethod
    def updated_access(index: int) -> dict[str, Any]:
        """A different change per user: some lower access, some raise it."""
        return {
            "level": "MEMBER",
            "allowBillableActivities": index % 2 == 0,
            "appAccess": index % 3 != 0,
            "projectAccess": ("VIEW", "UPLOAD", "ADMINISTER", "NONE")[index % 4],
        }

    @staticmethod
    def invited_access(index: int) -> dict[str, Any]:
        return {
            "level": "MEMBER",
            "allowBillableActivities": index % 5 == 0,
            "appAccess": index % 2 == 0,
            "projectAccess": PROJECT_ACCESS[index % 5],
        }

    # ------------------------------------------------------------ the platform now

    def seed(self) -> dict[str, Any]:
        everyone = [
            *self.users("k", self.keep),
            *self.updated,
            *self.removed,
            *self.invited,
            *self.users("p", self.promote),
            *self.users("d", self.demote),
        ]
        users = [
            {
                "id": user,
                "first": user[5:].title(),
                "last": "Big",
                "email": f"{user[5:]}@big.example.com",
            }
            for user in everyone
        ]
        users += [
            {
                "id": CALLER,
                "first": "Alice",
                "last": "Admin",
                "email": "alice@big.example.com",
                "token": API_TOKEN,
            },
            {
                "id": "user-root",
                "first": "Root",
                "last": "Admin",
                "email": "root@big.example.com",
                "token": ROOT_TOKEN,
            },
        ]
        members: dict[str, dict[str, Any]] = {CALLER: {"level": "ADMIN"}}
        members["user-root"] = {"level": "ADMIN"}
        for user in [
            *self.users("k", self.keep),
            *self.updated,
            *self.removed,
            *self.users("p", self.promote),
        ]:
            members[user] = dict(SEEDED_MEMBER)
        for user in self.users("d", self.demote):
            members[user] = {"level": "ADMIN"}
        projects = [
            {
                "id": project_id,
                "name": name,
                "billTo": ORG,
                "createdBy": "user-root",
                "created": 1700000000000,
                "dataUsage": 1.0,
                "permissions": {
                    "user-root": "ADMINISTER",
                    **({CALLER: "ADMINISTER"} if has else {}),
                },
                # What dxorg recorded when it made the (now expired) grant: expiry revokes it.
                "properties": {GRANT_RECORD: "NONE"} if has else {},
            }
            for project_id, name, has in self.projects()
        ]
        apps = [
            {
                "id": app_id,
                "name": name,
                "version": "1.0.0",
                "title": name,
                "billTo": ORG,
                "developers": ["user-root", *([CALLER] if has else [])],
                "tags": [GRANT_RECORD] if has else [],
            }
            for app_id, name, has in self.apps()
        ]
        return {
            "users": users,
            "orgs": [
                {
                    "id": ORG,
                    "name": "Big Org",
                    "policies": {"memberListVisibility": "ADMIN", "jobReuse": False},
                    "userProvisioning": True,
                    "members": members,
                }
            ],
            "projects": projects,
            "apps": apps,
        }

    # ------------------------------------------------------------ what the manifest wants

    def manifest(self, adopted: frozenset[str] = frozenset()) -> str:
        """The manifest; `adopted` accounts (verified by a person after a kill left them
        unclaimable) are listed under members.users instead of provisioning."""
        lines = [
            f"org: {ORG}",
            "name: Big Org (managed)",
            "policies: {memberListVisibility: MEMBER, jobReuse: true}",
            "members:",
            "  mode: authoritative",
            "  protected: [alice]",
            "  requiredAdmins: [alice, root]",
            "  users:",
            "    alice: ADMIN",
            "    root: ADMIN",
        ]
        desired = self.expected_members()
        for user, row in sorted(desired.items()):
            if user in (CALLER, "user-root") or (user in self.accounts and user not in adopted):
                continue
            if row["level"] == "ADMIN":
                lines.append(f"    {user}: ADMIN")
            else:
                flags = ", ".join(
                    f"{k}: {str(row[k]).lower() if isinstance(row[k], bool) else row[k]}"
                    for k in MEMBER_FLAGS
                )
                lines.append(f"    {user}: {{level: MEMBER, {flags}}}")
        lines += [
            "selfGrants:",
            "  projects:",
            "    - {glob: 'grant-*', reason: reliability tests}",
            "    - {glob: 'old-*', expires: 2001-01-01, reason: long expired}",
            "  apps:",
            "    - {glob: 'tool_*'}",
            "    - {glob: 'legacy_*', expires: 2001-01-01}",
            "jobLogsForwarding:",
            f"  url: {HEC_URL}",
            f"  tokenEnv: {HEC_ENV}",
        ]
        if set(self.accounts) - adopted:
            lines.append("provisioning:")
        for i, user in enumerate(self.accounts):
            if user in adopted:
                continue
            name = user[5:]
            access = PROJECT_ACCESS[i % 5]
            lines.append(
                f"  - {{username: {name}, email: {name}@big.example.com, first: A, last: Count,"
                f" projectAccess: {access}}}"
            )
        lines += [
            "safety:",
            "  minAdmins: 2",
            "  removalBudget:",
            f"    members: {UNLIMITED}",
            f"    levels: {UNLIMITED}",
            f"    projectAccess: {UNLIMITED}",
            f"    appAccess: {UNLIMITED}",
        ]
        return "\n".join(lines) + "\n"

    def expected_members(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {CALLER: ADMIN_ROW, "user-root": ADMIN_ROW}
        for user in self.users("k", self.keep):
            out[user] = dict(SEEDED_MEMBER)
        for i, user in enumerate(self.updated):
            out[user] = self.updated_access(i)
        for i, user in enumerate(self.invited):
            out[user] = self.invited_access(i)
        for i, user in enumerate(self.accounts):
            out[user] = {
                "level": "MEMBER",
                "allowBillableActivities": False,
                "appAccess": True,
                "projectAccess": PROJECT_ACCESS[i % 5],
            }
        for user in self.users("p", self.promote):
            out[user] = ADMIN_ROW
        for i, user in enumerate(self.users("d", self.demote)):
            out[user] = {
                "level": "MEMBER",
                "allowBillableActivities": True,
                "appAccess": i % 2 == 0,
                "projectAccess": "UPLOAD",
            }
        return out

    # ------------------------------------------------------------ checks

    def state_differences(self, state: dict[str, Any]) -> list[str]:
        """How the emulator's state differs from the manifest; empty when converged."""
        problems = []
        org = next(o for o in state["orgs"] if o["id"] == ORG)
        members, expected = org["members"], self.expected_members()
        for user in sorted(set(members) | set(expected)):
            if members.get(user) != expected.get(user):
                problems.append(f"member {user}: {members.get(user)} != {expected.get(user)}")
        if org["name"] != "Big Org (managed)":
            problems.append(f"name {org['name']!r}")
        if org["policies"].get("memberListVisibility") != "MEMBER" or not org["policies"].get(
            "jobReuse"
        ):
            problems.append(f"policies {org['policies']}")
        forwarding = org.get("jobLogsForwarding") or {}
        signature = hashlib.sha256(HEC_TOKEN.encode()).hexdigest()
        if forwarding.get("url") != HEC_URL or forwarding.get("tokenSignature") != signature:
            problems.append(f"forwarding {forwarding}")
        projects = {p["id"]: p for p in state["projects"]}
        for project_id, name, _ in self.projects():
            want = "ADMINISTER" if name.startswith("grant-") else None
            have = projects[project_id]["permissions"].get(CALLER)
            if have != want:
                problems.append(f"project {name}: alice has {have}, wants {want}")
        apps = {a["id"]: a for a in state["apps"]}
        for app_id, name, _ in self.apps():
            is_developer = CALLER in apps[app_id]["developers"]
            if is_developer != name.startswith("tool_"):
                problems.append(f"app {name}: alice developer {is_developer}")
        for account in self.accounts:
            if not any(u["id"] == account for u in state["users"]):
                problems.append(f"account {account} missing")
        return problems

    def landing_counts(self, requests: list[dict[str, Any]]) -> dict[str, Counter[str]]:
        """How many times each non-idempotent call took effect, from the request log.

        A call took effect when the emulator processed it (status 200), whether or not
        the answer reached the client (drop-after logs the lost 200).
        """
        counts: dict[str, Counter[str]] = {
            "invite": Counter(),
            "removeMember": Counter(),
            "new": Counter(),
            "project-invite": Counter(),
        }
        for call in requests:
            if call["status"] != 200 or not isinstance(call["body"], dict):
                continue
            route, body = call["route"], call["body"]
            if route == f"/{ORG}/invite":
                counts["invite"][body["invitee"]] += 1
            elif route == f"/{ORG}/removeMember":
                counts["removeMember"][body["user"]] += 1
            elif route == "/user/new":
                counts["new"][f"user-{body['username']}"] += 1
            elif route.startswith("/project-") and route.endswith("/invite"):
                counts["project-invite"][route] += 1
        return counts

    def exactly_once_problems(self, requests: list[dict[str, Any]]) -> list[str]:
        """Each account and project self-grant landed once: none lost, none doubled.

        Org invites and removals are retry-safe on the platform (wrapper_table.json): a
        repeat after a lost answer is accepted and changes nothing, so they may show more
        than one 200; that they are each made is checked on the state, and that none was
        lost here (at least one landing each).
        """
        counts = self.landing_counts(requests)
        problems = [
            f"{kind} {key} never landed"
            for kind, wanted in (
                ("invite", set(self.invited) | set(self.accounts)),
                ("removeMember", set(self.removed)),
            )
            for key in sorted(wanted)
            if counts[kind][key] < 1
        ]
        expected = {
            "new": set(self.accounts),
            "project-invite": {
                f"/{pid}/invite" for pid, name, _ in self.projects() if name.startswith("grant-")
            },
        }
        for kind, wanted in expected.items():
            landed = counts[kind]
            for key in sorted(wanted | set(landed)):
                if landed[key] != (1 if key in wanted else 0):
                    problems.append(f"{kind} {key} landed {landed[key]} time(s)")
        return problems


def member_row_problems(members: dict[str, dict[str, Any]]) -> list[str]:
    """Every member row a complete, valid membership (no half-made change)."""
    problems = []
    for user, row in members.items():
        if row.get("level") not in ("ADMIN", "MEMBER"):
            problems.append(f"{user}: level {row.get('level')!r}")
        elif row["level"] == "ADMIN" and row != ADMIN_ROW:
            problems.append(f"{user}: ADMIN without full access {row}")
        elif (
            not isinstance(row.get("allowBillableActivities"), bool)
            or not isinstance(row.get("appAccess"), bool)
            or row.get("projectAccess") not in PROJECT_ACCESS
        ):
            problems.append(f"{user}: incomplete row {row}")
    return problems
