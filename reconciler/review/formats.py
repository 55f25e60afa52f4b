"""The access review report in any of its formats, by name: what `dxorg report --format`
and the Action's report files share."""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.review.as_csv import render_report_csv
from reconciler.review.as_html import iter_report_html
from reconciler.review.as_json import iter_report_json
from reconciler.review.as_markdown import render_report_markdown
from reconciler.review.value import AccessReport

REPORT_FORMATS = ("markdown", "csv", "json", "html")


def render_report(report: AccessReport, fmt: str) -> str:
    """The whole report as one text in format `fmt` (one of REPORT_FORMATS); Markdown's
    parts are separated by rules."""
    return "".join(iter_report(report, fmt))


def iter_report(report: AccessReport, fmt: str) -> Iterator[str]:
    """The report in format `fmt`, in pieces to write one after the other: the JSON and
    HTML of a big fleet are never held whole."""
    if fmt == "markdown":
        return iter(["\n\n---\n\n".join(render_report_markdown(report)) + "\n"])
    if fmt == "csv":
        return iter([render_report_csv(report)])
    if fmt == "json":
        return iter_report_json(report)
    if fmt == "html":
        return iter_report_html(report)
    raise ValueError(f"not a report format: {fmt!r} (choose from {', '.join(REPORT_FORMATS)})")
