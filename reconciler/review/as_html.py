"""The report as one self-contained HTML page: what an admin opens rather than reads.

One file, nothing fetched: the CSS and the script are inline, and a Content-Security-
Policy forbids every network request, so the page works offline and a value that slipped
through could not call home. Every value (names come from the platform and the
manifests) enters through render.inert.html_text (`e`); the script never turns text into markup, it
only shows, hides and reorders the rows already in the page.

The page: counts, what needs attention, a users x orgs matrix coloured by level (drift,
departed users and expiring self-grants marked), then one sortable, filterable table of
every member of every org, the self-grants held, the provisioned accounts and the
departures. Without the script the tables are all there, in their first order.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from reconciler.render import inert
from reconciler.review.value import (
    STATUSES,
    AccessReport,
    Approval,
    DepartedPresence,
    FlagReview,
    HeldGrant,
    LineOrigin,
    MemberReview,
    OrgReview,
    Where,
)

# Past this many cells the matrix shows the users in the most orgs first, up to the limit.
MATRIX_CELL_LIMIT = 200_000


def e(value: object) -> str:
    """Escaped text (and attribute value): nothing from the data becomes markup, and no
    control or bidi character reorders or hides what is shown (render.inert)."""
    return inert.html_text(value)


def _where(where: Where | None) -> str:
    return f'<span class="loc">{e(where)}</span>' if where else ""


@lru_cache(maxsize=4096)
def _origin(origin: LineOrigin) -> str:
    # A fleet's lines come from few commits: each one's markup is made once.
    if origin.state == "not-in-git":
        return f'<span class="muted" title="{e(origin.note)}">not in git</span>'
    if origin.state == "uncommitted":
        return '<span class="warn-text">uncommitted</span>'
    note = f' <span class="muted">({e(origin.note)})</span>' if origin.note else ""
    return (
        f'<span class="sha" title="{e(origin.commit)} {e(origin.email)}">'
        f"{e((origin.commit or '')[:10])}</span> {e(origin.author)} "
        f'{e((origin.date or "")[:10])}<div class="subject">{e(origin.subject)}</div>{note}'
    )


def _approval(approval: Approval | None) -> str:
    """The approval of a line's change, for a table cell; flagged ones stand out."""
    if approval is None:
        return "<td></td>"
    text = e(approval.describe())
    if approval.pull is not None and approval.pull.url.startswith("https://"):
        # A link to the pull request: the report's CSP forbids fetching, not following.
        text = f'<a href="{e(approval.pull.url)}">#{approval.pull.number}</a> {text}'
    flagged = " hl-unapproved" if approval.flags else ""
    return f'<td class="approval{flagged}" data-approval="{e(approval.state)}">{text}</td>'


def _days(grant: HeldGrant) -> str:
    if grant.days_left is None:
        return "no expiry"
    if grant.days_left < 0:
        return f"expired {-grant.days_left} day(s) ago"
    return "last day today" if grant.days_left == 0 else f"{grant.days_left} day(s) left"


def _flag(flag: FlagReview) -> str:
    """One flag's cell. Most cells are a bare value: a 50,000-row table is big enough."""
    live = "—" if flag.live is None else e(flag.live)
    if flag.manifest is not None and flag.manifest != flag.live:
        return (
            f'<td class="diff" title="the manifest sets {e(flag.manifest)}">'
            f"{live} <small>→ {e(flag.manifest)}</small></td>"
        )
    if flag.inherited:
        scope = "org" if flag.source == "org-defaults" else "fleet"
        return (
            f'<td title="from the {scope} members.defaults, {e(flag.where)}">'
            f'{live}<sup class="inh">d</sup></td>'
        )
    if flag.source == "unmanaged" and flag.live is not None:
        return f'<td class="unmanaged">{live}</td>'
    return f"<td>{live}</td>"


def _highlights(member: MemberReview) -> list[str]:
    marks = []
    if member.drift is not None:
        marks.append("drift")
    if member.departed is not None:
        marks.append("departed")
    if member.expiring:
        marks.append("expiring")
    if member.inherited:
        marks.append("inherited")
    return marks


