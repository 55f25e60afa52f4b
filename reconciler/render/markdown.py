"""The plan as Markdown for a pull-request comment or a job summary.

Counts first; safety violations and removals in their own sections, never folded
away; details collapsible. Each org renders to one or more parts, each under the
size GitHub accepts for a comment, so a long plan is split rather than cut.

Every foreign value enters through render.inert: `markdown_text` in prose (a summary or
a reason can open no comment, `<details>`, table, link or mention, so every removal line
and API call stays visible), `code_span` for ids, `code_block` for the fenced lists.
"""

from __future__ import annotations

from reconciler.plan import OrgPlan, Plan
from reconciler.render import inert
from reconciler.render.offboarding import offboarding_markdown
from reconciler.render.text import call_text, step_label, summary_line

# GitHub refuses comments over 65,536 characters; keep a margin for the marker and headers.
PART_LIMIT = 60_000
FOOTER_ROOM = 40


def _counts(org: OrgPlan) -> str:
    c = org.counts()
    return f"**{c['+']}** to add, **{c['~']}** to change, **{c['-']}** to remove"


def _org_sections(org: OrgPlan, limit: int) -> list[str]:
    """The org's Markdown as a list of blocks; parts are cut between blocks."""
    code, text = inert.code_span, inert.markdown_text
    blocks = [
        f"### {code(org.org_id)}\n\n{_counts(org)} · manifest {code(org.source)} · "
        f"planned as {code(org.caller)}"
    ]
    if org.error:
        blocks.append(f"#### ❌ Not planned\n\n{text(org.error, limit=inert.MESSAGE_LIMIT)}")
        return blocks
    if org.violations:
        lines = ["#### ⛔ Safety violations"]
        if org.blocking_violations:
            lines.append(
                "\nThis org's plan **cannot be applied** until these are fixed or explicitly "
                "overridden; apply refuses it and applies the other orgs.\n"
            )
        for v in org.violations:
            state = " *(overridden)*" if v.overridden else ""
            lines.append(
                f"- **{text(v.rule)}**{state}: {text(v.message, limit=inert.MESSAGE_LIMIT)}"
            )
        blocks.append("\n".join(lines))
    removals = [a for a in org.actions if a.removals]
    removal_lines = [f"- `{a.symbol}` {text(a.summary)} — {text(a.reason)}" for a in removals]
    for index, chunk in enumerate(_chunk_lines(removal_lines, _chunk_size(limit))):
        more = f", continued {index + 1}" if index else ""
        blocks.append(f"#### Removals ({len(removals)}{more})\n\n{chunk}")
    if org.left_out:
        left_out = [f"- {text(summary)}" for summary in org.left_out]
        for index, chunk in enumerate(_chunk_lines(left_out, _chunk_size(limit))):
            more = f", continued {index + 1}" if index else ""
            blocks.append(
                f"#### Left out ({len(org.left_out)}{more})\n\n"
                "Left out by `--skip-removals` or `--only-expiries`: still differences; this "
                "plan does not make them.\n\n" + chunk
            )
    if org.unresolved:
        blocks.append(
            f"#### ⚠️ Drift dxorg does not change ({len(org.unresolved)})\n\n"
            "A person must resolve these; applying the plan leaves them as they are.\n\n"
            + "\n".join(f"- {text(drift, limit=inert.MESSAGE_LIMIT)}" for drift in org.unresolved)
        )
    if org.warnings:
        blocks.append(
            "#### Warnings\n\n"
            + "\n".join(f"- {text(w.message, limit=inert.MESSAGE_LIMIT)}" for w in org.warnings)
        )
    if not org.actions:
        blocks.append(
            "No changes to make; the removals above were left out."
            if org.left_out
            else "No changes to make; the drift above is for a person to resolve."
            if org.unresolved
            else "No changes to make, but job-log forwarding was not checked (see the warnings)."
            if org.unchecked
            else "No changes: the live org matches the manifest."
        )
        return blocks
    # In the fenced blocks, each value is one line (inert.terminal): no line of foreign
    # text can start a line, so none can close the fence.
    t = inert.terminal
    change_lines = [f"{a.symbol} {t(a.summary)}\n    why: {t(a.reason)}" for a in org.actions]
    for index, chunk in enumerate(_chunk_lines(change_lines, _chunk_size(limit))):
        title = f"All changes ({len(org.actions)})" + (f", continued {index + 1}" if index else "")
        block = inert.code_block(chunk.split("\n"), info="diff")
        blocks.append(f"<details><summary>{title}</summary>\n\n{block}\n</details>")
    call_lines = [
        f"{t(s.id)} [{t(step_label(org, s))}] {call_text(s, preview=2000)}" for s in org.steps
    ]
    for index, chunk in enumerate(_chunk_lines(call_lines, _chunk_size(limit))):
        title = f"API calls in order ({len(org.steps)})" + (
            f", continued {index + 1}" if index else ""
        )
        block = inert.code_block(chunk.split("\n"))
        blocks.append(f"<details><summary>{title}</summary>\n\n{block}\n</details>")
    return blocks


def _chunk_size(limit: int) -> int:
    # Two chunks and their headers fit in one part, with room for the part footer.
    return (limit - FOOTER_ROOM - 400) // 2


def _chunk_lines(lines: list[str], limit: int) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        if current and size + len(line) + 1 > limit:
            chunks.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        chunks.append("\n".join(current))
    return chunks


def render_org_markdown(org: OrgPlan, *, limit: int = PART_LIMIT) -> list[str]:
    """One org's plan as Markdown parts, each at most `limit` characters."""
    parts: list[str] = []
    current = ""
    room = limit - FOOTER_ROOM
    for block in _org_sections(org, limit):
        if len(block) > room:  # only a single line longer than a part can get here
            block = block[: room - 40] + "\n…(truncated)\n```\n</details>"
        if current and len(current) + len(block) + 2 > room:
            parts.append(current)
            current = f"### {inert.code_span(org.org_id)} (continued)"
        current = f"{current}\n\n{block}" if current else block
    parts.append(current)
    if len(parts) > 1:
        parts = [f"{p}\n\n*Part {i + 1} of {len(parts)}*" for i, p in enumerate(parts)]
    return parts


def platform_markdown(plan: Plan) -> str:
    """Where the plan was read from, and as whom, for a headline or a comment header."""
    where = plan.platform
    server = (
        f"the sandbox `{where.sandbox_state}`" if where.sandbox_state else f"`{where.api_server}`"
    )
    return f"{server} as `{where.user}`"


def render_markdown(plan: Plan, *, limit: int = PART_LIMIT) -> list[str]:
    """The whole plan as Markdown parts: a headline, then each org's parts."""
    head = f"## dxorg plan\n\nPlatform: {platform_markdown(plan)}\n\n{summary_line(plan)}"
    if plan.overrides:
        head += f"\n\nOverrides: {', '.join(inert.code_span(o) for o in plan.overrides)}"
    offboarding = offboarding_markdown(plan)
    if offboarding:
        head += f"\n\n{offboarding}"
    parts = [head]
    for org in plan.orgs:
        for part in render_org_markdown(org, limit=limit):
            if len(parts[-1]) + len(part) + 2 <= limit:
                parts[-1] += "\n\n" + part
            else:
                parts.append(part)
    return parts
