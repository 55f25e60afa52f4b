"""The report as one self-contained HTML page: what an admin opens rather than reads.

One file, nothing fetched: the CSS and the script are inline, and a Content-Security-
Policy forbids every network request, so the page works offline and a value that slipped
through could not call home.

The page's shape is written here, with the few values it shows before any script runs
(the header, the count cards, what needs attention) entering through render.inert.html_text
(`e`). The tables' data is embedded once, as JSON in a `<script type="application/json">`
block (every `<` written as `\\u003c`, so no foreign text can close the block or open a
comment), and the script draws from it only the rows in view (virtual scrolling): a
fleet of 50,000 members loads, filters and sorts in a fraction of a second where one
`<tr>` per member took a minute. The script puts data on the page only as textContent,
never as markup. Every string in the data has been through render.inert.printable, so
no control or bidi character reorders or hides what is shown.

The page: counts, what needs attention, a users x orgs matrix (every user; click a cell
to see that member), the members (the columns a reviewer scans first, the rest on
demand and in a member's details; when a membership ends, shown whenever any does), the
project policies (each covered project's state, the exceptions), the self-grants held,
the provisioned accounts, the departures and the orgs.

`iter_report_html` yields the page in pieces, so `dxorg report --out` writes it without
ever holding the whole of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from reconciler.render import inert
from reconciler.review.value import (
    STATUSES,
    AccessReport,
    FlagReview,
    HeldGrant,
    LineOrigin,
    MemberReview,
    MembershipEnd,
    OrgReview,
    Where,
)

# A member's marks, as bits of one number (the data has 50,000 of them). ENDING: the
# membership ends within the notice window, or has ended and they are still a member.
DRIFT, DEPARTED, EXPIRING, INHERITED, ENDING = 1, 2, 4, 8, 16
# Members, matrix rows and the other tables are written in chunks of this many rows.
CHUNK = 2000


def e(value: object) -> str:
    """Escaped text (and attribute value): nothing from the data becomes markup, and no
    control or bidi character reorders or hides what is shown (render.inert)."""
    return inert.html_text(value)


def _text(value: object) -> str | None:
    """A foreign string for the embedded data: shown with textContent, so only made
    visible (render.inert.printable), not escaped; None stays null."""
    return None if value is None else inert.printable(str(value))


def _value(value: object) -> object:
    """A flag's value: booleans and numbers as they are, anything else as visible text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return inert.printable(str(value))


def _json(value: object) -> str:
    # `<` only ever occurs inside JSON strings, where \\u003c means the same: the block
    # then holds no `</script` and no `<!--`, whatever the data says.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")


def _days(grant: HeldGrant) -> str:
    if grant.days_left is None:
        return "no expiry"
    if grant.days_left < 0:
        return f"expired {-grant.days_left} day(s) ago"
    return "last day today" if grant.days_left == 0 else f"{grant.days_left} day(s) left"


class _Origins:
    """Each distinct line origin once (a fleet's lines come from few commits); rows
    refer to them by index."""

    def __init__(self) -> None:
        self.index: dict[LineOrigin, int] = {}

    def __call__(self, where: Where | None) -> int | None:
        if where is None:
            return None
        return self.index.setdefault(where.origin, len(self.index))

    def rows(self) -> list[list[str | None]]:
        return [
            [
                origin.state,
                _text(origin.commit),
                _text(origin.author),
                _text(origin.email),
                _text(origin.date),
                _text(origin.subject),
                _text(origin.note),
            ]
            for origin in self.index
        ]


def _where(where: Where | None) -> str | None:
    return None if where is None else _text(str(where))


def _flag(flag: FlagReview) -> object:
    """A flag's cell: its live value, or [live, manifest, source, where] when the
    manifest wants another value, or the value comes from defaults or is unmanaged."""
    plain = flag.source in ("member", "admin") and (
        flag.manifest is None or flag.manifest == flag.live
    )
    if plain:
        return _value(flag.live)
    return [_value(flag.live), _value(flag.manifest), flag.source, _where(flag.where)]


def _marks(member: MemberReview) -> int:
    return (
        (DRIFT if member.drift is not None else 0)
        | (DEPARTED if member.departed is not None else 0)
        | (EXPIRING if member.expiring else 0)
        | (INHERITED if member.inherited else 0)
        | (ENDING if member.membership_ending else 0)
    )


def _notes(member: MemberReview) -> list[list[str | None]]:
    """[kind, text] lines: what needs a reviewer's eye about this member."""
    notes: list[list[str | None]] = []
    if member.departed is not None:
        notes.append(["departed", _text(f"departed {member.departed.describe()}")])
    if member.drift is not None:
        notes.append(["drift", _text(member.drift.summary)])
        notes.append(["reason", _text(member.drift.reason)])
    for grant in member.self_grants:
        if grant.highlighted:
            notes.append(
                [grant.state, _text(f"self-grant {grant.kind} {grant.name}: {_days(grant)}")]
            )
    if member.membership_ending and member.membership_ends is not None:
        ends = member.membership_ends
        kind = "expired" if ends.state == "ended" else "expiring"
        notes.append([kind, _text(f"membership {ends.describe()}")])
    if member.approval is not None:
        # Who approved the declared line's change (GitHub), flagged when not independent.
        kind = "approval-flag" if member.approval.flags else "approval"
        notes.append([kind, _text(f"approval: {member.approval.describe()}")])
    if member.provisioned is not None and member.status == "provisioned":
        notes.append(
            [
                "provisioned",
                _text(
                    f"provisioned at {member.provisioned}: its access was set once, "
                    "when the account was created"
                ),
            ]
        )
    return notes


def _member(org: int, member: MemberReview, origins: _Origins) -> list[Any]:
    return [
        org,
        _text(member.user_id),
        _text(member.name),
        member.status,
        _text(member.level),
        _marks(member),
        [_flag(flag) for flag in member.flags],
        _where(member.declared),
        origins(member.declared),
        _notes(member),
        [
            [_text(f"{g.kind} {g.name} ({g.level}): {_days(g)}"), g.state]
            for g in member.self_grants
        ],
        _where(member.provisioned),
        _membership_end(member.membership_ends),
    ]


