"""What a plan records of the live objects it read: their values, and fingerprints of them. Pure.

Every object has a key (`plan.ObjectKey`) and a JSON value as read (absent objects too:
``None``). A plan keeps the value of each object its actions touch, so that a refusal can
say what changed since, and a short fingerprint of every object read; both by the key's text.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from reconciler.access_rules import access_json
from reconciler.model import TOP_LEVEL_SETTINGS, Access, LiveApp, LiveOrg, LiveProject
from reconciler.plan import FORWARDING_KEY, ORG_KEY, Action, ObjectKey, ObjectKind, fingerprint


def live_values(live: LiveOrg, keys: Iterable[ObjectKey]) -> dict[str, object]:
    """The JSON value of each live object in `keys`, as the read returned it, by key text."""
    projects = {p.project_id: p for p in live.projects}
    apps = {a.app_id: a for a in live.apps}
    out: dict[str, object] = {}
    for key in keys:
        ident = key.ident
        value: object
        match key.kind:
            case ObjectKind.ORG:
                value = org_value(live)
            case ObjectKind.FORWARDING:
                fwd = live.forwarding
                value = {"url": fwd.url, "tokenSignature": fwd.token_signature} if fwd else None
            case ObjectKind.MEMBER:
                member = live.members.get(ident)
                value = access_json(member.access) if member else None
            case ObjectKind.ACCOUNT:
                value = ident in live.existing_accounts or ident in live.members
            case ObjectKind.PROJECT:
                value = _project_value(projects[ident]) if ident in projects else None
            case ObjectKind.APP:
                value = _app_value(apps[ident]) if ident in apps else None
        out[str(key)] = value
    return out


def org_value(live: LiveOrg) -> dict[str, object]:
    top_level = {s.name: live.settings.get(s.name) for s in TOP_LEVEL_SETTINGS}
    return {"name": live.name, "policies": dict(live.policies), **top_level}


def touched_values(live: LiveOrg, actions: Iterable[Action]) -> dict[str, object]:
    """The live value of every object the actions were planned from, by key text."""
    return live_values(live, sorted({key for action in actions for key in action.touches}, key=str))


def _project_value(project: LiveProject) -> object:
    value: dict[str, object] = {"level": project.access, "recorded": project.grant_record}
    if project.settings is not None:
        # Read for project policies: a setting or tag changed since the plan makes it stale.
        value |= {"settings": dict(project.settings), "tags": list(project.tags)}
        value["version"] = project.version
    return value


def _app_value(app: LiveApp) -> object:
    if app.developers is None:
        return None  # not read: no grant selects it
    return {"developers": list(app.developers), "recorded": app.grant_recorded}


@lru_cache(maxsize=1024)
def _access_fingerprint(access: Access) -> str:
    # A member's fingerprint depends only on its Access, of which an org has a few dozen
    # distinct values: hashing each once, not once per member, keeps big orgs cheap.
    return fingerprint(access_json(access))


def live_fingerprints(live: LiveOrg, extra: Iterable[ObjectKey] = ()) -> dict[str, str]:
    """A fingerprint of every live object the read returned, and of each key in `extra`,
    by key text."""
    out: dict[str, str] = {}
    for user_id, member in live.members.items():
        out[str(ObjectKey.member(user_id))] = _access_fingerprint(member.access)
    for project in live.projects:
        out[str(ObjectKey.project(project.project_id))] = fingerprint(_project_value(project))
    for app in live.apps:
        if app.developers is not None:
            out[str(ObjectKey.app(app.app_id))] = fingerprint(_app_value(app))
    # The org, its forwarding and the absent objects `extra` names: valued in one pass.
    others = [ORG_KEY, FORWARDING_KEY, *(key for key in extra if str(key) not in out)]
    for key, value in live_values(live, others).items():
        out[key] = fingerprint(value)
    return dict(sorted(out.items()))
