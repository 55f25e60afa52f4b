"""The four formats of the same report: CSV and JSON parsed back (JSON against its schema),
the HTML parsed and checked for every member, org and highlight, the Markdown split to
fit GitHub; values from the platform escaped in each."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest

from reconciler.emulator import Emulator
from reconciler.platform import ReadClient
from reconciler.review.as_csv import LEADING_COLUMNS, TRAILING_COLUMNS, render_report_csv
from reconciler.review.as_html import iter_report_html, render_report_html
from reconciler.review.as_json import (
    SCHEMA_PATH,
    dumps_report,
    iter_report_json,
    report_schema,
    report_to_json,
)
from reconciler.review.as_markdown import md, render_report_markdown
from reconciler.review.value import AccessReport
from tests.integration.conftest import APP1, FAST_RETRY, P1, P2, config_for
from tests.review.conftest import FleetRepo, review, review_seed

HOSTILE = '<img src=x onerror="alert(1)">|=cmd()*[link](http://evil)'


# ---------------------------------------------------------------- CSV


def rows(report: AccessReport) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(render_report_csv(report))))


def test_csv_has_one_row_per_user_and_org_with_stable_columns(
    report: AccessReport, fleet_repo: FleetRepo
) -> None:
    text = render_report_csv(report)
    header = next(csv.reader(io.StringIO(text)))
    assert header == [*LEADING_COLUMNS, *report.flags, *TRAILING_COLUMNS]
    # The documented column names, exactly (docs/report.md lists them).
    doc = (Path(__file__).resolve().parents[2] / "docs" / "report.md").read_text()
    for column in header:
        assert f"`{column}`" in doc, column
    table = rows(report)
    assert [(r["org"], r["user"]) for r in table] == [
        (org.org_id, m.user_id) for org, m in report.members
    ]
    assert len({(r["org"], r["user"]) for r in table}) == len(table) == 11
    by = {(r["org"], r["user"]): r for r in table}
    bob = by["org-demo", "user-bob"]
    assert (bob["status"], bob["level"], bob["projectAccess"], bob["appAccess"]) == (
        "drifted",
        "MEMBER",
        "CONTRIBUTE",
        "true",
    )
    assert bob["drift"] == "update user-bob: projectAccess CONTRIBUTE -> VIEW"
    assert (bob["line_state"], bob["commit"], bob["author"]) == (
        "committed",
        fleet_repo.second,
        "Ben Reviewer",
    )
    assert bob["subject"] == "Offboard eve; bob to VIEW"
    assert bob["declared_at"].endswith(f"org-demo.yaml:{fleet_repo.line('org-demo.yaml', 'bob:')}")
    carol = by["org-demo", "user-carol"]
    assert (
        "projectAccess=UPLOAD from " in carol["inherited"]
        and "org-demo.yaml:4" in carol["inherited"]
    )
    assert by["org-lab", "user-dave"]["status"] == "unmanaged"
    assert by["org-lab", "user-grace"]["line_state"] == "uncommitted"
    assert by["org-lab", "user-grace"]["level"] == ""
    eve = by["org-lab", "user-eve"]
    assert eve["status"] == "departed" and eve["departed"].startswith(
        "since 2026-11-20: left the company"
    )
    alice = by["org-demo", "user-alice"]
    assert (
        "project " + P1 + " (clinical-1) ADMINISTER until 2026-12-06 (10 days left, expiring)"
        in alice["self_grants"]
    )
    assert by["org-demo", "user-erin"]["provisioned_at"] == ""  # not shown to be the entry's


def test_csv_cells_never_start_a_formula(tmp_path, fleet_repo: FleetRepo) -> None:
    seed = review_seed()
    seed["users"][2]["first"] = '=HYPERLINK("http://evil")'
    emulator = Emulator(state_path=tmp_path / "hostile.db", seed=seed)
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        report = review([fleet_repo.orgs], client)
    bob = next(r for r in rows(report) if r["user"] == "user-bob")
    assert bob["name"] == '\'=HYPERLINK("http://evil") Tester'


# ---------------------------------------------------------------- JSON


def test_json_matches_its_schema_and_carries_the_whole_report(
    report: AccessReport, fleet_repo: FleetRepo
) -> None:
    # The packaged schema is the one the checkout's schemas/ shows editors.
    checkout = Path(__file__).resolve().parents[2] / "schemas" / "report.schema.json"
    assert SCHEMA_PATH.read_text(encoding="utf-8") == checkout.read_text(encoding="utf-8")
    jsonschema.Draft202012Validator.check_schema(report_schema())
    data = json.loads(dumps_report(report))
    jsonschema.Draft202012Validator(report_schema()).validate(data)
    assert data["flags"] == list(report.flags)
    assert data["counts"] == report.counts()
    assert data["counts"]["departedPresent"] == 1 and data["counts"]["expired"] == 1
    assert set(data["commits"]) == {fleet_repo.first, fleet_repo.second}
    assert data["commits"][fleet_repo.second]["author"] == "Ben Reviewer"
    demo = data["orgs"][0]
    bob = next(m for m in demo["members"] if m["user"] == "user-bob")
    assert bob["live"]["projectAccess"] == "CONTRIBUTE"
    assert bob["flags"]["projectAccess"] == {
        "live": "CONTRIBUTE",
        "manifest": "VIEW",
        "source": "member",
        "where": None,
    }
    assert (
        bob["declared"]["commit"] == fleet_repo.second and bob["declared"]["state"] == "committed"
    )
    assert bob["drift"]["changes"] == [
        {"flag": "projectAccess", "live": "CONTRIBUTE", "manifest": "VIEW"}
    ]
    carol = next(m for m in demo["members"] if m["user"] == "user-carol")
    assert carol["flags"]["appAccess"]["source"] == "fleet-defaults"
    assert carol["flags"]["appAccess"]["where"]["file"].endswith("_defaults.yaml")
    assert {g["id"]: g["state"] for g in demo["selfGrants"]} == {
        P1: "expiring",
        P2: "expired",
        APP1: "active",
    }
    assert [(a["user"], a["state"]) for a in demo["provisioned"]] == [
        ("user-erin", "unverified"),
        ("user-zoe", "not-created"),
    ]
    assert data["departed"][0]["presentIn"] == [
        {"org": "org-demo", "level": "MEMBER"},
        {"org": "org-lab", "level": "MEMBER"},
    ]
    grace = next(m for m in data["orgs"][1]["members"] if m["user"] == "user-grace")
    assert grace["live"] is None and grace["declared"]["state"] == "uncommitted"


def test_json_is_written_one_org_at_a_time_as_the_same_text(report: AccessReport) -> None:
    pieces = list(iter_report_json(report))
    assert len(pieces) == len(report.orgs) + 2  # the head, each org, the end
    whole = json.dumps(report_to_json(report), separators=(",", ":"), ensure_ascii=False)
    assert "".join(pieces) == dumps_report(report) == whole + "\n"


def test_json_of_a_failed_org_validates_and_says_why(report: AccessReport) -> None:
    from dataclasses import replace

    from reconciler.review.value import OrgReview

    broken = replace(
        report, orgs=(*report.orgs, OrgReview("org-ghost", "orgs/ghost.yaml", error="boom"))
    )
    data = json.loads(dumps_report(broken))
    jsonschema.validate(data, report_schema())
    assert data["orgs"][-1]["error"] == "boom" and data["counts"]["errors"] == 1
    # Every format says the report is incomplete, and why.
    parsed = page(broken)
    assert embedded(broken)["orgs"][-1][4] == "boom"
    assert "org-ghost was not read: boom. This report is incomplete." in "".join(parsed.text)
    [ghost] = [r for r in rows(broken) if r["org"] == "org-ghost"]
    assert (ghost["status"], ghost["error"]) == ("not-read", "boom")
    [markdown] = render_report_markdown(broken)
    assert "❌ Orgs not read (this report is incomplete) (1)" in markdown
    assert "- `org-ghost`: boom" in markdown


# ---------------------------------------------------------------- HTML


class Page(HTMLParser):
    """Collects what the tests look at: tags with their attributes, text, scripts, links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.stack: list[str] = []
        self.in_script = False
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self.in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self.in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self.in_script else self.text).append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.tags
            if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]


