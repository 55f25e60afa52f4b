"""What the Action trusts: only the comments and issues it wrote itself (marker *and*
author: the github-token's own identity), only manifests inside their tree, and never a
forwarding token variable that names or holds one of its credentials. And a missing
forwarding secret shows as a warning, never hides the org."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.action.conftest import (
    DX_TOKEN,
    GH_TOKEN,
    MANIFEST,
    PR_NUMBER,
    Action,
    assert_no_secret,
)
from tests.action.fake_github import BOT, FakeGitHub

PLAN_MARKER = "<!-- dxorg-plan:org-demo -->"
DRIFT_MARKER = "<!-- dxorg-drift:org-demo -->"
FORGED = "all clear: no changes, approve away"
QUIET = "org: org-demo\npolicies: {memberListVisibility: ADMIN}\n"


def ours(github: FakeGitHub, marker: str = PLAN_MARKER) -> list[dict[str, object]]:
    return [
        c
        for c in github.comments_on(PR_NUMBER)
        if str(c["body"]).startswith(marker) and c["user"] == github.user(github.identity)
    ]


# ---------------------------------------------------------------- plan comments


def test_a_forged_plan_comment_is_reported_never_edited_and_ours_is_posted(action, github):
    forged = github.add_comment(PR_NUMBER, f"{PLAN_MARKER}\n{FORGED}", author="mallory")
    result = action.run("plan")
    assert result.code == 0, result.log
    assert github.comments[forged]["body"] == f"{PLAN_MARKER}\n{FORGED}"  # untouched
    [mine] = ours(github)
    assert "to remove" in str(mine["body"]) and FORGED not in str(mine["body"])
    url = github.comments[forged]["html_url"]
    warning = f"::warning::a plan comment posing as dxorg's was written by mallory ({url})"
    assert warning in result.log
    assert "Not written by dxorg" in result.summary and "mallory" in result.summary
    # The next run edits only its own comment, and warns again.
    github.requests.clear()
    again = action.run("plan", sha="2222222222bbbb")
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in github.writes()] == [
        ("PATCH", str(mine["id"]))
    ]
    assert github.comments[forged]["body"] == f"{PLAN_MARKER}\n{FORGED}"
    assert warning in again.log


def test_a_forged_comment_on_a_quiet_org_still_gets_our_own_beside_it(action, github):
    action.write_manifest(QUIET)
    forged = github.add_comment(PR_NUMBER, f"{PLAN_MARKER}\n+ promote mallory to ADMIN", "mallory")
    result = action.run("plan")
    assert result.code == 0
    [mine] = ours(github)
    assert "No changes: the live org matches the manifest." in str(mine["body"])
    assert github.comments[forged]["body"].endswith("promote mallory to ADMIN")


def test_forged_parts_and_gone_orgs_are_never_deleted_or_rewritten(action, github):
    gone = github.add_comment(PR_NUMBER, "<!-- dxorg-plan:org-gone -->\nold", author="mallory")
    part = github.add_comment(PR_NUMBER, f"{PLAN_MARKER[:-4]} part 2 -->\nmore", author="mallory")
    action.run("plan")
    assert github.comments[gone]["body"] == "<!-- dxorg-plan:org-gone -->\nold"
    assert github.comments[part]["body"].endswith("more")
    assert not [r for r in github.writes() if r.method == "DELETE"]


def test_a_user_named_like_the_bot_is_not_the_bot(action, github):
    """`github-actions` the user (if one existed) is not `github-actions[bot]` the app."""
    forged = github.add_comment(PR_NUMBER, f"{PLAN_MARKER}\n{FORGED}", author="github-actions")
    action.run("plan")
    assert github.comments[forged]["body"].endswith(FORGED)
    assert len(ours(github)) == 1


@pytest.mark.parametrize("graphql", [True, False], ids=["graphql-viewer", "rest-user"])
def test_with_a_persons_token_its_user_is_the_author(action, github, graphql):
    """A personal token: GraphQL's viewer (or GET /user where GraphQL is missing) names the
    user; the workflow bot's comment with the marker is then someone else's."""
    github.identity, github.user_token, github.graphql = "dxorg-admin", True, graphql
    bots = github.add_comment(PR_NUMBER, f"{PLAN_MARKER}\n{FORGED}", author=BOT)
    own = github.add_comment(PR_NUMBER, f"{PLAN_MARKER}\nold plan", author="DXORG-Admin")
    result = action.run("plan")
    assert github.comments[bots]["body"].endswith(FORGED)
    assert "to remove" in github.comments[own]["body"]  # ours (logins compare case-blind)
    assert f"written by {BOT}" in result.log


def test_when_github_will_not_say_who_the_token_is_nothing_is_touched(action, github):
    github.graphql = False  # and GET /user refuses an installation token
    existing = github.add_comment(PR_NUMBER, f"{PLAN_MARKER}\nold plan", author=BOT)
    result = action.run("plan")
    assert result.code == 0
    assert github.writes() == []
    assert github.comments[existing]["body"].endswith("old plan")
    assert "cannot tell which pull-request comments dxorg wrote" in result.log


# ---------------------------------------------------------------- drift issues


def test_a_forged_drift_issue_is_reported_never_edited_or_closed(action, github):
    forged = github.add_issue("dxorg drift", f"{DRIFT_MARKER}\n{FORGED}", ["dxorg-drift"])
    result = action.run("drift", event="schedule")
    assert result.code == 0, result.log
    assert github.issues[forged]["body"].endswith(FORGED)
    mine = [i for i in github.issues.values() if i["number"] != forged]
    assert len(mine) == 1 and mine[0]["user"]["login"] == BOT
    url = github.issues[forged]["html_url"]
    assert f"a drift issue posing as dxorg's was written by someone ({url})" in result.log

    # The drift is gone: ours is closed, the forged one stays as it was.
    plan_file = action.run("plan", event="push").outputs["plan-file"]
    assert action.run("apply", event="push", **{"plan-file": plan_file}).code == 0
    action.run("drift", event="schedule")
    assert github.issues[mine[0]["number"]]["state"] == "closed"
    assert github.issues[forged]["state"] == "open"
    assert github.issues[forged]["body"].endswith(FORGED)
    assert github.comments_on(forged) == []


# ---------------------------------------------------------------- credentials and manifests


def test_a_forwarding_token_holding_the_token_input_is_refused(action, github, platform):
    action.write_manifest(
        MANIFEST.replace("tokenEnv: SPLUNK_HEC_TOKEN", "tokenEnv: HEC").replace(
            "https://splunk.example.com", "https://attacker.example"
        )
    )
    result = action.run("plan", {"HEC": DX_TOKEN})
    assert result.code == 1
    assert "tokenEnv: environment variable HEC holds a credential" in result.log
    comment = ours(github)[0]
    assert "could not be planned" in str(comment["body"])
    assert_no_secret(*result.texts(), *(json.dumps(r.body) for r in github.requests))
    assert platform.write_calls() == []


def test_the_name_rule_is_an_annotation_on_the_line(action):
    action.write_manifest(MANIFEST.replace("tokenEnv: SPLUNK_HEC_TOKEN", "tokenEnv: INPUT_TOKEN"))
    result = action.run("validate")
    assert result.code == 1
    assert "::error file=orgs/org-demo.yaml,line=13,col=13::jobLogsForwarding.tokenEnv: names " in (
        result.log
    )
    assert_no_secret(*result.texts())


def test_a_manifest_linking_outside_the_checkout_is_not_read(action: Action, tmp_path: Path):
    secret = tmp_path / "runner-secret.yaml"
    secret.write_text(f"org: {GH_TOKEN}\n")
    os.symlink(secret, action.root / "orgs" / "evil.yaml")
    result = action.run("validate")
    assert result.code == 1
    assert f"a symbolic link to {secret}" in result.log
    assert_no_secret(*result.texts())


@pytest.mark.parametrize(
    ("link", "path", "command"),
    [("orgs", "orgs/prod", "validate"), ("orgs", "orgs/prod", "plan"),
     ("orgs/prod", "orgs/prod", "report"), ("orgs", "orgs/prod/org-demo.yaml", "drift")],
)  # fmt: skip
def test_a_path_that_leads_out_of_the_workspace_is_refused_unread(
    action: Action, tmp_path: Path, link: str, path: str, command: str
) -> None:
    """Finding 08: a pull request makes a directory on the way to the `path` input a link
    to elsewhere on the runner; the files there are neither read nor quoted."""
    outside = tmp_path / "outside"
    (outside / "prod").mkdir(parents=True)
    (outside / "prod" / "org-demo.yaml").write_text(f"org: {GH_TOKEN}\n")
    target = outside if link == "orgs" else outside / "prod"
    (action.root / "orgs" / "org-demo.yaml").unlink()
    (action.root / "orgs").rmdir()
    if link == "orgs/prod":
        (action.root / "orgs").mkdir()
    os.symlink(target, action.root / link)
    result = action.run(command, {"GITHUB_WORKSPACE": str(action.root)}, path=path)
    assert result.code == 1, result.log
    resolved = outside / path.removeprefix("orgs/")
    assert (
        f"input path: {path} resolves to {resolved}, outside the workspace {action.root.resolve()}"
        in result.log
    )
    assert_no_secret(*result.texts())
    assert action.platform.calls() == []  # refused before the platform was asked anything


def test_a_path_within_the_workspace_through_a_link_is_read(action: Action) -> None:
    """A link that stays inside the checkout (`manifests` -> `orgs`) is the repository's
    own layout: followed."""
    os.symlink(action.root / "orgs", action.root / "manifests")
    result = action.run("validate", {"GITHUB_WORKSPACE": str(action.root)}, path="manifests")
    assert result.code == 0, result.log


def test_an_unset_forwarding_secret_is_a_warning_in_the_comment(action, github):
    result = action.run("plan", {"SPLUNK_HEC_TOKEN": None})
    assert result.code == 0, result.log
    [comment] = ours(github)
    body = str(comment["body"])
    assert "job-log forwarding was not checked: environment variable SPLUNK_HEC_TOKEN" in body
    assert "to remove" in body and "could not be planned" not in body
    assert "::warning file=orgs/org-demo.yaml::org-demo: job-log forwarding was not checked" in (
        result.log
    )
    # Applied without it: the rest goes in; the step fails, saying forwarding was not checked.
    plan_file = action.run("plan", {"SPLUNK_HEC_TOKEN": None}, event="push")
    applied = action.run(
        "apply",
        {"SPLUNK_HEC_TOKEN": None},
        event="push",
        **{"plan-file": plan_file.outputs["plan-file"]},
    )
    assert applied.code == 1, applied.log
    assert "Job-log forwarding was not checked in 1 org(s)" in applied.outputs["summary"]
    assert "converged" not in applied.outputs["summary"]
    assert "job-log forwarding not checked" in applied.summary
