"""`command: drift`: one issue per drifted org, opened, updated, closed when the drift is gone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.action.conftest import MANIFEST, assert_no_secret
from tests.action.fake_github import BOT

MARKER = "<!-- dxorg-drift:org-demo -->"


def open_issues(github):
    return [i for i in github.issues.values() if i["state"] == "open" and "pull_request" not in i]


def test_drift_issue_is_opened_updated_then_closed_when_the_drift_is_gone(action, github, platform):
    first = action.run("drift", event="schedule", sha="d1d1d1d1d1d1", **{"fail-on-drift": "true"})
    assert first.code == 2, first.log
    assert first.outputs["has-changes"] == "true"
    assert first.outputs["summary"].startswith("Drift in 1 of 1 org(s): org-demo.")
    assert "# dxorg drift" in first.summary
    assert "::warning::org-demo has drifted from its manifest" in first.log
    [issue] = open_issues(github)
    assert issue["title"] == "dxorg drift: org-demo differs from its manifest"
    assert [lb["name"] for lb in issue["labels"]] == ["dxorg-drift"]
    assert issue["body"].startswith(MARKER + "\n")
    assert "commit `d1d1d1d1d1d1`" in issue["body"]
    assert "remove user-eve" in issue["body"]
    assert platform.write_calls() == []

    # Still drifted: the same issue is updated, none added; without fail-on-drift, exit 0.
    second = action.run("drift", event="schedule", sha="d2d2d2d2d2d2")
    assert second.code == 0
    assert [i["number"] for i in open_issues(github)] == [issue["number"]]
    assert "commit `d2d2d2d2d2d2`" in github.issues[issue["number"]]["body"]
    assert "1 updated" in second.log

    # The manifest is applied: the drift is gone, the issue is closed with a comment.
    plan_file = action.run("plan", event="push").outputs["plan-file"]
    assert action.run("apply", event="push", **{"plan-file": plan_file}).code == 0
    github.requests.clear()
    third = action.run("drift", event="schedule", sha="d3d3d3d3d3d3", **{"fail-on-drift": "true"})
    assert third.code == 0
    assert third.outputs["has-changes"] == "false"
    closed = github.issues[issue["number"]]
    assert closed["state"] == "closed"
    assert closed["state_reason"] == "completed"
    [comment] = github.comments_on(issue["number"])
    assert comment["body"].startswith("The drift is gone: `org-demo` matches its manifest")
    assert "1 closed" in third.log

    # Nothing drifted, nothing open: a fourth run writes nothing to GitHub.
    github.requests.clear()
    assert action.run("drift", event="schedule").code == 0
    assert github.writes() == []

    bodies = [json.dumps(i) for i in github.issues.values()]
    bodies += [json.dumps(c) for c in github.comments.values()]
    assert_no_secret(*first.texts(), *second.texts(), *third.texts(), *bodies)


def test_the_issue_is_found_across_pages_ignoring_prs_closed_issues_and_other_orgs(action, github):
    github.page_size = 2
    github.add_issue("a PR", f"{MARKER}\nquoted in a PR", ["dxorg-drift"], pull_request=True)
    github.add_issue("old drift", f"{MARKER}\nlong ago", ["dxorg-drift"], state="closed")
    for n in range(3):
        github.add_issue(f"other {n}", f"<!-- dxorg-drift:org-x{n} -->\n", ["dxorg-drift"])
    github.add_issue("unlabelled", f"{MARKER}\nnot ours", ["question"])

    action.run("drift", event="schedule")
    ours = [i for i in open_issues(github) if i["body"].startswith(MARKER + "\nThe live org")]
    assert len(ours) == 1  # a new one: the PR, the closed and the unlabelled one do not count
    github.requests.clear()

    action.run("drift", event="schedule")
    gets = [r for r in github.requests if r.method == "GET"]
    assert len(gets) == 3  # 5 open labelled items (4 issues + the PR), 2 a page
    assert all(r.query.get("labels") == "dxorg-drift" for r in gets[:1])
    assert [(r.method, r.path.rsplit("/", 1)[1]) for r in github.writes()] == [
        ("PATCH", str(ours[0]["number"]))
    ]


def test_an_org_that_cannot_be_read_fails_the_run_and_keeps_its_issue(action, github, platform):
    action.write_manifest(MANIFEST.replace("org-demo", "org-ghost"), name="org-ghost.yaml")
    ghost = github.add_issue(
        "dxorg drift: org-ghost", "<!-- dxorg-drift:org-ghost -->\nold", ["dxorg-drift"], author=BOT
    )
    result = action.run("drift", event="schedule")
    assert result.code == 1  # a failed read is an error, never "no drift"
    assert "::error file=orgs/org-ghost.yaml::org-ghost: not planned" in result.log
    assert github.issues[ghost]["state"] == "open"
    assert github.issues[ghost]["body"].endswith("old")
    assert [i["body"].splitlines()[0] for i in open_issues(github)] == [
        "<!-- dxorg-drift:org-ghost -->",
        MARKER,
    ]
    assert platform.write_calls() == []


def test_drift_of_a_shard_plans_only_the_files_given(action, github):
    action.write_manifest(MANIFEST.replace("org-demo", "org-ghost"), name="org-ghost.yaml")
    result = action.run("drift", event="schedule", path="orgs/org-demo.yaml")
    assert result.code == 0
    assert result.outputs["summary"].startswith("Drift in 1 of 1 org(s): org-demo.")


OWN_PROJECT = "project-" + "O" * 24


def _with_own_project() -> dict:
    from tests.action.conftest import seed

    data = seed()
    data["projects"].append(
        {"id": OWN_PROJECT, "name": "alice-own", "billTo": "org-demo", "createdBy": "user-alice",
         "created": 1700000000000, "dataUsage": 0.1,
         "permissions": {"user-alice": "ADMINISTER"}}
    )  # fmt: skip
    return data


@pytest.mark.parametrize("platform_seed", [_with_own_project()])
def test_an_expired_grant_dxorg_cannot_revoke_is_drift_with_an_issue(action, github, platform):
    """ADMINISTER held under an expired grant with no record of dxorg giving it: never
    revoked, and never only a warning either: the drift run fails and opens an issue."""
    action.write_manifest(
        f"org: org-demo\nselfGrants:\n  projects:\n    - {{id: {OWN_PROJECT}, expires: 2020-01-01}}\n"
    )
    run = action.run("drift", event="schedule", **{"fail-on-drift": "true"})
    assert run.code == 2, run.log
    assert run.outputs["has-changes"] == "true"
    [issue] = open_issues(github)
    assert "Drift dxorg does not change" in issue["body"]
    assert "grant-not-revoked: the self-grant at" in issue["body"]
    assert OWN_PROJECT in issue["body"]
    assert platform.write_calls() == []


def _matching_manifest(carol: str) -> str:
    """org-demo as the seed has it, with carol's entry as given."""
    return (
        "org: org-demo\nmembers:\n  mode: authoritative\n  users:\n"
        "    alice: ADMIN\n    root: ADMIN\n    bob: MEMBER\n"
        f"    carol: {carol}\n"
        "    eve: {level: MEMBER, projectAccess: VIEW}\n"
    )