def _member_row(report: AccessReport, org: OrgReview, member: MemberReview) -> str:
    marks = _highlights(member)
    classes = " ".join(f"hl-{m}" for m in marks if m != "inherited")
    inherited = "<br>".join(
        f'{e(f.name)}={e(f.manifest)} <span class="loc">{e(f.where)}</span> '
        f'<span class="muted">({"org" if f.source == "org-defaults" else "fleet"})</span>'
        for f in member.inherited
    )
    if member.unmanaged_flags and member.status in ("declared", "drifted"):
        inherited += (
            f'{"<br>" if inherited else ""}<span class="muted">unmanaged: '
            f"{e(', '.join(member.unmanaged_flags))}</span>"
        )
    notes = []
    if member.departed is not None:
        notes.append(f'<div class="departed-text">departed {e(member.departed.describe())}</div>')
    if member.drift is not None:
        notes.append(f'<div class="drift-text">{e(member.drift.summary)}</div>')
        notes.append(f'<div class="muted">{e(member.drift.reason)}</div>')
    if member.provisioned is not None and member.status == "provisioned":
        notes.append(
            f'<div class="muted">provisioned at {e(member.provisioned)}: its access was set '
            "once, when the account was created</div>"
        )
    grants = "".join(
        f'<div class="{"expiring-text" if g.highlighted else ""}">{e(g.kind)} {e(g.name)} '
        f'<span class="muted">{e(_days(g))}</span></div>'
        for g in member.self_grants
    )
    origin = _origin(member.declared.origin) if member.declared else ""
    date = member.declared.origin.date if member.declared else None
    # Empty attributes are left out: they add up over 50,000 rows.
    attributes = f' class="{classes}"' if classes else ""
    attributes += f' data-marks="{e(" ".join(marks))}"' if marks else ""
    return (
        f'<tr data-org="{e(org.org_id)}" data-user="{e(member.user_id)}" '
        f'data-status="{e(member.status)}"{attributes}>'
        f'<td class="id">{e(org.org_id)}</td>'
        f'<td class="id">{e(member.user_id)}</td>'
        f"<td>{e(member.name)}</td>"
        f'<td><span class="badge st-{e(member.status)}">{e(member.status)}</span></td>'
        + "".join(_flag(flag) for flag in member.flags)
        + f"<td>{_where(member.declared)}</td>"
        + (f'<td data-sort="{e(date)}">{origin}</td>' if date else f"<td>{origin}</td>")
        + _approval(member.approval)
        + f"<td>{inherited}</td>"
        f'<td class="notes">{"".join(notes)}</td>'
        f'<td class="grants">{grants}</td>'
        "</tr>"
    )


def _members_table(report: AccessReport) -> str:
    head = ["Org", "User", "Name", "Status", "Level", *report.flags]
    head += ["Declared at", "Last change", "Approval", "Inherited", "Drift / departure"]
    head += ["Self-grants"]
    rows = "\n".join(_member_row(report, org, member) for org, member in report.members)
    orgs = "".join(
        f'<option value="{e(org.org_id)}">{e(org.org_id)}</option>' for org in report.orgs
    )
    statuses = "".join(f'<option value="{s}">{s}</option>' for s in STATUSES)
    return f"""
<section id="members">
<h2>Members <span class="count" id="shown"></span></h2>
<div class="controls">
<input id="q" type="search" placeholder="Filter: user, name, org, file, author…" aria-label="Filter the table">
<select id="org" aria-label="Org"><option value="">every org</option>{orgs}</select>
<select id="status" aria-label="Status"><option value="">every status</option>{statuses}</select>
<label><input type="checkbox" id="attention"> needs attention only</label>
<button type="button" id="reset">Reset</button>
</div>
<div class="scroll">
<table id="member-table" class="sortable">
<thead><tr>{"".join(f'<th scope="col">{e(h)}</th>' for h in head)}</tr></thead>
<tbody>
{rows}
</tbody>
</table>
</div>
</section>"""


