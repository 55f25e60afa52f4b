"""`dxorg init` to a working config repository: exported from a seeded emulator, committed,
then the written workflows' dxorg steps run as the runner would run them (their `with:`
inputs and `env:` secrets, through reconciler.github_action) to a clean plan."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli import main as cli_main
from tests.action.conftest import DX_TOKEN, HEC_TOKEN, seed

ACTION_REF = "example-org/dxorg@0123456789abcdef0123456789abcdef01234567"
OTHER_HEC = "hec-clinical-other-secret"
# The commands that compare the forwarding token with the live one, so need every one.
FORWARDING_COMPARED = ("plan", "apply", "drift")


@pytest.fixture
def platform_seed() -> dict[str, Any]:
    data = seed()
    data["orgs"][0]["jobLogsForwarding"] = {
        "url": "https://splunk.example.com/services/collector/event",
        "token": HEC_TOKEN,
    }
    second = json.loads(json.dumps(data["orgs"][0]))
    second["id"], second["name"] = "org-second", "Second"
    second["jobLogsForwarding"]["token"] = OTHER_HEC
    data["orgs"].append(second)
    return data


def init(action, monkeypatch: pytest.MonkeyPatch, directory: Path, *args: str) -> int:
    monkeypatch.setenv("DX_USER_CONF_DIR", str(action.conf_dir))
    monkeypatch.setenv("DX_APISERVER_PROTOCOL", "http")
    monkeypatch.setenv("DX_APISERVER_HOST", "127.0.0.1")
    monkeypatch.setenv("DX_APISERVER_PORT", str(action.platform.port))
    context = json.dumps({"auth_token_type": "Bearer", "auth_token": DX_TOKEN})
    monkeypatch.setenv("DX_SECURITY_CONTEXT", context)
    with pytest.raises(SystemExit) as exited:
        cli_main(["init", str(directory), "--action", ACTION_REF, *args])
    assert isinstance(exited.value.code, int)
    return exited.value.code


def dxorg_steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return [s for s in workflow["jobs"][job]["steps"] if s.get("uses") == ACTION_REF]


def evaluate(value: str, known: dict[str, str]) -> str:
    """The workflow's `${{ ... }}` expressions, as the runner would fill them in here."""

    def one(match: re.Match[str]) -> str:
        expression = match.group(1).strip()
        assert expression in known, f"an expression this test does not know: {expression}"
        return known[expression]

    return re.sub(r"\$\{\{(.*?)\}\}", one, str(value))


def as_the_runner(
    action,
    step: dict[str, Any],
    command: str,
    known: dict[str, str],
    event: str = "push",
    **extra: str,
):
    """Run one `uses: <dxorg>` step: its `with:` as INPUT_*, its `env:` as the environment."""
    inputs = {k: evaluate(v, known) for k, v in (step.get("with") or {}).items()}
    inputs.pop("command")
    env = {k: evaluate(v, known) for k, v in (step.get("env") or {}).items()}
    # The harness's own defaults the workflow does not set are not the workflow's.
    unset: dict[str, str | None] = {"SPLUNK_HEC_TOKEN": None, "INPUT_JOURNAL": None, **env}
    return action.run(command, unset, event=event, **{**inputs, **extra})


