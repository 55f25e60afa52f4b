"""The Action never imports code from the repository it runs in.

`python -m module` puts the current directory first on the module path, and the Action's
working directory is the config repository's checkout: a `json.py` committed there would
be imported by dxorg, with the DNAnexus token in its environment. Every Python that
action.yml starts runs isolated (`-I`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
PYTHON_RUN = re.compile(
    r'"\$(?:PYTHON|VENV/bin/python|DXORG_VENV/bin/python)"(?P<flags>(?: -\w+)*)'
)


def _scripts() -> dict[str, str]:
    return {s["name"]: s["run"] for s in ACTION["runs"]["steps"] if "run" in s}


def test_every_python_the_action_starts_is_isolated():
    started = 0
    for name, script in _scripts().items():
        # No console script (pip, dxorg) either: each is a Python that is not isolated.
        assert not re.search(r"/bin/(pip|dxorg)\b", script), name
        for match in PYTHON_RUN.finditer(script):
            assert "-I" in match["flags"].split(), f"{name}: {match[0]}"
            started += 1
    assert started == 4  # venv, the two pip installs, dxorg itself


def test_the_install_step_runs_outside_the_checkout():
    [install] = [s for s in ACTION["runs"]["steps"] if s.get("name") == "Install dxorg"]
    lines = [line.strip() for line in install["run"].splitlines() if line.strip()]
    assert lines[:2] == ["set -euo pipefail", 'cd "$RUNNER_TEMP"']


def test_a_module_planted_in_the_checkout_is_not_imported_with_the_token(tmp_path):
    """The dxorg step's script, run as the runner runs it: in the checkout, holding a
    `json.py` that would record the token it finds."""
    [step] = [s for s in ACTION["runs"]["steps"] if s.get("id") == "dxorg"]
    workspace = tmp_path / "ws"
    (workspace / "orgs").mkdir(parents=True)
    (workspace / "orgs" / "org-demo.yaml").write_text(
        "org: org-demo\nmembers: {mode: additive, users: {}}\n"
    )
    stolen = tmp_path / "stolen.txt"
    for module in ("json", "yaml", "typing"):
        (workspace / f"{module}.py").write_text(
            "import os\n"
            f"open({str(stolen)!r}, 'a').write(os.environ.get('INPUT_TOKEN', '') + '\\n')\n"
        )
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_", "DX"))}
    env.update(
        INPUT_COMMAND="validate",
        INPUT_PATH="orgs",
        INPUT_TOKEN="secret-dx-token-123",
        GITHUB_WORKSPACE=str(workspace),
        RUNNER_TEMP=str(tmp_path),
        GITHUB_ACTIONS="true",
        DXORG_VENV=sys.prefix,
    )
    done = subprocess.run(
        ["bash", "-c", step["run"]],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert not stolen.exists(), stolen.read_text()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: 1 org(s) in 1 file(s)" in done.stdout
