"""The HTML report in a real browser: Debian's Chromium, driven by playwright.

The page is loaded from a file, as an auditor opens it, and every control is used
(the filter, each select and checkbox, sorting by mouse and by keyboard, a matrix
cell); what it then shows is checked against the JSON report of the same review.
Twice: the review fixture's fleet (the demo's size, every kind of highlight) and a
generated fleet of 20 orgs x 200 members, where the tables are drawn in part
(virtual scrolling) and two users' ids are prefixes of each other.

Without Chromium these tests skip, saying why; in CI (CI=true) they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator import Emulator
from reconciler.manifest import load_fleet
from reconciler.platform import ReadClient
from reconciler.review.collect import review_fleet
from reconciler.review.formats import render_report
from reconciler.review.value import AccessReport
from tests.integration.conftest import FAST_RETRY, P1, P2, config_for
from tests.review.conftest import NOW

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("DXORG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ROWS = "#member-grid tbody tr:not([aria-hidden])"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[test]'")
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


class Report:
    """The HTML report open in a page, and the JSON report of the same review."""

    def __init__(self, browser: Any, report: AccessReport, directory: Path) -> None:
        self.json = json.loads(render_report(report, "json"))
        path = directory / "report.html"
        path.write_text(render_report(report, "html"), encoding="utf-8")
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("html[data-ready]")

    def rows(self) -> list[tuple[str, str]]:
        """(user, org) of each member row drawn, in order."""
        return [
            (user, org)
            for user, org, *_ in self.page.eval_on_selector_all(
                ROWS, "rows => rows.map(r => Array.from(r.cells, c => c.textContent))"
            )
        ]

    def shown(self) -> str:
        return str(self.page.text_content("#shown"))

    def members(self) -> list[dict[str, Any]]:
        return [{"org": o["org"], **m} for o in self.json["orgs"] for m in o["members"]]

    def attention(self) -> list[tuple[str, str]]:
        """The members a reviewer must look at, from the JSON: drifted, departed,
        holding a self-grant that is expiring or expired, or a member whose membership
        ends soon (or has ended)."""
        flagged = set()
        for org in self.json["orgs"]:
            held = {g["holder"] for g in org["selfGrants"] if g["state"] != "active"}
            for m in org["members"]:
                ends = m["membershipEnds"]
                ending = ends is not None and ends["state"] != "active" and m["live"]
                if m["drift"] or m["departed"] or m["user"] in held or ending:
                    flagged.add((m["user"], org["org"]))
        return sorted(flagged)

    def card(self, name: str) -> int:
        return int(self.page.text_content(f'[data-count="{name}"] b') or "")


@pytest.fixture
def demo(browser: Any, report: AccessReport, tmp_path: Path) -> Iterator[Report]:
    opened = Report(browser, report, tmp_path)
    yield opened
    opened.page.close()
    assert opened.errors == []


def test_the_demo_report_shows_what_the_json_says_and_every_control_works(demo: Report) -> None:
    page, counts, members = demo.page, demo.json["counts"], demo.members()
    everyone = sorted((m["user"], m["org"]) for m in members)
    for name in ("orgs", "users", "memberships", "drifted", "expiring", "expired", "errors"):
        assert demo.card(name) == counts[name], name
    assert demo.card("expiring") == 1 and demo.card("expired") == 1
    assert (
        sorted(demo.rows()) == everyone
        and demo.shown() == f"{len(members)} of {len(members)} shown"
    )

    page.fill("#q", "ben reviewer")  # the author of bob's line and the departure
    page.press("#q", "Enter")
    assert demo.rows() == [("user-bob", "org-demo")]
    page.click("#reset")
    page.select_option("#org", "org-lab")
    assert sorted(demo.rows()) == sorted(k for k in everyone if k[1] == "org-lab")
    page.select_option("#status", "drifted")
    assert demo.rows() == [
        (m["user"], m["org"]) for m in members if m["org"] == "org-lab" and m["status"] == "drifted"
    ]
    page.click("#reset")
    page.check("#attention-only")
    assert sorted(demo.rows()) == demo.attention()
    assert demo.shown() == f"{len(demo.attention())} of {len(members)} shown"
    page.click("#reset")

    # The first columns; the flags on demand.
    heads = page.eval_on_selector_all("#member-grid th", "hs => hs.map(h => h.textContent)")
    assert heads[:3] == ["User", "Org", "Name"] and "appAccess" not in heads
    page.check("#all-columns")
    heads = page.eval_on_selector_all("#member-grid th", "hs => hs.map(h => h.textContent)")
    assert set(demo.json["flags"]) <= set(heads)

    # Sorting: by mouse, then from the keyboard (the headers are buttons).
    page.click("#member-grid th button:text-is('User')")
    assert [u for u, _ in demo.rows()] == sorted(u for u, _ in everyone)
    page.focus("#member-grid th button:text-is('Org')")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    assert page.get_attribute("#member-grid th:nth-child(2)", "aria-sort") == "descending"
    assert [o for _, o in demo.rows()] == sorted((o for _, o in everyone), reverse=True)

    # The matrix: every user, and a click shows exactly that member, with the details.
    assert str(page.text_content("#matrix-count")).startswith(
        f"{counts['users']} users with access"
    )
    page.click('#matrix-grid button[data-user="user-alice"][data-org="org-demo"]')
    assert demo.rows() == [("user-alice", "org-demo")]
    assert page.text_content("#detail-title") == "user-alice in org-demo"
    details = page.text_content("#detail-list") or ""
    assert "10 day(s) left" in details and "expired 1 day(s) ago" in details
    page.click("#user-chip")
    assert (
        demo.shown()
        == f"{len([m for m in members if m['org'] == 'org-demo'])} of {len(members)} shown"
    )


@pytest.fixture(scope="module")
def fleet_report(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    from bench.plan_bench import drift_for
    from bench.synthetic import ADMIN_TOKEN, make_fleet

    directory = tmp_path_factory.mktemp("fleet")
    fleet = make_fleet(orgs=20, members=200, drift=drift_for(200))
    _, orgs = fleet.write(directory)
    emulator = Emulator(state_path=directory / "state.db", seed=fleet.seed)
    try:
        with ReadClient(
            config_for(ADMIN_TOKEN), transport=emulator.transport(), retry=FAST_RETRY
        ) as client:
            report = review_fleet(load_fleet([orgs]), client, now=NOW)
    finally:
        emulator.close()
    opened = Report(browser, report, directory)
    yield opened
    opened.page.close()
    assert opened.errors == []


def test_a_generated_fleet_is_drawn_in_part_and_filters_exactly(fleet_report: Report) -> None:
    demo, page = fleet_report, fleet_report.page
    members, counts = demo.members(), demo.json["counts"]
    assert len(members) > 4000
    assert demo.shown() == f"{len(members)} of {len(members)} shown"
    # Only the rows in view are in the page.
    assert 10 < len(demo.rows()) < 200
    assert demo.card("users") == counts["users"]
    assert str(page.text_content("#matrix-count")).startswith(
        f"{counts['users']} users with access"
    )
    assert page.locator("#matrix-grid tbody tr:not([aria-hidden])").count() < 200

    # user-admin's cell shows user-admin, not user-admin2 too.
    page.click('#matrix-grid button[data-user="user-admin"][data-org="org-bench0003"]')
    assert demo.rows() == [("user-admin", "org-bench0003")]
    page.click("#reset")
    # So does typing it; a part of an id matches every id it is part of.
    page.fill("#q", "user-admin")
    page.press("#q", "Enter")
    assert {u for u, _ in demo.rows()} == {"user-admin"} and demo.shown().startswith("20 of")
    page.fill("#q", "admin org-bench0003")
    page.press("#q", "Enter")
    assert sorted(demo.rows()) == [
        ("user-admin", "org-bench0003"),
        ("user-admin2", "org-bench0003"),
    ]
    page.click("#reset")

    page.check("#attention-only")
    assert demo.shown() == f"{len(demo.attention())} of {len(members)} shown"
    page.click("#reset")
    page.select_option("#status", "unmanaged")
    assert (
        demo.shown()
        == f"{sum(m['status'] == 'unmanaged' for m in members)} of {len(members)} shown"
    )
    page.click("#reset")

    # Sorted descending by user from the keyboard; the last row is there when scrolled to.
    page.focus("#member-grid th button:text-is('User')")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    users = sorted((m["user"] for m in members), reverse=True)
    assert [u for u, _ in demo.rows()][:5] == users[:5]
    page.eval_on_selector("#member-grid .grid", "g => { g.scrollTop = g.scrollHeight; }")
    page.wait_for_function(
        "last => { const r = document.querySelectorAll('#member-grid tbody tr:not([aria-hidden])');"
        " return r.length && r[r.length - 1].cells[0].textContent === last; }",
        arg=users[-1],
    )


def test_membership_ends_and_project_policies_are_drawn_as_the_json_says(
    browser: Any, tmp_path: Path, read_client: ReadClient
) -> None:
    """bob's membership ends within the notice window, carol's later; a policy covers
    clinical-1 (lacking `protected`), and an exception names scratch, which it does not
    cover."""
    ending, later = NOW.date() + timedelta(days=10), NOW.date() + timedelta(days=60)
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    (fleet / "org-demo.yaml").write_text(
        "org: org-demo\n"
        "members:\n"
        "  mode: additive\n"
        "  users:\n"
        "    alice: ADMIN\n"
        "    root: {level: ADMIN, treManagement: true}\n"
        f'    bob: {{level: MEMBER, expires: {ending}, reason: "contract <b>77</b>"}}\n'
        f"    carol: {{level: MEMBER, expires: {later}}}\n"
        "projectPolicies:\n"
        "  - name: lockdown\n"
        f"    projects: {{ids: [{P1}]}}\n"
        "    require: {protected: true}\n"
        "    exceptions:\n"
        f'      - {{project: {P2}, reason: "vendor <i>x</i>", expires: 2027-01-31}}\n'
    )
    opened = Report(browser, review_fleet(load_fleet([fleet]), read_client, now=NOW), tmp_path)
    page, counts = opened.page, opened.json["counts"]
    try:
        assert counts["membershipsEnding"] == 1 and counts["policyFindings"] == 1
        assert opened.card("membershipsEnding") == 1 and opened.card("policyFindings") == 1
        attention = page.text_content("#attention") or ""
        assert f"membership of org-demo ends on {ending}, in 10 day(s)" in attention
        assert f"clinical-1 ({P1}) in org-demo lacks protected (policy lockdown" in attention

        # The column shows whenever a membership ends; bob's row is highlighted.
        heads = page.eval_on_selector_all("#member-grid th", "hs => hs.map(h => h.textContent)")
        column = heads.index("Membership ends")
        cells = dict(
            (cells[0], cells[column])
            for cells in page.eval_on_selector_all(
                ROWS, "rows => rows.map(r => Array.from(r.cells, c => c.textContent))"
            )
        )
        assert cells["user-bob"] == f"{ending} contract <b>77</b>"  # text, not markup
        assert cells["user-carol"] == str(later) and cells["user-alice"] == ""
        assert page.locator(f"{ROWS}.hl-expiring").count() == 1
        page.check("#attention-only")
        assert sorted(opened.rows()) == opened.attention()
        assert ("user-bob", "org-demo") in opened.rows()
        page.click("#reset")
        page.click("#member-grid button.open:text-is('user-bob')")
        details = page.text_content("#detail-list") or ""
        assert f"ends on {ending}, in 10 day(s): contract <b>77</b>" in details

        # The policies table: one row per covered project, one per stray exception.
        policy = opened.json["orgs"][0]["projectPolicies"][0]
        rows = page.eval_on_selector_all(
            "#policy-grid tbody tr:not([aria-hidden])",
            "rows => rows.map(r => Array.from(r.cells, c => c.textContent))",
        )
        assert len(rows) == len(policy["covered"]) + 1
        assert f"Project policies ({len(rows)})" in (page.text_content("#policies h2") or "")
        assert rows[0][:5] == [
            "org-demo",
            "lockdown",
            policy["mode"],
            f"clinical-1 {P1}",
            "lacks protected",
        ]
        assert rows[1][3:6] == [P2, "not covered by the policy", "vendor <i>x</i> until 2027-01-31"]
        assert page.locator("#policies i, #member-detail b").count() == 0
    finally:
        page.close()
    assert opened.errors == []
