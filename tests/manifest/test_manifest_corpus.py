"""The manifest corpora: every invalid case reports exactly its expected problems, every
valid case and every shipped example loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifest import DEFAULTS_FILE_NAMES, load_fleet, loads_org
from reconciler.model import FLAGS_BY_NAME

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXAMPLES = REPO / "examples" / "orgs"
INVALID = sorted(path for path in (HERE / "invalid").iterdir() if path.is_dir())
VALID = sorted(path for path in (HERE / "valid").iterdir() if path.is_dir())


def test_the_invalid_corpus_is_big_enough() -> None:
    assert len(INVALID) >= 35


@pytest.mark.parametrize("case", INVALID, ids=lambda path: path.name)
def test_invalid_manifest(case: Path) -> None:
    """expected.txt: one line per problem, in order; each is a substring of the actual
    `file:line:column: message` line, with the file relative to the case directory."""
    expected = [line for line in (case / "expected.txt").read_text().splitlines() if line]
    with pytest.raises(ManifestError) as caught:
        load_fleet([case])
    actual = [str(problem).replace(f"{case}/", "") for problem in caught.value.problems]
    assert len(actual) == len(expected), "\n".join(actual)
    for want, got in zip(expected, actual, strict=True):
        assert want in got


@pytest.mark.parametrize("case", VALID, ids=lambda path: path.name)
def test_valid_manifest(case: Path) -> None:
    fleet = load_fleet([case])
    manifests = [
        path
        for path in case.iterdir()
        if path.suffix in (".yaml", ".yml") and path.name not in DEFAULTS_FILE_NAMES
    ]
    assert len(fleet.orgs) == len(manifests) == len(fleet.files)


def test_examples_validate() -> None:
    fleet = load_fleet([EXAMPLES])
    assert set(fleet.orgs) == {"org-demo", "org-clinical"}
    assert [path.name for path in fleet.defaults_files] == ["_defaults.yaml"]


def test_examples_start_with_the_schema_comment() -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        first = path.read_text().splitlines()[0]
        schema = "defaults.schema.json" if path.name in DEFAULTS_FILE_NAMES else "org.schema.json"
        assert first == f"# yaml-language-server: $schema=../../schemas/{schema}", path
        # the reference must resolve from where the file sits, as an editor would
        assert (path.parent / first.split("=", 1)[1]).is_file()


def test_examples_use_every_feature() -> None:
    orgs = load_fleet([EXAMPLES]).orgs.values()
    memberships = [org.membership for org in orgs if org.membership]
    assert {m.mode for m in memberships} == {"authoritative", "additive"}
    assert any(m.protected for m in memberships)
    assert any(m.required_admins for m in memberships)
    members = [member for m in memberships for member in m.members.values()]
    assert {member.level for member in members} == {"ADMIN", "MEMBER"}
    assert any(
        member.flags.get("projectAccess", "CONTRIBUTE") != "CONTRIBUTE" for member in members
    )
    assert any(member.flags.get("appAccess") is False for member in members)
    # a flag independent of the level, on an ADMIN and on a MEMBER, and a read-only flag
    assert any(m.level == "ADMIN" and m.flags.get("treManagement") for m in members)
    assert any(m.level == "MEMBER" and m.flags.get("treManagement") for m in members)
    assert any(not FLAGS_BY_NAME[name].settable for m in members for name in m.flags)
    assert any(org.settings.get("samlIdP") for org in orgs)
    assert all(len(org.policies) >= 2 for org in orgs)
    assert any(len(org.policies) == 4 for org in orgs)
    grants = [g for org in orgs if org.self_grants for g in org.self_grants.projects]
    app_grants = [g for org in orgs if org.self_grants for g in org.self_grants.apps]
    assert {g.selector.kind for g in grants} | {g.selector.kind for g in app_grants} == {
        "id",
        "name",
        "glob",
        "all",
    }
    assert any(g.expires and g.reason for g in grants) and app_grants
    forwardings = [org.forwarding for org in orgs if org.forwarding]
    assert {f.enabled for f in forwardings} == {True, False}
    assert any(f.token_env for f in forwardings)
    assert any(org.provisioning for org in orgs)
    assert any(org.safety.min_admins for org in orgs)


def test_the_readme_example_manifest_loads() -> None:
    readme = (REPO / "README.md").read_text()
    manifests = readme.split("## Manifests", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    org = loads_org(manifests, source="README.md")
    assert org.settings.get("samlIdP") and org.membership is not None
    assert org.membership.members["user-alice"].flags == {"treManagement": True}