def page(report: AccessReport) -> Page:
    parsed = Page()
    parsed.feed(render_report_html(report))
    parsed.close()
    return parsed


def embedded(report: AccessReport) -> dict:
    """The data the page's script draws its tables from."""
    parsed = page(report)
    [block] = parsed.find("script", type="application/json")
    [data] = [s for s in parsed.scripts if s.startswith("{")]
    assert block["id"] == "report-data"
    return json.loads(data)


def test_html_is_one_self_contained_file(report: AccessReport) -> None:
    html = render_report_html(report)
    parsed = page(report)
    # Nothing is fetched: no external script, stylesheet, image, frame or font.
    for tag, attrs in parsed.tags:
        assert "src" not in attrs, tag
        if tag == "link":
            pytest.fail(f"a <link> in a self-contained page: {attrs}")
        if tag == "a":
            assert attrs["href"].startswith("#"), attrs
    assert "http://" not in html and "https://" not in html
    [csp] = parsed.find("meta", http_equiv="Content-Security-Policy")
    assert csp["content"].startswith("default-src 'none'")
    # One style, one script, and the data once, as JSON the script reads.
    assert len(parsed.find("style")) == 1 and len(parsed.find("script")) == 2
    assert len(parsed.find("script", type="application/json")) == 1
    assert "".join(iter_report_html(report)) == html
    ids = [a["id"] for _, a in parsed.tags if "id" in a]
    assert len(ids) == len(set(ids)), "an id is used twice"


