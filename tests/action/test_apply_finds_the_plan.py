"""apply.yml's `find` step takes the reviewed plan only from a plan run for the merged
pull request into the default branch.

`pull_request_target` runs the workflow file of the pull request's base branch, so a
branch pusher's own branch can hold a dxorg-plan.yml that uploads any file as
`dxorg-plan-<sha>`: a second pull request of the same commit into that branch must not
supply the plan applied when the first one merges. The step's script runs here as GitHub
runs it, with real jq and a `gh` that answers from fixtures.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HEAD = "a" * 40
MERGE = "b" * 40
WORKFLOW_ID = 4242

FAKE_GH = """#!/usr/bin/env bash
# gh api PATH [--jq EXPR]: the fixture named after PATH, through jq as gh does.
set -euo pipefail
file="$FIXTURES/$(printf '%s' "$2" | tr -c 'A-Za-z0-9' '_').json"
[ -f "$file" ] || { echo "no fixture for $2" >&2; exit 1; }
if [ "${3:-}" = "--jq" ]; then jq -r "$4" "$file"; else cat "$file"; fi
"""

pytestmark = pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")


def _script() -> str:
    workflow = yaml.safe_load((ROOT / "examples" / "workflows" / "apply.yml").read_text())
    [find] = [s for s in workflow["jobs"]["reviewed-plan"]["steps"] if s.get("id") == "find"]
    assert find["env"]["DEFAULT_BRANCH"] == "${{ github.event.repository.default_branch }}"
    return str(find["run"])


def _run(tmp_path: Path, runs: dict[int, dict[str, Any]]) -> tuple[int, str, str]:
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)

    def answer(path: str, body: Any) -> None:
        (fixtures / (re.sub(r"[^A-Za-z0-9]", "_", path) + ".json")).write_text(json.dumps(body))

    repo = "repos/acme/org-config"
    merged = {"number": 7, "merged_at": "2026-12-01T00:00:00Z", "base": {"ref": "main"}}
    answer(f"{repo}/commits/{MERGE}/pulls", [{**merged, "head": {"sha": HEAD}}])
    answer(f"{repo}/actions/workflows/dxorg-plan.yml", {"id": WORKFLOW_ID})
    answer(
        f"{repo}/actions/artifacts?name=dxorg-plan-{HEAD}&per_page=100",
        {"artifacts": [{"expired": False, "workflow_run": {"id": i}} for i in runs]},
    )
    for run_id, run in runs.items():
        answer(f"{repo}/actions/runs/{run_id}", run)
    output = tmp_path / "output"
    output.write_text("")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FIXTURES": str(fixtures),
        "GITHUB_REPOSITORY": "acme/org-config",
        "GITHUB_SHA": MERGE,
        "GITHUB_OUTPUT": str(output),
        "DEFAULT_BRANCH": "main",
        "GH_TOKEN": "unused",
    }
    done = subprocess.run(
        ["bash", "-c", _script()], env=env, capture_output=True, text=True, timeout=60
    )
    return done.returncode, output.read_text(), done.stdout + done.stderr


def _plan_run(number: int, base: str) -> dict[str, Any]:
    return {
        "event": "pull_request_target",
        "conclusion": "success",
        "workflow_id": WORKFLOW_ID,
        "pull_requests": [{"number": number, "base": {"ref": base}, "head": {"sha": HEAD}}],
    }


def test_the_plan_of_the_merged_pull_request_into_main_is_taken(tmp_path):
    code, output, said = _run(tmp_path, {101: _plan_run(7, "main")})
    assert code == 0, said
    assert f"run-id=101\nhead={HEAD}\n" == output


def test_a_newer_plan_run_for_a_pull_request_into_another_branch_is_not_taken(tmp_path):
    """The same head commit, a second pull request into a branch the pusher controls,
    whose dxorg-plan.yml uploaded its own file; its run is the newer one."""
    code, output, said = _run(tmp_path, {101: _plan_run(7, "main"), 102: _plan_run(8, "evil-base")})
    assert code == 0, said
    assert "run-id=101\n" in output


def test_only_a_plan_run_into_another_branch_applies_nothing(tmp_path):
    code, output, said = _run(tmp_path, {102: _plan_run(8, "evil-base")})
    assert code == 1
    assert output == ""
    assert "no successful dxorg plan" in said and "pull request #7 into main" in said


def test_a_run_for_no_pull_request_or_another_too_is_not_taken(tmp_path):
    unbound = {**_plan_run(7, "main"), "pull_requests": []}
    both = _plan_run(7, "main")
    both["pull_requests"].append({"number": 8, "base": {"ref": "evil-base"}})
    code, output, _ = _run(tmp_path, {101: unbound, 102: both})
    assert code == 1 and output == ""
