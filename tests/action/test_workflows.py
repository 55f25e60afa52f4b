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
    assert "pull_request_target" in on(workflow)
    assert workflow["permissions"]["pull-requests"] == "write"
    commands = [s["with"]["command"] for _, s in local_action_steps(workflow)]
    assert commands == ["validate", "plan"]
    [plan] = [s for _, s in local_action_steps(workflow) if s["with"]["command"] == "plan"]
    assert plan["with"]["comment"] is True
    uploads = [
        s for s in workflow["jobs"]["plan"]["steps"] if "upload-artifact" in s.get("uses", "")
    ]
    assert uploads[0]["with"]["name"] == "dxorg-plan-${{ github.event.pull_request.head.sha }}"


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
    assert downloads[0]["with"]["name"] == "dxorg-plan-${{ steps.find.outputs.head }}"
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


# ---------------------------------------------------------------- issue 24: what can be pinned

SHA_PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")


def _uses(path: Path) -> list[tuple[str, str]]:
    """(uses, the line's comment) of every step of a workflow or of the action."""
    found = []
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*(?:- )?uses: (\S+)(?:\s+#\s*(.*))?$", line)
        if match:
            found.append((match.group(1), match.group(2) or ""))
    return found


@pytest.mark.parametrize("path", [ROOT / "action.yml", *WORKFLOWS], ids=lambda p: p.name)
def test_every_action_used_is_pinned_by_commit_sha_with_its_version(path):
    uses = _uses(path)
    assert uses or path.name == "action.yml"
    for ref, comment in uses:
        if ref == "./":
            continue  # the dxorg repository's own action; dxorg init writes a pinned ref
        assert SHA_PINNED.match(ref), f"{path.name}: {ref} is not pinned to a commit SHA"
        assert re.match(r"v\d+\.\d+\.\d+$", comment), f"{path.name}: {ref} has no # vX.Y.Z"


def _runtime_dependencies() -> dict[str, str]:
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        canonicalize_name(Requirement(r).name): str(Requirement(r).specifier)
        for r in project["dependencies"]
    }


def _lock() -> dict[str, tuple[str, list[str]]]:
    from packaging.utils import canonicalize_name

    text = (ROOT / "requirements-action.lock").read_text().replace("\\\n", " ")
    pinned: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split()
        name, _, version = requirement.partition("==")
        assert version, f"not pinned with ==: {requirement}"
        hashes = [o.removeprefix("--hash=") for o in options if o.startswith("--hash=sha256:")]
        assert hashes, f"no hash for {requirement}"
        pinned[canonicalize_name(name)] = (version, hashes)
    return pinned


def test_the_lock_pins_every_runtime_dependency_within_pyproject_and_with_hashes():
    from packaging.specifiers import SpecifierSet

    lock = _lock()
    for name, specifier in _runtime_dependencies().items():
        assert name in lock, f"{name} (pyproject dependencies) is not in requirements-action.lock"
        version, _ = lock[name]
        assert version in SpecifierSet(specifier), f"{name}=={version} is outside {specifier}"
    # The build backend the Action builds dxorg with comes from the lock too.
    assert "setuptools" in lock


def test_the_action_installs_only_from_the_lock_with_hashes():
    [install] = [s for s in ACTION["runs"]["steps"] if s.get("name") == "Install dxorg"]
    script = install["run"].replace("\\\n", " ")
    pip_lines = [line.strip() for line in script.splitlines() if "-m pip" in line]
    assert len(pip_lines) == 2
    locked, itself = pip_lines
    assert "--require-hashes" in locked and "--no-deps" in locked
    assert '-r "$GITHUB_ACTION_PATH/requirements-action.lock"' in locked
    # dxorg itself: from the action's own files, no index, nothing resolved or fetched.
    for flag in ("--no-index", "--no-deps", "--no-build-isolation"):
        assert flag in itself
    assert itself.endswith('"$GITHUB_ACTION_PATH"')


SAME_REPOSITORY = "github.event.pull_request.head.repo.full_name == github.repository"
FROM_A_FORK = "github.event.pull_request.head.repo.full_name != github.repository"


