"""The access review's membership-ends column: every format says when each membership with
an `expires` date ends, and marks the ones within `safety.expiryNoticeDays` or past it."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest

from reconciler.platform import ReadClient
from reconciler.review.as_csv import render_report_csv
from reconciler.review.as_html import render_report_html
from reconciler.review.as_json import dumps_report, report_schema
from reconciler.review.as_markdown import render_report_markdown
from reconciler.review.value import AccessReport
from tests.review.conftest import NOW, review

TODAY = NOW.date()
ENDING = TODAY + timedelta(days=10)  # within the 14-day notice
LATER = TODAY + timedelta(days=60)  # outside it
ENDED = TODAY - timedelta(days=1)  # past: eve is still a member


@pytest.fixture
def report(tmp_path: Path, read_client: ReadClient) -> AccessReport:
    (tmp_path / "org-demo.yaml").write_text(
        "org: org-demo\n"
        "members:\n"
        "  mode: additive\n"
        "  users:\n"
        "    alice: ADMIN\n"
        "    root: {level: ADMIN, treManagement: true}\n"
        f'    bob: {{level: MEMBER, expires: {ENDING}, reason: "contract, ticket 77"}}\n'
        f"    carol: {{level: MEMBER, expires: {LATER}}}\n"
        f"    eve: {{level: MEMBER, expires: {ENDED}}}\n"
    )
    (tmp_path / "org-lab.yaml").write_text("org: org-lab\n")
    return review([tmp_path], read_client)


def test_the_report_value_says_when_and_in_which_state(report: AccessReport) -> None:
    demo = report.orgs[0]
    ends = {m.user_id: m.membership_ends for m in demo.members if m.membership_ends}
    assert {u: (e.expires, e.days_left, e.state) for u, e in ends.items()} == {
        "user-bob": (ENDING, 10, "ending"),
        "user-carol": (LATER, 60, "active"),
        "user-eve": (ENDED, -1, "ended"),
    }
    eve = next(m for m in demo.members if m.user_id == "user-eve")
    assert eve.status == "drifted" and eve.drift is not None  # the next apply removes her
    assert report.counts()["membershipsEnding"] == 2  # bob (ending) and eve (ended, present)


def test_csv_has_the_membership_ends_column(report: AccessReport) -> None:
    rows = {
        r["user"]: r["membership_ends"]
        for r in csv.DictReader(io.StringIO(render_report_csv(report)))
        if r["org"] == "org-demo"
    }
    assert rows["user-bob"] == f"ends on {ENDING}, in 10 day(s): contract, ticket 77 (ending)"
    assert rows["user-carol"] == f"ends on {LATER}, in 60 day(s) (active)"
    assert rows["user-eve"] == f"ended on {ENDED} (ended)"
    assert rows["user-alice"] == ""


def test_json_carries_it_and_matches_the_schema(report: AccessReport) -> None:
    data = json.loads(dumps_report(report))
    jsonschema.Draft202012Validator(report_schema()).validate(data)
    members = {m["user"]: m for m in data["orgs"][0]["members"]}
    assert members["user-bob"]["membershipEnds"] == {
        "expires": str(ENDING),
        "reason": "contract, ticket 77",
        "daysLeft": 10,
        "state": "ending",
    }
    assert members["user-alice"]["membershipEnds"] is None
    assert data["counts"]["membershipsEnding"] == 2


def test_markdown_has_the_column_and_lists_the_ending_ones(report: AccessReport) -> None:
    markdown = "\n".join(render_report_markdown(report))
    assert "| membership ends |" in markdown
    assert "#### ⏳ Memberships ending soon or ended (2)" in markdown
    assert f"`user-bob`: membership ends on {ENDING}, in 10 day(s): contract, ticket 77" in (
        markdown
    )
    bob_row = next(line for line in markdown.splitlines() if line.startswith("| `user-bob`"))
    assert f"⏳ **{ENDING} (9 day(s) left)**" in bob_row  # its last day is the day before
    carol_row = next(line for line in markdown.splitlines() if line.startswith("| `user-carol`"))
    assert f"| {LATER} (59 day(s) left) |" in carol_row


class _Cells(HTMLParser):
    """The member table's header and the row of each user, as text."""

    def __init__(self) -> None:
        super().__init__()
        self.head: list[str] = []
        self.rows: dict[str, list[str]] = {}
        self.marks: dict[str, str] = {}
        self._row: list[str] | None = None
        self._user = ""
        self._in_table = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and found.get("id") == "member-table":
            self._in_table = True
        elif self._in_table and tag == "tr":
            self._row = []
            self._user = found.get("data-user") or ""
            if self._user and found.get("data-org") == "org-demo":
                self.marks[self._user] = found.get("data-marks") or ""
        elif self._in_table and tag in ("td", "th"):
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if not self._user:
                self.head = self._row
            elif self._row[0] == "org-demo":
                self.rows[self._user] = self._row
            self._row = None
        elif tag == "table":
            self._in_table = False


def test_html_has_the_column_and_marks_the_ending_ones(report: AccessReport) -> None:
    html = render_report_html(report)
    cells = _Cells()
    cells.feed(html)
    column = cells.head.index("Membership ends")
    assert cells.rows["user-bob"][column] == f"{ENDING} contract, ticket 77"
    assert cells.rows["user-carol"][column] == str(LATER)
    assert cells.rows["user-alice"][column] == ""
    assert "expiring" in cells.marks["user-bob"] and "expiring" in cells.marks["user-eve"]
    assert "expiring" not in cells.marks.get("user-carol", "")
    assert f"membership of org-demo ends on {ENDING}, in 10 day(s)" in html
