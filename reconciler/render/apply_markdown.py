"""An apply's outcome as Markdown, for the GitHub job summary.

Ids, error details and what still differs are foreign text: they enter through
render.inert (`code_span`, `markdown_text`), so none can break the table or hide a line.
"""

from __future__ import annotations

from reconciler.apply.outcomes import ApplyOutcome, OrgApplyOutcome
from reconciler.render import inert


def _result(org: OrgApplyOutcome) -> str:
    lost = len(org.unknown_calls)
    note = f" ({lost} answer(s) lost: {org.settled('landed')} verified landed)" if lost else ""
    return _verdict(org) + note


def _verdict(org: OrgApplyOutcome) -> str:
    if org.refused:
        return "⛔ refused, nothing written: its plan breaks safety rails"
    if org.error:
        return f"❌ {inert.markdown_text(org.error, limit=inert.MESSAGE_LIMIT)}"
    if org.failed:
        return "❌ not all done"
    if org.remaining:
        return f"⚠️ still differs: {len(org.remaining)}"
    if org.left_out:
        return f"⚠️ {len(org.left_out)} action(s) left out"
    if org.unchecked:
        return "⚠️ job-log forwarding not checked"
    return "✅ converged"


def render_apply_markdown(report: ApplyOutcome, provenance: str = "") -> str:
    rows = ["| org | done | failed | skipped | result |", "| --- | ---: | ---: | ---: | --- |"]
    details: list[str] = []
    code, text = inert.code_span, inert.markdown_text
    for org in report.orgs:
        rows.append(
            f"| {code(org.org_id, in_table=True)} | {org.count('done')} | {org.count('failed')} | "
            f"{org.count('skipped')} | {_result(org)} |"
        )
        org_id = code(org.org_id)
        details += [
            f"- {org_id} refused: {text(line, limit=inert.MESSAGE_LIMIT)}" for line in org.refused
        ]
        details += [
            f"- {org_id} {text(o.status)}: {code(o.action_id)}: {text(o.detail)}"
            for o in org.outcomes
            if o.status != "done"
        ]
        details += [
            f"- {org_id} answer lost: {code(c.step_id)} {code(c.route)}: "
            + (f"verified {c.resolution}" if c.resolution else "still unknown")
            for c in org.unknown_calls
        ]
        details += [
            f"- {org_id} still differs: {text(r, limit=inert.MESSAGE_LIMIT)}" for r in org.remaining
        ]
        details += [f"- {org_id} left out ({report.left_out_by}): {text(r)}" for r in org.left_out]
        details += [f"- {org_id} not checked: {text(r)}" for r in org.unchecked]
    lead = f"{provenance}\n\n" if provenance else ""
    body = f"# dxorg apply\n\n{lead}**{report.summary()}**\n\n" + "\n".join(rows)
    if details:
        body += "\n\n#### Not done\n\n" + "\n".join(details)
    return body
