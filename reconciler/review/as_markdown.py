"""The report as Markdown, for the GitHub job summary or a pull-request comment.

What needs attention first (departed users still present, drift, self-grants expiring or
expired, orgs not read), then per org its members, self-grants and provisioned accounts.
Like the plan's comments (render/markdown.py), the text comes in parts, each under the
size GitHub accepts for a comment, cut between blocks and between table rows (a cut
table starts again with its header). `members=False` leaves out the member tables and
caps the lists: a summary of a big fleet that still fits a job summary.

Every value from the platform or the manifests enters through render.inert (`md`,
`code`): a name cannot close a table cell, start a link, or inject HTML.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reconciler.render import inert
from reconciler.render.markdown import PART_LIMIT
from reconciler.review.value import (
    AccessReport,
    Approval,
    DepartedPresence,
    FlagReview,
    HeldGrant,
    LineOrigin,
    MemberReview,
    OrgReview,
    PolicyReview,
    Where,
)

# A compact summary lists at most this many items per section.
COMPACT_ITEMS = 50
_FOOTER_ROOM = 40


def md(text: object) -> str:
    """Plain text for a Markdown table cell or list item: nothing in it is markup."""
    return inert.markdown_text(text)


def code(text: object) -> str:
    """An identifier in a code span, in a table cell or a list item: a backtick, a `|` or a
    line break in it cannot end the span or the cell."""
    return inert.code_span(text, in_table=True)


def where_text(where: Where | None) -> str:
    return code(where) if where else ""


def origin_text(origin: LineOrigin) -> str:
    if origin.state != "committed":
        return md(origin.describe())
    text = (
        f"{code((origin.commit or '')[:10])} {md(origin.author)}, "
        f"{md((origin.date or '')[:10])}: {md(origin.subject)}"
    )
    return f"{text} *({md(origin.note)})*" if origin.note else text


def approval_text(approval: Approval | None) -> str:
    if approval is None:
        return ""
    mark = "🔏 " if approval.flags else ""
    return f"{mark}{md(approval.describe())}"


def removal_text(presence: DepartedPresence) -> str:
    """When the departure was merged, and when each removal took effect."""
    approval = presence.approval
    if approval is not None and approval.pull is not None and approval.pull.merged_at:
        merged = f"merged {md(approval.pull.merged_at)} (PR #{approval.pull.number})"
    else:
        merged = md(approval.describe() if approval else "not in git")
    removals = "; ".join(md(r.describe()) for r in presence.removals)
    return f"{merged}; {removals or 'no removal in the journals read'}"


def _flag_cell(flag: FlagReview) -> str:
    live = md(flag.live) if flag.live is not None else "—"
    if flag.manifest is not None and flag.live is not None and flag.manifest != flag.live:
        return f"**{live}** (manifest: {md(flag.manifest)})"
    return live


def _notes(member: MemberReview) -> str:
    parts = []
    if member.departed:
        parts.append(f"⛔ departed {md(member.departed.describe())}")
    if member.drift:
        parts.append(f"⚠️ {md(member.drift.summary)}")
    inherited = [
        f"{md(flag.name)} from {'org' if flag.source == 'org-defaults' else 'fleet'} "
        f"defaults {where_text(flag.where)}"
        for flag in member.inherited
    ]
    if inherited:
        parts.append("inherits " + ", ".join(inherited))
    if member.self_grants:
        parts.append("self-grants: " + ", ".join(_grant_short(g) for g in member.self_grants))
    if member.provisioned and member.status == "provisioned":
        parts.append(f"provisioned at {where_text(member.provisioned)}")
    return "; ".join(parts)


def _grant_short(grant: HeldGrant) -> str:
    left = "" if grant.days_left is None else f", {_days(grant.days_left)}"
    mark = "⏳ " if grant.highlighted else ""
    return f"{mark}{md(grant.name)} ({md(grant.level)}{left})"


def _days(days_left: int) -> str:
    if days_left < 0:
        return f"expired {-days_left} day(s) ago"
    return "last day today" if days_left == 0 else f"{days_left} day(s) left"


_STATUS_MARK = {
    "declared": "declared",
    "drifted": "⚠️ drifted",
    "unmanaged": "unmanaged",
    "departed": "⛔ departed",
    "provisioned": "provisioned",
}


def _member_rows(report: AccessReport, org: OrgReview) -> tuple[str, list[str]]:
    head = [
        "user",
        "name",
        "status",
        *("level", *report.flags),
        "membership ends",
        "declared at",
        "last change",
        "approval",
    ]
    header = "| " + " | ".join(md(h) for h in head) + " | notes |\n"
    header += "|" + "---|" * (len(head) + 1)
    rows = []
    for member in org.members:
        cells = [
            code(member.user_id),
            md(member.name),
            _STATUS_MARK[member.status],
            *(_flag_cell(flag) for flag in member.flags),
            _membership_end(member),
            where_text(member.declared),
            origin_text(member.declared.origin) if member.declared else "",
            approval_text(member.approval),
            _notes(member),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return header, rows


def _membership_end(member: MemberReview) -> str:
    ends = member.membership_ends
    if ends is None:
        return ""
    text = f"{md(ends.expires)} ({_days(ends.days_left - 1) if ends.days_left > 0 else 'ended'})"
    return f"⏳ **{text}**" if member.membership_ending else text


def _grant_rows(grants: Sequence[HeldGrant]) -> tuple[str, list[str]]:
    header = (
        "| holder | kind | object | level | selected by | expires | days left | reason | "
        "declared at | last change | approval |\n|---|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = []
    for grant in grants:
        left = "no expiry" if grant.days_left is None else _days(grant.days_left)
        if grant.highlighted:
            left = f"⏳ **{left}**"
        rows.append(
            "| "
            + " | ".join(
                [
                    code(grant.holder),
                    grant.kind,
                    f"{md(grant.name)} {code(grant.object_id)}",
                    md(grant.level),
                    md(grant.selector),
                    md(grant.expires),
                    left,
                    md(grant.reason),
                    where_text(grant.where),
                    origin_text(grant.where.origin) if grant.where else "",
                    approval_text(grant.approval),
                ]
            )
            + " |"
        )
    return header, rows


def _attention(report: AccessReport, cap: int | None) -> list[str]:
    """The lines of the "needs attention" section, by kind."""
    sections: list[tuple[str, list[str]]] = []
    departed = [
        f"- {code(p.departure.user_id)} ({md(p.departure.describe())}) is still in "
        + ", ".join(f"{code(org)} as {level}" for org, level in p.present_in)
        for p in report.departed
        if p.present_in
    ]
    sections.append(("⛔ Departed users still present", departed))
    not_read = [f"- {code(org.org_id)}: {md(org.error)}" for org in report.orgs if org.error]
    sections.append(("❌ Orgs not read (this report is incomplete)", not_read))
    expiring = [
        f"- {code(org.org_id)}: {code(g.holder)} holds {md(g.level)} on {md(g.name)} "
        f"{code(g.object_id)}: {_days(g.days_left or 0)} (expires {md(g.expires)})"
        + (f": {md(g.reason)}" if g.reason else "")
        for org, g in report.self_grants
        if g.highlighted
    ]
    sections.append(
        (f"⏳ Self-grants expired or expiring within {report.expiry_days} days", expiring)
    )
    ending = [
        f"- {code(org.org_id)} {code(m.user_id)}: membership {md(m.membership_ends.describe())}"
        + (f" ({where_text(m.membership_ends.where)})" if m.membership_ends.where else "")
        for org, m in report.members
        if m.membership_ending and m.membership_ends is not None
    ]
    sections.append(("⏳ Memberships ending soon or ended", ending))
    policies = [
        f"- {code(org.org_id)} {md(p.name)} {code(p.project_id)}: lacks "
        + ", ".join(code(s) for s in p.missing)
        + f" (policy {code(policy.name)}, {md(policy.mode)})"
        for org in report.orgs
        for policy in org.policies
        for p in policy.non_compliant
    ]
    sections.append(("🔒 Projects not meeting a project policy", policies))
    drifted = [
        f"- {code(org.org_id)} {code(m.user_id)}: {md(m.drift.summary)}"
        for org, m in report.members
        if m.drift is not None
    ]
    sections.append(("⚠️ Drift from the manifests", drifted))
    flagged = [
        f"- {code(org.org_id)} {code(m.user_id)} at {where_text(m.declared)}: "
        f"{approval_text(m.approval)}"
        for org, m in report.members
        if m.approval is not None and m.approval.flags
    ]
    flagged += [
        f"- {code(org.org_id)} self-grant of {md(g.name)} to {code(g.holder)} at "
        f"{where_text(g.where)}: {approval_text(g.approval)}"
        for org, g in report.self_grants
        if g.approval is not None and g.approval.flags
    ]
    flagged += [
        f"- departure of {code(p.departure.user_id)} at {where_text(p.departure.where)}: "
        f"{approval_text(p.approval)}"
        for p in report.departed
        if p.approval is not None and p.approval.flags
    ]
    sections.append(("🔏 Changes without an independent approval", flagged))
    lines: list[str] = []
    for title, items in sections:
        if not items:
            continue
        shown = items if cap is None else items[:cap]
        lines.append(f"#### {title} ({len(items)})")
        lines.append("")
        lines += shown
        if len(shown) < len(items):
            lines.append(
                f"- … and {len(items) - len(shown)} more (see the CSV, JSON or HTML report)"
            )
        lines.append("")
    return lines


def _head(report: AccessReport) -> str:
    counts = report.counts()
    git = report.git
    if git.roots:
        provenance = "git blame of " + ", ".join(code(root) for root in git.roots)
        if git.shallow:
            provenance += " (**shallow clone**: fetch the whole history for exact provenance)"
    else:
        provenance = md(git.note or "not in git")
    evidence = report.evidence
    if evidence.repository:
        approvals = f"pull requests and reviews of {code(evidence.repository)}"
        if not evidence.logins_known:
            approvals += " (no GitHub login mapping: whether a grantee approved is unknown)"
        if evidence.note:
            approvals += f" *({md(evidence.note)})*"
    else:
        approvals = "not on GitHub"
    lines = [
        "## dxorg access review",
        "",
        f"Read {md(report.generated_at)} as {code(report.caller)} by dxorg "
        f"{md(report.tool_version)} · provenance: {provenance} · approvals: {approvals}",
        "",
        f"**{counts['orgs']}** org(s), **{counts['users']}** user(s), "
        f"**{counts['memberships']}** membership(s): {counts['declared']} declared, "
        f"{counts['drifted']} drifted, {counts['unmanaged']} unmanaged, "
        f"{counts['departed']} departed, {counts['provisioned']} provisioned; "
        f"{counts['selfGrants']} self-grant(s) held, {counts['expiring']} expiring, "
        f"{counts['expired']} expired; {counts['selfApproved']} self-approved, "
        f"{counts['noApproval']} without approval, {counts['approvedByGrantee']} approved by "
        "the grantee.",
        "",
        "| org | name | members | admins | declared | drifted | unmanaged | departed | "
        "self-grants | membership |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for org in report.orgs:
        if org.error:
            lines.append(f"| {code(org.org_id)} | ❌ not read | | | | | | | | |")
            continue
        lines.append(
            f"| {code(org.org_id)} | {md(org.name)} | {len(org.live_members)} | {org.admins} | "
            f"{org.count('declared')} | {org.count('drifted')} | {org.count('unmanaged')} | "
            f"{org.count('departed')} | {len(org.self_grants)} | {md(org.mode or 'unmanaged')} |"
        )
    return "\n".join(lines)


def _chunks(header: str, rows: Sequence[str], size: int) -> list[str]:
    """Tables of at most `size` characters each, every one with the header."""
    out: list[str] = []
    current: list[str] = []
    used = len(header)
    for row in rows:
        if current and used + len(row) + 1 > size:
            out.append("\n".join([header, *current]))
            current, used = [], len(header)
        current.append(row)
        used += len(row) + 1
    if current:
        out.append("\n".join([header, *current]))
    return out


def _org_blocks(report: AccessReport, org: OrgReview, limit: int, members: bool) -> list[str]:
    title = f"### {code(org.org_id)} {md(org.name)}".rstrip()
    meta = f"manifest {code(org.source)} · members.mode {md(org.mode or 'unmanaged')}"
    if org.error:
        return [f"{title}\n\n{meta}\n\n❌ **Not read**: {md(org.error)}"]
    blocks = [f"{title}\n\n{meta}"]
    size = (limit - _FOOTER_ROOM - 400) // 2
    if members and org.members:
        header, rows = _member_rows(report, org)
        tables = _chunks(header, rows, size)
        for index, table in enumerate(tables):
            more = f", continued {index + 1}" if index else ""
            blocks.append(
                f"<details><summary>Members ({len(org.members)}{more})</summary>\n\n{table}\n\n"
                "</details>"
            )
    if org.self_grants:
        header, rows = _grant_rows(org.self_grants)
        for table in _chunks(header, rows, size):
            blocks.append(f"#### Self-grants held ({len(org.self_grants)})\n\n{table}")
    elif org.self_grants_managed:
        blocks.append("No self-grants held.")
    if org.provisioned:
        rows = [
            f"| {code(a.user_id)} | {md(a.email)} | {a.level} | {md(a.state)} | "
            f"{where_text(a.where)} |"
            for a in org.provisioned
        ]
        header = "| account | email | level | state | declared at |\n|---|---|---|---|---|"
        for table in _chunks(header, rows, size):
            blocks.append(f"#### Provisioned accounts ({len(org.provisioned)})\n\n{table}")
    for policy in org.policies:
        blocks += _policy_blocks(policy, size)
    return blocks


def _policy_blocks(policy: PolicyReview, size: int) -> list[str]:
    head = (
        f"#### Project policy {code(policy.name)} ({md(policy.mode)})\n\n"
        f"{md(policy.selector)}; requires {', '.join(code(s) for s in policy.require)} at least; "
        f"{len(policy.non_compliant)} of {len(policy.projects)} project(s) not compliant; "
        f"declared at {where_text(policy.where)}"
    )
    rows = [
        f"| {md(p.name)} {code(p.project_id)} | "
        + (
            "exempt"
            if p.exempt
            else "compliant"
            if p.compliant
            else "⚠️ lacks " + ", ".join(code(s) for s in p.missing)
        )
        + " |"
        for p in policy.projects
    ]
    blocks = [
        f"{head}\n\n{table}" for table in _chunks("| project | state |\n|---|---|", rows, size)
    ] or [head]
    if policy.exceptions:
        exceptions = [
            f"- {code(x.project_id)}: {md(x.reason)}, until {md(x.expires)}"
            + ("" if x.active else " (**expired**: covered again)")
            + f" ({where_text(x.where)})"
            for x in policy.exceptions
        ]
        blocks.append(f"Exceptions of {code(policy.name)}:\n\n" + "\n".join(exceptions))
    return blocks


def _parts(blocks: Iterable[str], limit: int) -> list[str]:
    parts: list[str] = []
    current = ""
    room = limit - _FOOTER_ROOM
    for block in blocks:
        if len(block) > room:  # one table row longer than a part: only a pathological name
            block = block[: room - 20] + "\n…(truncated)"
        if current and len(current) + len(block) + 2 > room:
            parts.append(current)
            current = ""
        current = f"{current}\n\n{block}" if current else block
    if current:
        parts.append(current)
    if len(parts) > 1:
        parts = [f"{p}\n\n*Part {i + 1} of {len(parts)}*" for i, p in enumerate(parts)]
    return parts


def render_report_markdown(
    report: AccessReport, *, limit: int = PART_LIMIT, members: bool = True
) -> list[str]:
    """The report as Markdown parts, each at most `limit` characters."""
    blocks = [_head(report)]
    attention = _attention(report, None if members else COMPACT_ITEMS)
    if attention:
        size = (limit - _FOOTER_ROOM - 400) // 2
        lines = ["### Needs attention", "", *attention]
        current: list[str] = []
        used = 0
        for line in lines:
            if current and used + len(line) + 1 > size:
                blocks.append("\n".join(current).strip())
                current, used = [], 0
            current.append(line)
            used += len(line) + 1
        blocks.append("\n".join(current).strip())
    else:
        blocks.append(
            "### Needs attention\n\nNothing: no departed user is still present, no drift, no self-grant expiring within "
            f"{report.expiry_days} days, every org was read."
        )
    if not members:
        blocks.append(
            "*Member tables left out to fit the job summary: they are in the report files.*"
        )
    if report.departed:
        rows = [
            f"| {code(p.departure.user_id)} | {md(p.departure.since)} | "
            f"{where_text(p.departure.where)} | {removal_text(p)} |"
            for p in report.departed
        ]
        header = "| departed user | since | declared at | merged, and removed |\n|---|---|---|---|"
        size = (limit - _FOOTER_ROOM - 400) // 2
        for table in _chunks(header, rows, size):
            blocks.append(f"### Departures ({len(report.departed)})\n\n{table}")
    for org in report.orgs:
        blocks += _org_blocks(report, org, limit, members)
    return _parts(blocks, limit)
