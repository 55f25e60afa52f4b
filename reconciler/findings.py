"""What desired x live shows that is not itself a change: read-only flags the manifest sets
to another value, self-grants in a state no action resolves, the projects each project
policy covers. Pure.

The diff plans actions from the same findings; the plan warnings and the access review
tell them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from reconciler.access_rules import READ_ONLY_FLAGS, grantee_allowed, target_access
from reconciler.model import (
    AppGrant,
    DesiredMember,
    DesiredOrg,
    FlagValue,
    LiveOrg,
    LiveProject,
    PermissionFlag,
    PolicyException,
    ProjectGrant,
    ProjectPolicy,
    SelfGrants,
    can_write_record,
    location_text,
    selects,
)

# ---------------------------------------------------------------- read-only flags


@dataclass(frozen=True)
class ReadOnlyDifference:
    """A read-only flag the manifest sets to a value the member will not have after the
    plan: dxorg cannot set it, so the plan warns instead of acting."""

    member: DesiredMember
    flag: PermissionFlag
    wanted: FlagValue
    planned: FlagValue  # what the member has after the plan (live, or the level's default)
    invited: bool  # not a member yet


def read_only_differences(desired: DesiredOrg, live: LiveOrg) -> list[ReadOnlyDifference]:
    membership = desired.membership
    if membership is None:
        return []
    out = []
    for user_id, want in sorted(membership.members.items()):
        declared = [f for f in READ_ONLY_FLAGS if f.name in want.flags]
        if not declared:
            continue
        have = live.members.get(user_id)
        after = target_access(want.level, want.flags, have.access if have else None)
        out += [
            ReadOnlyDifference(want, f, want.flags[f.name], after[f.name], have is None)
            for f in declared
            if want.flags[f.name] != after[f.name]
        ]
    return out


# ---------------------------------------------------------------- self-grants


Grant = TypeVar("Grant", ProjectGrant, AppGrant)


def grant_verdict(
    grants: Sequence[Grant], object_id: str, name: str, today: date, *, recorded: bool
) -> tuple[bool, Grant | None] | None:
    """Whether some grant for this object is active (and which), or all have expired.

    An active grant wins over expired ones, so an object still covered by a later or
    open-ended grant is never revoked. When no grant selects the object: None, unless it
    carries dxorg's record of a self-grant (`recorded`): then `(False, None)`, over like an
    expired grant, since no grant covers the access dxorg added any more (the grant was
    removed from the manifest, its selector changed, or the project was renamed).
    """
    matching = [g for g in grants if selects(g.selector, object_id, name)]
    if not matching:
        return (False, None) if recorded else None
    active = [g for g in matching if g.expires is None or g.expires >= today]
    if active:
        return True, active[0]
    return False, max(matching, key=lambda g: g.expires or today)


def stale_record(record: str | None, access: str) -> bool:
    """A record naming another level than the caller has, which dxorg cannot rewrite first."""
    return record is not None and record != access and not can_write_record(access)


@dataclass(frozen=True)
class GrantFinding:
    """A self-granted object dxorg will not act on: `drift` (access a person must decide
    about, reported as a difference) or a harmless record left behind (a warning)."""

    grant: ProjectGrant | AppGrant | None  # None: a record no grant selects any more
    object_id: str
    name: str
    kind: str  # "unrecorded" | "stale-record" | "record-left"
    live: str  # the caller's access now, in words
    recorded: str | None = None  # the project record's level, when there is one

    @property
    def drift(self) -> bool:
        return self.kind != "record-left"


def grant_findings(desired: DesiredOrg, live: LiveOrg, today: date) -> list[GrantFinding]:
    """The states a self-grant can be left in that no action of the plan resolves.

    - `unrecorded`: an expired grant whose access the caller still holds with no record
      of dxorg adding it (a project the admin created, or a grant whose record call was
      lost): revoking could take away access that was there before, so it is drift for a
      person to decide, never revoked.
    - `stale-record`: an active grant to make on a project whose record names a level the
      caller no longer has, at a level too low to correct the record before granting:
      granting could let expiry give back the wrong level, so it waits for a person.
    - `record-left`: an expired grant already revoked whose record stays, because at
      the level given back the caller may no longer clear it: harmless, warned about.
    """
    grants = desired.self_grants or SelfGrants(admin=None)
    if not grantee_allowed(desired, live.caller):
        return []
    out: list[GrantFinding] = []
    for project in live.projects:
        verdict = grant_verdict(
            grants.projects,
            project.project_id,
            project.name,
            today,
            recorded=project.grant_record is not None,
        )
        if verdict is None:
            continue
        active, grant = verdict
        access, record = project.access, project.grant_record
        found = None
        if active and access != "ADMINISTER" and stale_record(record, access):
            found = "stale-record"
        elif not active and access == "ADMINISTER" and record is None:
            found = "unrecorded"
        elif (
            not active
            and access != "ADMINISTER"
            and record is not None
            and not can_write_record(access)
        ):
            found = "record-left"
        if found:
            out.append(GrantFinding(grant, project.project_id, project.name, found, access, record))
    for app in live.apps:
        app_verdict = grant_verdict(
            grants.apps, app.app_id, app.name, today, recorded=app.grant_recorded
        )
        if app_verdict is None or app.developers is None:
            continue
        app_active, app_grant = app_verdict
        developer = live.caller in app.developers
        if app_active:
            continue
        if developer and not app.grant_recorded:
            out.append(GrantFinding(app_grant, app.app_id, app.name, "unrecorded", "developer"))
        elif not developer and app.grant_recorded:
            out.append(GrantFinding(app_grant, app.app_id, app.name, "record-left", "none"))
    return out


# ---------------------------------------------------------------- project policies


@dataclass(frozen=True)
class PolicyFinding:
    """One project a policy covers, and how it stands: the required settings it lacks, and
    the policy's exception for it (active: the project is exempt)."""

    policy: ProjectPolicy
    project: LiveProject
    missing: tuple[str, ...]
    exception: PolicyException | None
    exempt: bool

    @property
    def compliant(self) -> bool:
        return not self.missing


def policy_findings(desired: DesiredOrg, live: LiveOrg, today: date) -> list[PolicyFinding]:
    """Every (policy, project it covers) of the org, in policy then project order."""
    out = []
    for policy in desired.project_policies:
        for project in sorted(live.projects, key=lambda p: (p.name, p.project_id)):
            if not policy.selector.selects(project.project_id, project.name, project.tags):
                continue
            have = project.settings or {}
            exception = policy.exception_for(project.project_id)
            out.append(
                PolicyFinding(
                    policy,
                    project,
                    tuple(s for s in policy.require if not have.get(s, False)),
                    exception,
                    exception is not None and exception.active(today),
                )
            )
    return out


def policy_text(policy: ProjectPolicy, source: str) -> str:
    return f"policy {policy.name}, {location_text(policy.where, source)}"
