"""The schemas themselves: valid, strict, documented, in step with the model and the doc."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler.manifest import reference_doc
from reconciler.manifest.schema import DEFAULTS_SCHEMA, ORG_SCHEMA, SCHEMA_DIR, read_schema
from reconciler.model import (
    BUDGET_COLLECTIONS,
    DEFAULT_BUDGETS,
    FLAGS,
    FLAGS_BY_NAME,
    LEVELS,
    ORG_POLICY_KEYS,
    ORG_SETTINGS,
    PROJECT_ACCESS_LEVELS,
    SafetySettings,
)

REPO = Path(__file__).resolve().parents[2]


def walk(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}/{index}")


@pytest.mark.parametrize("name", [ORG_SCHEMA, DEFAULTS_SCHEMA])
def test_schema_is_valid_2020_12(name: str) -> None:
    schema = read_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_the_top_level_schemas_are_the_packaged_ones_not_a_copy() -> None:
    """One copy: schemas/ (what editors and the README point to) links to the package's."""
    top_level = REPO / "schemas"
    assert top_level.is_symlink()
    assert top_level.resolve() == Path(str(SCHEMA_DIR)).resolve()
    packaged = {entry.name for entry in SCHEMA_DIR.iterdir() if entry.name.endswith(".json")}
    assert packaged == {p.name for p in top_level.glob("*.json")}
    assert {
        "org.schema.json",
        "defaults.schema.json",
        "plan.schema.json",
        "seed.schema.json",
    } <= packaged


@pytest.mark.parametrize("name", [ORG_SCHEMA, DEFAULTS_SCHEMA])
def test_every_property_has_a_description_and_every_record_is_closed(name: str) -> None:
    for path, node in walk(read_schema(name)):
        for key, prop in (
            node.get("properties", {}).items() if path.split("/")[-1] != "properties" else ()
        ):
            assert prop.get("description"), f"{path}/properties/{key} has no description"
        if "properties" in node and path.split("/")[-1] != "properties":
            assert node.get("additionalProperties") is False, f"{path} is not closed"


def test_schema_enums_match_the_model() -> None:
    org = read_schema(ORG_SCHEMA)
    defs = org["$defs"]
    assert tuple(org["properties"]["policies"]["properties"]) == ORG_POLICY_KEYS
    assert tuple(defs["level"]["enum"]) == LEVELS
    assert set(defs["projectAccess"]["enum"]) == set(PROJECT_ACCESS_LEVELS)
    budgets = defs["safety"]["properties"]["removalBudget"]["properties"]
    assert tuple(budgets) == BUDGET_COLLECTIONS


def test_every_org_setting_of_the_table_is_in_the_schema_with_its_type() -> None:
    """The table of org settings and the manifest schema say the same: a setting added to
    one and not the other fails here."""
    org = read_schema(ORG_SCHEMA)
    for setting in ORG_SETTINGS:
        where = org["properties"]["policies"] if setting.policy else org
        assert where["properties"][setting.name]["type"] == setting.json_type, setting.name


def test_schema_flags_are_the_models_and_say_which_are_read_only() -> None:
    defs = read_schema(ORG_SCHEMA)["$defs"]
    names = [flag.name for flag in FLAGS]
    assert list(defs["memberDefaults"]["properties"]) == names
    assert list(defs["memberSettings"]["properties"]) == ["level", *names, "expires", "reason"]
    account = defs["newAccount"]["properties"]
    # An account's access is set by its invite: only the flags dxorg can send.
    assert [n for n in account if n in FLAGS_BY_NAME] == [f.name for f in FLAGS if f.settable]
    for section in ("memberDefaults", "memberSettings"):
        for flag in FLAGS:
            prop = defs[section]["properties"][flag.name]
            said = "Read-only in dxorg" in prop["description"]
            assert said == (not flag.settable), f"{section}.{flag.name}"
            if flag.kind == "boolean":
                assert prop["type"] == "boolean", flag.name
            else:
                assert prop["$ref"] == "#/$defs/projectAccess", flag.name
    # ADMIN entries: the flags ADMIN forces say MEMBER only; the independent ones do not.
    for flag in FLAGS:
        text = defs["memberSettings"]["properties"][flag.name]["description"]
        assert ("MEMBER only" in text) == (flag.admin_value is not None), flag.name


def test_provisioning_usernames_follow_the_platforms_rule() -> None:
    validator = Draft202012Validator(read_schema(ORG_SCHEMA)["$defs"]["newUsername"])
    for good in ("abc", "Erin", "h.ok_9", "a" * 64, "9lives"):
        assert validator.is_valid(good), good
    for bad in ("ab", "a-b-c", "user-erin", "_abc", ".abc", "a" * 65, "erin lee"):
        assert not validator.is_valid(bad), bad


def test_schema_defaults_match_the_model() -> None:
    safety = read_schema(ORG_SCHEMA)["$defs"]["safety"]["properties"]
    assert safety["minAdmins"]["default"] == SafetySettings().min_admins
    for collection, spec in safety["removalBudget"]["properties"].items():
        budget = DEFAULT_BUDGETS[collection]
        assert spec["default"] == {"count": budget.count, "percent": budget.percent}


def test_committed_reference_doc_is_generated_from_the_schema() -> None:
    committed = (REPO / "docs" / "manifest-reference.md").read_text()
    assert committed == reference_doc.render(), (
        "regenerate: python -m reconciler.manifest.reference_doc > docs/manifest-reference.md"
    )