def test_html_cards_count_expiring_and_expired_grants_apart(report: AccessReport) -> None:
    cards = {a["data-count"] for a in page(report).find("div") if "data-count" in a}
    assert {"users", "expiring", "expired"} <= cards
    html = render_report_html(report)
    counts = report.counts()
    assert counts["expiring"] == 1 and counts["expired"] == 1
    assert '<div class="card soon" data-count="expiring"><b>1</b>' in html
    assert '<div class="card bad" data-count="expired"><b>1</b>' in html


def test_html_embeds_every_member_org_and_highlight(report: AccessReport) -> None:
    data = embedded(report)
    orgs = [o[0] for o in data["orgs"]]
    assert orgs == ["org-demo", "org-lab"]
    rows = {(orgs[r[0]], r[1]): r for r in data["members"]}
    assert list(rows) == [(org.org_id, m.user_id) for org, m in report.members]
    assert rows["org-demo", "user-bob"][3] == "drifted"
    assert rows["org-demo", "user-bob"][5] == 1 | 8  # drift, inherited
    assert rows["org-lab", "user-eve"][5] & 2  # departed
    assert rows["org-demo", "user-alice"][5] & 4  # a self-grant expiring or expired
    assert rows["org-lab", "user-dave"][3:6] == ["unmanaged", "MEMBER", 0]
    assert rows["org-lab", "user-grace"][4] is None  # declared, not a member
    # Self-grants: their state, and the days in words.
    grants = {g[13]: g[9] for g in data["grants"]}
    assert grants == {
        "expiring": "10 day(s) left",
        "expired": "expired 1 day(s) ago",
        "active": "no expiry",
    }
    origins = {o[2] for o in data["origins"]} | {o[5] for o in data["origins"]}
    assert {"Ben Reviewer", "Offboard eve; bob to VIEW"} <= origins
    assert "uncommitted" in {o[0] for o in data["origins"]}
    assert [p[0] for p in data["provisioned"]] and "not-created" in {
        p[4] for p in data["provisioned"]
    }
    assert data["departed"][0][0] == "user-eve" and data["departed"][0][2] == "left the company"
    text = " ".join(page(report).text)
    assert "has departed" in text and "left the company" in text


