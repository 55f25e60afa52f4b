"""The wheel carries everything dxorg reads at run time (issue 12, case 1).

.ci/run installs the wheel into a fresh venv and runs it from an empty directory; this
checks the wheel's contents from the same build, in a copy of the sources (the checkout
is left untouched), with the setuptools already installed (no download).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from reconciler import __version__
from reconciler.manifest.schema import SCHEMA_DIR

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_the_schemas_and_the_demo_seed_and_no_checkout_paths(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "reconciler", source / "reconciler", ignore=shutil.ignore_patterns("__pycache__")
    )
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("dxorg-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    schemas = {
        f"reconciler/schemas/{p.name}" for p in SCHEMA_DIR.iterdir() if p.name.endswith(".json")
    }
    assert len(schemas) == 6  # org, defaults, plan, report, seed, doctor
    assert schemas <= names
    assert "reconciler/demo/seed.yaml" in names
    assert "reconciler/py.typed" in names
    # Nothing outside the package: the top-level schemas/ is the checkout's link, not data.
    assert {n.split("/")[0] for n in names} == {"reconciler", f"dxorg-{__version__}.dist-info"}
