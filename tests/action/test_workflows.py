"""action.yml, the example workflows and the pre-commit hook: their structure holds together.

actionlint does not install here (its package downloads a binary at build time), so these
tests check what it would catch that matters most for this action: every input used is
declared, every declared one reaches the script, every ``uses: ./`` passes known inputs
with a known command, every step output and job output referenced exists, and each
command named exists. When check-jsonschema is installed, its bundled SchemaStore schemas
for actions and workflows are checked too.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.github.runner import COMMANDS, Inputs

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "examples" / "workflows").glob("*.yml"))
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def on(workflow: Mapping[Any, Any]) -> Any:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def expressions(node: Any) -> list[str]:
    return [e for text in strings(node) for e in EXPR.findall(text)]


ACTION = load(ROOT / "action.yml")
INPUTS: dict[str, Any] = ACTION["inputs"]
OUTPUTS: dict[str, Any] = ACTION["outputs"]


def dxorg_step() -> dict[str, Any]:
    [step] = [s for s in ACTION["runs"]["steps"] if s.get("id") == "dxorg"]
    return step


def test_action_is_composite_and_its_steps_are_complete():
    assert ACTION["name"] and ACTION["description"]
    assert ACTION["runs"]["using"] == "composite"
    for step in ACTION["runs"]["steps"]:
        assert ("run" in step) != ("uses" in step)
        if "run" in step:
            assert step["shell"] == "bash"
    assert INPUTS["command"]["required"] is True
    assert INPUTS["path"]["default"] == "orgs"
    assert INPUTS["github-token"]["default"] == "${{ github.token }}"
    assert {"command", "path", "org", "token", "apiserver-host", "apiserver-port"} <= set(INPUTS)
    assert {"apiserver-protocol", "comment", "fail-on-drift", "plan-file"} <= set(INPUTS)
    for name, spec in INPUTS.items():
        assert spec.get("description"), name
        assert spec.get("required") is True or "default" in spec, name


def test_every_input_used_is_declared_and_every_declared_input_is_used():
    used = {e.split(".", 1)[1] for e in expressions(ACTION["runs"]) if e.startswith("inputs.")}
    assert used == set(INPUTS)


def test_the_script_reads_exactly_the_inputs_the_action_passes():
    class Recording(dict[str, str]):
        def __init__(self) -> None:
            super().__init__(INPUT_COMMAND="plan")
            self.read: set[str] = set()

        def get(self, key: str, default: Any = None) -> Any:
            self.read.add(key)
            return super().get(key, default)

    env = Recording()
    Inputs.from_env(env)
    passed = dxorg_step()["env"]
    read = {k for k in env.read if k.startswith("INPUT_")}
    assert read == {k for k in passed if k.startswith("INPUT_")}
    for name, value in passed.items():
        if name.startswith("INPUT_"):
            [expr] = EXPR.findall(value)
            assert name == "INPUT_" + expr.removeprefix("inputs.").upper().replace("-", "_")
    # The token is passed through the environment and never pasted into the script.
    assert "inputs." not in dxorg_step()["run"]


def test_the_run_step_runs_a_module_that_exists():
    command = dxorg_step()["run"]
    [module] = re.findall(r"-m ([\w.]+)", command)
    assert module == "reconciler.github_action"
    assert callable(importlib.import_module(module).main)
    assert "::add-mask::$INPUT_TOKEN" in command


def test_outputs_come_from_the_dxorg_step():
    assert set(OUTPUTS) == {
        "has-changes",
        "plan-file",
        "summary",
        "report-dir",
        "report-markdown",
        "report-csv",
        "report-json",
        "report-html",
    }
    for name, spec in OUTPUTS.items():
        assert spec["value"] == f"${{{{ steps.dxorg.outputs.{name} }}}}"


def local_action_steps(workflow: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            if step.get("uses") == "./":
                yield job_id, step


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_each_workflow_uses_the_action_with_known_inputs_and_outputs(path):
    workflow = load(path)
    assert on(workflow), "no trigger"
    assert "permissions" in workflow, "least privilege: say which permissions"
    steps = list(local_action_steps(workflow))
    assert steps
    for _, step in steps:
        given = step.get("with", {})
        assert set(given) <= set(INPUTS), set(given) - set(INPUTS)
        assert given["command"] in COMMANDS
        if given["command"] in ("plan", "apply", "drift", "report"):
            assert "secrets." in given.get("token", ""), "the DNAnexus token comes from a secret"
    for job_id, job in workflow["jobs"].items():
        ids = {s["id"]: s for s in job.get("steps", []) if "id" in s}
        for expr in expressions(job):
            for step_id, output in re.findall(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr):
                assert step_id in ids, f"{job_id}: no step {step_id}"
                if ids[step_id].get("uses") == "./":
                    assert output in OUTPUTS
            for need, output in re.findall(r"needs\.([\w-]+)\.outputs\.([\w-]+)", expr):
                assert need in _needs(job), f"{job_id}: {need} is not in needs"
                assert output in workflow["jobs"][need].get("outputs", {})


def _needs(job: Mapping[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def test_plan_workflow_runs_on_pull_requests_and_comments():
    workflow = load(ROOT / "examples" / "workflows" / "plan.yml")
    assert "pull_request" in on(workflow)
    assert workflow["permissions"]["pull-requests"] == "write"
    commands = [s["with"]["command"] for _, s in local_action_steps(workflow)]
    assert commands == ["validate", "plan"]
    [plan] = [s for _, s in local_action_steps(workflow) if s["with"]["command"] == "plan"]
    assert plan["with"]["comment"] is True
    uploads = [
        s for s in workflow["jobs"]["plan"]["steps"] if "upload-artifact" in s.get("uses", "")
    ]
    assert uploads[0]["with"]["name"] == "dxorg-plan"


def test_apply_workflow_applies_the_reviewed_plan_one_org_at_a_time():
    workflow = load(ROOT / "examples" / "workflows" / "apply.yml")
    assert on(workflow)["push"]["branches"] == ["main"]
    apply = workflow["jobs"]["apply"]
    assert apply["concurrency"]["group"] == "dxorg-apply-${{ matrix.org }}"
    assert apply["concurrency"]["cancel-in-progress"] is False
    assert "matrix.org" not in str(workflow.get("concurrency", ""))
    assert apply["environment"]
    assert "fromJSON(needs.reviewed-plan.outputs.orgs)" in apply["strategy"]["matrix"]["org"]
    [step] = [s for _, s in local_action_steps({"jobs": {"apply": apply}})]
    assert step["with"]["command"] == "apply"
    assert step["with"]["plan-file"] and step["with"]["org"] == "${{ matrix.org }}"
    assert "DX_APPLY_TOKEN" in step["with"]["token"]
    # The reviewed plan comes from the pull request's plan run, by name.
    downloads = [
        s
        for s in workflow["jobs"]["reviewed-plan"]["steps"]
        if "download-artifact" in s.get("uses", "")
    ]
    assert downloads[0]["with"]["name"] == "dxorg-plan"
    assert "run-id" in downloads[0]["with"]


def test_drift_workflow_spreads_a_matrix_of_shards_over_runners():
    workflow = load(ROOT / "examples" / "workflows" / "drift.yml")
    assert "schedule" in on(workflow)
    assert workflow["permissions"]["issues"] == "write"
    drift = workflow["jobs"]["drift"]
    assert drift["needs"] == "shards"
    assert drift["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.shards.outputs.shards) }}"
    [step] = [s for _, s in local_action_steps(workflow)]
    assert step["with"]["command"] == "drift"
    assert step["with"]["path"] == "${{ matrix.shard.files }}"


def test_access_review_workflow_runs_monthly_with_the_history_and_keeps_the_report():
    workflow = load(ROOT / "examples" / "workflows" / "access-review.yml")
    triggers = on(workflow)
    assert "workflow_dispatch" in triggers
    [schedule] = triggers["schedule"]
    day, month, weekday = schedule["cron"].split()[2:]
    assert (day, month, weekday) == ("1", "*", "*")  # monthly
    # the history for blame, the pull requests and reviews for the approval evidence; no write
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "read"}
    steps = workflow["jobs"]["report"]["steps"]
    [checkout] = [s for s in steps if s.get("uses", "").startswith("actions/checkout")]
    assert checkout["with"]["fetch-depth"] == 0  # provenance needs the whole history
    [report] = [s for _, s in local_action_steps(workflow)]
    assert report["with"]["command"] == "report"
    [upload] = [s for s in steps if "upload-artifact" in s.get("uses", "")]
    assert upload["with"]["path"] == "${{ steps.report.outputs.report-dir }}"
    assert upload["if"].startswith("always()")


def test_expiry_workflow_applies_only_expiries_behind_an_approval():
    workflow = load(ROOT / "examples" / "workflows" / "expiry.yml")
    assert "schedule" in on(workflow)
    assert workflow["permissions"] == {"contents": "read"}
    steps = {s["with"]["command"]: (job, s) for job, s in local_action_steps(workflow)}
    assert set(steps) == {"plan", "apply"}
    for _, step in steps.values():
        # The plan and its apply both keep only the expiries (apply refuses a mismatch).
        assert step["with"]["only-expiries"] is True
    plan_job, plan = steps["plan"]
    apply_job, apply = steps["apply"]
    assert "DX_PLAN_TOKEN" in plan["with"]["token"] and "DX_APPLY_TOKEN" in apply["with"]["token"]
    job = workflow["jobs"][apply_job]
    assert job["needs"] == plan_job
    assert job["environment"] == "dxorg-expiry"  # required reviewers approve it
    assert job["concurrency"]["group"] == "dxorg-apply-${{ matrix.org }}"
    [upload] = [
        s for s in workflow["jobs"][plan_job]["steps"] if "upload-artifact" in s.get("uses", "")
    ]
    [download] = [s for s in job["steps"] if "download-artifact" in s.get("uses", "")]
    assert upload["with"]["name"] == download["with"]["name"]
    assert upload["with"]["path"] == plan["with"]["plan-file"] == apply["with"]["plan-file"]


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq not installed")
def test_the_shard_listing_script_cuts_org_files_into_shards(tmp_path):
    workflow = load(ROOT / "examples" / "workflows" / "drift.yml")
    [listing] = [s for s in workflow["jobs"]["shards"]["steps"] if s.get("id") == "list"]
    orgs = tmp_path / "orgs"
    orgs.mkdir()
    for i in range(30):
        (orgs / f"org-{i:02d}.yaml").write_text("org: x\n")
    (orgs / "_defaults.yaml").write_text("{}\n")
    output = tmp_path / "output"
    subprocess.run(
        ["bash", "-c", listing["run"]],
        cwd=tmp_path,
        env={"GITHUB_OUTPUT": str(output), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    import json

    shards = json.loads(output.read_text().split("=", 1)[1])
    assert [s["name"] for s in shards] == ["1", "2"]
    files = " ".join(s["files"] for s in shards).split()
    assert len(files) == 30 and "orgs/_defaults.yaml" not in files


def test_pre_commit_hook_validates_the_fleet(tmp_path, monkeypatch):
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "dxorg-validate"
    assert hook["language"] == "python"
    program, subcommand = hook["entry"].split()
    assert program == "dxorg"  # the console script pyproject.toml declares
    group = get_command(app)
    assert isinstance(group, TyperGroup)
    assert subcommand in group.commands
    files = re.compile(hook["files"])
    for name in ("orgs/org-demo.yaml", "orgs/_defaults.yml", "infra/orgs/a.yaml"):
        assert files.search(name), name
    for name in ("src/orgs.yaml", "orgs/README.md", "orgs/sub/x.yaml", "other/org.yaml"):
        assert not files.search(name), name
    shutil.copytree(ROOT / "examples" / "orgs", tmp_path / "orgs")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, [subcommand, *hook["args"]])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: 2 org(s)")


@pytest.mark.parametrize(
    ("schema", "paths"),
    [
        ("vendor.github-actions", [ROOT / "action.yml"]),
        ("vendor.github-workflows", WORKFLOWS),
    ],
    ids=["action", "workflows"],
)
def test_schemastore_schemas_when_check_jsonschema_is_installed(schema, paths):
    pytest.importorskip("check_jsonschema")
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
