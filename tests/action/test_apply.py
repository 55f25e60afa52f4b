"""`command: apply`: the reviewed plan, applied as reviewed, or refused with nothing written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.apply.lock import apply_lock
from tests.action.conftest import MANIFEST, assert_no_secret, seed


def reviewed_plan(action) -> str:
    result = action.run("plan", sha="feedfacefeedface")
    assert result.code == 0, result.log
    return result.outputs["plan-file"]


def test_apply_applies_the_reviewed_plan_and_verifies(action, platform, github):
    plan_file = reviewed_plan(action)
    assert platform.write_calls() == []
    github_calls = len(github.requests)

    result = action.run("apply", event="push", sha="beefbeefbeef", **{"plan-file": plan_file})

    assert result.code == 0, result.log
    assert (
        result.outputs["summary"]
        == "Apply: 5 action(s) done, 0 failed, 0 skipped. Verified: converged."
    )
    assert result.outputs["has-changes"] == "true"
    assert result.outputs["plan-file"] == str(Path(plan_file).resolve())
    assert "| `org-demo` | 5 | 0 | 0 | ✅ converged |" in result.summary
    routes = [c["route"] for c in platform.write_calls()]
    # Phase order: invite first, removal last; the two org updates may run concurrently.
    assert routes[0] == "/org-demo/invite" and routes[-1] == "/org-demo/removeMember"
    assert sorted(routes[1:-1]) == [
        "/org-demo/setMemberAccess",
        "/org-demo/update",
        "/org-demo/update",
    ]
    assert "user-eve" not in platform.members()
    journal = (action.root / "journal.jsonl").read_text()
    assert '"event": "verify"' in journal
    assert_no_secret(*result.texts(), journal)
    assert len(github.requests) == github_calls  # apply talks to GitHub not at all

    # Converged: a new plan is empty, and drift finds nothing.
    again = action.run("plan", event="push")
    assert again.outputs["has-changes"] == "false"


def test_a_stale_plan_is_refused_with_nothing_written(action, platform):
    plan_file = reviewed_plan(action)
    # Someone changes bob by hand after the review: an object the plan touches.
    platform.call_as_root(
        "/org-demo/setMemberAccess", {"user-bob": {"level": "MEMBER", "projectAccess": "UPLOAD"}}
    )
    before = platform.write_calls()

    result = action.run("apply", event="push", **{"plan-file": plan_file})

    assert result.code == 1
    assert "⛔ **Refused (stale)" in result.summary
    assert "org-demo: member:user-bob projectAccess CONTRIBUTE -> UPLOAD since the plan" in (
        result.summary
    )
    assert "Nothing was applied" in result.summary
    assert result.outputs["summary"].startswith("Refused (stale)")
    assert "::error::refused: the plan is stale" in result.log
    assert platform.write_calls() == before


def test_a_plan_the_merged_manifests_no_longer_give_is_refused(action, platform):
    plan_file = reviewed_plan(action)
    # Another change merged after the review: main now also invites frank.
    action.write_manifest(MANIFEST.replace("dave: MEMBER", "dave: MEMBER\n    frank: MEMBER"))

    result = action.run("apply", event="push", **{"plan-file": plan_file})

    assert result.code == 1
    assert "⛔ **Refused (not what was reviewed): the manifests are not the ones the plan" in (
        result.summary
    )
    assert "org-demo: orgs/org-demo.yaml changed since the plan" in result.summary
    assert platform.write_calls() == []


def test_a_plan_reverting_a_change_applied_since_is_refused(action, platform):
    # Reviewed while eve was still to be removed...
    plan_file = reviewed_plan(action)
    # ...but the manifest on main now keeps eve (another PR merged first).
    action.write_manifest(MANIFEST.replace("dave: MEMBER", "dave: MEMBER\n    eve: MEMBER"))
    result = action.run("apply", event="push", **{"plan-file": plan_file})
    assert result.code == 1
    assert "orgs/org-demo.yaml changed since the plan" in result.summary
    assert platform.write_calls() == []


def test_a_plan_with_a_safety_violation_is_refused(action, platform):
    action.write_manifest(MANIFEST.replace("root: ADMIN", "root: MEMBER"))
    planned = action.run("plan")
    assert planned.code == 1
    result = action.run("apply", event="push", **{"plan-file": planned.outputs["plan-file"]})
    assert result.code == 1
    assert "min-admins" in result.summary
    assert platform.write_calls() == []


def test_apply_input_errors(action, platform, tmp_path):
    missing = action.run("apply", event="push")
    assert missing.code == 1
    assert "apply needs the plan-file input" in missing.log

    junk = tmp_path / "junk.json"
    junk.write_text('{"not": "a plan"}')
    refused = action.run("apply", event="push", **{"plan-file": str(junk)})
    assert refused.code == 1
    assert "not a dxorg plan" in refused.summary

    plan_file = reviewed_plan(action)
    other = action.run("apply", event="push", org="org-other", **{"plan-file": plan_file})
    assert other.code == 1
    assert "org-other not in the reviewed plan" in other.log
    assert platform.write_calls() == []


def test_an_empty_reviewed_plan_applies_nothing(action, platform):
    action.write_manifest("org: org-demo\npolicies: {memberListVisibility: ADMIN}\n")
    plan_file = reviewed_plan(action)
    result = action.run("apply", event="push", **{"plan-file": plan_file})
    assert result.code == 0
    assert result.outputs["summary"] == "Nothing to apply: the reviewed plan has no changes."
    assert platform.write_calls() == []


def two_org_seed():
    data = seed()
    data["orgs"].append(
        {
            "id": "org-lab",
            "name": "Lab",
            "policies": {"memberListVisibility": "ADMIN"},
            "members": {"user-alice": {"level": "ADMIN"}, "user-root": {"level": "ADMIN"}},
        }
    )
    return data


LAB = """\
org: org-lab
policies: {memberListVisibility: ADMIN}
"""


@pytest.mark.parametrize("platform_seed", [two_org_seed()])
def test_drift_since_review_in_an_org_without_changes_does_not_block_the_others(action, platform):
    action.write_manifest(LAB, name="org-lab.yaml")
    plan_file = reviewed_plan(action)
    platform.call_as_root("/org-lab/update", {"policies": {"memberListVisibility": "MEMBER"}})

    result = action.run("apply", event="push", **{"plan-file": plan_file})

    assert result.code == 0, result.log
    assert "| `org-demo` | 5 | 0 | 0 | ✅ converged |" in result.summary
    assert "org-lab" not in result.summary
    assert {c["route"].split("/")[1] for c in platform.write_calls()} == {"org-demo", "org-lab"}
    lab_writes = [c for c in platform.write_calls() if c["route"].startswith("/org-lab")]
    assert len(lab_writes) == 1  # only the change made by hand


def test_an_apply_while_another_holds_the_state_directory_is_refused_at_once(action, platform):
    plan_file = reviewed_plan(action)
    with apply_lock(action.root):  # the journal input's directory: another apply running
        result = action.run("apply", event="push", **{"plan-file": plan_file})
    assert result.code == 1, result.log
    assert f"another dxorg apply is running with this state directory (pid {os.getpid()}" in (
        result.log
    )
    assert platform.write_calls() == []
    # Released, the same plan applies.
    assert action.run("apply", event="push", **{"plan-file": plan_file}).code == 0


def test_a_cancelled_apply_finishes_the_calls_in_flight_and_ends_the_run(action, platform):
    """A cancelled workflow run sends SIGINT, then SIGTERM: the Action stops sending, lets
    the calls in flight finish, and the journal's run ends with every call answered."""
    plan_file = reviewed_plan(action)
    # The first call is held in the platform (a latch): the signal comes while it is in
    # flight, however busy the machine is.
    first = json.loads(Path(plan_file).read_text())["orgs"][0]["steps"][0]["call"]["route"]
    platform.rule(first, "hold")
    env = action.env("apply", event="push", sha="beefbeefbeef", inputs={"plan-file": plan_file})
    journal = Path(env["INPUT_JOURNAL"])
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler.github_action"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    platform.wait_until_held()
    process.send_signal(signal.SIGTERM)
    # Once the Action says it heard the signal (it then sends no more), the call goes on.
    assert process.stdout is not None
    heard = ""
    while "SIGTERM: finishing the calls in flight" not in heard:
        line = process.stdout.readline()
        assert line, f"the Action ended without hearing the signal: {heard}"
        heard += line
    platform.clear_faults()
    rest, _ = process.communicate(timeout=60)
    log = heard + rest
    assert process.returncode == 143, log
    assert "SIGTERM: finishing the calls in flight" in log and "Traceback" not in log
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert records[-1]["event"] == "run-end"
    sent = sorted(r["step"] for r in records if r["event"] == "call")
    answered = sorted(r["step"] for r in records if r["event"] in ("call-done", "call-failed"))
    assert sent and sent == answered
    assert len(platform.write_calls()) == len(sent) < 5