def test_no_code_a_pull_request_changes_runs_with_the_token():
    """plan.yml: the workflow is the base branch's (pull_request_target), dxorg is the
    pinned action, and the pull request's files are checked out into pr/ and only read."""
    workflow = load(ROOT / "examples" / "workflows" / "plan.yml")
    assert set(on(workflow)) == {"pull_request_target"}  # never `pull_request` with secrets
    job = workflow["jobs"]["plan"]
    steps = job["steps"]
    checkouts = [s for s in steps if s.get("uses", "").startswith("actions/checkout@")]
    base, head = checkouts
    assert "ref" not in base.get("with", {})  # the base branch: this workflow, ./ the action
    assert head["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"
    assert head["with"]["path"] == "pr"
    for checkout in checkouts:
        assert checkout["with"]["persist-credentials"] is False
    # Nothing runs a shell in the job with the token: no step could execute a file from pr/.
    assert not [s for s in steps if "run" in s]
    for step in steps:
        uses = step.get("uses", "")
        assert not uses.startswith(("./pr", "pr/")), uses
        if uses == "./":
            assert str(step["with"]["path"]).startswith("pr/")  # the manifests, as data
    # The journals of record go into the base checkout's state directory, not under pr/.
    assert job["env"] == {"DXORG_STATE_DIR": "${{ github.workspace }}/.dxorg"}
    # Secrets reach only the pinned or base-branch action, never another step or job.
    for step in steps:
        if "secrets." in str(step):
            assert step.get("uses") == "./", step.get("name")
    for other_id, other in workflow["jobs"].items():
        if other_id != "plan":
            assert "secrets." not in str(other), other_id
    # Any workflow run by a pull_request event gets no secret at all.
    for path in WORKFLOWS:
        other = load(path)
        if "pull_request" in (on(other) or {}):
            assert "secrets." not in path.read_text(), path.name


def test_a_pull_request_from_a_fork_is_not_planned_with_the_token():
    """The job with the token runs only for the repository's own branches; a fork's pull
    request gets a job with no permission and no secret, which fails and says why."""
    workflow = load(ROOT / "examples" / "workflows" / "plan.yml")
    jobs = workflow["jobs"]
    assert jobs["plan"]["if"] == SAME_REPOSITORY
    token_jobs = [j for j, job in jobs.items() if "secrets." in str(job)]
    assert token_jobs == ["plan"]
    fork = jobs["not-planned"]
    assert fork["if"] == FROM_A_FORK
    assert fork["permissions"] == {}
    assert "uses" not in str(fork["steps"])
    [step] = fork["steps"]
    assert "from a fork" in step["run"] and step["run"].rstrip().endswith("exit 1")
    # The two conditions are each other's negation: every pull request gets exactly one.
    assert SAME_REPOSITORY.replace("==", "!=") == FROM_A_FORK


def test_no_workflow_pastes_event_text_into_a_script_and_pr_checkouts_keep_no_credentials():
    """Script injection: a `run:` script never holds an expression (a pull request's
    title, body or branch name would become shell code); values go in through `env:`."""
    for path in WORKFLOWS:
        workflow = load(path)
        for job_id, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                if "run" in step:
                    assert "${{" not in step["run"], f"{path.name}: {job_id}: {step.get('name')}"
                with_ = step.get("with") or {}
                if "pull_request" in str(with_.get("ref", "")):
                    assert with_.get("persist-credentials") is False, path.name
                    assert "secrets." not in str(step), path.name


def _example_orgs() -> list[str]:
    return sorted(load(p)["org"] for p in (ROOT / "examples" / "orgs").glob("org-*.yaml"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_dxorg_step_names_the_orgs_it_may_touch(path):
    """The allowlist: every step that reads manifests with the token (and validate, so the
    pull request hears of it first) is given allowed-orgs, the orgs the examples manage."""
    steps = [s for _, s in local_action_steps(load(path))]
    assert steps
    for step in steps:
        assert sorted(str(step["with"]["allowed-orgs"]).split()) == _example_orgs(), step


def test_apply_finds_the_plan_run_by_documented_fields():
    """A run's `workflow_id` against the id `GET .../actions/workflows/dxorg-plan.yml`
    gives, not the run's `path`, which GitHub's REST reference does not document."""
    workflow = load(ROOT / "examples" / "workflows" / "apply.yml")
    [find] = [s for s in workflow["jobs"]["reviewed-plan"]["steps"] if s.get("id") == "find"]
    script = find["run"]
    assert "actions/workflows/dxorg-plan.yml" in script
    assert ".workflow_id == $workflow" in script
    assert ".path" not in script
    assert '.event == \\"pull_request_target\\"' in script


def test_apply_keeps_each_journal_on_a_branch_from_a_job_without_the_token():
    workflow = load(ROOT / "examples" / "workflows" / "apply.yml")
    keep = workflow["jobs"]["keep-journals"]
    assert _needs(keep) == ["apply"]
    assert keep["if"].startswith("always()")
    assert keep["permissions"] == {"contents": "write"}
    assert "secrets." not in str(keep)
    script = next(s["run"] for s in keep["steps"] if "run" in s)
    assert "git push --quiet origin HEAD:dxorg-journal" in script
    assert "--force" not in script
    # The jobs that hold the DNAnexus token cannot write to the repository.
    assert workflow["permissions"]["contents"] == "read"
    assert "permissions" not in workflow["jobs"]["apply"]
    [upload] = [
        s for s in workflow["jobs"]["apply"]["steps"] if "upload-artifact" in s.get("uses", "")
    ]
    assert upload["with"]["name"] == "dxorg-journal-${{ matrix.org }}"
    [download] = [s for s in keep["steps"] if "download-artifact" in s.get("uses", "")]
    assert download["with"]["pattern"] == "dxorg-journal-*"


def test_the_keep_journals_script_appends_each_runs_journals_to_the_branch(tmp_path):
    workflow = load(ROOT / "examples" / "workflows" / "apply.yml")
    script = next(s["run"] for s in workflow["jobs"]["keep-journals"]["steps"] if "run" in s)
    origin = tmp_path / "origin.git"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    seed = tmp_path / "seed"
    subprocess.run(["git", "init", "-q", "-b", "main", str(seed)], check=True)
    (seed / "README.md").write_text("config\n")
    subprocess.run([*git, "-C", str(seed), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(seed), "commit", "-qm", "main"], check=True)
    subprocess.run(["git", "-C", str(seed), "push", "-q", f"file://{origin}", "main"], check=True)

    def run(run_id: str, journals: dict[str, str]) -> None:
        work = tmp_path / f"checkout-{run_id}"
        subprocess.run(["git", "clone", "-q", f"file://{origin}", str(work)], check=True)
        directory = tmp_path / f"journals-{run_id}"
        directory.mkdir()
        for name, text in journals.items():
            (directory / name).write_text(text)
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "JOURNALS": str(directory),
            "GITHUB_RUN_ID": run_id,
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_SHA": "abc123",
        }
        subprocess.run(["bash", "-c", script], cwd=work, env=env, check=True)

    run("101", {"org-demo.jsonl": '{"event":"run-start"}\n'})
    run("102", {"org-demo.jsonl": '{"event":"run-end"}\n', "org-x.jsonl": "{}\n"})
    run("103", {})  # a run whose apply kept nothing: no commit
    listed = subprocess.run(
        ["git", "-C", str(origin), "ls-tree", "-r", "--name-only", "dxorg-journal"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(listed) == 3
    assert all(
        re.fullmatch(r"journal/\d{4}/\d{4}-\d\d-\d\d-run10[12]-1-org-\w+\.jsonl", p) for p in listed
    )
    log = subprocess.run(
        ["git", "-C", str(origin), "log", "--format=%s", "dxorg-journal"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert log == [
        "dxorg apply journals: run 102 of abc123",
        "dxorg apply journals: run 101 of abc123",
    ]
    # The branch holds journals only, not the configuration files of main.
    assert "README.md" not in listed
