"""Issue 18 in the access review: hostile names (a member's own name, the org's, a
project's) leave each format's structure exactly as plain names do: the same Markdown
tokens (markdown-it-py), the same HTML tags, the same CSV rows and cells; nothing a
spreadsheet would run, no mention."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest

from reconciler.emulator import Emulator
from reconciler.platform import ReadClient
from reconciler.review.as_csv import render_report_csv
from reconciler.review.as_html import render_report_html
from reconciler.review.as_markdown import render_report_markdown
from reconciler.review.value import AccessReport
from tests.as_seen import autolinks, blocks, mentions, tokens
from tests.integration.conftest import FAST_RETRY, config_for
from tests.review.conftest import FleetRepo, review, review_seed
from tests.review.test_formats import Page

HOSTILE = [
    "Eve\n\n<!--",
    "<details><summary>x</summary>| a | b |\n|---|---|\n[x](https://evil.example) @acme/admins",
    "\x1b[2K\x1b[1A\u202eevil\u200b ```` ~~~ **bold** _i_ \\",
    '=HYPERLINK("http://evil")',
    '-->"\' onmouseover=alert(1) x="</td></tr><tr><td>',
    "\r\n::add-mask::x\n##[error]y",
    "https://evil.example/login www.evil.com #1 GH-2 a@evil.co owner/repo#3",
]


def named(tmp_path, fleet_repo: FleetRepo, name: str, label: str) -> AccessReport:
    """The report of the review fleet, with `name` as bob's first name, carol's last name,
    the org's name and part of each project's name."""
    seed: dict[str, Any] = review_seed()
    for user in seed["users"]:
        if user["id"] == "user-bob":
            user["first"] = name
        if user["id"] == "user-carol":
            user["last"] = name
    seed["orgs"][0]["name"] = name
    for project in seed["projects"]:
        project["name"] += name  # clinical-* still selects it
    emulator = Emulator(state_path=tmp_path / f"{label}.db", seed=seed)
    try:
        with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
            return review([fleet_repo.orgs], client)
    finally:
        emulator.close()


def html_page(report: AccessReport) -> Page:
    parsed = Page()
    parsed.feed(render_report_html(report))
    parsed.close()
    return parsed


DXORG_BREAKS = re.compile(r"(?<=[@.:/#-])\u200b|(?<=[wW]{3})\u200b(?=\.)")


def invisible(text: str) -> set[str]:
    """Characters shown as nothing, or that act on the text around them (controls, bidi,
    zero-width); the zero-width spaces dxorg puts where a mention or an autolink would
    start (after @ . : / # GH-, before the dot of www.) are its own."""
    text = DXORG_BREAKS.sub("", text)
    return {c for c in text if not c.isprintable() and c not in "\n "}


def csv_shape(report: AccessReport) -> list[int]:
    return [len(row) for row in csv.reader(io.StringIO(render_report_csv(report)))]


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_name_leaves_every_format_as_a_plain_one_does(
    tmp_path, fleet_repo: FleetRepo, name: str
) -> None:
    hostile = named(tmp_path, fleet_repo, name, "hostile")
    plain = named(tmp_path, fleet_repo, "Plain", "plain")

    markdown = "\n\n".join(render_report_markdown(hostile))
    expected = "\n\n".join(render_report_markdown(plain))
    assert [t.type for t in tokens(markdown)] == [t.type for t in tokens(expected)]
    assert mentions(markdown) == []
    assert autolinks(markdown) == []
    for block in blocks(markdown):
        if block.kind == "html_block":
            assert block.text.strip() in ("</details>",) or block.text.startswith(
                "<details><summary>Members ("
            ), block.text

    shown = [
        child.content
        for token in tokens(markdown)
        for child in token.children or []
        if child.type in ("text", "code_inline")
    ]
    assert invisible("".join(shown)) == set()

    page = html_page(hostile)
    assert [tag for tag, _ in page.tags] == [tag for tag, _ in html_page(plain).tags]
    assert invisible("".join(page.text)) == set()
    assert invisible("".join(v for _, attrs in page.tags for v in attrs.values())) == set()
    # The data the page's script shows (with textContent) is made visible the same way.
    [data] = [s for s in page.scripts if s.startswith("{")]
    assert invisible(json.dumps(json.loads(data), ensure_ascii=False)) == set()

    assert csv_shape(hostile) == csv_shape(plain)
    for row in csv.reader(io.StringIO(render_report_csv(hostile))):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
