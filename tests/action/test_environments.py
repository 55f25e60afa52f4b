"""Every DNAnexus token is an environment secret of a `main`-only environment.

A repository secret is given to every workflow run of every branch: anyone who can push a
branch could push a workflow that prints it. So each job reading a token names an
environment, and the README `dxorg init` writes sets up every environment its workflows
name, limited to `main`, with the secrets each needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.scaffold import environments, scaffold_files

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "examples" / "workflows").glob("*.yml"))
TOKENS = ("secrets.DX_PLAN_TOKEN", "secrets.DX_APPLY_TOKEN")


def _jobs(path: Path) -> dict[str, Any]:
    jobs = yaml.safe_load(path.read_text())["jobs"]
    assert isinstance(jobs, dict)
    return jobs


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_job_reading_a_dnanexus_token_names_an_environment(path):
    for name, job in _jobs(path).items():
        text = yaml.safe_dump(job)
        if "secrets.DX_PLAN_TOKEN" in text:
            assert job.get("environment") == "dxorg-plan", f"{path.name}: {name}"
        if any(token in text for token in TOKENS):
            assert job.get("environment"), f"{path.name}: {name}"
        else:
            assert "secrets." not in text.replace("secrets.SPLUNK", ""), f"{path.name}: {name}"


MANIFEST = """org: org-demo
jobLogsForwarding: {url: "https://a.example/services/collector/event", tokenEnv: SPLUNK_HEC_TOKEN_DEMO}
"""


def test_init_readme_sets_up_every_environment_its_workflows_name_limited_to_main():
    files = scaffold_files([MANIFEST], action="acme/dxorg@v1")
    workflows = {p: t for p, t in files.items() if p.startswith(".github/workflows/")}
    named = environments(workflows)
    assert set(named) == {"dxorg-plan", "dxorg-apply", "dxorg-apply-manual", "dxorg-expiry"}
    assert named["dxorg-plan"] == {"DX_PLAN_TOKEN", "SPLUNK_HEC_TOKEN_DEMO"}
    for apply in ("dxorg-apply", "dxorg-apply-manual", "dxorg-expiry"):
        assert named[apply] == {"DX_APPLY_TOKEN", "SPLUNK_HEC_TOKEN_DEMO"}
    readme = files["README.md"]
    lines = {line.strip() for line in readme.splitlines()}
    for name, secrets in named.items():
        [line] = [line for line in lines if line.startswith(f"- `{name}`:")]
        assert "limited to `main`" in line
        for secret in secrets:
            assert f"`{secret}`" in line
    for reviewed in ("dxorg-apply-manual", "dxorg-expiry"):
        [line] = [line for line in lines if line.startswith(f"- `{reviewed}`:")]
        assert "**required reviewers**" in line
    assert "Add none of them as repository secrets" in readme
