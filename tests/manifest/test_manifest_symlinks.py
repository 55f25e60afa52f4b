"""Manifests stay in their tree: a symbolic link that resolves outside the directory holding
it (an org file, `_defaults.yaml`, or the path given itself) is an error naming both paths,
and nothing of the file it points to is read, not even into an error message. A pull
request from a fork can add such a link; the Action posts validation errors as
annotations, so quoting the target's content would publish it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifest import load_fleet

DXORG = Path(sys.executable).parent / "dxorg"
SECRET = "hunter2-secret-line-7f3a"
# Content that, if read, every validation error would quote (a bad org id, a bad key).
OUTSIDE_TEXT = f"org: {SECRET}\n{SECRET}: {SECRET}\n"
ORG = "org: org-demo\npolicies: {memberListVisibility: ADMIN}\n"


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """(the manifest directory, a file outside it holding a secret)."""
    outside = tmp_path / "elsewhere" / "secret.yaml"
    outside.parent.mkdir()
    outside.write_text(OUTSIDE_TEXT)
    orgs = tmp_path / "repo" / "orgs"
    orgs.mkdir(parents=True)
    (orgs / "org-demo.yaml").write_text(ORG)
    return orgs, outside


def problems(*paths: Path) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load_fleet(list(paths))
    return [str(p) for p in caught.value.problems]


def validate(*paths: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DXORG), "validate", *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


def test_an_org_file_linking_outside_is_an_error_and_is_not_read(tree: tuple[Path, Path]) -> None:
    orgs, outside = tree
    (orgs / "evil.yaml").symlink_to(outside)
    found = problems(orgs)
    assert len(found) == 1
    assert found[0].startswith(f"{orgs / 'evil.yaml'}:1:1: a symbolic link to {outside}")
    assert f"outside the manifest directory {orgs}" in found[0]
    assert SECRET not in "\n".join(found)
    result = validate(orgs, cwd=orgs.parent)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert str(outside) in result.stderr and SECRET not in result.stdout + result.stderr


def test_a_relative_link_climbing_out_is_an_error(tree: tuple[Path, Path]) -> None:
    orgs, outside = tree
    os.symlink("../../elsewhere/secret.yaml", orgs / "evil.yml")
    found = problems(orgs)
    assert len(found) == 1 and f"a symbolic link to {outside}" in found[0]
    assert SECRET not in found[0]


def test_a_defaults_file_linking_outside_is_an_error(tree: tuple[Path, Path]) -> None:
    orgs, outside = tree
    (orgs / "_defaults.yaml").symlink_to(outside)
    found = problems(orgs)
    assert len(found) == 1
    assert found[0].startswith(f"{orgs / '_defaults.yaml'}:1:1: a symbolic link to {outside}")
    assert SECRET not in "\n".join(found)
    # The same when the org file is named on its own: its directory's defaults come along.
    assert SECRET not in "\n".join(problems(orgs / "org-demo.yaml"))


def test_a_file_named_on_its_own_linking_outside_is_an_error(tree: tuple[Path, Path]) -> None:
    orgs, outside = tree
    (orgs / "evil.yaml").symlink_to(outside)
    found = problems(orgs / "evil.yaml")
    assert len(found) == 1 and str(outside) in found[0] and SECRET not in found[0]


def test_the_directory_given_may_not_link_outside(tmp_path: Path, tree: tuple[Path, Path]) -> None:
    """A pull request replacing `orgs/` by a link to a directory of the runner."""
    _, outside = tree
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "orgs").symlink_to(outside.parent, target_is_directory=True)
    found = problems(checkout / "orgs")
    assert len(found) == 1 and f"a symbolic link to {outside.parent}" in found[0]
    assert SECRET not in found[0]
    result = validate(Path("orgs"), cwd=checkout)
    assert result.returncode == 1 and SECRET not in result.stdout + result.stderr
    assert str(outside.parent) in result.stderr


def test_links_within_the_directory_are_followed(tmp_path: Path, tree: tuple[Path, Path]) -> None:
    orgs, _ = tree
    (orgs / "shared").mkdir()
    (orgs / "shared" / "real.yaml").write_text("org: org-other\n")
    (orgs / "other.yaml").symlink_to(orgs / "shared" / "real.yaml")
    (orgs / "_defaults.yaml").symlink_to("shared/defaults.yaml")
    (orgs / "shared" / "defaults.yaml").write_text("members:\n  defaults: {appAccess: true}\n")
    fleet = load_fleet([orgs])
    assert set(fleet.orgs) == {"org-demo", "org-other"}
    assert [p.name for p in fleet.defaults_files] == ["_defaults.yaml"]
    # A directory given as a link to a place within its own parent is fine too.
    (tmp_path / "repo" / "fleet").symlink_to(orgs, target_is_directory=True)
    assert set(load_fleet([tmp_path / "repo" / "fleet"]).orgs) == {"org-demo", "org-other"}
