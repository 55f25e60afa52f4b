"""Seed validation: the schema contract, reference checks, and the fastjsonschema fast path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.emulator import Emulator, SeedError
from reconciler.emulator.seed import SCHEMA_PATH, quick_check, read_seed
from tests.emulator.sandbox import SANDBOX_SEED

SCHEMA = json.loads(SCHEMA_PATH.read_text())


def test_schema_is_valid_draft_2020_12() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_example_seed_is_valid() -> None:
    data = yaml.safe_load(SANDBOX_SEED.read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert read_seed(SANDBOX_SEED)["orgs"][0]["id"] == "org-demo"


def base() -> dict[str, Any]:
    return {
        "users": [
            {"id": "user-alice", "first": "Alice", "last": "S", "token": "t", "email": "a@x.io"},
            {"id": "user-bob", "email": "b@x.io"},
        ],
        "orgs": [
            {
                "id": "org-demo",
                "name": "Demo",
                "members": {"user-alice": {"level": "ADMIN"}, "user-bob": {"level": "MEMBER"}},
            }
        ],
        "projects": [
            {"name": "p", "billTo": "org-demo", "permissions": {"user-bob": "VIEW"}},
        ],
        "apps": [{"name": "a", "version": "1", "billTo": "org-demo", "developers": ["user-bob"]}],
    }


def test_checking_a_seed_fills_in_no_defaults() -> None:
    seed = base()  # its members leave out flags the schema gives defaults for
    before = copy.deepcopy(seed)
    read_seed(seed)
    assert seed == before


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            lambda s: s["orgs"][0]["members"].update({"user-bob": {"level": "BOSS"}}),
            "orgs[0].members.user-bob.level",
        ),
        (lambda s: s["users"][0].update({"id": "alice"}), "users[0].id"),
        (lambda s: s["users"][0].update({"color": "red"}), "users[0]"),
        (lambda s: s["projects"][0].update({"id": "project-short"}), "projects[0].id"),
        (lambda s: s["orgs"][0].update({"expiresAt": "soon"}), "orgs[0].expiresAt"),
        (
            lambda s: s["orgs"][0].update({"policies": {"memberListVisibility": "ALL"}}),
            "orgs[0].policies.memberListVisibility",
        ),
        (lambda s: s.update({"extra": []}), "(top level)"),
        (lambda s: s["apps"][0].pop("version"), "apps[0]"),
    ],
)
def test_schema_errors_name_the_field(change: Any, where: str) -> None:
    seed = base()
    change(seed)
    with pytest.raises(SeedError) as caught:
        read_seed(seed)
    assert f"seed: {where}" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s: s["orgs"][0]["members"].update({"user-zed": {"level": "MEMBER"}}),
            "orgs[0].members.user-zed",
        ),
        (lambda s: s["projects"][0].update({"billTo": "org-none"}), "projects[0].billTo"),
        (lambda s: s["projects"][0]["permissions"].update({"PUBLIC": "CONTRIBUTE"}), "PUBLIC"),
        (lambda s: s["apps"][0].update({"developers": ["user-zed"]}), "apps[0].developers"),
        (lambda s: s["users"].append({"id": "user-alice"}), "users[2]"),
        (lambda s: s["users"][1].update({"email": "A@x.io"}), "users.email"),
        (
            lambda s: s["orgs"][0]["members"].update(
                {"user-bob": {"level": "ADMIN", "appAccess": False}}
            ),
            "full access",
        ),
        (lambda s: s["apps"].append(dict(s["apps"][0])), "apps (name/version)"),
    ],
)
def test_reference_errors(change: Any, message: str) -> None:
    seed = base()
    change(seed)
    with pytest.raises(SeedError) as caught:
        read_seed(seed)
    assert message in str(caught.value)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="cannot read"):
        read_seed(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("users: [\n")
    with pytest.raises(SeedError, match="not valid YAML"):
        read_seed(broken)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert read_seed(empty) == {}


def test_emulator_refuses_a_bad_seed() -> None:
    seed = base()
    seed["users"][0]["id"] = "USER-ALICE"
    with pytest.raises(SeedError):
        Emulator(seed=seed)


def test_generated_ids_are_stable_and_platform_shaped() -> None:
    states = []
    for _ in range(2):
        with Emulator(seed=base()) as emu:
            states.append(emu.control.state())
    assert states[0]["projects"][0]["id"] == states[1]["projects"][0]["id"]
    project_id = states[0]["projects"][0]["id"]
    app_id = states[0]["apps"][0]["id"]
    assert project_id.startswith("project-") and len(project_id) == len("project-") + 24
    assert app_id.startswith("app-") and len(app_id) == len("app-") + 24


def test_forwarding_forms() -> None:
    seed = base()
    seed["orgs"][0]["jobLogsForwarding"] = {"url": "https://x.io/c", "token": "secret"}
    with Emulator(seed=seed) as emu:
        stored = emu.control.state()["orgs"][0]["jobLogsForwarding"]
    assert set(stored) == {"url", "tokenSignature", "updated"}
    assert "secret" not in json.dumps(stored)
    seed["orgs"][0]["jobLogsForwarding"] = {"updated": 5, "updatedBy": "user-alice"}
    with Emulator(seed=seed) as emu:
        assert emu.control.state()["orgs"][0]["jobLogsForwarding"] == {
            "updated": 5,
            "updatedBy": "user-alice",
        }


# -- the compiled fast path agrees with jsonschema

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(-2, 2, allow_nan=False)
    | st.sampled_from(
        [
            "",
            "x",
            "user-bob",
            "org-demo",
            "ADMIN",
            "MEMBER",
            "VIEW",
            "https://h",
            "project-" + "a" * 24,
        ]
    ),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["id", "name", "level", "members", "user-bob", "token", "url", "x"]),
            children,
            max_size=3,
        )
    ),
    max_leaves=6,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


@pytest.mark.slow  # a long property search: the full suite runs it
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_quick_check_agrees_with_jsonschema(data: st.DataObject) -> None:
    seed = base()
    seed["orgs"][0]["policies"] = {"memberListVisibility": "ADMIN"}
    seed["orgs"][0]["jobLogsForwarding"] = {"url": "https://h", "token": "t"}
    seed["apps"][0]["published"] = True
    mutated = copy.deepcopy(seed)
    for _ in range(data.draw(st.integers(1, 3))):
        target_path = data.draw(st.sampled_from(paths(mutated)))
        if not target_path:
            continue
        *parent_path, last = target_path
        parent: Any = mutated
        for step in parent_path:
            parent = parent[step]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[last]
        else:
            parent[last] = data.draw(json_values)
    expected = jsonschema.Draft202012Validator(SCHEMA).is_valid(mutated)
    checked = copy.deepcopy(mutated)
    try:
        quick_check()(checked)
    except fastjsonschema.JsonSchemaValueException:
        assert not expected
    else:
        assert expected
    assert checked == mutated  # checked, not changed: no defaults filled in