def _membership_end(ends: MembershipEnd | None) -> list[Any] | None:
    """[expires, reason, days left, state, described, declared at], or None."""
    if ends is None:
        return None
    return [
        ends.expires.isoformat(),
        _text(ends.reason),
        ends.days_left,
        ends.state,
        _text(ends.describe()),
        _where(ends.where),
    ]


def _policy_rows(org: int, org_review: OrgReview, origins: _Origins) -> Iterator[list[Any]]:
    """[org, policy, mode, project name, project id, state, exception, declared at, origin,
    finding]: each project a policy covers, then its exceptions that cover none of them."""
    for policy in org_review.policies:
        exceptions = {x.project_id: x for x in policy.exceptions}
        for p in policy.projects:
            if p.exempt:
                state = "exempt"
            elif p.compliant:
                state = "compliant"
            else:
                state = "lacks " + ", ".join(p.missing)
            x = exceptions.get(p.project_id)
            exception = (
                f"{x.reason} until {x.expires}" + ("" if x.active else " (expired)") if x else None
            )
            yield [
                org,
                _text(policy.name),
                _text(policy.mode),
                _text(p.name),
                _text(p.project_id),
                _text(state),
                _text(exception),
                _where(policy.where),
                origins(policy.where),
                not p.compliant and not p.exempt,
            ]
        covered = {p.project_id for p in policy.projects}
        for x in policy.exceptions:
            if x.project_id not in covered:
                yield [
                    org,
                    _text(policy.name),
                    _text(policy.mode),
                    None,
                    _text(x.project_id),
                    "not covered by the policy",
                    _text(f"{x.reason} until {x.expires}" + ("" if x.active else " (expired)")),
                    _where(x.where),
                    origins(x.where),
                    False,
                ]


def _policy_count(report: AccessReport) -> int:
    """The rows of the policies table: every covered project and every stray exception."""
    return sum(
        len(policy.projects)
        + sum(
            1
            for x in policy.exceptions
            if x.project_id not in {p.project_id for p in policy.projects}
        )
        for org in report.orgs
        for policy in org.policies
    )


def _grant(org: int, grant: HeldGrant, origins: _Origins) -> list[Any]:
    return [
        org,
        _text(grant.holder),
        grant.kind,
        _text(grant.name),
        _text(grant.object_id),
        _text(grant.level),
        _text(grant.selector),
        grant.expires.isoformat() if grant.expires else None,
        grant.days_left,
        _days(grant),
        _text(grant.reason),
        _where(grant.where),
        origins(grant.where),
        grant.state,
    ]


def _chunked(rows: Iterable[str]) -> Iterator[str]:
    """`[` row `,` row ... `]` in pieces of CHUNK rows."""
    yield "["
    batch: list[str] = []
    first = True
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield ("" if first else ",") + ",".join(batch)
            batch, first = [], False
    if batch:
        yield ("" if first else ",") + ",".join(batch)
    yield "]"


def _data(report: AccessReport) -> Iterator[str]:
    """The embedded JSON, in pieces: one document, never held whole."""
    origins = _Origins()
    org_index = {org.org_id: i for i, org in enumerate(report.orgs)}
    orgs = [
        [
            _text(org.org_id),
            _text(org.name),
            _text(org.mode),
            _text(org.source),
            _text(org.error),
            len(org.live_members),
            org.admins,
            org.count("drifted"),
            org.count("departed"),
            len(org.self_grants),
        ]
        for org in report.orgs
    ]
    yield '{"flags":' + _json(["level", *report.flags])
    yield ',"expiryDays":' + _json(report.expiry_days)
    yield ',"statuses":' + _json(list(STATUSES))
    yield ',"orgs":' + _json(orgs)
    yield ',"members":'
    yield from _chunked(
        _json(_member(i, member, origins))
        for i, org in enumerate(report.orgs)
        for member in org.members
    )
    yield ',"grants":'
    yield from _chunked(
        _json(_grant(i, grant, origins))
        for i, org in enumerate(report.orgs)
        for grant in org.self_grants
    )
    yield ',"policies":'
    yield from _chunked(
        _json(row) for i, org in enumerate(report.orgs) for row in _policy_rows(i, org, origins)
    )
    yield ',"provisioned":'
    yield from _chunked(
        _json(
            [
                i,
                _text(a.user_id),
                _text(a.email),
                _text(a.level),
                a.state,
                _where(a.where),
                origins(a.where),
            ]
        )
        for i, org in enumerate(report.orgs)
        for a in org.provisioned
    )
    yield ',"departed":'
    yield from _chunked(
        _json(
            [
                _text(p.departure.user_id),
                p.departure.since.isoformat() if p.departure.since else None,
                _text(p.departure.reason),
                [[org_index.get(org, -1), _text(org), _text(level)] for org, level in p.present_in],
                _where(p.departure.where),
                origins(p.departure.where),
            ]
        )
        for p in report.departed
    )
    # Last: every row above has named its origins by now.
    yield ',"origins":' + _json(origins.rows()) + "}"


