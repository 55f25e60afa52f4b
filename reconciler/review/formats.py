"""The access review report in any of its formats, by name: what `dxorg report --format`
and the Action's report files share."""

from __future__ import annotations

from reconciler.review.as_csv import render_report_csv
from reconciler.review.as_html import render_report_html
from reconciler.review.as_json import dumps_report
from reconciler.review.as_markdown import render_report_markdown
from reconciler.review.value import AccessReport

REPORT_FORMATS = ("markdown", "csv", "json", "html")


def render_report(report: AccessReport, fmt: str) -> str:
    """The whole report as one text in format `fmt` (one of REPORT_FORMATS); Markdown's
    parts are separated by rules."""
    if fmt == "markdown":
        return "\n\n---\n\n".join(render_report_markdown(report)) + "\n"
    if fmt == "csv":
        return render_report_csv(report)
    if fmt == "json":
        return dumps_report(report)
    if fmt == "html":
        return render_report_html(report)
    raise ValueError(f"not a report format: {fmt!r} (choose from {', '.join(REPORT_FORMATS)})")