def test_a_membership_ending_soon_gets_a_line_in_the_drift_issue(action, github, platform):
    """Not drift yet (no change, exit 0), but an issue says so while it can still be extended;
    extended, the issue is closed."""
    ends = datetime.now(UTC).date() + timedelta(days=5)
    action.write_manifest(
        _matching_manifest(f'{{level: MEMBER, expires: {ends}, reason: "contract, ticket 77"}}')
    )
    run = action.run("drift", event="schedule", **{"fail-on-drift": "true"})
    assert run.code == 0, run.log
    assert run.outputs["has-changes"] == "false"
    [issue] = open_issues(github)
    assert "**Memberships ending soon**" in issue["body"]
    assert f"user-carol's membership of org-demo ends on {ends}" in issue["body"]
    assert "contract, ticket 77" in issue["body"]

    action.write_manifest(_matching_manifest("MEMBER"))  # extended: no end any more
    assert action.run("drift", event="schedule").code == 0
    assert github.issues[issue["number"]]["state"] == "closed"
    assert platform.write_calls() == []


def test_only_expiries_plans_and_applies_only_the_expired_membership(action, github, platform):
    ended = datetime.now(UTC).date() - timedelta(days=1)
    # carol's membership has ended; bob's access change and eve's removal are not expiries.
    action.write_manifest(
        _matching_manifest(f"{{level: MEMBER, expires: {ended}}}")
        .replace("bob: MEMBER", "bob: {level: MEMBER, projectAccess: VIEW}")
        .replace("    eve: {level: MEMBER, projectAccess: VIEW}\n", "")
    )
    plan = action.run("plan", event="push", comment="false", **{"only-expiries": "true"})
    assert plan.code == 0, plan.log
    saved = json.loads(Path(plan.outputs["plan-file"]).read_text())
    assert saved["onlyExpiries"] is True
    assert [a["target"] for a in saved["orgs"][0]["actions"]] == ["user-carol"]
    plan_file = plan.outputs["plan-file"]
    # Apply without the input refuses the plan, with nothing sent.
    refused = action.run("apply", event="push", **{"plan-file": plan_file})
    assert refused.code == 1 and "--only-expiries" in refused.log
    assert platform.write_calls() == []
    applied = action.run("apply", event="push", **{"plan-file": plan_file, "only-expiries": "true"})
    assert applied.code == 0, applied.log  # the expiries converged; the rest is not its job
    assert "user-carol" not in platform.members()
    assert {"user-bob", "user-eve"} <= set(platform.members())
    assert "2 change(s) were left out (--only-expiries)" in applied.log, applied.log


def test_forwarding_left_unchecked_is_never_called_matching(action, github, platform):
    """The forwarding token unset at a drift run: the org may differ (its forwarding was
    not compared), so its drift issue stays open and says why, and the run fails with
    fail-on-drift; it is never closed as "matches its manifest"."""
    first = action.run("drift", event="schedule")
    [issue] = open_issues(github)
    assert first.outputs["has-changes"] == "true"
    plan_file = action.run("plan", event="push").outputs["plan-file"]
    assert action.run("apply", event="push", **{"plan-file": plan_file}).code == 0

    unchecked = action.run(
        "drift", {"SPLUNK_HEC_TOKEN": None}, event="schedule", **{"fail-on-drift": "true"}
    )
    assert unchecked.code == 2, unchecked.log
    assert unchecked.outputs["has-changes"] == "true"
    assert [i["number"] for i in open_issues(github)] == [issue["number"]]
    body = github.issues[issue["number"]]["body"]
    assert "job-log forwarding was not checked" in body
    assert not github.comments_on(issue["number"])

    # With the token back, the org matches: only now is the issue closed.
    matching = action.run("drift", event="schedule", **{"fail-on-drift": "true"})
    assert matching.code == 0, matching.log
    assert github.issues[issue["number"]]["state"] == "closed"
