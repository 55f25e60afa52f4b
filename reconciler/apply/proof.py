"""Proving a reviewed plan before anything is written. Pure: the caller does the reading.

A plan file is untrusted input: its own verdict (`applyable`, `violations`) never lets
anything be written. It can only take writes away: an org the review showed refused stays
refused (the verdict is part of what was reviewed, like the actions and the calls). What
is applied is a fresh plan, made from the same manifests (their digests must
match) with the same options, on the live state read just now, with every rail checked
again; and only if it is exactly the plan that was reviewed: the same actions, the same
calls in the same order, planned from the same live values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from deepdiff import DeepDiff

from reconciler.errors import DivergedPlanError, StalePlanError, UnsafePlanError
from reconciler.plan import OrgPlan, Plan, PlatformIdentity, fingerprint
from reconciler.render import inert


def _listed(lines: Sequence[str]) -> str:
    """A refusal's list, one line per item: the names and values in an item are foreign
    text, and a line break in one must not fake another item (render.inert)."""
    return "\n  " + "\n  ".join(inert.terminal(line, limit=None) for line in lines)


def refuse_other_platform(reviewed: Plan, here: PlatformIdentity) -> None:
    """A plan is bound to the platform and the user it was read from: org ids are not
    unique across platforms (a sandbox, a staging server and production can all have
    `org-demo`), and another user's token is another review."""
    planned = reviewed.platform
    problems = []
    if (planned.api_server, planned.sandbox_state) != (here.api_server, here.sandbox_state):
        problems.append(f"the plan was read from {planned.where}; this apply is on {here.where}")
    if planned.user != here.user:
        problems.append(f"the plan was made as {planned.user}; this apply's token is {here.user}'s")
    if problems:
        raise DivergedPlanError(
            "the plan was made on another platform or as another user, nothing was applied "
            "(plan again here):" + _listed(problems)
        )


def refuse_other_options(
    reviewed: Plan, overrides: frozenset[str], skip_removals: bool, only_expiries: bool = False
) -> None:
    """Options that change what is applied must be the ones the plan was made with."""
    problems = []
    if frozenset(reviewed.overrides) != overrides:
        planned = ", ".join(reviewed.overrides) or "none"
        given = ", ".join(sorted(overrides)) or "none"
        problems.append(
            f"the plan was made with overrides: {planned}; apply was given: {given} "
            "(give apply exactly the plan's --override options)"
        )
    for option, planned_with, given_now in (
        ("--skip-removals", reviewed.skip_removals, skip_removals),
        ("--only-expiries", reviewed.only_expiries, only_expiries),
    ):
        if planned_with != given_now:
            problems.append(
                f"the plan was made {'with' if planned_with else 'without'} {option}; apply "
                f"was given it {'not' if planned_with else 'too'} (the option must be the "
                "same for both)"
            )
    if problems:
        raise DivergedPlanError("the plan cannot be applied:" + _listed(problems))


def refuse_changed_manifests(
    reviewed: Sequence[OrgPlan], now: Mapping[str, Mapping[str, str]]
) -> None:
    """Each org's manifest files must be byte for byte the ones the plan was made from.

    `now`: per org id, sha256 of each file its manifest was just built from, by path.
    """
    changed = []
    for org in reviewed:
        digests = now.get(org.org_id, {})
        if not org.manifests:
            changed.append(f"{org.org_id}: the plan records no manifest digests")
            continue
        for path in sorted(set(org.manifests) | set(digests)):
            if org.manifests.get(path) != digests.get(path):
                what = (
                    "is no longer part of it"
                    if path not in digests
                    else "was not part of it"
                    if path not in org.manifests
                    else "changed"
                )
                changed.append(f"{org.org_id}: {path} {what} since the plan")
    if changed:
        raise DivergedPlanError(
            "the manifests are not the ones the plan was made from, nothing was applied "
            "(plan again):" + _listed(changed)
        )


