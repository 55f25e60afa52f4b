"""The access review's membership-ends column: every format says when each membership with
an `expires` date ends, and marks the ones within `safety.expiryNoticeDays` or past it."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.platform import ReadClient
from reconciler.review.as_csv import render_report_csv
from reconciler.review.as_html import ENDING as ENDING_MARK
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


def _members(html: str) -> dict[str, list[Any]]:
    """The page's embedded data: each org-demo member's row, by user."""
    opening = '<script type="application/json" id="report-data">'
    data = html[html.index(opening) + len(opening) :]
    report = json.loads(data[: data.index("</script>")])
    return {r[1]: r for r in report["members"] if report["orgs"][r[0]][0] == "org-demo"}


def test_html_has_the_column_and_marks_the_ending_ones(report: AccessReport) -> None:
    html = render_report_html(report)
    members = _members(html)
    # [expires, reason, days left, state, described, declared at]: the page's script shows
    # the column "Membership ends" as `expires reason` (test_html_browser draws it).
    assert 'label:"Membership ends"' in html
    assert members["user-bob"][12][:4] == [str(ENDING), "contract, ticket 77", 10, "ending"]
    assert members["user-carol"][12][:4] == [str(LATER), None, 60, "active"]
    assert members["user-alice"][12] is None
    ending = {user for user, r in members.items() if r[5] & ENDING_MARK}
    assert ending == {"user-bob", "user-eve"}  # not carol: outside the notice window
    assert ["expiring", f"membership ends on {ENDING}, in 10 day(s): contract, ticket 77"] in (
        members["user-bob"][9]
    )
    assert f"membership of org-demo ends on {ENDING}, in 10 day(s)" in html
    assert '<div class="card soon" data-count="membershipsEnding"><b>2</b>' in html
