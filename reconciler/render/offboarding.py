"""The plan's Offboarding section: each departed person, and their removals across the fleet.

A departure is decided once, for the whole fleet, so it is reviewed as one thing: who,
why (the `departed` entry), and every org they are removed from.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.plan import Departing, Plan
from reconciler.render import inert


def _departed(person: Departing, shown: Callable[[object], str]) -> str:
    """Where and why they departed, each value written by `shown` (the medium's escape)."""
    departure = person.departure
    since = f" since {shown(departure.since)}" if departure.since else ""
    reason = f": {shown(departure.reason)}" if departure.reason else ""
    return f"departed at {shown(departure.where)}{since}{reason}"


def offboarding_text(plan: Plan) -> list[str]:
    """Plain lines (none when nobody departed is still a member anywhere)."""
    people = plan.offboarding()
    if not people:
        return []
    lines = [f"Offboarding: {len(people)} departed person(s), removed from every org of the fleet"]
    t = inert.terminal
    for person in people:
        lines.append(f"  {t(person.user_id)} ({_departed(person, t)})")
        lines += [f"    - {t(org_id)}: {t(action.summary)}" for org_id, action in person.removals]
    return lines


def offboarding_markdown(plan: Plan) -> str:
    """A Markdown section (empty when nobody departed is still a member anywhere)."""
    people = plan.offboarding()
    if not people:
        return ""
    lines = [
        f"### Offboarding ({len(people)})",
        "",
        "Departed people (the fleet's `departed` list), removed from every org where they "
        "are still members, whatever its members mode:",
        "",
    ]
    for person in people:
        orgs = ", ".join(inert.code_span(org_id) for org_id, _ in person.removals)
        departed = _departed(person, inert.markdown_text)
        lines.append(f"- **{inert.code_span(person.user_id)}**: ({departed}) — {orgs}")
        lines += [f"  - `-` {inert.markdown_text(action.summary)}" for _, action in person.removals]
    return "\n".join(lines)
