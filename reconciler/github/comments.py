"""One pull-request comment per org, kept up to date rather than re-posted.

Each comment starts with a hidden marker, ``<!-- dxorg-plan:org-demo -->`` (a later part
of a long plan: ``<!-- dxorg-plan:org-demo part 2 -->``). A new run finds its comments by
that marker, edits them in place, posts the parts it lacks, and deletes parts a previous,
longer plan left behind, so the thread holds exactly the current plan. The marker must
open the comment: a person quoting it in a reply starts with ``>`` and is never edited.

A comment is dxorg's only if its author is also the token's own identity (`me`): anyone
can post a comment opening with the marker. Such a comment by someone else is reported
(`foreign`), never edited, deleted or trusted, and dxorg posts its own beside it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from reconciler.github.api import Actor, Comment, GitHubClient
from reconciler.plan import OrgPlan
from reconciler.render import inert
from reconciler.render.markdown import render_org_markdown

PLAN_MARKER = re.compile(r"\A<!-- dxorg-plan:(?P<org>\S+?)(?: part (?P<part>[0-9]+))? -->")


def plan_marker(org_id: str, part: int = 1) -> str:
    suffix = f" part {part}" if part > 1 else ""
    return f"<!-- dxorg-plan:{org_id}{suffix} -->"


def comment_bodies(org: OrgPlan, provenance: str) -> list[str]:
    """The org's plan as comment bodies, each under GitHub's 65,536-character limit."""
    if org.error:
        state = "❌ **could not be planned**"
    elif org.blocking_violations:
        state = "⛔ **cannot be applied**: safety violations"
    elif org.has_changes:
        state = "merging applies exactly this plan (or refuses it as stale)"
    elif org.unresolved:
        state = "no changes to make; drift a person must resolve"
    elif org.unchecked:
        state = "⚠️ no changes to make, but job-log forwarding was not checked"
    else:
        state = "no changes"
    header = (
        f"**dxorg plan** · {provenance} · {state}" if provenance else f"**dxorg plan** · {state}"
    )
    return [
        f"{plan_marker(org.org_id, index)}\n{header}\n\n{part}"
        for index, part in enumerate(render_org_markdown(org), start=1)
    ]


def gone_body(org_id: str, provenance: str) -> str:
    return (
        f"{plan_marker(org_id)}\n**dxorg plan** · {provenance}\n\n"
        f"### {inert.code_span(org_id)}\n\nNo longer planned by this pull request "
        "(its manifest was removed, or no longer declares this org)."
    )


@dataclass
class CommentSync:
    """What a sync did, for the log and the tests."""

    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    # Comments opening with a dxorg marker written by someone else: left alone, reported.
    foreign: list[Comment] = field(default_factory=list)


def _index(
    comments: Sequence[Comment], me: Actor
) -> tuple[dict[str, dict[int, list[Comment]]], list[Comment]]:
    """org -> part -> our comments (more than one only after a race between two runs), and
    the comments with a marker that someone else wrote."""
    found: dict[str, dict[int, list[Comment]]] = {}
    foreign: list[Comment] = []
    for comment in comments:
        match = PLAN_MARKER.match(comment.body)
        if not match:
            continue
        if not me.same(comment.author):
            foreign.append(comment)
            continue
        part = int(match["part"] or 1)
        found.setdefault(match["org"], {}).setdefault(part, []).append(comment)
    for parts in found.values():
        for same in parts.values():
            same.sort(key=lambda c: c.id)
    return found, foreign


def foreign_org(comment: Comment) -> str:
    match = PLAN_MARKER.match(comment.body)
    return match["org"] if match else ""


def sync_plan_comments(
    client: GitHubClient,
    number: int,
    orgs: Sequence[OrgPlan],
    *,
    me: Actor,
    provenance: str,
    all_planned: bool,
    scrub: Callable[[str], str],
) -> CommentSync:
    """Make the PR's dxorg comments (those `me` wrote) say exactly the plan of `orgs`.

    An org with nothing to say (no changes, no error, no violation) gets no new comment,
    but a comment it already has is updated, so an old plan never lingers; nor does one
    that someone else's comment claims to speak for. With `all_planned` (no org filter),
    comments of orgs no longer planned say so.
    """
    existing, foreign = _index(client.list_comments(number), me)
    result = CommentSync(foreign=foreign)
    impersonated = {foreign_org(c) for c in foreign}
    wanted: dict[str, list[str]] = {}
    for org in orgs:
        quiet = not org.differs and org.error is None and not org.violations
        if quiet and org.org_id not in existing and org.org_id not in impersonated:
            continue
        wanted[org.org_id] = [scrub(b) for b in comment_bodies(org, provenance)]
    if all_planned:
        for org_id in existing:
            if org_id not in wanted and org_id not in {o.org_id for o in orgs}:
                wanted[org_id] = [scrub(gone_body(org_id, provenance))]

    for org_id, bodies in wanted.items():
        have = existing.get(org_id, {})
        for part, body in enumerate(bodies, start=1):
            same = have.get(part, [])
            if not same:
                result.created.append(client.create_comment(number, body).id)
                continue
            keep, *duplicates = same
            if keep.body == body:
                result.unchanged.append(keep.id)
            else:
                result.updated.append(client.update_comment(keep.id, body).id)
            for duplicate in duplicates:
                client.delete_comment(duplicate.id)
                result.deleted.append(duplicate.id)
        for part, stale in sorted(have.items()):
            if part > len(bodies):
                for comment in stale:
                    client.delete_comment(comment.id)
                    result.deleted.append(comment.id)
    return result
