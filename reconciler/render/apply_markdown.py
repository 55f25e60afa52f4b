"""An apply's outcome as Markdown, for the GitHub job summary."""

from __future__ import annotations

from reconciler.apply.outcomes import ApplyReport, OrgApplyReport


def _result(org: OrgApplyReport) -> str:
    if org.error:
        return f"❌ {org.error}"
    if org.count("failed") or org.count("skipped"):
        return "❌ not all done"
    if org.remaining:
        return f"⚠️ still differs: {len(org.remaining)}"
    if org.left_out:
        return f"⚠️ {len(org.left_out)} removal(s) left out"
    if org.unchecked:
        return "⚠️ job-log forwarding not checked"
    return "✅ converged"


def render_apply_markdown(report: ApplyReport, provenance: str = "") -> str:
    rows = ["| org | done | failed | skipped | result |", "| --- | ---: | ---: | ---: | --- |"]
    details: list[str] = []
    for org in report.orgs:
        rows.append(
            f"| `{org.org_id}` | {org.count('done')} | {org.count('failed')} | "
            f"{org.count('skipped')} | {_result(org)} |"
        )
        details += [
            f"- `{org.org_id}` {o.status}: `{o.action_id}`: {o.detail}"
            for o in org.outcomes
            if o.status != "done"
        ]
        details += [f"- `{org.org_id}` still differs: {r}" for r in org.remaining]
        details += [f"- `{org.org_id}` left out (--skip-removals): {r}" for r in org.left_out]
        details += [f"- `{org.org_id}` not checked: {r}" for r in org.unchecked]
    lead = f"{provenance}\n\n" if provenance else ""
    body = f"# dxorg apply\n\n{lead}**{report.summary()}**\n\n" + "\n".join(rows)
    if details:
        body += "\n\n#### Not done\n\n" + "\n".join(details)
    return body
