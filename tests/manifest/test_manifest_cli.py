"""`dxorg validate` as a user runs it: a separate process, exit codes, no tracebacks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DXORG = Path(sys.executable).parent / "dxorg"
POSITIONED = re.compile(r"^.+:\d+:\d+: \S")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DXORG), "validate", *args], capture_output=True, text=True, cwd=REPO, timeout=60
    )


def test_validate_bad_file_exits_1_with_positions(tmp_path: Path) -> None:
    bad = tmp_path / "org.yaml"
    bad.write_text(
        "org: org-demo\nmembers:\n  mode: authoritative\n  users:\n    alice: {level: ADMIN, appAccess: true}\n"
        "    bob: {level: MEMBER, projectAccess: EDIT}\njobLogsForwarding: {token: s3cret}\n"
    )
    result = run(str(bad))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    problems, summary = lines[:-1], lines[-1]
    assert summary == f"{len(problems)} problem(s) found"
    assert len(problems) >= 4
    assert all(POSITIONED.match(line) and line.startswith(str(bad)) for line in problems)
    assert any(":6:41: members.users.bob.projectAccess: 'EDIT'" in line for line in problems)
    assert "s3cret" not in result.stderr


def test_validate_examples_exits_0() -> None:
    result = run("examples/orgs")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OK: 2 org(s) in 2 file(s)"


def test_validate_missing_path_exits_1_without_traceback() -> None:
    result = run("no/such/dir")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "no/such/dir:1:1: no such file or directory" in result.stderr
