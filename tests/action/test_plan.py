"""`command: plan` on pull requests: comments, outputs, job summary, read-only platform."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.plan_file import load_plan
from reconciler.platform.routes import READ_METHODS
from tests.action.conftest import (
    DX_TOKEN,
    GH_TOKEN,
    HEC_TOKEN,
    MANIFEST,
    PR_NUMBER,
    assert_no_secret,
    seed,
)
from tests.action.fake_github import BOT

MARKER = "<!-- dxorg-plan:org-demo -->"


def test_plan_posts_one_comment_per_org_with_marker_counts_and_removals(action, github, platform):
    result = action.run("plan", sha="1111111111aaaa")
    assert result.code == 0, result.log
    comments = github.comments_on(PR_NUMBER)
    assert len(comments) == 1
    body = comments[0]["body"]
    assert body.startswith(MARKER + "\n")
    assert "commit `1111111111aa`" in body
    # The platform and the user the plan was read from: its apply refuses any other.
    assert f"on `http://127.0.0.1:{platform.port}` as `user-alice`" in body.splitlines()[1]
    assert "https://github.example/acme/org-manifests/actions/runs/" in body
    assert "**2** to add, **2** to change, **1** to remove" in body
    assert "#### Removals (2)" in body
    assert "remove user-eve" in body
    assert "POST /org-demo/removeMember" in body  # the exact calls, in order
    # The workflow's token went in the Authorization header, and nowhere else.
    assert {r.authorization for r in github.requests} == {f"Bearer {GH_TOKEN}"}


def test_a_second_run_edits_the_comment_instead_of_posting_another(action, github):
    action.run("plan", sha="1111111111aaaa")
    first = github.comments_on(PR_NUMBER)[0]
    github.requests.clear()

    action.write_manifest(MANIFEST.replace("dave: MEMBER", "dave: MEMBER\n    frank: MEMBER"))
    result = action.run("plan", sha="2222222222bbbb")

    assert result.code == 0, result.log
    comments = github.comments_on(PR_NUMBER)
    assert [c["id"] for c in comments] == [first["id"]]
    assert "commit `2222222222bb`" in comments[0]["body"]
    assert "invite user-frank" in comments[0]["body"]
    assert [(r.method, r.path.rsplit("/", 2)[-2:]) for r in github.writes()] == [
        ("PATCH", ["comments", str(first["id"])])
    ]
    assert "1 edited" in result.log


def test_the_marker_is_found_on_a_later_page_and_quotes_of_it_are_left_alone(action, github):
    github.page_size = 2
    for n in range(5):
        github.add_comment(PR_NUMBER, f"review comment {n}")
    quoted = github.add_comment(PR_NUMBER, f"> {MARKER}\n> looks wrong to me")
    action.run("plan")
    ours = [c for c in github.comments_on(PR_NUMBER) if c["body"].startswith(MARKER)]
    assert len(ours) == 1
    github.requests.clear()

    action.run("plan", sha="3333333333cccc")

    gets = [r for r in github.requests if r.method == "GET"]
    assert len(gets) == 4  # 7 comments, 2 a page
    assert [r.method for r in github.writes()] == ["PATCH"]
    assert github.comments[quoted]["body"].startswith(f"> {MARKER}")


def test_outputs_job_summary_and_saved_plan(action):
    result = action.run("plan")
    assert result.code == 0
    assert result.outputs["has-changes"] == "true"
    assert result.outputs["summary"] == "Plan: 2 to add, 2 to change, 1 to remove."
    plan = load_plan(Path(result.outputs["plan-file"]))
    assert [o.org_id for o in plan.orgs] == ["org-demo"]
    assert plan.orgs[0].counts() == {"+": 2, "~": 2, "-": 1}
    assert plan.orgs[0].source == "orgs/org-demo.yaml"  # relative to the workspace
    assert "## dxorg plan" in result.summary
    assert "#### Removals (2)" in result.summary
    assert "commit `a1b2c3d4e5f6`" in result.summary


def test_no_changes_posts_nothing_new_but_updates_an_old_comment(action, github, platform):
    action.write_manifest(
        """\
        org: org-demo
        policies: {memberListVisibility: ADMIN}
        """
    )
    result = action.run("plan")
    assert result.code == 0
    assert result.outputs["has-changes"] == "false"
    assert github.writes() == []  # nothing to say: no comment noise

    old = github.add_comment(PR_NUMBER, f"{MARKER}\nan old plan with changes", author=BOT)
    action.run("plan")
    assert "No changes" in github.comments[old]["body"]
    assert len(github.comments_on(PR_NUMBER)) == 1


def test_outside_a_pull_request_there_is_no_comment(action, github):
    result = action.run("plan", event="push")
    assert result.code == 0
    assert github.requests == []
    assert "not a pull_request event (push): no comment" in result.log
    assert result.outputs["has-changes"] == "true"


def test_comment_false_posts_nothing(action, github):
    assert action.run("plan", comment="false").code == 0
    assert github.requests == []


def test_a_fork_token_that_cannot_comment_is_a_warning_not_a_failure(action, github):
    github.forbid_writes = True
    result = action.run("plan")
    assert result.code == 0
    assert "::warning::cannot comment on the pull request" in result.log
    assert "HTTP 403" in result.log
    assert "## dxorg plan" in result.summary  # the plan is still in the job summary


def test_a_safety_violation_is_commented_and_fails_the_step(action, github):
    action.write_manifest(MANIFEST.replace("root: ADMIN", "root: MEMBER"))
    result = action.run("plan")
    assert result.code == 1
    body = github.comments_on(PR_NUMBER)[0]["body"]
    assert "cannot be applied" in body
    assert "Safety violations" in body
    assert "::error file=orgs/org-demo.yaml::org-demo: min-admins" in result.log


def test_a_manifest_problem_is_an_annotation_on_its_line(action, github, platform):
    action.write_manifest(
        "org: org-demo\nmembers:\n  mode: authoritative\n  users: {alice: BOSS}\n"
    )
    result = action.run("plan")
    assert result.code == 1
    assert "::error file=orgs/org-demo.yaml,line=4," in result.log
    assert "BOSS" in result.summary
    assert result.outputs["summary"] == "1 problem(s) in the manifests"
    assert platform.calls() == []  # nothing contacted
    assert github.requests == []


def test_validate_command(action, platform):
    result = action.run("validate")
    assert result.code == 0
    assert result.outputs["summary"] == "OK: 1 org(s) in 1 file(s)"
    assert "✅" in result.summary
    assert platform.calls() == []


def test_unknown_command_and_bad_flag_are_errors(action):
    assert action.run("destroy").code == 1
    bad = action.run("plan", comment="maybe")
    assert bad.code == 1
    assert "input comment: expected true or false" in bad.log


def test_plan_and_drift_never_write_to_the_platform_whatever_the_inputs(action, platform):
    saved = action.run("plan", event="push")
    before = platform.members()
    # Inputs that mean "write" elsewhere change nothing here: plan and drift get a
    # read-only client whatever they are given.
    for command in ("plan", "drift"):
        result = action.run(
            command,
            **{
                "plan-file": saved.outputs["plan-file"],
                "fail-on-drift": "true",
                "org": "org-demo",
            },
        )
        assert result.code in (0, 2), result.log
    methods = {call["route"].rsplit("/", 1)[-1] for call in platform.calls()}
    assert methods and methods <= READ_METHODS
    assert platform.write_calls() == []
    assert platform.members() == before


def test_no_secret_in_any_comment_summary_output_log_or_plan(action, github):
    result = action.run("plan")
    assert result.code == 0
    plan_text = Path(result.outputs["plan-file"]).read_text()
    bodies = [json.dumps(r.body) for r in github.requests]
    assert_no_secret(*result.texts(), plan_text, *bodies)
    assert "SPLUNK_HEC_TOKEN" in plan_text  # named by its variable, never by value
    # The runner is asked to mask each secret; those command lines are hidden by it.
    masks = [line for line in result.log.splitlines() if line.startswith("::add-mask::")]
    assert sorted(masks) == sorted(f"::add-mask::{s}" for s in (DX_TOKEN, GH_TOKEN, HEC_TOKEN))


def test_a_secret_in_an_error_message_is_scrubbed(action):
    # An org id that is the DNAnexus token itself ends up in an error message: scrubbed.
    result = action.run("plan", org=DX_TOKEN)
    assert result.code == 1
    assert_no_secret(*result.texts())
    assert "***" in result.log


LONG_USERS = 700


@pytest.fixture
def long_manifest() -> str:
    users = "\n".join(f"    u{i:04d}: MEMBER" for i in range(LONG_USERS))
    return (
        "org: org-demo\nmembers:\n  mode: authoritative\n  users:\n"
        "    alice: ADMIN\n    root: ADMIN\n    bob: MEMBER\n    carol: MEMBER\n    eve: MEMBER\n"
        f"{users}\n"
    )


@pytest.mark.parametrize("platform_seed", [seed(extra_users=LONG_USERS)])
def test_a_long_plan_is_split_and_stale_parts_are_deleted(action, github, long_manifest):
    action.write_manifest(long_manifest)
    result = action.run("plan")
    assert result.code == 0, result.log
    parts = github.comments_on(PR_NUMBER)
    assert len(parts) >= 3
    for number, comment in enumerate(parts, start=1):
        marker = MARKER if number == 1 else f"<!-- dxorg-plan:org-demo part {number} -->"
        assert comment["body"].startswith(marker + "\n")
        assert f"*Part {number} of {len(parts)}*" in comment["body"]
        assert len(comment["body"]) <= 65_536
    assert "invite user-u0699" in "".join(c["body"] for c in parts)

    # A shorter plan: part 1 edited in place, the parts it no longer needs deleted.
    action.write_manifest(MANIFEST)
    github.requests.clear()
    result = action.run("plan", sha="4444444444dddd")
    assert result.code == 0
    left = github.comments_on(PR_NUMBER)
    assert [c["id"] for c in left] == [parts[0]["id"]]
    assert "Part 1 of" not in left[0]["body"]
    deleted = sorted(int(r.path.rsplit("/", 1)[1]) for r in github.writes() if r.method == "DELETE")
    assert deleted == [c["id"] for c in parts[1:]]


def test_a_comment_of_an_org_no_longer_planned_says_so(action, github):
    action.write_manifest(MANIFEST.replace("org-demo", "org-gone"), name="org-gone.yaml")
    github.add_comment(PR_NUMBER, "<!-- dxorg-plan:org-gone -->\nold", author=BOT)
    github.add_comment(PR_NUMBER, "<!-- dxorg-plan:org-gone part 2 -->\nold part", author=BOT)
    (action.root / "orgs" / "org-gone.yaml").unlink()
    action.run("plan")
    gone = [c for c in github.comments_on(PR_NUMBER) if "org-gone" in c["body"]]
    assert len(gone) == 1
    assert "No longer planned by this pull request" in gone[0]["body"]
