"""Who may do what: org memberships, admin checks, expiry, and a user's level on projects."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.emulator.api_errors import (
    InvalidState,
    OrgExpired,
    PermissionDenied,
    ResourceNotFound,
)

ORG_LEVELS: tuple[str, ...] = ("ADMIN", "MEMBER")
PROJECT_ACCESS: tuple[str, ...] = ("ADMINISTER", "CONTRIBUTE", "UPLOAD", "VIEW", "NONE")
PROJECT_LEVELS: tuple[str, ...] = ("VIEW", "UPLOAD", "CONTRIBUTE", "ADMINISTER")
LEVEL_RANK: dict[str, int] = {"NONE": 0, "VIEW": 1, "UPLOAD": 2, "CONTRIBUTE": 3, "ADMINISTER": 4}
MEMBER_LIST_VISIBILITY: tuple[str, ...] = ("ADMIN", "MEMBER", "PUBLIC")
PROJECT_TRANSFER: tuple[str, ...] = ("ADMIN", "MEMBER")


# The nine member permission flags, in the order the platform lists them, with their columns.
FLAG_COLUMNS: dict[str, str] = {
    "allowBillableActivities": "allow_billable",
    "appAccess": "app_access",
    "projectAccess": "project_access",
    "archivalManagement": "archival_management",
    "dataDeletion": "data_deletion",
    "dataSearch": "data_search",
    "projectMemberDemotion": "project_member_demotion",
    "treManagement": "tre_management",
    "cloudIntegrationManagement": "cloud_integration_management",
}
# Flags an ADMIN always holds at these values whatever a request says (dx-toolkit's tests:
# an ADMIN row shows them so, and setMemberAccess refuses ADMIN together with one of them).
ADMIN_FORCED: dict[str, bool | str] = {
    "allowBillableActivities": True,
    "appAccess": True,
    "projectAccess": "ADMINISTER",
    "archivalManagement": True,
    "dataDeletion": True,
    "dataSearch": True,
    "projectMemberDemotion": True,
}
# Flags set independently of the level: false for a default ADMIN and MEMBER alike (the
# tests), and the Organizations page says treManagement is configured for both levels.
INDEPENDENT_FLAGS: tuple[str, ...] = ("treManagement", "cloudIntegrationManagement")
# What a MEMBER gets for every flag a request leaves out.
MEMBER_DEFAULT_FLAGS: dict[str, bool | str] = {
    "allowBillableActivities": False,
    "appAccess": True,
    "projectAccess": "CONTRIBUTE",
    "archivalManagement": False,
    "dataDeletion": False,
    "dataSearch": False,
    "projectMemberDemotion": False,
    "treManagement": False,
    "cloudIntegrationManagement": False,
}
FlagValue = bool | str


@dataclass(frozen=True)
class Membership:
    """A level and all nine flags (an ADMIN's forced flags always at their ADMIN values)."""

    level: str
    flags: Mapping[str, FlagValue]

    @classmethod
    def admin(cls, independent: Mapping[str, FlagValue] | None = None) -> Membership:
        chosen = independent or {}
        return cls(
            "ADMIN",
            {
                **MEMBER_DEFAULT_FLAGS,
                **ADMIN_FORCED,
                **{name: chosen[name] for name in INDEPENDENT_FLAGS if name in chosen},
            },
        )

    @classmethod
    def member(cls, flags: Mapping[str, FlagValue] | None = None) -> Membership:
        return cls("MEMBER", {**MEMBER_DEFAULT_FLAGS, **(flags or {})})

    @property
    def is_admin(self) -> bool:
        return self.level == "ADMIN"

    @property
    def allow_billable(self) -> bool:
        return bool(self.flags["allowBillableActivities"])

    @property
    def project_access(self) -> str:
        return str(self.flags["projectAccess"])

    def member_row(self, user_id: str) -> dict[str, Any]:
        """A findMembers row: id, level and the nine flags."""
        return {"id": user_id, "level": self.level, **self.ordered_flags()}

    def ordered_flags(self) -> dict[str, FlagValue]:
        return {name: self.flags[name] for name in FLAG_COLUMNS}

    def column_values(self) -> tuple[Any, ...]:
        """level, then each flag in FLAG_COLUMNS order, as stored."""
        return (
            self.level,
            *(
                value if isinstance(value, str) else int(value)
                for value in self.ordered_flags().values()
            ),
        )

    def differences(self, other: Membership) -> list[str]:
        """`name: ours -> theirs` for the level and each flag that differs."""
        changes = [f"level: {self.level} -> {other.level}"] if self.level != other.level else []
        changes.extend(
            f"{name}: {json.dumps(self.flags[name])} -> {json.dumps(other.flags[name])}"
            for name in FLAG_COLUMNS
            if self.flags[name] != other.flags[name]
        )
        return changes


# A new ADMIN with nothing else asked for (an org's creator).
ADMIN_ACCESS = Membership.admin()
MEMBER_COLUMNS = ("level", *FLAG_COLUMNS.values())


def membership_from_row(row: sqlite3.Row) -> Membership:
    flags: dict[str, FlagValue] = {
        name: row[column] if name == "projectAccess" else bool(row[column])
        for name, column in FLAG_COLUMNS.items()
    }
    if row["level"] == "ADMIN":
        # Forced whatever is stored (rows written before a flag existed hold its default).
        return Membership.admin(flags)
    return Membership.member(flags)


def load_user(conn: sqlite3.Connection, user_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM users WHERE id = ?", (user_id,)
    ).fetchone()
    if row is None:
        raise ResourceNotFound(f'The specified user "{user_id}" could not be found')
    return row


def load_org(conn: sqlite3.Connection, org_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM orgs WHERE id = ?", (org_id,)).fetchone()
    if row is None:
        raise ResourceNotFound(f'The specified org "{org_id}" could not be found')
    return row


def org_policies(org: sqlite3.Row) -> dict[str, Any]:
    policies: dict[str, Any] = json.loads(org["policies"])
    return policies


def membership_of(conn: sqlite3.Connection, org_id: str, user_id: str) -> Membership | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM members WHERE org_id = ? AND user_id = ?", (org_id, user_id)
    ).fetchone()
    return None if row is None else membership_from_row(row)


def require_member(conn: sqlite3.Connection, org_id: str, user_id: str) -> Membership:
    membership = membership_of(conn, org_id, user_id)
    if membership is None:
        raise PermissionDenied(f"{user_id} is not a member of {org_id}")
    return membership


def require_admin(conn: sqlite3.Connection, org_id: str, user_id: str) -> Membership:
    membership = membership_of(conn, org_id, user_id)
    if membership is None or not membership.is_admin:
        raise PermissionDenied(f"ADMIN permission is required in {org_id}")
    return membership


def is_expired(org: sqlite3.Row, now: int) -> bool:
    expires_at = org["expires_at"]
    return expires_at is not None and expires_at <= now


def ensure_not_expired(org: sqlite3.Row, now: int) -> None:
    if is_expired(org, now):
        raise OrgExpired(f"The org {org['id']} expired at {org['expires_at']}")


def admin_ids(conn: sqlite3.Connection, org_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT user_id FROM members WHERE org_id = ? AND level = 'ADMIN' ORDER BY user_id",
        (org_id,),
    ).fetchall()
    return [row["user_id"] for row in rows]


def ensure_org_keeps_an_admin(conn: sqlite3.Connection, org_id: str) -> None:
    """The platform never lets an org end up with no ADMIN."""
    if not admin_ids(conn, org_id):
        raise InvalidState(f"{org_id} must keep at least one ADMIN member")


def lower_level(first: str, second: str) -> str:
    return first if LEVEL_RANK[first] <= LEVEL_RANK[second] else second


def higher_level(first: str | None, second: str | None) -> str | None:
    if first is None:
        return second
    if second is None:
        return first
    return first if LEVEL_RANK[first] >= LEVEL_RANK[second] else second


def project_levels(
    conn: sqlite3.Connection, user_id: str, project_ids: Iterable[str]
) -> dict[str, str | None]:
    """The user's effective level on each project, or None without access.

    Explicit grants count as they are; a grant to an org counts in full for its ADMINs and
    is capped by `projectAccess` for its MEMBERs; PUBLIC grants VIEW.
    """
    ids = list(project_ids)
    levels: dict[str, str | None] = dict.fromkeys(ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"""
            SELECT pp.project_id, pp.entity_id, pp.level, m.level AS org_level,
                   m.project_access
            FROM project_permissions pp
            LEFT JOIN members m ON m.org_id = pp.entity_id AND m.user_id = ?
            WHERE pp.project_id IN ({marks})
              AND (pp.entity_id = ? OR pp.entity_id = 'PUBLIC' OR m.user_id IS NOT NULL)
            """,
            (user_id, *chunk, user_id),
        ).fetchall()
        for row in rows:
            if row["entity_id"] == user_id:
                granted = row["level"]
            elif row["entity_id"] == "PUBLIC":
                granted = "VIEW"
            elif row["org_level"] == "ADMIN":
                granted = row["level"]
            else:
                granted = lower_level(row["level"], row["project_access"])
            if granted == "NONE":
                continue
            levels[row["project_id"]] = higher_level(levels[row["project_id"]], granted)
    return levels


def record_admin_count(conn: sqlite3.Connection, org_id: str, method: str, now: int) -> None:
    """Admin-count history, written in the same transaction as the write it follows."""
    admins = admin_ids(conn, org_id)
    conn.execute(
        "INSERT INTO admin_history (org_id, admins, admin_ids, method, at) VALUES (?, ?, ?, ?, ?)",
        (org_id, len(admins), json.dumps(admins), method, now),
    )
