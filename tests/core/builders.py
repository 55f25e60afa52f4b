"""Small builders for the core's records, so tests say only what matters to them."""

from __future__ import annotations

from datetime import date

from reconciler.model import (
    Access,
    DesiredMember,
    DesiredOrg,
    LiveMember,
    LiveOrg,
    Membership,
    SafetySettings,
)
from reconciler.planning import PlanOptions

TODAY = date(2026, 11, 26)
NOW_MS = 1_795_000_000_000  # 2026-11-18, close enough to TODAY for expiry maths in tests


def options(**kwargs: object) -> PlanOptions:
    return PlanOptions(today=TODAY, now_ms=NOW_MS, **kwargs)  # type: ignore[arg-type]


def member(
    level: str = "MEMBER", billable: bool = False, app: bool = True, project: str = "CONTRIBUTE"
) -> Access:
    return Access.admin() if level == "ADMIN" else Access("MEMBER", billable, app, project)  # type: ignore[arg-type]


def live_org(
    members: dict[str, Access], *, caller: str = "user-alice", **kwargs: object
) -> LiveOrg:
    return LiveOrg(
        org_id="org-demo",
        name=str(kwargs.pop("name", "Demo")),
        caller=caller,
        caller_level="ADMIN",
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
        Membership(mode, members, protected, required_admins)  # type: ignore[arg-type]
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
    return DesiredMember(
        user_id,
        level,  # type: ignore[arg-type]
        flags.get("billable"),  # type: ignore[arg-type]
        flags.get("app"),  # type: ignore[arg-type]
        flags.get("project"),  # type: ignore[arg-type]
    )
