"""Small builders for the core's records, so tests say only what matters to them."""

from __future__ import annotations

from datetime import date

from reconciler.model import (
    Access,
    DesiredMember,
    DesiredMembership,
    DesiredOrg,
    LiveMember,
    LiveOrg,
    SafetySettings,
)
from reconciler.planner import PlanOptions

TODAY = date(2026, 11, 26)
NOW_MS = 1_795_000_000_000  # 2026-11-18, close enough to TODAY for expiry maths in tests


def options(**kwargs: object) -> PlanOptions:
    return PlanOptions(today=TODAY, now_ms=NOW_MS, **kwargs)  # type: ignore[arg-type]


def member(
    level: str = "MEMBER",
    billable: bool = False,
    app: bool = True,
    project: str = "CONTRIBUTE",
    **flags: object,
) -> Access:
    """An Access; `flags` sets any other flag by API name (`treManagement=True`)."""
    if level == "ADMIN":
        return Access.admin(flags)  # type: ignore[arg-type]
    values = {"allowBillableActivities": billable, "appAccess": app, "projectAccess": project}
    return Access.member({**values, **flags})  # type: ignore[dict-item]


def live_org(
    members: dict[str, Access], *, caller: str = "user-alice", **kwargs: object
) -> LiveOrg:
    return LiveOrg(
        org_id="org-demo",
        name=str(kwargs.pop("name", "Demo")),
        caller=caller,
        policies=kwargs.pop(
            "policies", {"memberListVisibility": "ADMIN", "restrictProjectTransfer": "ADMIN"}
        ),  # type: ignore[arg-type]
        members={uid: LiveMember(uid, access) for uid, access in members.items()},
        projects=kwargs.pop("projects", ()),  # type: ignore[arg-type]
        apps=kwargs.pop("apps", ()),  # type: ignore[arg-type]
        forwarding=kwargs.pop("forwarding", None),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def desired_org(
    members: dict[str, DesiredMember] | None = None,
    *,
    mode: str = "authoritative",
    protected: frozenset[str] = frozenset(),
    required_admins: frozenset[str] = frozenset(),
    safety: SafetySettings | None = None,
    **kwargs: object,
) -> DesiredOrg:
    membership = (
        DesiredMembership(mode, members, protected, required_admins)  # type: ignore[arg-type]
        if members is not None
        else None
    )
    return DesiredOrg(
        org_id="org-demo",
        source="orgs/demo.yaml",
        membership=membership,
        safety=safety or SafetySettings(),
        **kwargs,  # type: ignore[arg-type]
    )


def want(user_id: str, level: str = "MEMBER", **flags: object) -> DesiredMember:
    """A desired member; `billable`, `app`, `project` or any flag by API name manage it."""
    short = {"billable": "allowBillableActivities", "app": "appAccess", "project": "projectAccess"}
    managed = {short.get(key, key): value for key, value in flags.items() if value is not None}
    return DesiredMember(user_id, level, managed)  # type: ignore[arg-type]
