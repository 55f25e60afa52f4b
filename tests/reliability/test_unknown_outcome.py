"""A write whose answer was lost is `unknown`, not `failed`: the journal says so, and the
verification read settles each such call as landed or not landed, in the journal (a line
per call), the CLI's summary and the Action's apply report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.apply.journal import Journal
from reconciler.apply.run import apply_reviewed
from reconciler.model import grant_record_key
from reconciler.read_and_plan import plan_fleet
from reconciler.render.apply_markdown import render_apply_markdown
from tests.integration.conftest import APP1, P1, connection_to, write_manifest
from tests.reliability.conftest import CliRunner, Served

PROMOTIONS = "org: org-demo\nmembers: {mode: additive, users: {bob: ADMIN, carol: ADMIN}}\n"


def journal_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_promotions_whose_answers_are_lost_are_unknown_then_verified_landed(
    cli: CliRunner, served: Served, tmp_path: Path
) -> None:
    (tmp_path / "orgs").mkdir()
    (tmp_path / "orgs" / "org-demo.yaml").write_text(PROMOTIONS)
    journal = tmp_path / "journal.jsonl"
    # Every attempt is processed and committed, and every answer is lost, retries and all.
    served.rule("/org-demo/setMemberAccess", "drop-after", count=1000)
    result = cli(
        "apply", str(tmp_path / "orgs"), "--auto-approve", "--journal", str(journal),
        env=served.env(),
    )  # fmt: skip
    assert result.code == 0, result.text
    members = served.control.get("/state").json()["orgs"][0]["members"]
    assert members["user-bob"]["level"] == members["user-carol"]["level"] == "ADMIN"
    events = journal_events(journal)
    lost = [e for e in events if e["event"] == "call-unknown"]
    assert [e["route"] for e in lost] == ["/org-demo/setMemberAccess"]
    assert lost[0]["attempts"] > 1
    assert not [e for e in events if e["event"] == "call-failed"]
    resolved = [e for e in events if e["event"] == "call-resolved"]
    assert [(e["step"], e["resolution"]) for e in resolved] == [(lost[0]["step"], "landed")]
    assert "answer lost: org-demo#1 /org-demo/setMemberAccess: verified landed" in result.out
    assert "1 unknown" in result.out
    assert "1 call(s) with a lost answer: 1 landed, 0 not landed. Verified: converged." in (
        result.out
    )


def test_a_lost_answer_that_did_not_land_is_settled_not_landed_and_fails_the_apply(
    served: Served, tmp_path: Path
) -> None:
    """A 5xx on every attempt of the org's update: the answer says nothing about whether it
    was made. The verification read shows it was not; the promotions, dropped after commit,
    were."""
    fleet = write_manifest(tmp_path / "orgs", PROMOTIONS + "name: Renamed\n")
    served.rule("/org-demo/setMemberAccess", "drop-after", count=1000)
    served.rule("/org-demo/update", "500", count=1000)
    connection = connection_to(served.emulator)
    with connection.read_client() as reader:
        plan = plan_fleet(fleet, reader)
    journal = tmp_path / "journal.jsonl"
    report = apply_reviewed(plan, fleet, connection, journal=Journal(journal), env={})
    assert report.exit_code == 1
    org = report.orgs[0]
    assert {o.action_id: o.status for o in org.outcomes} == {
        "org-demo/member/user-bob/promote": "unknown",
        "org-demo/member/user-carol/promote": "unknown",
        "org-demo/org/name": "unknown",
    }
    assert {(c.route, c.resolution) for c in org.unknown_calls} == {
        ("/org-demo/setMemberAccess", "landed"),
        ("/org-demo/update", "not-landed"),
    }
    resolved = [e for e in journal_events(journal) if e["event"] == "call-resolved"]
    assert sorted((e["route"], e["resolution"]) for e in resolved) == [
        ("/org-demo/setMemberAccess", "landed"),
        ("/org-demo/update", "not-landed"),
    ]
    assert "2 call(s) with a lost answer: 1 landed, 1 not landed." in report.summary()
    markdown = render_apply_markdown(report)
    assert "answer lost: `org-demo#1` `/org-demo/setMemberAccess`: verified landed" in markdown
    assert "`/org-demo/update`: verified not-landed" in markdown


@pytest.mark.parametrize(
    ("section", "object_id", "record_route"),
    [
        ("projects", P1, f"/{P1}/setProperties"),
        ("apps", APP1, f"/{APP1}/addTags"),
    ],
)
def test_a_lost_self_grant_record_is_not_verified_landed_while_the_grant_is_active(
    cli: CliRunner, served: Served, tmp_path: Path, section: str, object_id: str, record_route: str
) -> None:
    """A 5xx on every attempt of a self-grant's record call. The grant itself lands, so the
    plan from the verification read asks for nothing (an active grant's record is not
    re-planned): that silence is no evidence. The read shows no record: not landed, exit 1."""
    (tmp_path / "orgs").mkdir()
    (tmp_path / "orgs" / "org-demo.yaml").write_text(
        f"org: org-demo\nselfGrants:\n  admin: alice\n  {section}:\n"
        f"    - {{id: {object_id}, expires: 2099-12-31, reason: incident}}\n"
    )
    journal = tmp_path / "journal.jsonl"
    served.rule(record_route, "500", count=1000)
    result = cli(
        "apply", str(tmp_path / "orgs"), "--auto-approve", "--journal", str(journal),
        env=served.env(),
    )  # fmt: skip
    assert result.code == 1, result.text
    assert "converged" not in result.out
    assert "1 call(s) with a lost answer: 0 landed, 1 not landed." in result.out
    events = journal_events(journal)
    assert [e["route"] for e in events if e["event"] == "call-unknown"] == [record_route]
    resolved = [(e["route"], e["resolution"]) for e in events if e["event"] == "call-resolved"]
    assert resolved == [(record_route, "not-landed")]
    # The platform indeed holds no record: the call never landed.
    state = served.control.get("/state").json()
    record = grant_record_key("user-alice")
    if section == "projects":
        project = next(p for p in state["projects"] if p["id"] == object_id)
        assert record not in (project.get("properties") or {})
    else:
        app = next(a for a in state["apps"] if a["id"] == object_id)
        assert record not in (app.get("tags") or [])
