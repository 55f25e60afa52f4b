"""The state directory's journals are evidence that dxorg created an account (its invite
is then planned for a provisioning entry): only a state directory and journals no one
else could have written count. A state directory that is a symbolic link, another user's
or writable by others is refused; a journal git tracks is not evidence; manifests of two
config repositories do not share one state directory (in-process CLI, embedded sandbox).
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from pathlib import Path

import pytest

from reconciler.read_and_plan import platform_where
from reconciler.sandbox import open_sandbox
from tests.integration.conftest import CliResult as Result
from tests.integration.test_config_repo import git

MANIFEST = """org: org-demo
members:
  mode: additive
  users: {}
provisioning:
  - {username: frank, email: new-hire@example.com, first: New, last: Hire, level: MEMBER}
"""
INVITE = "invite existing account user-frank"


@pytest.fixture
def run(run_cli, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DXORG_STATE_DIR", raising=False)  # these tests are about the default
    return run_cli


def _repo(tmp_path: Path, *, with_git: bool = True) -> Path:
    repo = tmp_path / "config"
    (repo / "orgs").mkdir(parents=True)
    (repo / "orgs" / "org-demo.yaml").write_text(MANIFEST)
    if with_git:
        git(repo, "init", "-q")
    return repo


def _plant(state: Path, sandbox: Path) -> Path:
    """A journal saying dxorg's /user/new created frank on the sandbox at `sandbox`."""
    _, config = open_sandbox(sandbox)
    where = platform_where(config)
    lines = [
        {"run": "r1", "event": "run-start", "platform": where},
        {
            "run": "r1",
            "event": "call",
            "step": "s",
            "route": "/user/new",
            "body": {"username": "frank", "email": "new-hire@example.com"},
        },
        {"run": "r1", "event": "call-done", "step": "s", "route": "/user/new"},
    ]
    journals = state / "journals"
    journals.mkdir(parents=True, exist_ok=True)
    planted = journals / "2026-run1-org-demo.jsonl"
    planted.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return planted


def _plan(run, orgs: Path, sandbox: Path, *more: str) -> Result:
    return run("plan", str(orgs), "--sandbox", "--sandbox-state", str(sandbox), *more)


def test_the_planted_journal_of_a_state_directory_of_ones_own_is_evidence(run, tmp_path):
    """The control: the same journal, in a state directory of the user's own, is read."""
    repo = _repo(tmp_path)
    _plant(repo / ".dxorg", tmp_path / "sandbox.db")
    planned = _plan(run, repo / "orgs", tmp_path / "sandbox.db")
    assert INVITE in planned.out, planned.out + planned.err


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_a_state_directory_of_another_user_is_refused(run, tmp_path):
    """Manifests outside git in a shared directory (/tmp/orgs): the state directory beside
    them (/tmp/.dxorg) could be another local user's, made first, with planted journals."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "orgs").mkdir()
    (shared / "orgs" / "org-demo.yaml").write_text(MANIFEST)
    state = shared / ".dxorg"
    planted = _plant(state, tmp_path / "sandbox.db")
    nobody = pwd.getpwnam("nobody")
    for path in (state, planted.parent, planted):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    planned = _plan(run, shared / "orgs", tmp_path / "sandbox.db")
    assert planned.code == 1
    assert INVITE not in planned.out
    assert f"{state}: the state directory belongs to another user" in planned.err
    assert "--state-dir" in planned.err


def test_a_state_directory_or_journal_others_can_write_is_refused(run, tmp_path):
    repo = _repo(tmp_path)
    state = repo / ".dxorg"
    planted = _plant(state, tmp_path / "sandbox.db")
    state.chmod(0o777)
    planned = _plan(run, repo / "orgs", tmp_path / "sandbox.db")
    assert planned.code == 1 and INVITE not in planned.out
    assert f"{state}: the state directory is writable by group or others" in planned.err
    state.chmod(0o700)
    planted.chmod(0o666)
    planned = _plan(run, repo / "orgs", tmp_path / "sandbox.db")
    assert planned.code == 1 and INVITE not in planned.out
    assert f"{planted}: the journal is writable by group or others" in planned.err


def test_a_state_directory_that_is_a_symbolic_link_is_refused_by_plan_and_apply(run, tmp_path):
    """Committed as a link (init's .gitignore now ignores one too), or made by hand: plan
    reads nothing through it, apply writes no journal, lock or sandbox there."""
    repo = _repo(tmp_path)
    target = tmp_path / "elsewhere"
    _plant(target, tmp_path / "sandbox.db")
    (repo / ".dxorg").symlink_to(target)
    before = sorted(p.name for p in target.rglob("*"))
    planned = _plan(run, repo / "orgs", tmp_path / "sandbox.db")
    assert planned.code == 1 and INVITE not in planned.out
    assert f"{repo / '.dxorg'}: the state directory is a symbolic link" in planned.err
    applied = run("apply", str(repo / "orgs"), "--sandbox", "--auto-approve")
    assert applied.code == 1
    assert "symbolic link" in applied.err
    assert sorted(p.name for p in target.rglob("*")) == before


def test_init_gitignore_ignores_a_state_directory_link(tmp_path):
    from reconciler.scaffold import scaffold_files

    repo = tmp_path / "repo"
    repo.mkdir()
    files = scaffold_files(["org: org-demo\n"], action="acme/dxorg@v1")
    (repo / ".gitignore").write_text(files[".gitignore"])
    (repo / ".dxorg").symlink_to(tmp_path)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files"], capture_output=True, text=True, check=True
    )
    assert listed.stdout.split() == [".gitignore"]


def test_a_journal_git_tracks_is_not_evidence(run, tmp_path):
    """A pull request can commit a journal under .dxorg/ (`git add -f`): once merged, every
    checkout's plan would read it. Tracked files are left out, with a warning naming them."""
    repo = _repo(tmp_path)
    planted = _plant(repo / ".dxorg", tmp_path / "sandbox.db")
    git(repo, "add", "-A")
    git(repo, "add", "-f", ".dxorg/journals")
    git(repo, "commit", "-qm", "a journal, committed")
    planned = _plan(run, repo / "orgs", tmp_path / "sandbox.db")
    assert INVITE not in planned.out
    assert f"{planted}: tracked by git, so not evidence" in planned.err


def test_manifests_of_two_config_repositories_need_a_named_state_directory(run, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for repo in (first, second):
        (repo / "orgs").mkdir(parents=True)
        git(repo, "init", "-q")
    (first / "orgs" / "org-demo.yaml").write_text("org: org-demo\n")
    (second / "orgs" / "org-clinical.yaml").write_text("org: org-clinical\n")
    for command in (("plan",), ("apply", "--auto-approve")):
        refused = run(*command, str(first / "orgs"), str(second / "orgs"), "--sandbox")
        assert refused.code == 1
        assert f"2 config repositories ({first} and {second})" in refused.err
        assert not (first / ".dxorg").exists() and not (second / ".dxorg").exists()
    named = run(
        "plan",
        str(first / "orgs"),
        str(second / "orgs"),
        "--sandbox",
        "--state-dir",
        str(tmp_path / "state"),
    )
    assert named.code in (0, 2), named.out + named.err
