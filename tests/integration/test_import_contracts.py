"""The import boundaries (pyproject's import-linter contracts, docs/architecture.md) hold,
and `lint-imports` fails when one is crossed.

Each case copies the package and the pyproject to a temporary directory, adds one import
that crosses a boundary, and runs the real `lint-imports` there (it puts its working
directory first on the import path, so it analyses the copy). Nothing is downloaded.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")
FUTURE = "from __future__ import annotations\n"


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_real_tree_keeps_every_contract() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    for name in (
        "The emulator imports nothing from the rest of dxorg KEPT",
        "does no I/O KEPT",
        "import nothing that does I/O when imported KEPT",
    ):
        assert name in result.stdout


@pytest.mark.parametrize(
    ("module", "violation", "contract", "chain"),
    [
        (
            "rails.py",
            "from reconciler.platform.client import ReadClient\n",
            "The core (model, diff, steps, rails, plan value, rendering, review) does no I/O BROKEN",
            "reconciler.rails -> reconciler.platform.client",
        ),
        (
            "render/text.py",
            "import httpx\n",
            "does no I/O BROKEN",
            "reconciler.render.text -> httpx",
        ),
        (
            # Indirect: plan_fleet reads the live orgs through the platform client.
            "review/build.py",
            "from reconciler.read_and_plan import plan_fleet\n",
            "does no I/O BROKEN",
            "reconciler.review.build -> reconciler.read_and_plan",
        ),
        (
            "emulator/paging.py",
            "from reconciler.plan import Plan\n",
            "The emulator imports nothing from the rest of dxorg BROKEN",
            "reconciler.emulator.paging -> reconciler.plan",
        ),
        (
            "emulator/store.py",
            "from reconciler import __version__\n",
            "The emulator does not import the reconciler package's own module BROKEN",
            "reconciler.emulator.store -> reconciler",
        ),
        (
            # Importing any core module of the package runs this file first.
            "apply/__init__.py",
            "from reconciler.apply.run import apply_reviewed\n",
            "import nothing that does I/O when imported BROKEN",
            "reconciler.apply -> reconciler.apply.run",
        ),
        (
            # A command returns a result; the entry point's presenter shows it.
            "commands/plan.py",
            "from reconciler.render.text import render_text\n",
            "The commands import no entry point, presenter, typer, rich or GitHub runner BROKEN",
            "reconciler.commands.plan -> reconciler.render.text",
        ),
        (
            "commands/apply.py",
            "import typer\n",
            "The commands import no entry point, presenter, typer, rich or GitHub runner BROKEN",
            "reconciler.commands.apply -> typer",
        ),
        (
            # An entry point plans through the plan command, never on its own.
            "github_action.py",
            "from reconciler.read_and_plan import plan_fleet\n",
            "The entry points reach the platform only through the commands BROKEN",
            "reconciler.github_action -> reconciler.read_and_plan",
        ),
    ],
)
def test_a_crossed_boundary_fails_lint_imports(
    tmp_path: Path, module: str, violation: str, contract: str, chain: str
) -> None:
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    package = tmp_path / "reconciler"
    shutil.copytree(REPO / "reconciler", package, ignore=shutil.ignore_patterns("__pycache__"))
    target = package / module
    text = target.read_text(encoding="utf-8")
    assert FUTURE in text
    target.write_text(text.replace(FUTURE, FUTURE + violation, 1), encoding="utf-8")

    result = lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert contract in result.stdout
    assert chain in result.stdout
    assert "1 broken" in result.stdout
