"""Issue 24: one state directory per config repository, export never discarding what a
person wrote, and `dxorg init` (in-process CLI against the embedded sandbox)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from reconciler.emulator import Emulator
from tests.integration.conftest import base_seed

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def run(run_cli, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DXORG_STATE_DIR", raising=False)  # these tests are about the default
    monkeypatch.setenv("SPLUNK_HEC_TOKEN", "demo-hec-token")
    return run_cli


def git(directory: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=directory,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def config_repo(tmp_path: Path) -> Path:
    """A config repository (a git work tree) holding a copy of the example manifests."""
    repo = tmp_path / "config"
    shutil.copytree(REPO / "examples" / "orgs", repo / "orgs")
    git(repo, "init", "-q")
    return repo


# ---------------------------------------------------------------- the state directory


def test_apply_from_another_directory_keeps_one_journal_and_one_sandbox(
    run, config_repo, tmp_path, monkeypatch
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    applied = run("apply", str(config_repo / "orgs"), "--sandbox", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    # The state lives at the repository's root, not where dxorg was run from.
    assert not (elsewhere / ".dxorg").exists()
    state = config_repo / ".dxorg"
    assert (state / "journal.jsonl").is_file() and (state / "sandbox.db").is_file()
    # From the repository's root and from inside orgs/: the same sandbox (nothing left to
    # do) and the same journal.
    for cwd in (config_repo, config_repo / "orgs"):
        monkeypatch.chdir(cwd)
        planned = run("plan", "orgs" if cwd == config_repo else ".", "--sandbox",
                      "--detailed-exitcode")  # fmt: skip
        assert planned.code == 0, planned.out
        assert not (cwd / ".dxorg").exists() or cwd == config_repo
    runs = [
        json.loads(line)["event"]
        for line in (state / "journal.jsonl").read_text().splitlines()
        if '"run-start"' in line
    ]
    assert len(runs) == 1


def test_a_saved_plan_applies_from_any_directory(run, config_repo, tmp_path, monkeypatch):
    monkeypatch.chdir(config_repo)
    assert run("plan", "orgs", "--sandbox", "--out", ".dxorg/plan.json").code == 0
    saved = json.loads((config_repo / ".dxorg" / "plan.json").read_text())
    assert saved["root"] == str(config_repo)
    assert {o["source"] for o in saved["orgs"]} == {"orgs/org-clinical.yaml", "orgs/org-demo.yaml"}
    assert all(not Path(p).is_absolute() for o in saved["orgs"] for p in o["manifests"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    applied = run(
        "apply", "--plan", str(config_repo / ".dxorg" / "plan.json"), "--sandbox", "--auto-approve"
    )
    assert applied.code == 0, applied.out + applied.err
    assert "Verified: converged." in applied.out
    assert not (elsewhere / ".dxorg").exists()


def test_the_plan_file_moved_with_its_repository_still_applies(run, served, config_repo, tmp_path):
    """The root a plan records is a fallback: the one holding the plan file comes first (a
    CI job checks the repository out wherever its runner does)."""
    shutil.rmtree(config_repo / "orgs")
    (config_repo / "orgs").mkdir()
    (config_repo / "orgs" / "org-demo.yaml").write_text(
        "org: org-demo\nmembers:\n  mode: additive\n  users:\n"
        "    bob: {level: MEMBER, projectAccess: VIEW}\n"
    )
    planned = run("plan", str(config_repo / "orgs"), "--out", str(config_repo / "plan.json"))
    assert planned.code == 0, planned.err
    moved = tmp_path / "moved"
    shutil.move(config_repo, moved)
    applied = run("apply", "--plan", str(moved / "plan.json"), "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert "Verified: converged." in applied.out
    assert (moved / ".dxorg" / "journal.jsonl").is_file()


def test_state_dir_option_and_variable_name_another_state_directory(
    run, config_repo, tmp_path, monkeypatch
):
    chosen = tmp_path / "state"
    assert run("plan", str(config_repo / "orgs"), "--sandbox", "--state-dir", str(chosen)).code == 0
    assert (chosen / "sandbox.db").is_file()
    monkeypatch.setenv("DXORG_STATE_DIR", str(tmp_path / "by-variable"))
    assert run("apply", str(config_repo / "orgs"), "--sandbox", "--auto-approve").code == 0
    assert (tmp_path / "by-variable" / "journal.jsonl").is_file()
    assert (tmp_path / "by-variable" / "apply.lock").is_file()
    assert not (config_repo / ".dxorg").exists()


def test_without_git_the_state_directory_is_beside_the_manifests_directory(
    run, tmp_path, monkeypatch
):
    work = tmp_path / "work"
    shutil.copytree(REPO / "examples" / "orgs", work / "orgs")
    monkeypatch.chdir(tmp_path)
    assert run("plan", "work/orgs/org-demo.yaml", "--sandbox").code == 0
    assert (work / ".dxorg" / "sandbox.db").is_file()
    assert not (tmp_path / ".dxorg").exists()


# ---------------------------------------------------------------- export never discards


def test_export_refuses_to_replace_a_manifest_without_force(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "orgs" / "org-demo.yaml"
    target.parent.mkdir()
    written = (
        "# kept by a person\norg: org-demo\nmembers:\n  mode: additive\n  requiredAdmins: [alice]\n"
    )
    target.write_text(written)
    refused = run("export", "org-demo", "--sandbox", "-o", str(target))
    assert refused.code == 1
    assert "already exists" in refused.err and "--force" in refused.err
    assert target.read_text() == written
    refused_all = run("export", "--all", "--sandbox", "-o", "orgs")
    assert refused_all.code == 1 and "org-demo.yaml" in refused_all.err
    assert target.read_text() == written
    assert not (tmp_path / "orgs" / "org-clinical.yaml").exists()  # nothing written at all
    assert run("export", "--all", "--sandbox", "-o", "orgs", "--force").code == 0
    assert "kept by a person" not in target.read_text()


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """The emulator over loopback HTTP, found through the DX_* variables as `dx` finds it;
    the function given selects whose token dxorg uses."""
    seed = tmp_path / "seed.yaml"
    seed.write_text(yaml.safe_dump(base_seed()))
    emulator = Emulator(state_path=tmp_path / "served.db", seed=seed)
    running = emulator.start()
    for name in ("DX_APISERVER_PROTOCOL", "DX_APISERVER_HOST", "DX_APISERVER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DX_USER_CONF_DIR", str(tmp_path / "dx-conf"))
    monkeypatch.setenv("DX_APISERVER_PROTOCOL", "http")
    monkeypatch.setenv("DX_APISERVER_HOST", "127.0.0.1")
    monkeypatch.setenv("DX_APISERVER_PORT", str(running.port))

    def as_user(token: str) -> None:
        context = {"auth_token_type": "Bearer", "auth_token": token}
        monkeypatch.setenv("DX_SECURITY_CONTEXT", json.dumps(context))

    as_user("alice-token")
    try:
        yield as_user
    finally:
        running.stop()
        emulator.close()


def test_export_all_and_init_for_an_account_that_administers_no_org_are_errors(
    run, served, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    served("eve-token")  # a MEMBER of org-demo, an ADMIN of nothing
    exported = run("export", "--all", "-o", "out")
    assert exported.code == 1, exported.out + exported.err
    assert "administers no org" in exported.err
    initialised = run("init", "cfg")
    assert initialised.code == 1 and "administers no org" in initialised.err
    assert not (tmp_path / "out").exists() and not (tmp_path / "cfg").exists()
