"""`dxorg doctor`'s report as text (a terminal, a log), Markdown (a job summary) and JSON.

The JSON shape (`schemas/doctor.schema.json`)::

    {"version": 1, "apiServer": "...", "caller": "user-x" | null,
     "clockSkewSeconds": 0.0 | null, "blocks": false,
     "counts": {"ok": 9, "warn": 1, "fail": 0},
     "checks": [{"scope": "platform" | "org-x", "check": "token", "status": "ok",
                 "detail": "...", "remedy": "..." | null}, ...]}

Every detail and remedy was made printable when the check was made (doctor_verdict.Check).
"""

from __future__ import annotations

import json
from itertools import groupby

from rich.text import Text

from reconciler.doctor_verdict import DoctorReport

JSON_VERSION = 1
_LABELS = {"ok": ("ok", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "bold red")}
_ICONS = {"ok": "✅", "warn": "⚠️", "fail": "❌"}


def doctor_text(report: DoctorReport) -> Text:
    """One line per check (its status, its name, what was seen), a remedy under each
    failure or warning that has one, and the verdict."""
    text = Text()
    text.append(f"dxorg doctor: {report.api_server}\n", style="bold")
    for scope, checks in groupby(report.checks, key=lambda c: c.scope):
        text.append(f"\n{scope}\n", style="bold")
        for check in checks:
            label, style = _LABELS[check.status]
            text.append(f"  {label:<4}", style=style)
            text.append(f"  {check.name:<12}  {check.detail}\n")
            if check.remedy and check.status != "ok":
                text.append(f"{'':22}remedy: {check.remedy}\n", style="dim")
    text.append(f"\n{report.summary()}\n", style="bold red" if report.blocks else "bold green")
    return text


def doctor_markdown(report: DoctorReport) -> str:
    """For a job summary: the verdict first, then a table per scope."""
    lines = [
        "## dxorg doctor",
        "",
        f"{'❌' if report.blocks else '✅'} **{_cell(report.summary())}**",
    ]
    for scope, checks in groupby(report.checks, key=lambda c: c.scope):
        lines += [
            "",
            f"### {_cell(scope)}",
            "",
            "| | check | result | remedy |",
            "|---|---|---|---|",
        ]
        for check in checks:
            remedy = _cell(check.remedy) if check.remedy and check.status != "ok" else ""
            lines.append(
                f"| {_ICONS[check.status]} | {check.name} | {_cell(check.detail)} | {remedy} |"
            )
    return "\n".join(lines) + "\n"


def doctor_json(report: DoctorReport) -> str:
    return (
        json.dumps(
            {
                "version": JSON_VERSION,
                "apiServer": report.api_server,
                "caller": report.caller,
                "clockSkewSeconds": report.clock_skew_seconds,
                "blocks": report.blocks,
                "counts": {s: report.count(s) for s in ("ok", "warn", "fail")},
                "checks": [
                    {
                        "scope": c.scope,
                        "check": c.name,
                        "status": c.status,
                        "detail": c.detail,
                        "remedy": c.remedy,
                    }
                    for c in report.checks
                ],
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


def _cell(text: str) -> str:
    """Text from the platform, inert in a Markdown table cell: no markup, links, HTML or
    mentions take effect. (To be replaced by the shared inert-text module.)"""
    out = []
    for char in text:
        if char in "\\`*_{}[]<>|@~&":
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)