def test_init_writes_a_config_repository_whose_workflows_plan_apply_and_drift_clean(
    action, monkeypatch, tmp_path
):
    repo = tmp_path / "config"
    assert init(action, monkeypatch, repo) == 0
    orgs = repo / "orgs"
    assert sorted(p.name for p in orgs.iterdir()) == [
        "_defaults.yaml",
        "defaults.schema.json",
        "org-demo.yaml",
        "org-second.yaml",
        "org.schema.json",
    ]
    demo = yaml.safe_load((orgs / "org-demo.yaml").read_text())
    assert demo["members"]["protected"] == ["alice"]
    assert demo["members"]["requiredAdmins"] == ["alice"]
    assert (repo / ".gitignore").read_text().splitlines()[-1] == ".dxorg"
    pre_commit = yaml.safe_load((repo / ".pre-commit-config.yaml").read_text())
    assert pre_commit["repos"][0]["rev"] == ACTION_REF.split("@")[1]
    readme = (repo / "README.md").read_text()
    for secret in (
        "DX_PLAN_TOKEN",
        "DX_APPLY_TOKEN",
        "SPLUNK_HEC_TOKEN_DEMO",
        "SPLUNK_HEC_TOKEN_SECOND",
    ):
        assert f"`{secret}`" in readme
    assert "dxorg-apply" in readme and "Branch protection" in readme

    # Every shipped example workflow, wired to every tokenEnv the manifests use.
    shipped = sorted(
        p.name for p in (Path(__file__).parents[2] / "examples" / "workflows").glob("*.yml")
    )
    written = sorted(p.name for p in (repo / ".github" / "workflows").iterdir())
    assert written == [f"dxorg-{name}" for name in shipped]
    workflows = {
        p.name: yaml.safe_load(p.read_text()) for p in (repo / ".github" / "workflows").iterdir()
    }
    for name, workflow in workflows.items():
        text = (repo / ".github" / "workflows" / name).read_text()
        assert not re.search(r"^\s*(- )?uses: \./\s*$", text, re.MULTILINE), name
        assert text.startswith(f"# Written by dxorg init from its example workflow {name[6:]}")
        for job in workflow["jobs"].values():
            for step in job.get("steps", []):
                env = step.get("env") or {}
                if step.get("uses") == ACTION_REF:
                    # The allowlist is the orgs exported: the runs below plan within it.
                    assert step["with"]["allowed-orgs"] == "org-demo org-second", name
                if (
                    step.get("uses") == ACTION_REF
                    and step["with"]["command"] in FORWARDING_COMPARED
                ):
                    assert "SPLUNK_HEC_TOKEN" not in env, (name, step.get("name"))
                    assert {"SPLUNK_HEC_TOKEN_DEMO", "SPLUNK_HEC_TOKEN_SECOND"} <= set(env), name

    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init"],
        cwd=repo,
        check=True,
    )
    # plan.yml's second checkout: the pull request's head in pr/, read as data.
    subprocess.run(["git", "clone", "-q", str(repo), str(repo / "pr")], check=True)
    action.root = repo
    monkeypatch.chdir(repo)  # the runner's workspace is the checkout
    secrets = {
        "secrets.DX_PLAN_TOKEN": DX_TOKEN,
        "secrets.DX_APPLY_TOKEN": DX_TOKEN,
        "secrets.SPLUNK_HEC_TOKEN_DEMO": HEC_TOKEN,
        "secrets.SPLUNK_HEC_TOKEN_SECOND": OTHER_HEC,
        "runner.temp": str(tmp_path / "runner-temp"),
    }

    # plan.yml on a pull request: validate, then plan (a clean plan: nothing to change).
    plan_steps = dxorg_steps(workflows["dxorg-plan.yml"], "plan")
    assert [s["with"]["command"] for s in plan_steps] == ["validate", "plan"]
    target = {"event": "pull_request_target"}
    validated = as_the_runner(action, plan_steps[0], "validate", secrets, **target)
    assert validated.code == 0, validated.log
    planned = as_the_runner(action, plan_steps[1], "plan", secrets, **target)
    assert planned.code == 0, planned.log
    assert planned.outputs["has-changes"] == "false", planned.log
    assert "not checked" not in planned.log  # every forwarding token was there to compare

    # apply.yml after the merge: the reviewed plan downloaded into reviewed/ of the main
    # checkout (its paths resolve there, not in pr/), nothing to do, no write sent.
    [apply_step] = dxorg_steps(workflows["dxorg-apply.yml"], "apply")
    assert apply_step["with"]["plan-file"] == "reviewed/dxorg-plan.json"
    (repo / "reviewed").mkdir()
    shutil.copy(planned.outputs["plan-file"], repo / "reviewed" / "dxorg-plan.json")
    shutil.rmtree(repo / "pr")
    applied = as_the_runner(action, apply_step, "apply", {**secrets, "matrix.org": "org-demo"})
    assert applied.code == 0, applied.log
    assert action.platform.write_calls() == []

    # drift.yml on its schedule: the shard of every org file, no drift.
    [drift_step] = dxorg_steps(workflows["dxorg-drift.yml"], "drift")
    files = "orgs/org-demo.yaml orgs/org-second.yaml"
    drifted = as_the_runner(action, drift_step, "drift", {**secrets, "matrix.shard.files": files})
    assert drifted.code == 0, drifted.log
    assert drifted.outputs["has-changes"] == "false"


def test_init_refuses_a_directory_that_is_not_empty(action, monkeypatch, tmp_path):
    repo = tmp_path / "config"
    repo.mkdir()
    (repo / ".git").mkdir()  # `git init` first is fine
    assert init(action, monkeypatch, repo) == 0
    mine = repo / "orgs" / "org-demo.yaml"
    mine.write_text(mine.read_text() + "# mine\n")
    assert init(action, monkeypatch, repo) == 1
    assert mine.read_text().endswith("# mine\n")
    assert init(action, monkeypatch, repo, "--force") == 0
    assert not mine.read_text().endswith("# mine\n")
