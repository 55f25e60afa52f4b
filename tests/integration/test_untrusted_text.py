"""Issue 18, item 1, end to end: a member renames themselves with the real `dx` through
`dxorg emulator serve`; the admin's `dxorg plan` and `dxorg apply` (up to its prompt), on a
terminal, still show every removal, as a terminal emulator (pyte) draws the bytes."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.as_seen import assert_plan_on_screen, screen
from tests.integration.conftest import base_seed
from tests.integration.terminal import run_in_terminal
from tests.integration.test_cli_console import BIN, DXORG, dx_env, env, serve

__all__ = ["env"]  # the fixture, used by name

# Eve, a member, is leaving, and knows carol (an ADMIN) is removed in the same plan: her
# name erases the lines above hers, carol's removal among them, and prints a summary that
# says nothing is removed.
ERASE_UP = "\x1b[2K\x1b[1A" * 4
EVE = f"Eve{ERASE_UP}\x1b[2K\rPlan: 0 to add, 0 to change, 0 to remove.\x1b[8m"
MANIFEST = """\
org: org-demo
members:
  mode: authoritative
  users:
    alice: ADMIN
    root: ADMIN
    bob: MEMBER
    dave: MEMBER
"""


@pytest.fixture
def platform(tmp_path: Path, env: dict[str, str]):
    """`dxorg emulator serve` on a free port, seeded with carol an ADMIN; eve renamed."""
    seed = base_seed()
    seed["orgs"][0]["members"]["user-carol"] = {"level": "ADMIN"}
    (tmp_path / "seed.yaml").write_text(yaml.safe_dump(seed))
    (tmp_path / "orgs").mkdir()
    (tmp_path / "orgs" / "org-demo.yaml").write_text(MANIFEST)
    process, banner = serve(tmp_path, env, "--seed", "seed.yaml")
    try:
        port = int(banner[0].rsplit(":", 1)[1])
        conf = tmp_path / "dx-conf"
        conf.mkdir()
        renamed = subprocess.run(
            [str(BIN / "dx"), "api", "user-eve", "update", json.dumps({"first": EVE})],
            env=dx_env(env, port, conf, "eve-token"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert renamed.returncode == 0, renamed.stderr
        yield dx_env(env, port, conf, "alice-token"), port
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def platform_options(port: int) -> list[str]:
    return ["--apiserver-host", "127.0.0.1", "--apiserver-port", str(port)]


@pytest.mark.dxcli
def test_a_members_name_cannot_hide_a_removal_in_plan(platform, tmp_path):
    env, port = platform
    run = run_in_terminal(
        [DXORG, "plan", "orgs", "--apiserver-protocol", "http", *platform_options(port)],
        env=env,
        cwd=tmp_path,
    )
    rows = screen(run.output, columns=200)
    assert run.returncode == 1, rows  # over the removal budget: shown, not applyable
    assert_plan_on_screen(rows, ["user-carol", "user-eve"])
    [carol] = [row for row in rows if row.startswith("  - remove user-carol")]
    assert carol == "  - remove user-carol (Carol Tester, ADMIN) from org-demo"
    [eve] = [row for row in rows if row.startswith("  - remove user-eve")]
    assert eve.startswith("  - remove user-eve (Eve\\x1b[2K\\x1b[1A")


@pytest.mark.dxcli
def test_a_members_name_cannot_hide_a_removal_at_the_apply_prompt(platform, tmp_path):
    env, port = platform
    run = run_in_terminal(
        [
            DXORG,
            "apply",
            "orgs",
            "--override",
            "budget.members",
            "--apiserver-protocol",
            "http",
            *platform_options(port),
        ],
        env=env,
        cwd=tmp_path,
        answers={"Enter a value:": "no"},
    )
    rows = screen(run.output, columns=200)
    assert run.returncode == 1, rows
    prompt = rows.index("Do you want to perform these actions?")
    assert_plan_on_screen(rows[:prompt], ["user-carol", "user-eve"])
    assert rows[-1] == "Apply cancelled."