def _ending_and_policy_items(report: AccessReport) -> list[str]:
    """Needs attention: memberships ending (or ended, still present) and projects that
    do not meet a policy."""
    items: list[str] = []
    for org, m in report.members:
        if m.membership_ending and m.membership_ends is not None:
            items.append(
                f'<li class="hl-expiring"><b>{e(m.user_id)}</b>: membership of '
                f"{e(org.org_id)} {e(m.membership_ends.describe())} "
                f'<span class="loc">{e(m.membership_ends.where)}</span></li>'
            )
    for org in report.orgs:
        for policy in org.policies:
            for lacking in policy.non_compliant:
                items.append(
                    f'<li class="hl-drift"><b>{e(lacking.name)}</b> ({e(lacking.project_id)}) in '
                    f"{e(org.org_id)} lacks {e(', '.join(lacking.missing))} (policy "
                    f"{e(policy.name)}, {e(policy.mode)})</li>"
                )
    return items


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
    items += _ending_and_policy_items(report)
    flagged = [a for a in report.approvals if a.flags]
    for approval in flagged[:200]:
        items.append(
            '<li class="hl-drift"><b>without an independent approval</b> '
            f"({e(', '.join(approval.flags))}): {e(approval.describe())}</li>"
        )
    drifted = [(org, m) for org, m in report.members if m.drift is not None]
    for org, m in drifted[:200]:
        items.append(
            f'<li class="hl-drift"><b>{e(m.user_id)}</b> in {e(org.org_id)}: '
            f"{e(m.drift.summary if m.drift else '')}</li>"
        )
    if len(drifted) > 200:
        items.append(
            f'<li class="hl-drift">… and {len(drifted) - 200} more drifted members: tick '
            "“needs attention only” below.</li>"
        )
    if not items:
        return (
            '<section id="attention"><h2>Needs attention</h2><p class="ok">Nothing: no departed '
            f"user is still present, no drift, no self-grant expiring within {report.expiry_days} "
            f"days, no membership ends within {report.expiry_days} days, every project meets its "
            "policies, every org was read.</p></section>"
        )
    return (
        '<section id="attention"><h2>Needs attention</h2>'
        f'<div class="attention-list"><ul>{"".join(items)}</ul></div></section>'
    )


def _cards(report: AccessReport) -> str:
    c = report.counts()
    cards = [
        ("orgs", "orgs", c["orgs"], ""),
        ("users", "users with access", c["users"], ""),
        ("memberships", "memberships", c["memberships"], ""),
        ("drifted", "drifted", c["drifted"], "warn"),
        ("departedPresent", "departed, still present", c["departedPresent"], "bad"),
        # Expiring: not yet expired; an expired grant still held is its own, worse, count.
        ("expiring", f"self-grants expiring ≤ {report.expiry_days} d", c["expiring"], "soon"),
        ("expired", "self-grants expired, still held", c["expired"], "bad"),
        ("membershipsEnding", "memberships ending", c["membershipsEnding"], "soon"),
        ("policyFindings", "projects not meeting a policy", c["policyFindings"], "warn"),
        ("errors", "orgs not read", c["errors"], "bad"),
    ]
    return (
        '<section class="cards" aria-label="Counts">'
        + "".join(
            f'<div class="card {tone if value else ""}" data-count="{key}"><b>{value}</b>'
            f"<span>{e(label)}</span></div>"
            for key, label, value, tone in cards
        )
        + "</section>"
    )


def _options(values: Iterable[str]) -> str:
    return "".join(f'<option value="{e(v)}">{e(v)}</option>' for v in values)


def _body(report: AccessReport) -> str:
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
    c = report.counts()
    policy_rows = _policy_count(report)
    policies = (
        f'<section id="policies"><h2>Project policies ({policy_rows})</h2>'
        '<div id="policy-grid"></div></section>\n'
        if policy_rows
        else ""
    )
    return f"""<header>
<h1>Access review</h1>
<p class="meta">Read <time datetime="{e(report.generated_at)}">{e(report.generated_at)}</time> as <span class="id">{e(report.caller)}</span> · dxorg {e(report.tool_version)} · provenance: {e(provenance)} · approvals: {e(approvals)}</p>
<nav><a href="#attention">Needs attention</a><a href="#matrix">Who is where</a><a href="#members">Members</a>{'<a href="#policies">Project policies</a>' if policy_rows else ""}<a href="#grants">Self-grants</a><a href="#provisioned">Provisioned</a><a href="#departed">Departures</a><a href="#orgs">Orgs</a></nav>
</header>
<main>
<noscript><p class="bad-text">The tables of this page are drawn by its script: allow it, or read the JSON report (dxorg report --format json), which holds the same data.</p></noscript>
{_cards(report)}
{_attention(report)}
<section id="matrix">
<h2>Who is where <span class="count" id="matrix-count"></span></h2>
<p class="legend"><span class="cell m lv-admin">A</span> ADMIN <span class="cell m lv-member">M</span> MEMBER
<span class="cell m lv-none st-drifted">+</span> declared, not a member
<span class="cell m lv-member st-drifted">M<sup>!</sup></span> drifted
<span class="cell m lv-member st-departed">M<sup>&times;</sup></span> departed
<span class="cell m lv-member st-unmanaged">M</span> unmanaged
<span class="cell m lv-admin hl-expiring">A</span> holds a self-grant expiring within {report.expiry_days} days (or expired), or their membership ends within {report.expiry_days} days (or has ended).
Hover a cell for details; click it (or Enter) to see that member below.</p>
<div id="matrix-grid"></div>
</section>
<section id="members">
<h2>Members <span class="count" id="shown"></span></h2>
<div class="controls" role="search">
<input id="q" type="search" placeholder="Filter: a user id (exact), or any words: name, org, file, author, commit…" aria-label="Filter the members">
<select id="org" aria-label="Org"><option value="">every org</option>{_options(org.org_id for org in report.orgs)}</select>
<select id="status" aria-label="Status"><option value="">every status</option>{_options(STATUSES)}</select>
<label><input type="checkbox" id="attention-only"> needs attention only</label>
<label><input type="checkbox" id="all-columns"> every column</label>
<button type="button" id="user-chip" hidden></button>
<button type="button" id="reset">Reset</button>
</div>
<div id="member-grid"></div>
<section id="member-detail" hidden aria-live="polite">
<h3 tabindex="-1" id="detail-title"></h3>
<button type="button" id="detail-close">Close</button>
<dl id="detail-list"></dl>
</section>
</section>
{policies}<section id="grants"><h2>Self-grants held ({c["selfGrants"]})</h2><div id="grant-grid"></div></section>
<section id="provisioned"><h2>Provisioned accounts ({sum(len(o.provisioned) for o in report.orgs)})</h2><div id="provisioned-grid"></div></section>
<section id="departed"><h2>Departures ({len(report.departed)})</h2><div id="departed-grid"></div></section>
<section id="orgs"><h2>Orgs ({c["orgs"]})</h2><div id="org-grid"></div></section>
</main>
<footer>Generated by dxorg {e(report.tool_version)} from the manifests, the live orgs (read-only) and git. A self-contained file: it loads nothing from the network.</footer>
"""