def test_html_escapes_every_value_from_the_platform_and_the_manifests(
    tmp_path, fleet_repo: FleetRepo
) -> None:
    seed = review_seed()
    seed["users"][2]["first"] = HOSTILE
    seed["orgs"][0]["name"] = "</title><script>alert(2)</script><!--"
    seed["projects"][0]["name"] = "clinical-<u>1</u></script>"
    emulator = Emulator(state_path=tmp_path / "hostile.db", seed=seed)
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        report = review([fleet_repo.orgs], client)
    html = render_report_html(report)
    assert "<img" not in html and "<script>alert" not in html and "<u>1</u>" not in html
    parsed = page(report)
    assert not parsed.find("img") and not parsed.find("u")  # no injected tags
    assert len(parsed.find("script")) == 2 and len(parsed.find("title")) == 1
    text = " ".join(parsed.text)
    assert "clinical-<u>1</u></script>" in text  # the attention list, written here
    # The data block: no foreign `</script` or `<!--` inside it, the values intact.
    data = html[html.index('id="report-data">') : html.index("</script>")]
    assert "<" not in data
    parsed_data = embedded(report)
    assert f"{HOSTILE} Tester" in {m[2] for m in parsed_data["members"]}
    assert "</title><script>alert(2)</script><!--" in {o[1] for o in parsed_data["orgs"]}


# ---------------------------------------------------------------- Markdown


def test_markdown_puts_what_needs_attention_first_and_escapes_values(report: AccessReport) -> None:
    [text] = render_report_markdown(report)
    assert text.startswith("## dxorg access review")
    attention = text.index("### Needs attention")
    assert attention < text.index("### `org-demo`") < text.index("### `org-lab`")
    assert "⛔ Departed users still present (1)" in text
    assert "`user-eve`" in text[attention:] and "`org-lab` as MEMBER" in text
    assert "Self-grants expired or expiring within 30 days (2)" in text
    assert "update user-bob: projectAccess CONTRIBUTE -&gt; VIEW" in text
    assert "Ben Reviewer, 2026-11-20: Offboard eve; bob to VIEW" in text
    assert md(HOSTILE) == (
        '&lt;img src=x onerror="alert(1)"&gt;\\|=cmd()\\*\\[link\\](http:&#8203;/&#8203;/evil)'
    )


def test_markdown_is_split_into_parts_under_the_limit(tmp_path, read_client: ReadClient) -> None:
    from reconciler.review.collect import review_fleet
    from tests.integration.conftest import write_manifest
    from tests.review.conftest import NOW

    # Seeded large enough that one org's member table needs several parts.
    seed = review_seed()
    for i in range(400):
        seed["users"].append(
            {"id": f"user-m{i:04d}", "first": "M", "last": str(i), "email": f"m{i}@x.test"}
        )
        seed["orgs"][1]["members"][f"user-m{i:04d}"] = {
            "level": "MEMBER",
            "allowBillableActivities": False,
            "appAccess": True,
            "projectAccess": "VIEW",
        }
    emulator = Emulator(state_path=tmp_path / "big.db", seed=seed)
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        fleet = write_manifest(
            tmp_path / "orgs", "org: org-lab\nmembers: {mode: additive, users: {alice: ADMIN}}\n"
        )
        report = review_fleet(fleet, client, now=NOW)
    parts = render_report_markdown(report, limit=20_000)
    assert len(parts) >= 3
    for index, part in enumerate(parts):
        assert len(part) <= 20_000
        assert part.endswith(f"*Part {index + 1} of {len(parts)}*")
    joined = "\n".join(parts)
    for i in range(400):
        assert f"`user-m{i:04d}`" in joined
    # Every table that was cut starts again with its header.
    assert joined.count("| user | name | status |") == joined.count("<summary>Members (")
    compact = render_report_markdown(report, members=False)
    assert len(compact) == 1 and "`user-m0001`" not in compact[0]
    assert "Member tables left out" in compact[0]