def refuse_unless_same(
    reviewed: Sequence[OrgPlan],
    fresh: Mapping[str, OrgPlan],
    values_now: Mapping[str, Mapping[str, object]],
) -> None:
    """Refuse, naming every difference, unless each fresh org plan is the reviewed one.

    `values_now`: per org, the live value now of every object either plan touches.
    """
    stale: list[str] = []
    diverged: list[str] = []
    for org in reviewed:
        current = fresh[org.org_id]
        if current.error:
            error = inert.terminal(current.error, limit=None)
            raise UnsafePlanError(f"{org.org_id}: cannot plan the live org again: {error}")
        if current.caller != org.caller:
            stale.append(f"{org.org_id}: planned as {org.caller}, applying as {current.caller}")
            continue
        changes = changed_objects(org, values_now.get(org.org_id, {}), _planned_values(current))
        stale += [f"{org.org_id}: {line}" for line in changes]
        if not changes and signature(org) != signature(current):
            diverged += _divergence(org, current)
    if stale:
        raise StalePlanError(
            "the plan is stale: these live objects changed since it was made, nothing was "
            "applied (plan again):" + _listed(stale)
        )
    if diverged:
        raise DivergedPlanError(
            "the plan is not what the manifests and the live orgs give now (a changed plan "
            "file, or changes made since), nothing was applied (plan again):" + _listed(diverged)
        )


def refuse_unplanned(orgs: Sequence[OrgPlan]) -> None:
    """An org that could not be planned leaves the review incomplete: nothing is applied."""
    problems = [f"{org.org_id}: not planned: {org.error}" for org in orgs if org.error]
    if problems:
        raise UnsafePlanError("the plan cannot be applied:" + _listed(problems))


def rail_refusals(orgs: Sequence[OrgPlan]) -> dict[str, tuple[str, ...]]:
    """Per org whose plan breaks a rail (an override counts only if it was given), the
    rails it breaks, one line each. Every rail is about one org, so such an org is refused
    on its own: nothing is written to it, and the others are applied (one org's unproven
    account must not keep another's expired access in place)."""
    return {
        org.org_id: tuple(f"{v.rule}: {v.message}" for v in org.blocking_violations)
        for org in orgs
        if org.blocking_violations
    }


def refuse_unsafe(orgs: Sequence[OrgPlan]) -> dict[str, tuple[str, ...]]:
    """The orgs to refuse one by one (`rail_refusals`); or refuse the whole apply when an
    org could not be planned, or when no org with changes is left once those are set
    aside (there is nothing to apply)."""
    refuse_unplanned(orgs)
    refused = rail_refusals(orgs)
    if refused and not any(o.actions for o in orgs if o.org_id not in refused):
        problems = [f"{org_id}: {line}" for org_id, lines in refused.items() for line in lines]
        raise UnsafePlanError("the plan cannot be applied:" + _listed(problems))
    return refused


# Why an org is refused: the review showed it refused, or its fresh plan breaks a rail.
REFUSED_IN_REVIEW = "refused in the reviewed plan"
BREAKS_RAILS = "its plan breaks safety rails"


def refuse_as_reviewed(
    reviewed: Sequence[OrgPlan], fresh: Sequence[OrgPlan]
) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Per org to refuse on its own: why, and its violations, one line each.

    An apply applies exactly what the review showed, and nothing it showed refused: an
    org the reviewed plan refused stays refused even when its rail holds now (a listed
    user signed up since), with the review's violations; one the fresh plan refuses is
    refused too. The whole apply is refused when an org could not be planned, or when no
    org with changes is left (a reviewed plan that could not be applied at all stays so).
    """
    refuse_unplanned(fresh)
    refused = {
        org_id: (REFUSED_IN_REVIEW, lines) for org_id, lines in rail_refusals(reviewed).items()
    }
    for org_id, lines in rail_refusals(fresh).items():
        refused.setdefault(org_id, (BREAKS_RAILS, lines))
    if refused and not any(o.actions for o in fresh if o.org_id not in refused):
        problems = [
            f"{org_id}: {why + ': ' if why == REFUSED_IN_REVIEW else ''}{line}"
            for org_id, (why, lines) in refused.items()
            for line in lines
        ]
        raise UnsafePlanError("the plan cannot be applied:" + _listed(problems))
    return refused


def signature(org: OrgPlan) -> tuple[object, ...]:
    """What a reviewer approved of an org's plan: its changes and its exact calls, in order."""
    return (
        tuple(
            (a.id, a.kind, a.symbol, a.target, a.summary, json.dumps(a.after, sort_keys=True))
            for a in org.actions
        ),
        tuple(
            (
                s.id,
                s.phase,
                s.call.server,
                s.call.route,
                json.dumps(s.call.body, sort_keys=True),
                s.actions,
                s.depends_on,
            )
            for s in org.steps
        ),
    )


