"""The plan's Offboarding section: each departed person, and their removals across the fleet.

A departure is decided once, for the whole fleet, so it is reviewed as one thing: who,
why (the `departed` entry), and every org they are removed from.
"""

from __future__ import annotations

from reconciler.plan import Departing, Plan


def _headline(person: Departing) -> str:
    since = f" since {person.departure['since']}" if person.departure.get("since") else ""
    reason = f": {person.departure['reason']}" if person.departure.get("reason") else ""
    return f"{person.user_id} (departed at {person.departure['where']}{since}{reason})"


def offboarding_text(plan: Plan) -> list[str]:
    """Plain lines (none when nobody departed is still a member anywhere)."""
    people = plan.offboarding()
    if not people:
        return []
    lines = [f"Offboarding: {len(people)} departed person(s), removed from every org of the fleet"]
    for person in people:
        lines.append(f"  {_headline(person)}")
        lines += [f"    - {org_id}: {action.summary}" for org_id, action in person.removals]
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
        orgs = ", ".join(f"`{org_id}`" for org_id, _ in person.removals)
        lines.append(f"- **`{person.user_id}`**: {_headline(person).split(' ', 1)[1]} — {orgs}")
        lines += [f"  - `-` {action.summary}" for _, action in person.removals]
    return "\n".join(lines)