def iter_report_html(report: AccessReport) -> Iterator[str]:
    """The page, in pieces (see the module's docstring)."""
    yield f"""<!DOCTYPE html>
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
"""
    yield _body(report)
    yield '<script type="application/json" id="report-data">'
    yield from _data(report)
    yield f"</script>\n<script>{_SCRIPT}</script>\n</body>\n</html>\n"


def render_report_html(report: AccessReport) -> str:
    return "".join(iter_report_html(report))


_CSS = """
:root{--bg:#f7f8fa;--fg:#1d2430;--muted:#6b7280;--line:#e3e6eb;--card:#fff;
--admin:#3730a3;--admin-fg:#fff;--member:#c7d2fe;--member-fg:#1e1b4b;
--drift:#b45309;--drift-bg:#fff7e6;--bad:#dc2626;--bad-bg:#fdecec;--soon:#7c3aed;--soon-bg:#f3edff;--ok:#15803d}
@media (prefers-color-scheme:dark){:root{--bg:#12151b;--fg:#e5e7eb;--muted:#9ca3af;--line:#2a2f3a;--card:#1a1f29;
--admin:#818cf8;--admin-fg:#0b0d12;--member:#334074;--member-fg:#e0e7ff;--drift:#f59e0b;--drift-bg:#3a2a0c;--bad-bg:#3b1414;--soon-bg:#2a1c4a}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{padding:12px 24px 6px;border-bottom:1px solid var(--line);background:var(--card)}
h1{margin:0;font-size:20px}h2{font-size:16px;margin:22px 0 8px}h3{font-size:15px;margin:0 0 6px;display:inline-block;margin-right:12px}
.meta{color:var(--muted);margin:2px 0 6px;font-size:13px}
nav a{margin-right:14px;color:var(--admin);font-size:13px}
main{padding:0 24px 32px;max-width:1600px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin-top:14px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:22px}.card span{color:var(--muted);font-size:12px}
.card.warn{border-color:var(--drift);background:var(--drift-bg)}.card.bad{border-color:var(--bad);background:var(--bad-bg)}
.card.soon{border-color:var(--soon);background:var(--soon-bg)}
.attention-list{max-height:220px;overflow:auto}
#attention ul{list-style:none;padding:0;margin:0}
#attention li{padding:4px 10px;margin:3px 0;border-radius:6px;border-left:4px solid var(--line);background:var(--card)}
.ok{color:var(--ok)}.bad-text{color:var(--bad)}
.grid{overflow:auto;max-height:70vh;border:1px solid var(--line);border-radius:8px;background:var(--card)}
.grid.matrix{display:inline-block;max-width:100%;vertical-align:top}
.grid table{border-collapse:separate;border-spacing:0;table-layout:fixed}
.grid th,.grid td{padding:0 8px;height:30px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;background:var(--card)}
.grid thead th{position:sticky;top:0;z-index:2;font-weight:600;border-bottom:2px solid var(--line)}
.grid th:first-child,.grid td:first-child{position:sticky;left:0;z-index:1;border-right:1px solid var(--line)}
.grid thead th:first-child{z-index:3}
.grid th button{all:unset;cursor:pointer;display:block;width:100%;overflow:hidden;text-overflow:ellipsis}
.grid th button:focus-visible,.grid td button:focus-visible,a:focus-visible{outline:2px solid var(--admin);outline-offset:-2px}
.grid th[aria-sort=ascending] button::after{content:" ▲"}.grid th[aria-sort=descending] button::after{content:" ▼"}
.grid td.spacer{padding:0;height:auto;border:0;position:static}
button.open{all:unset;cursor:pointer;color:var(--admin);font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;text-decoration:underline dotted}
tr.hl-drift td:first-child,li.hl-drift{border-left:4px solid var(--drift)}tr.hl-drift td{background:var(--drift-bg)}
tr.hl-departed td:first-child,li.hl-departed{border-left:4px solid var(--bad)}tr.hl-departed td{background:var(--bad-bg)}
tr.hl-expiring td:first-child,li.hl-expiring{border-left:4px solid var(--soon)}tr.hl-expiring td{background:var(--soon-bg)}
tr.hl-expired td:first-child,li.hl-expired{border-left:4px solid var(--bad)}tr.hl-expired td{background:var(--bad-bg)}
tr.hl-error td,li.hl-error{background:var(--bad-bg);border-left:4px solid var(--bad)}
td.diff{color:var(--drift);font-weight:600}td.unmanaged{color:var(--muted);font-style:italic}
.id,.loc,.sha,td.id{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
.muted,.loc{color:var(--muted)}
.drift,.note-drift{color:var(--drift)}.note-departed,.note-expired{color:var(--bad)}.note-expiring{color:var(--soon)}.note-approval-flag{color:var(--drift)}
.badge{display:inline-block;padding:0 8px;border-radius:999px;font-size:12px;line-height:20px;background:var(--line)}
.badge.st-drifted{background:var(--drift);color:#fff}.badge.st-departed{background:var(--bad);color:#fff}
.badge.st-declared{background:var(--ok);color:#fff}.badge.st-provisioned{background:var(--admin);color:var(--admin-fg)}
.controls{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin-bottom:8px}
.controls input[type=search]{flex:1;min-width:220px;padding:6px 10px;border:1px solid var(--line);border-radius:6px;background:var(--card);color:var(--fg)}
.controls select,.controls button,#member-detail button{padding:5px 8px;border:1px solid var(--line);border-radius:6px;background:var(--card);color:var(--fg)}
#user-chip{border-color:var(--admin)}
.count{color:var(--muted);font-weight:normal;font-size:13px}
#member-detail{margin-top:10px;padding:10px 14px;border:1px solid var(--line);border-radius:8px;background:var(--card)}
#member-detail dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0 0}
#member-detail dt{color:var(--muted)}#member-detail dd{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
.matrix th.org{height:120px;vertical-align:bottom;padding:4px 0;text-overflow:clip}
.matrix th.org span{writing-mode:vertical-rl;transform:rotate(180deg);font-family:ui-monospace,monospace;font-size:12px;font-weight:normal}
.matrix td{padding:0;text-align:center}.matrix td:first-child{text-align:left;padding:0 8px}
.matrix td button{all:unset;cursor:pointer;display:block;width:100%;height:100%;font-weight:600;font-size:12px;text-align:center}
.cell{display:inline-block;width:28px;line-height:22px;text-align:center;font-weight:600;font-size:12px;border:1px solid var(--line);margin:0 2px 0 10px;vertical-align:middle}
.m.lv-admin{background:var(--admin);color:var(--admin-fg)}.m.lv-member{background:var(--member);color:var(--member-fg)}
.m.lv-none{background:transparent;color:var(--drift)}
.m.st-drifted{outline:3px solid var(--drift);outline-offset:-3px}
.m.st-departed{background:repeating-linear-gradient(45deg,var(--bad),var(--bad) 4px,#f59e9e 4px,#f59e9e 8px);color:#fff;text-shadow:0 0 3px #7f1d1d}
.m.st-unmanaged{opacity:.55;border-style:dashed}
.m.hl-expiring{position:relative}
.m.hl-expiring::after{content:"";position:absolute;top:0;right:0;border-style:solid;border-width:0 9px 9px 0;border-color:transparent var(--soon) transparent transparent}
.m sup,.cell sup{font-size:10px;margin-left:1px}
footer{color:var(--muted);padding:14px 24px;border-top:1px solid var(--line);font-size:12px}
"""

