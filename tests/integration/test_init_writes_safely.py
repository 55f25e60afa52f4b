"""`dxorg export` and `dxorg init` write no file through a symbolic link, init makes its
directory a config repository of its own, and init --force keeps the offboarding record
(in-process CLI against the embedded sandbox)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.test_config_repo import git


@pytest.fixture
def run(run_cli, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DXORG_STATE_DIR", raising=False)  # these tests are about the default
    monkeypatch.setenv("SPLUNK_HEC_TOKEN", "demo-hec-token")
    return run_cli


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("a person's file\n")
    return outside


@pytest.mark.parametrize("force", [False, True], ids=["", "--force"])
def test_export_all_writes_nothing_through_a_link(run, tmp_path, force):
    outside = _outside(tmp_path)
    out = tmp_path / "repo" / "orgs"
    out.mkdir(parents=True)
    (out / "org-demo.yaml").symlink_to(outside / "created-by-dxorg.yaml")  # dangling
    (out / "org.schema.json").symlink_to(outside / "precious.txt")
    exported = run("export", "--all", "-o", str(out), "--sandbox", *(["--force"] if force else []))
    assert exported.code == 1
    assert f"{out / 'org-demo.yaml'}: a symbolic link; dxorg never writes through one" in (
        exported.err
    )
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    assert (outside / "precious.txt").read_text() == "a person's file\n"
    assert sorted(p.name for p in out.iterdir()) == ["org-demo.yaml", "org.schema.json"]


def test_export_to_a_file_that_is_a_link_writes_nothing(run, tmp_path):
    outside = _outside(tmp_path)
    target = tmp_path / "org-demo.yaml"
    target.symlink_to(outside / "created.yaml")
    exported = run("export", "org-demo", "-o", str(target), "--sandbox", "--force")
    assert exported.code == 1 and "a symbolic link" in exported.err
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]


def test_init_force_writes_nothing_through_a_linked_directory(run, tmp_path):
    outside = _outside(tmp_path)
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / ".github").symlink_to(outside)
    initialised = run("init", str(cfg), "--sandbox", "--force")
    assert initialised.code == 1
    assert f"{cfg / '.github'}: a symbolic link" in initialised.err
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    assert not (cfg / "orgs").exists()  # every target is checked before the first write


def test_init_inside_another_checkout_is_a_repository_of_its_own(run, tmp_path, monkeypatch):
    """README: `dxorg init org-config` from the dxorg checkout, then plan and apply there
    before anyone runs `git init`: the state is org-config's own from the first run."""
    outer = tmp_path / "dxorg-checkout"
    outer.mkdir()
    git(outer, "init", "-q")
    monkeypatch.chdir(outer)
    initialised = run("init", "org-config", "--sandbox")
    assert initialised.code == 0, initialised.err
    cfg = outer / "org-config"
    branch = subprocess.run(
        ["git", "-C", str(cfg), "symbolic-ref", "HEAD"], capture_output=True, text=True
    )
    assert branch.stdout.strip() == "refs/heads/main"
    monkeypatch.chdir(cfg)
    applied = run("apply", "orgs/", "--sandbox", "--auto-approve")
    assert "Apply: 2 action(s) done, 0 failed" in applied.out, applied.out + applied.err
    assert (cfg / ".dxorg" / "journal.jsonl").is_file()
    assert not (outer / ".dxorg").exists()


def test_init_force_keeps_the_departed_list(run, tmp_path):
    cfg = tmp_path / "cfg"
    assert run("init", str(cfg), "--sandbox").code == 0
    defaults = cfg / "orgs" / "_defaults.yaml"
    record = defaults.read_text().replace(
        "departed: []", 'departed:\n  - {user: frank, since: 2026-11-30, reason: "left"}'
    )
    defaults.write_text(record)
    again = run("init", str(cfg), "--sandbox", "--force")
    assert again.code == 0, again.err
    assert f"kept {defaults}" in again.err
    assert defaults.read_text() == record
    clinical = yaml.safe_load((cfg / "orgs" / "org-clinical.yaml").read_text())
    assert "frank" not in str(clinical["members"]["users"])
    assert run("validate", str(cfg / "orgs")).code == 0
