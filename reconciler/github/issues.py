"""Drift as GitHub issues: one open issue per drifted org, updated while the drift lasts,
closed with a comment when it is gone.

An org's issue is found again among the open issues labelled ``dxorg-drift`` by the
marker that opens its body, ``<!-- dxorg-drift:org-demo -->``, and by its author: the
token's own identity (`me`). An issue with the marker opened by someone else is reported
(`foreign`), never edited, closed or trusted; dxorg opens its own. An org whose plan failed
(a read error) is left as it is: its drift is unknown, not gone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from reconciler.github.api import Actor, GitHubClient, Issue
from reconciler.plan import OrgPlan
from reconciler.render import inert
from reconciler.render.markdown import render_org_markdown

DRIFT_LABEL = "dxorg-drift"
DRIFT_MARKER = re.compile(r"\A<!-- dxorg-drift:(?P<org>\S+?) -->")


def drift_marker(org_id: str) -> str:
    return f"<!-- dxorg-drift:{org_id} -->"


def drift_title(org_id: str) -> str:
    return f"dxorg drift: {inert.terminal(org_id)} differs from its manifest"


def drift_body(org: OrgPlan, provenance: str) -> str:
    """The issue body: what differs, as the Markdown plan that would undo it.

    An issue body has the same 65,536-character limit as a comment; a plan longer than
    one part shows its first part here and the rest in the run's job summary.
    """
    parts = render_org_markdown(org)
    ending = ""
    if org.expiring:
        ending = (
            "**Memberships ending soon** (extend `expires` in the manifest to keep them):\n\n"
            + "\n".join(
                f"- {inert.markdown_text(m, limit=inert.MESSAGE_LIMIT)}" for m in org.expiring
            )
            + "\n\n"
        )
    more = ""
    if len(parts) > 1:
        more = f"\n\n*…and {len(parts) - 1} more part(s): see the job summary of the workflow run.*"
    return (
        f"{drift_marker(org.org_id)}\n"
        f"The live org {inert.code_span(org.org_id)} differs from its manifest ({provenance}). "
        "This is the plan that would make it match again: apply the manifest, or change the "
        "manifest to adopt the live state. This issue is updated by each drift run and "
        f"closed when the drift is gone.\n\n{ending}{parts[0]}{more}"
    )


@dataclass
class DriftSync:
    opened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    foreign: list[Issue] = field(default_factory=list)


def sync_drift_issues(
    client: GitHubClient,
    orgs: Sequence[OrgPlan],
    *,
    me: Actor,
    provenance: str,
    scrub: Callable[[str], str],
) -> DriftSync:
    existing: dict[str, Issue] = {}
    result = DriftSync()
    for found in client.list_issues(label=DRIFT_LABEL, state="open"):
        match = DRIFT_MARKER.match(found.body)
        if not match:
            continue
        if not me.same(found.author):
            result.foreign.append(found)
            continue
        existing.setdefault(match["org"], found)  # oldest first: keep the first found
    for org in orgs:
        issue = existing.get(org.org_id)
        if org.error is not None:
            continue
        # Changes to make, drift for a person, something left unchecked (never "matches"),
        # or memberships about to end (so that someone extends them before they lapse).
        if org.differs or org.expiring:
            body = scrub(drift_body(org, provenance))
            if issue is None:
                created = client.create_issue(drift_title(org.org_id), body, [DRIFT_LABEL])
                result.opened.append(created.number)
            else:
                client.update_issue(issue.number, {"body": body})
                result.updated.append(issue.number)
        elif issue is not None:
            client.create_comment(
                issue.number,
                scrub(
                    f"The drift is gone: {inert.code_span(org.org_id)} matches its manifest again "
                    f"({provenance}). Closing."
                ),
            )
            client.update_issue(issue.number, {"state": "closed", "state_reason": "completed"})
            result.closed.append(issue.number)
    return result