# Every table is a Grid: the rows in view are drawn (with textContent only) as the page
# scrolls; sorting and filtering reorder an array of rows, not the DOM.
_SCRIPT = r"""
(function(){
"use strict";
var D=JSON.parse(document.getElementById("report-data").textContent);
var collator=new Intl.Collator(undefined,{numeric:true,sensitivity:"base"});
var ORGS=D.orgs,ORIGINS=D.origins,DRIFT=1,DEPARTED=2,EXPIRING=4,ENDING=16,SOON=EXPIRING|ENDING;
function $(id){return document.getElementById(id);}
function el(tag,cls,text){var n=document.createElement(tag);if(cls)n.className=cls;
 if(text!==undefined&&text!==null)n.textContent=String(text);return n;}
function str(v){return v===null||v===undefined?"":String(v);}
function cmp(a,b){if(typeof a==="number"&&typeof b==="number")return a-b;
 if(typeof a==="number")return -1;if(typeof b==="number")return 1;return collator.compare(a,b);}
function originShort(i){if(i===null||i===undefined)return "";var o=ORIGINS[i];
 if(o[0]==="not-in-git")return "not in git";if(o[0]==="uncommitted")return "uncommitted";
 return str(o[4]).slice(0,10)+" "+str(o[2])+": "+str(o[5]);}
function originLong(i){if(i===null||i===undefined)return "";var o=ORIGINS[i];
 if(o[0]!=="committed")return originShort(i)+(o[6]?" ("+o[6]+")":"");
 return str(o[1])+"\n"+str(o[2])+" <"+str(o[3])+">, "+str(o[4])+"\n"+str(o[5])+(o[6]?"\n("+o[6]+")":"");}
function originDate(i){return i===null||i===undefined?"":str(ORIGINS[i][4]);}

// A virtual table. o.columns: [{label, text(r), key(r)?, cell(r,td)?, title(r)?, width, cls(r)?, sortable?}]
function Grid(host,o){
 var g=this;g.o=o;g.all=o.rows.slice();g.view=g.all;g.sortCol=-1;g.desc=false;g.rowH=31;
 g.scroll=el("div","grid "+(o.cls||""));g.scroll.tabIndex=0;g.scroll.setAttribute("role","region");
 g.scroll.setAttribute("aria-label",o.label);
 g.table=el("table");g.table.setAttribute("aria-label",o.label);
 g.body=el("tbody");g.scroll.appendChild(g.table);host.appendChild(g.scroll);
 var pending=false;
 g.scroll.addEventListener("scroll",function(){if(pending)return;pending=true;
  requestAnimationFrame(function(){pending=false;g.draw(false);});});
 g.setColumns(o.columns);}
Grid.prototype.setColumns=function(cols){
 var g=this;g.cols=cols;g.sortCol=-1;g.table.textContent="";
 var colgroup=el("colgroup"),width=0;
 cols.forEach(function(c){var col=el("col");col.style.width=(c.width||120)+"px";width+=c.width||120;colgroup.appendChild(col);});
 if(g.o.cls==="matrix")g.table.style.width=width+"px";else{g.table.style.width="100%";g.table.style.minWidth=width+"px";}
 var head=el("thead"),tr=el("tr");g.heads=[];
 cols.forEach(function(c,i){var th=el("th",c.headCls);th.scope="col";
  if(c.sortable===false){var s=el("span",null,c.label);th.title=c.label;th.appendChild(s);}
  else{var b=el("button",null,c.label);b.type="button";b.title="Sort by "+c.label;
   b.addEventListener("click",function(){g.sort(i);});th.appendChild(b);}
  g.heads.push(th);tr.appendChild(th);});
 head.appendChild(tr);g.table.appendChild(colgroup);g.table.appendChild(head);g.table.appendChild(g.body);
 g.draw(true);};
Grid.prototype.sort=function(i){
 var g=this,c=g.cols[i],key=c.key||c.text,desc=g.sortCol===i&&!g.desc;g.sortCol=i;g.desc=desc;
 var keyed=g.all.map(function(r,n){var k=key(r);return [k===null||k===undefined?"":k,n,r];});
 keyed.sort(function(a,b){var x=cmp(a[0],b[0]);if(desc)x=-x;return x||a[1]-b[1];});
 g.all=keyed.map(function(p){return p[2];});
 g.heads.forEach(function(th,n){if(n===i)th.setAttribute("aria-sort",desc?"descending":"ascending");else th.removeAttribute("aria-sort");});
 g.filter(g.pred);};
Grid.prototype.filter=function(pred){var g=this;g.pred=pred||null;
 g.view=g.pred?g.all.filter(g.pred):g.all;g.scroll.scrollTop=0;g.draw(true);
 if(g.o.onCount)g.o.onCount(g.view.length,g.all.length);};
Grid.prototype.spacer=function(h){var tr=el("tr"),td=el("td","spacer");td.colSpan=this.cols.length;
 td.style.height=h+"px";tr.appendChild(td);tr.setAttribute("aria-hidden","true");return tr;};
Grid.prototype.row=function(r){
 var g=this,tr=el("tr",g.o.rowClass?g.o.rowClass(r):"");
 g.cols.forEach(function(c){var td=el("td",c.cls?c.cls(r):"");
  if(c.cell)c.cell(r,td);else{var t=str(c.text(r));td.textContent=t;td.title=c.title?c.title(r):t;}
  tr.appendChild(td);});
 return tr;};
Grid.prototype.draw=function(force){
 var g=this,n=g.view.length,top=g.scroll.scrollTop,h=Math.max(g.scroll.clientHeight,window.innerHeight);
 var start=Math.max(0,Math.floor(top/g.rowH)-15),end=Math.min(n,Math.ceil((top+h)/g.rowH)+15);
 if(!force&&start===g.start&&end===g.end)return;g.start=start;g.end=end;
 var frag=document.createDocumentFragment();frag.appendChild(g.spacer(start*g.rowH));
 for(var i=start;i<end;i++)frag.appendChild(g.row(g.view[i]));
 frag.appendChild(g.spacer((n-end)*g.rowH));
 g.body.textContent="";g.body.appendChild(frag);
 if(end>start){var measured=g.body.rows[1].getBoundingClientRect().height;
  if(measured>0&&Math.abs(measured-g.rowH)>0.5){g.rowH=measured;g.draw(true);}}};

function flagText(f){if(Array.isArray(f))f=f[0];return f===null||f===undefined?"—":String(f);}
function flagColumn(name,i){
 return {label:name,width:Math.max(90,name.length*8+30),key:function(r){return flagText(r[6][i]);},
  text:function(r){var f=r[6][i];if(!Array.isArray(f))return flagText(f);
   if(f[1]!==null&&f[1]!==f[0])return flagText(f[0])+" → "+flagText(f[1]);
   return flagText(f[0])+((f[2]==="org-defaults"||f[2]==="fleet-defaults")?" (d)":"");},
  title:function(r){var f=r[6][i];if(!Array.isArray(f))return flagText(f);
   if(f[1]!==null&&f[1]!==f[0])return "live "+flagText(f[0])+"; the manifest sets "+flagText(f[1]);
   if(f[2]==="unmanaged")return flagText(f[0])+": not managed by the manifest";
   return flagText(f[0])+": from the "+(f[2]==="org-defaults"?"org":"fleet")+" members.defaults, "+str(f[3]);},
  cls:function(r){var f=r[6][i];if(!Array.isArray(f))return "";
   if(f[1]!==null&&f[1]!==f[0])return "diff";return f[2]==="unmanaged"?"unmanaged":"";}};}

// ------------------------------------------------ members
var FLAGS=D.flags,LEVEL=0;
function notesText(r){return r[9].filter(function(n){return n[0]!=="reason";}).map(function(n){return n[1];}).join("; ");}
function search(r){if(r.s===undefined){var o=r[8]===null?null:ORIGINS[r[8]];
 r.s=[ORGS[r[0]][0],r[1],r[2],r[3],r[4],r[7],notesText(r),o?o[1]+" "+o[2]+" "+o[3]+" "+o[5]:""].join(" ").toLowerCase();}return r.s;}
var memberBase=[
 {label:"User",width:150,cls:function(){return "id";},key:function(r){return r[1];},text:function(r){return r[1];},
  cell:function(r,td){var b=el("button","open",r[1]);b.type="button";b.title="Details of "+r[1]+" in "+ORGS[r[0]][0];
   b.addEventListener("click",function(){showMember(r);});td.appendChild(b);}},
 {label:"Org",width:130,cls:function(){return "id";},text:function(r){return ORGS[r[0]][0];}},
 {label:"Name",width:140,text:function(r){return r[2];}},
 {label:"Status",width:100,text:function(r){return r[3];},
  cell:function(r,td){td.appendChild(el("span","badge st-"+r[3],r[3]));}},
 {label:"Level",width:90,text:function(r){return r[4]===null?"—":r[4];},
  cls:function(r){var f=r[6][LEVEL];return Array.isArray(f)&&f[1]!==null&&f[1]!==f[0]?"diff":"";},
  title:function(r){var f=r[6][LEVEL];return Array.isArray(f)&&f[1]!==null?"the manifest sets "+f[1]:str(r[4]);}},
 {label:"Membership ends",width:190,key:function(r){return r[12]?r[12][0]:"";},
  text:function(r){var x=r[12];return x?x[0]+(x[1]?" "+x[1]:""):"";},
  title:function(r){return r[12]?r[12][4]:"";},cls:function(r){return r[5]&ENDING?"note-"+(r[12][3]==="ended"?"expired":"expiring"):"";}},
 {label:"Needs attention",width:260,text:notesText,
  title:function(r){return r[9].map(function(n){return n[1];}).join("\n");},
  cls:function(r){return r[9].length?"note-"+r[9][0][0]:"";}},
 {label:"Last change",width:300,key:function(r){return originDate(r[8]);},text:function(r){return originShort(r[8]);},
  title:function(r){return originLong(r[8]);}}];
// A membership end is a column a reviewer scans only when some membership has one.
var ENDS_COL=5;if(!D.members.some(function(r){return r[12]!==null;}))memberBase.splice(ENDS_COL,1);
var memberMore=FLAGS.slice(1).map(function(name,n){return flagColumn(name,n+1);}).concat([
 {label:"Declared at",width:200,cls:function(){return "loc";},text:function(r){return r[7];}},
 {label:"Self-grants",width:260,text:function(r){return r[10].map(function(x){return x[0];}).join("; ");}}]);
function rowClass(r){var m=r[5];return m&DEPARTED?"hl-departed":m&DRIFT?"hl-drift":m&SOON?"hl-expiring":"";}
var q=$("q"),orgSel=$("org"),statusSel=$("status"),attention=$("attention-only"),all=$("all-columns"),chip=$("user-chip");
var exactUser=null,shown=$("shown"),USER_IDS=new Set(D.members.map(function(r){return r[1].toLowerCase();}));
var members=new Grid($("member-grid"),{rows:D.members,columns:memberBase,label:"Members",rowClass:rowClass,
 onCount:function(n,t){shown.textContent=n+" of "+t+" shown";}});
function applyFilter(){
 var typed=q.value.toLowerCase().split(/\s+/).filter(Boolean),o=orgSel.value,s=statusSel.value,a=attention.checked,u=exactUser;
 chip.hidden=u===null;chip.textContent=u===null?"":"user "+u+" ✕";
 chip.title="Show every user again";
 // A whole user id matches that user only (user-admin is not user-admin2); any other word
 // matches anywhere in the row.
 var ids=typed.filter(function(w){return USER_IDS.has(w);}),words=typed.filter(function(w){return !USER_IDS.has(w);});
 if(!typed.length&&!o&&!s&&!a&&u===null){members.filter(null);return;}
 members.filter(function(r){
  if(o&&ORGS[r[0]][0]!==o)return false;if(s&&r[3]!==s)return false;
  if(a&&!(r[5]&(DRIFT|DEPARTED|SOON)))return false;if(u!==null&&r[1]!==u)return false;
  for(var i=0;i<ids.length;i++)if(r[1].toLowerCase()!==ids[i])return false;
  if(words.length){var t=search(r);for(i=0;i<words.length;i++)if(t.indexOf(words[i])<0)return false;}
  return true;});}
var timer=null;
q.addEventListener("input",function(){clearTimeout(timer);timer=setTimeout(applyFilter,80);});
q.addEventListener("change",function(){clearTimeout(timer);applyFilter();});
[orgSel,statusSel,attention].forEach(function(x){x.addEventListener("change",applyFilter);});
all.addEventListener("change",function(){members.setColumns(all.checked?memberBase.concat(memberMore):memberBase);});
chip.addEventListener("click",function(){exactUser=null;applyFilter();q.focus();});
$("reset").addEventListener("click",function(){q.value="";orgSel.value="";statusSel.value="";attention.checked=false;exactUser=null;applyFilter();});

var detail=$("member-detail"),detailList=$("detail-list");
function dd(term,value,cls){if(value===null||value===undefined||value==="")return;
 detailList.appendChild(el("dt",null,term));detailList.appendChild(el("dd",cls,value));}
function showMember(r){
 detailList.textContent="";$("detail-title").textContent=r[1]+" in "+ORGS[r[0]][0];
 dd("Name",r[2]);dd("Status",r[3]);
 FLAGS.forEach(function(name,i){var c=flagColumn(name,i);dd(name,c.title(r),c.cls(r));});
 if(r[12])dd("Membership ends",r[12][4]+(r[12][5]?"\n(declared at "+r[12][5]+")":""),r[5]&ENDING?"note-"+(r[12][3]==="ended"?"expired":"expiring"):"");
 dd("Declared at",r[7],"loc");dd("Last change",originLong(r[8]));
 r[9].forEach(function(n){dd(n[0]==="reason"?"why":n[0],n[1],"note-"+n[0]);});
 r[10].forEach(function(x){dd("Self-grant",x[0],"note-"+x[1]);});
 dd("Provisioned at",r[11],"loc");
 detail.hidden=false;$("detail-title").focus();}
$("detail-close").addEventListener("click",function(){detail.hidden=true;});

// ------------------------------------------------ matrix
var live=ORGS.map(function(o,i){return o[4]===null?i:-1;}).filter(function(i){return i>=0;});
var byUser=new Map();
D.members.forEach(function(r){var u=byUser.get(r[1]);if(!u){u={id:r[1],cells:{},live:false};byUser.set(r[1],u);}
 u.cells[r[0]]=r;if(r[4]!==null)u.live=true;});
var users=Array.from(byUser.values()).sort(function(a,b){return a.id<b.id?-1:a.id>b.id?1:0;});
var withAccess=users.filter(function(u){return u.live;}).length;
$("matrix-count").textContent=withAccess+" users with access"+(users.length>withAccess?", and "+(users.length-withAccess)+" declared but not a member":"")+" · "+live.length+" orgs";
function matrixCell(u,org,r){
 var level=r[4],sym=level==="ADMIN"?"A":level==="MEMBER"?"M":"+";
 var b=el("button","m lv-"+(level||"none").toLowerCase()+" st-"+r[3]+(r[5]&SOON?" hl-expiring":""),sym);b.type="button";
 var badge=r[3]==="drifted"?"!":r[3]==="departed"?"\u00d7":"";if(badge)b.appendChild(el("sup",null,badge));
 var what=u.id+" in "+ORGS[org][0]+": "+(level||"not a member")+", "+r[3];
 r[9].forEach(function(n){if(n[0]!=="reason")what+="; "+n[1];});
 b.title=what;b.setAttribute("aria-label",what);b.dataset.user=u.id;b.dataset.org=ORGS[org][0];
 b.addEventListener("click",function(){exactUser=u.id;q.value="";orgSel.value=ORGS[org][0];statusSel.value="";attention.checked=false;
  applyFilter();$("members").scrollIntoView();showMember(r);});
 return b;}
var matrixCols=[{label:"user",width:200,cls:function(){return "id";},key:function(u){return u.id;},text:function(u){return u.id;}}]
 .concat(live.map(function(org){return {label:ORGS[org][0],width:34,sortable:false,headCls:"org",
  text:function(u){var r=u.cells[org];return r?r[4]||"+":"";},
  cell:function(u,td){var r=u.cells[org];if(r)td.appendChild(matrixCell(u,org,r));}};}));
var matrix=new Grid($("matrix-grid"),{rows:users,columns:matrixCols,label:"Who is where",cls:"matrix"});
matrix.heads.forEach(function(th,i){if(i>0){var s=th.firstChild;s.textContent="";s.appendChild(el("span",null,matrixCols[i].label));th.title=ORGS[live[i-1]][1]||matrixCols[i].label;}});

// ------------------------------------------------ the other tables
function orgOf(r){return ORGS[r[0]][0];}
new Grid($("grant-grid"),{label:"Self-grants held",rows:D.grants,
 rowClass:function(r){return r[13]==="expired"?"hl-expired":r[13]==="expiring"?"hl-expiring":"";},columns:[
 {label:"Holder",width:160,cls:function(){return "id";},text:function(r){return r[1];}},
 {label:"Org",width:140,cls:function(){return "id";},text:orgOf},
 {label:"Kind",width:70,text:function(r){return r[2];}},
 {label:"Object",width:220,text:function(r){return r[3]+" "+r[4];}},
 {label:"Level",width:110,text:function(r){return r[5];}},
 {label:"Selected by",width:160,text:function(r){return r[6];}},
 {label:"Expires",width:100,text:function(r){return r[7];}},
 {label:"Days left",width:160,key:function(r){return r[8]===null?999999:r[8];},text:function(r){return r[9];}},
 {label:"Reason",width:200,text:function(r){return r[10];}},
 {label:"Declared at",width:180,cls:function(){return "loc";},text:function(r){return r[11];}},
 {label:"Last change",width:300,key:function(r){return originDate(r[12]);},text:function(r){return originShort(r[12]);},title:function(r){return originLong(r[12]);}}]});
if(D.policies.length)new Grid($("policy-grid"),{label:"Project policies",rows:D.policies,
 rowClass:function(r){return r[9]?"hl-drift":"";},columns:[
 {label:"Org",width:140,cls:function(){return "id";},text:orgOf},
 {label:"Policy",width:180,text:function(r){return r[1];}},
 {label:"Mode",width:80,text:function(r){return r[2];}},
 {label:"Project",width:300,text:function(r){return (r[3]===null?"":r[3]+" ")+r[4];}},
 {label:"State",width:220,text:function(r){return r[5];},cls:function(r){return r[9]?"note-drift":"";}},
 {label:"Exception",width:260,text:function(r){return r[6];}},
 {label:"Declared at",width:180,cls:function(){return "loc";},text:function(r){return r[7];}},
 {label:"Last change",width:300,key:function(r){return originDate(r[8]);},text:function(r){return originShort(r[8]);},title:function(r){return originLong(r[8]);}}]});
new Grid($("provisioned-grid"),{label:"Provisioned accounts",rows:D.provisioned,columns:[
 {label:"Account",width:160,cls:function(){return "id";},text:function(r){return r[1];}},
 {label:"Org",width:140,cls:function(){return "id";},text:orgOf},
 {label:"Email",width:200,text:function(r){return r[2];}},
 {label:"Level",width:90,text:function(r){return r[3];}},
 {label:"State",width:110,text:function(r){return r[4];}},
 {label:"Declared at",width:180,cls:function(){return "loc";},text:function(r){return r[5];}},
 {label:"Last change",width:300,key:function(r){return originDate(r[6]);},text:function(r){return originShort(r[6]);},title:function(r){return originLong(r[6]);}}]});
new Grid($("departed-grid"),{label:"Departures",rows:D.departed,rowClass:function(r){return r[3].length?"hl-departed":"";},columns:[
 {label:"User",width:160,cls:function(){return "id";},text:function(r){return r[0];}},
 {label:"Since",width:100,text:function(r){return r[1];}},
 {label:"Reason",width:200,text:function(r){return r[2];}},
 {label:"Still a member of",width:260,text:function(r){return r[3].length?r[3].map(function(p){return p[1]+" ("+p[2]+")";}).join(", "):"no org";}},
 {label:"Declared at",width:180,cls:function(){return "loc";},text:function(r){return r[4];}},
 {label:"Last change",width:300,key:function(r){return originDate(r[5]);},text:function(r){return originShort(r[5]);},title:function(r){return originLong(r[5]);}}]});
new Grid($("org-grid"),{label:"Orgs",rows:ORGS,rowClass:function(o){return o[4]!==null?"hl-error":"";},columns:[
 {label:"Org",width:160,cls:function(){return "id";},text:function(o){return o[0];}},
 {label:"Name",width:200,text:function(o){return o[4]!==null?"not read: "+o[4]:o[1];}},
 {label:"Membership",width:110,text:function(o){return o[2]||"unmanaged";}},
 {label:"Members",width:90,key:function(o){return o[5];},text:function(o){return o[5];}},
 {label:"Admins",width:80,key:function(o){return o[6];},text:function(o){return o[6];}},
 {label:"Drifted",width:80,key:function(o){return o[7];},text:function(o){return o[7];}},
 {label:"Departed",width:90,key:function(o){return o[8];},text:function(o){return o[8];}},
 {label:"Self-grants",width:100,key:function(o){return o[9];},text:function(o){return o[9];}},
 {label:"Manifest",width:220,cls:function(){return "loc";},text:function(o){return o[3];}}]});
applyFilter();
document.documentElement.setAttribute("data-ready","1");
})();
"""
