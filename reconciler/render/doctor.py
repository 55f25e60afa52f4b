"""`dxorg doctor`'s report as text (a terminal, a log), Markdown (a job summary) and JSON.

The JSON shape (`schemas/doctor.schema.json`)::

    {"version": 1, "apiServer": "...", "caller": "user-x" | null,
     "clockSkewSeconds": 0.0 | null, "blocks": false,
     "counts": {"ok": 9, "warn": 1, "fail": 0},
     "checks": [{"scope": "platform" | "org-x", "check": "token", "status": "ok",
                 "detail": "...", "remedy": "..." | null}, ...]}

Details, remedies and scopes may quote the platform: each passes through render.inert for
the medium it is written to (in JSON, `inert.printable`: no invisible character).
"""

from __future__ import annotations

import json
from itertools import groupby

from rich.text import Text

from reconciler.doctor_verdict import DoctorReport
from reconciler.render import inert

JSON_VERSION = 1
_LABELS = {"ok": ("ok", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "bold red")}
_ICONS = {"ok": "✅", "warn": "⚠️", "fail": "❌"}


def doctor_text(report: DoctorReport) -> Text:
    """One line per check (its status, its name, what was seen), a remedy under each
    failure or warning that has one, and the verdict."""
    text = Text()
    text.append(f"dxorg doctor: {_t(report.api_server)}\n", style="bold")
    for scope, checks in groupby(report.checks, key=lambda c: c.scope):
        text.append(f"\n{_t(scope)}\n", style="bold")
        for check in checks:
            label, style = _LABELS[check.status]
            text.append(f"  {label:<4}", style=style)
            text.append(f"  {check.name:<12}  {_t(check.detail)}\n")
            if check.remedy and check.status != "ok":
                text.append(f"{'':22}remedy: {_t(check.remedy)}\n", style="dim")
    text.append(f"\n{_t(report.summary())}\n", style="bold red" if report.blocks else "bold green")
    return text


def doctor_markdown(report: DoctorReport) -> str:
    """For a job summary: the verdict first, then one list item per check, under a heading
    per scope, with the remedy of a failure or a warning below it. (No table: the plan's
    Markdown has none either, so a table in a summary could only come from foreign text.)"""
    lines = [
        "## dxorg doctor",
        "",
        f"{'❌' if report.blocks else '✅'} **{_md(report.summary())}**",
    ]
    for scope, checks in groupby(report.checks, key=lambda c: c.scope):
        lines += ["", f"### {_md(scope)}", ""]
        for check in checks:
            lines.append(f"- {_ICONS[check.status]} **{check.name}**: {_md(check.detail)}")
            if check.remedy and check.status != "ok":
                lines.append(f"  - remedy: {_md(check.remedy)}")
    return "\n".join(lines) + "\n"


def doctor_json(report: DoctorReport) -> str:
    return (
        json.dumps(
            {
                "version": JSON_VERSION,
                "apiServer": inert.printable(report.api_server),
                "caller": None if report.caller is None else inert.printable(report.caller),
                "clockSkewSeconds": report.clock_skew_seconds,
                "blocks": report.blocks,
                "counts": {s: report.count(s) for s in ("ok", "warn", "fail")},
                "checks": [
                    {
                        "scope": inert.printable(c.scope),
                        "check": c.name,
                        "status": c.status,
                        "detail": inert.printable(c.detail),
                        "remedy": None if c.remedy is None else inert.printable(c.remedy),
                    }
                    for c in report.checks
                ],
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


def _t(text: str) -> str:
    return inert.terminal(text, limit=inert.MESSAGE_LIMIT)


def _md(text: str) -> str:
    """Foreign text as plain text in the Markdown."""
    return inert.markdown_text(text, limit=inert.MESSAGE_LIMIT)