def _divergence(reviewed: OrgPlan, current: OrgPlan) -> list[str]:
    org_id = reviewed.org_id
    was = {a.summary for a in reviewed.actions}
    now = {a.summary for a in current.actions}
    lines = [f"{org_id}: not in the plan: {s}" for s in sorted(now - was)]
    lines += [f"{org_id}: in the plan, but no longer planned: {s}" for s in sorted(was - now)]
    planned = {a.id: a for a in reviewed.actions}
    for action in current.actions:
        old = planned.get(action.id)
        if old is None or old.summary != action.summary or old.after == action.after:
            continue
        keys = sorted(k for k in {*(old.after or {}), *(action.after or {})}
                      if (old.after or {}).get(k) != (action.after or {}).get(k))  # fmt: skip
        if "tokenSignature" in keys:
            lines.append(
                f"{org_id}: {action.summary}: the token is not the one the plan was made with "
                "(sha256 differs)"
            )
        else:
            lines.append(f"{org_id}: {action.summary}: {', '.join(keys)} differ from the plan")
    if not lines:
        calls = {s.id: s for s in current.steps}
        for step in reviewed.steps:
            other = calls.get(step.id)
            if other is None or other.call != step.call or other.actions != step.actions:
                lines.append(
                    f"{org_id}: step {step.id} ({step.call.route}) is not the call the "
                    "manifests give for its actions"
                )
        if len(reviewed.steps) != len(current.steps) or not lines:
            lines.append(f"{org_id}: the same changes, but other API calls")
    return lines


def _planned_values(plan: OrgPlan) -> dict[str, list[object]]:
    """Per object, the values a plan's actions would give it."""
    out: dict[str, list[object]] = {}
    for action in plan.actions:
        if action.after is not None:
            for key in action.touches:
                out.setdefault(str(key), []).append(dict(action.after))
    return out


def changed_objects(
    reviewed: OrgPlan,
    now: Mapping[str, object],
    candidates: Mapping[str, Sequence[object]] | None = None,
) -> list[str]:
    """One line per live object whose value differs from what the plan read, saying how
    (``member:user-bob projectAccess CONTRIBUTE -> VIEW since the plan``).

    An object the plan's actions touched is compared with the value the plan recorded; one
    they did not touch (a fresh plan has a new action on it), with its fingerprint. What
    that value was is known when it was what the manifest asks for (the reason the plan
    left it alone): a candidate whose fingerprint matches says it.
    """
    lines = []
    for key in sorted(now):
        new = now[key]
        if key in reviewed.live_values:
            old = reviewed.live_values[key]
            if old == new:
                continue
            if old is None:
                lines.append(f"{key} appeared since the plan: {_show(new)}")
            elif new is None:
                lines.append(f"{key} is gone since the plan (it was {_show(old)})")
            else:
                lines.append(f"{key} {_describe(old, new)} since the plan")
            continue
        recorded = reviewed.fingerprints.get(key)
        if recorded == fingerprint(new) or (recorded is None and new is None):
            continue
        was = next((c for c in (candidates or {}).get(key, ()) if fingerprint(c) == recorded), None)
        if recorded is None:
            lines.append(f"{key} appeared since the plan: {_show(new)}")
        elif new is None:
            lines.append(f"{key} is gone since the plan")
        elif was is not None:
            lines.append(f"{key} {_describe(was, new)} since the plan")
        else:
            lines.append(f"{key} changed since the plan (now {_show(new)})")
    return lines


def _describe(old: object, new: object) -> str:
    tree = DeepDiff(old, new, view="tree")
    parts = []
    for kind, items in sorted(tree.items()):
        for item in items:
            path = ".".join(str(p) for p in item.path(output_format="list")) or "value"
            if kind.endswith("_added"):
                parts.append(f"{path} added: {_show(item.t2)}")
            elif kind.endswith("_removed"):
                parts.append(f"{path} removed (was {_show(item.t1)})")
            else:
                parts.append(f"{path} {_show(item.t1)} -> {_show(item.t2)}")
    return ", ".join(parts) or f"{_show(old)} -> {_show(new)}"


def _show(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)