def _matrix(report: AccessReport) -> str:
    cells: dict[tuple[str, str], MemberReview] = {
        (member.user_id, org.org_id): member for org, member in report.members
    }
    orgs = [org for org in report.orgs if not org.error]
    users = sorted({user for user, _ in cells})
    note = ""
    if orgs and len(users) * len(orgs) > MATRIX_CELL_LIMIT:
        spread = {user: sum(1 for o in orgs if (user, o.org_id) in cells) for user in users}
        keep = max(1, MATRIX_CELL_LIMIT // len(orgs))
        users = sorted(sorted(users, key=lambda u: (-spread[u], u))[:keep])
        note = (
            f'<p class="note">{len(spread)} users &times; {len(orgs)} orgs is too big to draw: '
            f"showing the {len(users)} users with access to the most orgs. "
            "The table below has everyone.</p>"
        )
    head = "".join(
        f'<th scope="col" class="org-head" title="{e(org.name)}"><span>{e(org.org_id)}</span></th>'
        for org in orgs
    )
    rows = []
    for user in users:
        row = [f'<th scope="row" class="id">{e(user)}</th>']
        for org in orgs:
            member = cells.get((user, org.org_id))
            if member is None:
                row.append("<td></td>")
                continue
            level = member.level
            classes = ["m", f"lv-{(level or 'none').lower()}", f"st-{member.status}"]
            if member.expiring:
                classes.append("hl-expiring")
            symbol = {"ADMIN": "A", "MEMBER": "M"}.get(level or "", "+")
            badge = {"drifted": "!", "departed": "&times;"}.get(member.status, "")
            what = f"{user} in {org.org_id}: {level or 'not a member'}, {member.status}"
            if member.drift:
                what += f"; {member.drift.summary}"
            if member.departed:
                what += f"; departed {member.departed.describe()}"
            row.append(
                f'<td class="{" ".join(classes)}" data-org="{e(org.org_id)}" '
                f'data-user="{e(user)}" title="{e(what)}">{symbol}'
                + (f"<sup>{badge}</sup>" if badge else "")
                + "</td>"
            )
        rows.append("<tr>" + "".join(row) + "</tr>")
    return f"""
<section id="matrix">
<h2>Who is where</h2>
<p class="legend"><span class="cell m lv-admin">A</span> ADMIN <span class="cell m lv-member">M</span> MEMBER
<span class="cell m lv-none st-drifted">+</span> declared, not a member
<span class="cell m lv-member st-drifted">M<sup>!</sup></span> drifted
<span class="cell m lv-member st-departed">M<sup>&times;</sup></span> departed
<span class="cell m lv-member st-unmanaged">M</span> unmanaged
<span class="cell m lv-admin hl-expiring">A</span> holds a self-grant expiring within {report.expiry_days} days (or expired).
Hover a cell for details; click it to see its row.</p>
{note}
<div class="scroll fit"><table class="matrix">
<thead><tr><th scope="col">user</th>{head}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table></div>
</section>"""


def _grants_table(report: AccessReport) -> str:
    if not report.self_grants:
        return ""
    rows = []
    for org, g in report.self_grants:
        state = {"expired": "hl-expired", "expiring": "hl-expiring"}.get(g.state, "")
        rows.append(
            f'<tr class="{state}" data-org="{e(org.org_id)}" data-state="{e(g.state)}">'
            f'<td class="id">{e(org.org_id)}</td><td class="id">{e(g.holder)}</td>'
            f'<td>{e(g.kind)}</td><td>{e(g.name)} <span class="id muted">{e(g.object_id)}</span></td>'
            f"<td>{e(g.level)}</td><td>{e(g.selector)}</td>"
            f'<td data-sort="{e(g.expires)}">{e(g.expires)}</td>'
            # No expiry sorts after every date.
            f'<td data-sort="{999_999 if g.days_left is None else g.days_left}">{e(_days(g))}</td>'
            f"<td>{e(g.reason)}</td><td>{_where(g.where)}</td>"
            f"<td>{_origin(g.where.origin) if g.where else ''}</td>{_approval(g.approval)}</tr>"
        )
    head = ["Org", "Holder", "Kind", "Object", "Level", "Selected by", "Expires", "Days left"]
    head += ["Reason", "Declared at", "Last change", "Approval"]
    return _simple_table("grants", f"Self-grants held ({len(rows)})", head, rows)


def _simple_table(anchor: str, title: str, head: Iterable[str], rows: list[str]) -> str:
    return f"""
<section id="{anchor}">
<h2>{e(title)}</h2>
<div class="scroll"><table class="sortable">
<thead><tr>{"".join(f'<th scope="col">{e(h)}</th>' for h in head)}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table></div>
</section>"""


def _provisioned_table(report: AccessReport) -> str:
    rows = [
        f'<tr data-org="{e(org.org_id)}"><td class="id">{e(org.org_id)}</td>'
        f'<td class="id">{e(a.user_id)}</td><td>{e(a.email)}</td><td>{e(a.level)}</td>'
        f"<td>{e(a.state)}</td><td>{_where(a.where)}</td>"
        f"<td>{_origin(a.where.origin) if a.where else ''}</td></tr>"
        for org in report.orgs
        for a in org.provisioned
    ]
    if not rows:
        return ""
    head = ["Org", "Account", "Email", "Level", "State", "Declared at", "Last change"]
    return _simple_table("provisioned", f"Provisioned accounts ({len(rows)})", head, rows)


def _departed_table(report: AccessReport) -> str:
    rows = []
    for p in report.departed:
        d = p.departure
        present = ", ".join(f"{org} ({level})" for org, level in p.present_in)
        present_cell = e(present) if present else '<span class="muted">no org</span>'
        rows.append(
            f'<tr class="{"hl-departed" if p.present_in else ""}" data-user="{e(d.user_id)}">'
            f'<td class="id">{e(d.user_id)}</td><td>{e(d.since)}</td><td>{e(d.reason)}</td>'
            f"<td>{present_cell}</td>"
            f"<td>{_where(d.where)}</td><td>{_origin(d.where.origin) if d.where else ''}</td>"
            f"{_approval(p.approval)}<td>{_removals(p)}</td></tr>"
        )
    if not rows:
        return ""
    head = ["User", "Since", "Reason", "Still a member of", "Declared at", "Last change"]
    head += ["Approval", "Removal"]
    return _simple_table("departed", f"Departures ({len(rows)})", head, rows)


def _removals(presence: DepartedPresence) -> str:
    if not presence.removals:
        return '<span class="muted">no removal in the journals read</span>'
    return "<br>".join(e(r.describe()) for r in presence.removals)


def _orgs_table(report: AccessReport) -> str:
    rows = []
    for org in report.orgs:
        if org.error:
            rows.append(
                f'<tr class="hl-error" data-org="{e(org.org_id)}"><td class="id">{e(org.org_id)}</td>'
                f'<td colspan="7" class="error-text">not read: {e(org.error)}</td>'
                f"<td>{_where(Where(org.source, 1))}</td></tr>"
            )
            continue
        rows.append(
            f'<tr data-org="{e(org.org_id)}"><td class="id">{e(org.org_id)}</td><td>{e(org.name)}</td>'
            f"<td>{e(org.mode or 'unmanaged')}</td><td>{len(org.live_members)}</td>"
            f"<td>{org.admins}</td><td>{org.count('drifted')}</td>"
            f"<td>{org.count('departed')}</td><td>{len(org.self_grants)}</td>"
            f'<td><span class="loc">{e(org.source)}</span></td></tr>'
        )
    head = ["Org", "Name", "Membership", "Members", "Admins", "Drifted", "Departed"]
    head += ["Self-grants", "Manifest"]
    return _simple_table("orgs", f"Orgs ({len(rows)})", head, rows)


def _attention(report: AccessReport) -> str:
    items: list[str] = []
    for org in report.orgs:
        if org.error:
            items.append(
                f'<li class="hl-error"><b>{e(org.org_id)}</b> was not read: {e(org.error)}. '
                "This report is incomplete.</li>"
            )
    for p in report.departed:
        if p.present_in:
            where = ", ".join(f"{org} as {level}" for org, level in p.present_in)
            items.append(
                f'<li class="hl-departed"><b>{e(p.departure.user_id)}</b> has departed '
                f"({e(p.departure.describe())}) and is still in {e(where)}</li>"
            )
    for org, g in report.self_grants:
        if g.highlighted:
            items.append(
                f'<li class="hl-{e(g.state)}"><b>{e(g.holder)}</b> holds {e(g.level)} on '
                f"{e(g.name)} in {e(org.org_id)}: {e(_days(g))}"
                + (f" ({e(g.reason)})" if g.reason else "")
                + "</li>"
            )
    drifted = [(org, m) for org, m in report.members if m.drift is not None]
    for org, m in drifted[:200]:
        items.append(
            f'<li class="hl-drift"><b>{e(m.user_id)}</b> in {e(org.org_id)}: '
            f"{e(m.drift.summary if m.drift else '')}</li>"
        )
    if len(drifted) > 200:
        items.append(
            f'<li class="hl-drift">… and {len(drifted) - 200} more drifted members: filter the '
            "table below by status.</li>"
        )
    if not items:
        return (
            '<section id="attention"><h2>Needs attention</h2><p class="ok">Nothing: no departed '
            f"user is still present, no drift, no self-grant expiring within {report.expiry_days} "
            "days, every org was read.</p></section>"
        )
    return f'<section id="attention"><h2>Needs attention</h2><ul>{"".join(items)}</ul></section>'


def _cards(report: AccessReport) -> str:
    c = report.counts()
    cards = [
        ("orgs", c["orgs"], ""),
        ("users", c["users"], ""),
        ("memberships", c["memberships"], ""),
        ("drifted", c["drifted"], "warn" if c["drifted"] else ""),
        ("departed, still present", c["departedPresent"], "bad" if c["departedPresent"] else ""),
        (
            f"self-grants expiring ≤ {report.expiry_days} d",
            c["expiring"] + c["expired"],
            "soon" if c["expiring"] + c["expired"] else "",
        ),
        ("orgs not read", c["errors"], "bad" if c["errors"] else ""),
    ]
    return (
        '<section class="cards">'
        + "".join(
            f'<div class="card {tone}"><b>{value}</b><span>{e(label)}</span></div>'
            for label, value, tone in cards
        )
        + "</section>"
    )


def render_report_html(report: AccessReport) -> str:
    git = report.git
    if git.roots:
        provenance = "git blame of " + ", ".join(git.roots)
        if git.shallow:
            provenance += " (shallow clone: fetch the whole history for exact provenance)"
    else:
        provenance = git.note or "not in git"
    evidence = report.evidence
    approvals = (
        f"pull requests of {evidence.repository}" if evidence.repository else "not on GitHub"
    )
    if evidence.repository and not evidence.logins_known:
        approvals += " (no GitHub login mapping: whether a grantee approved is unknown)"
    if evidence.note:
        approvals += f" ({evidence.note})"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="generator" content="dxorg {e(report.tool_version)}">
<title>dxorg access review · {e(report.today)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>Access review</h1>
<p class="meta">Read <time datetime="{e(report.generated_at)}">{e(report.generated_at)}</time> as <span class="id">{e(report.caller)}</span> · dxorg {e(report.tool_version)} · provenance: {e(provenance)} · approvals: {e(approvals)}</p>
<nav><a href="#attention">Needs attention</a><a href="#matrix">Who is where</a><a href="#members">Members</a><a href="#grants">Self-grants</a><a href="#provisioned">Provisioned</a><a href="#departed">Departures</a><a href="#orgs">Orgs</a></nav>
</header>
<main>
{_cards(report)}
{_attention(report)}
{_matrix(report)}
{_members_table(report)}
{_grants_table(report)}
{_provisioned_table(report)}
{_departed_table(report)}
{_orgs_table(report)}
</main>
<footer>Generated by dxorg {e(report.tool_version)} from the manifests, the live orgs (read-only) and git. A self-contained file: it loads nothing from the network.</footer>
<script>{_SCRIPT}</script>
</body>
</html>
"""


_CSS = """
:root{--bg:#f7f8fa;--fg:#1d2430;--muted:#6b7280;--line:#e3e6eb;--card:#fff;
--admin:#3730a3;--admin-fg:#fff;--member:#c7d2fe;--member-fg:#1e1b4b;
--drift:#d97706;--drift-bg:#fff7e6;--bad:#dc2626;--bad-bg:#fdecec;--soon:#7c3aed;--soon-bg:#f3edff;--ok:#15803d}
@media (prefers-color-scheme:dark){:root{--bg:#12151b;--fg:#e5e7eb;--muted:#9ca3af;--line:#2a2f3a;--card:#1a1f29;
--admin:#818cf8;--admin-fg:#0b0d12;--member:#334074;--member-fg:#e0e7ff;--drift-bg:#3a2a0c;--bad-bg:#3b1414;--soon-bg:#2a1c4a}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{padding:20px 28px 8px;border-bottom:1px solid var(--line);background:var(--card);position:sticky;top:0;z-index:5}
h1{margin:0;font-size:22px}h2{font-size:17px;margin:28px 0 10px}
.meta{color:var(--muted);margin:4px 0 8px}
nav a{margin-right:14px;color:var(--admin);text-decoration:none;font-size:13px}
main{padding:0 28px 40px}section{scroll-margin-top:120px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-top:18px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 16px;min-width:120px}
.card b{display:block;font-size:24px}.card span{color:var(--muted);font-size:12px}
.card.warn{border-color:var(--drift);background:var(--drift-bg)}.card.bad{border-color:var(--bad);background:var(--bad-bg)}
.card.soon{border-color:var(--soon);background:var(--soon-bg)}
#attention ul{list-style:none;padding:0;margin:0}
#attention li{padding:6px 10px;margin:4px 0;border-radius:6px;border-left:4px solid var(--line);background:var(--card)}
.ok{color:var(--ok)}.note{color:var(--muted)}
.scroll{overflow:auto;max-height:78vh;border:1px solid var(--line);border-radius:8px;background:var(--card)}
table{border-collapse:collapse;width:100%}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{position:sticky;top:0;background:var(--card);z-index:2;white-space:nowrap}
table.sortable thead th{cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
tr.hl-drift td:first-child,li.hl-drift{border-left:4px solid var(--drift)}tr.hl-drift{background:var(--drift-bg)}
tr.hl-departed td:first-child,li.hl-departed{border-left:4px solid var(--bad)}tr.hl-departed{background:var(--bad-bg)}
tr.hl-expiring td:first-child,li.hl-expiring{border-left:4px solid var(--soon)}tr.hl-expiring{background:var(--soon-bg)}
tr.hl-expired td:first-child,li.hl-expired{border-left:4px solid var(--bad)}tr.hl-expired{background:var(--bad-bg)}
td.hl-unapproved{background:var(--bad-bg);font-weight:600}
tr.hl-error,li.hl-error{background:var(--bad-bg);border-left:4px solid var(--bad)}
td.diff{color:var(--drift);font-weight:600}td.unmanaged{color:var(--muted);font-style:italic}
.id,.loc,.sha{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
td.id{white-space:nowrap}td.grants{min-width:220px}td.notes{min-width:260px}table.matrix thead th:first-child{vertical-align:bottom}
.loc{color:var(--muted)}.muted{color:var(--muted)}.subject{color:var(--muted);font-size:12px}
.warn-text,.drift-text{color:var(--drift)}.departed-text,.error-text{color:var(--bad)}.expiring-text{color:var(--soon)}
sup.inh{color:var(--muted);margin-left:2px}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;background:var(--line)}
.badge.st-drifted{background:var(--drift);color:#fff}.badge.st-departed{background:var(--bad);color:#fff}
.badge.st-declared{background:var(--ok);color:#fff}.badge.st-provisioned{background:var(--admin);color:var(--admin-fg)}
.controls{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin-bottom:8px}
.controls input[type=search]{flex:1;min-width:240px;padding:6px 10px;border:1px solid var(--line);border-radius:6px;background:var(--card);color:var(--fg)}
.controls select,.controls button{padding:5px 8px;border:1px solid var(--line);border-radius:6px;background:var(--card);color:var(--fg)}
.count{color:var(--muted);font-weight:normal;font-size:13px}
.scroll.fit{display:inline-block;max-width:100%}table.matrix{width:auto}table.matrix th.id{position:sticky;left:0;background:var(--card);z-index:1;white-space:nowrap}
th.org-head{height:120px;vertical-align:bottom;padding:4px}th.org-head span{writing-mode:vertical-rl;transform:rotate(180deg);font-family:ui-monospace,monospace;font-size:12px}
.cell,table.matrix td{width:32px;min-width:32px;height:28px;padding:0;text-align:center;vertical-align:middle;font-weight:600;font-size:12px;border:1px solid var(--line)}
table.matrix tbody th{vertical-align:middle;padding:2px 10px}
table.matrix td[data-user]{cursor:pointer}
p.legend .cell{display:inline-block;line-height:22px;margin:0 2px 0 10px;vertical-align:middle}
.m.lv-admin{background:var(--admin);color:var(--admin-fg)}.m.lv-member{background:var(--member);color:var(--member-fg)}
.m.lv-none{background:transparent;color:var(--drift)}
.m.st-drifted{outline:3px solid var(--drift);outline-offset:-3px}
.m.st-departed{background:repeating-linear-gradient(45deg,var(--bad),var(--bad) 4px,#f59e9e 4px,#f59e9e 8px);color:#fff;text-shadow:0 0 3px #7f1d1d}
.m.st-unmanaged{opacity:.55;border-style:dashed}
.m.hl-expiring{position:relative}
.m.hl-expiring::after{content:"";position:absolute;top:0;right:0;border-style:solid;border-width:0 9px 9px 0;border-color:transparent var(--soon) transparent transparent}
table.matrix sup,.cell sup{font-size:10px;margin-left:1px}
footer{color:var(--muted);padding:16px 28px;border-top:1px solid var(--line);font-size:12px}
tr[hidden]{display:none}
"""

# Sorting reads each cell's data-sort or its text; filtering hides rows. Nothing here
# builds markup from data.
_SCRIPT = """
(function(){
"use strict";
function key(cell){var s=cell.getAttribute("data-sort");return s!==null?s:cell.textContent.trim();}
var NUMBER=/^-?\\d+(\\.\\d+)?$/;
function compare(a,b){if(NUMBER.test(a)&&NUMBER.test(b))return parseFloat(a)-parseFloat(b);
 return a.localeCompare(b,undefined,{numeric:true,sensitivity:"base"});}
document.querySelectorAll("table.sortable").forEach(function(table){
 var heads=table.tHead.rows[0].cells;
 Array.prototype.forEach.call(heads,function(th,index){
  th.addEventListener("click",function(){
   var down=th.getAttribute("aria-sort")==="ascending";
   Array.prototype.forEach.call(heads,function(h){h.removeAttribute("aria-sort");});
   th.setAttribute("aria-sort",down?"descending":"ascending");
   var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
   var keyed=rows.map(function(r){return [key(r.cells[index]||r),r];});
   keyed.sort(function(p,q){var c=compare(p[0],q[0]);return down?-c:c;});
   var frag=document.createDocumentFragment();keyed.forEach(function(p){frag.appendChild(p[1]);});
   body.appendChild(frag);});});});
var table=document.getElementById("member-table");if(!table)return;
var rows=Array.prototype.slice.call(table.tBodies[0].rows),texts=null;
var q=document.getElementById("q"),org=document.getElementById("org"),status=document.getElementById("status");
var attention=document.getElementById("attention"),shown=document.getElementById("shown");
function apply(){
 if(texts===null)texts=rows.map(function(r){return r.textContent.toLowerCase();});
 var words=q.value.toLowerCase().split(/\\s+/).filter(Boolean),o=org.value,s=status.value,a=attention.checked,n=0;
 rows.forEach(function(r,i){
  var ok=(!o||r.getAttribute("data-org")===o)&&(!s||r.getAttribute("data-status")===s)
   &&(!a||/drift|departed|expiring/.test(r.getAttribute("data-marks")))
   &&words.every(function(w){return texts[i].indexOf(w)>=0;});
  r.hidden=!ok;if(ok)n++;});
 shown.textContent=n+" of "+rows.length+" shown";}
var timer=null;q.addEventListener("input",function(){clearTimeout(timer);timer=setTimeout(apply,120);});
[org,status,attention].forEach(function(el){el.addEventListener("change",apply);});
document.getElementById("reset").addEventListener("click",function(){q.value="";org.value="";status.value="";attention.checked=false;apply();});
document.querySelectorAll("table.matrix td[data-user]").forEach(function(cell){
 cell.addEventListener("click",function(){q.value=cell.getAttribute("data-user");org.value=cell.getAttribute("data-org");
  status.value="";attention.checked=false;apply();document.getElementById("members").scrollIntoView();});});
shown.textContent=rows.length+" shown";
})();
"""
