"""What dxorg needs from each platform response: declared once, as JSON Schema.

Every field the live read (reconciler/read_live.py), the client (client.py) and apply's
landed checks read from an answer is here, with the type they expect. `dxorg doctor`
checks the real platform's answers against it, so that a platform that differs from the
emulator is found by a read-only check, not by a half-made apply.
The client validates the answers it reads whole (``whoami``, ``listDevelopers``) against
it; `tests/platform/test_contract.py` checks that every key those modules read is declared.

A field a reader requires (its absence fails the read) is ``required``; a field it reads
when present is typed but optional. Extra fields are always allowed: the platform
returns many dxorg does not read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator

from reconciler.model import FLAGS, LEVELS, PROJECT_ACCESS_LEVELS, TOP_LEVEL_SETTINGS

Schema = dict[str, Any]

_STRING: Schema = {"type": "string"}
_ID: Schema = {"type": "string", "minLength": 1}


def _flag_schema(kind: str) -> Schema:
    return {"enum": list(PROJECT_ACCESS_LEVELS)} if kind == "projectAccess" else {"type": "boolean"}


# One findMembers row: the level and every flag (live._access). A MEMBER row must carry
# the flags every platform version reports; the later ones are typed when present.
MEMBER_ROW: Schema = {
    "type": "object",
    "required": ["id", "level"],
    "properties": {
        "id": _ID,
        "level": {"enum": list(LEVELS)},
        **{flag.name: _flag_schema(flag.kind) for flag in FLAGS},
        "describe": {
            "type": "object",
            "properties": {"first": _STRING, "last": _STRING},
        },
    },
    "if": {"properties": {"level": {"const": "MEMBER"}}},
    "then": {"required": [flag.name for flag in FLAGS if flag.always_present]},
}

# The contract of each route, by its wrapper-table template (routes.route_template). For
# the find* routes it is the shape of one result row; the page around the rows
# (``results``, ``next``) is `PAGE`, which the client checks on every page.
RESPONSES: Mapping[str, Schema] = {
    "/system/whoami": {
        "type": "object",
        "required": ["id"],
        "properties": {"id": _ID},
    },
    "/user-xxxx/describe": {
        "type": "object",
        "properties": {
            "id": _ID,
            "handle": _STRING,
            "first": _STRING,
            "last": _STRING,
            "email": _STRING,
        },
    },
    "/org-xxxx/describe": {
        "type": "object",
        # `level` is the caller's own membership: the admin check reads it.
        "required": ["name", "level"],
        "properties": {
            "id": _ID,
            "name": _STRING,
            "level": {"enum": list(LEVELS)},
            "policies": {"type": ["object", "null"]},
            **{s.name: {"type": [s.json_type, "null"]} for s in TOP_LEVEL_SETTINGS},
            "expiresAt": {"type": "integer"},
            "jobLogsForwarding": {
                "type": ["object", "null"],
                "properties": {"url": {"type": ["string", "null"]}, "tokenSignature": _STRING},
            },
        },
    },
    "/system/findOrgs": {
        "type": "object",
        "required": ["id"],
        "properties": {"id": _ID},
    },
    "/org-xxxx/findMembers": MEMBER_ROW,
    "/org-xxxx/findProjects": {
        "type": "object",
        "required": ["id", "describe"],
        "properties": {
            "id": _ID,
            "level": {"enum": [*PROJECT_ACCESS_LEVELS, None]},
            "describe": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": _STRING, "properties": {"type": ["object", "null"]}},
            },
        },
    },
    "/org-xxxx/findApps": {
        "type": "object",
        "required": ["id", "describe"],
        "properties": {
            "id": _ID,
            "describe": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": _STRING,
                    "version": _STRING,
                    "tags": {"type": ["array", "null"], "items": _STRING},
                },
            },
        },
    },
    "/app-xxxx/listDevelopers": {
        "type": "object",
        "required": ["developers"],
        "properties": {"developers": {"type": "array", "items": _STRING}},
    },
    "/project-xxxx/describe": {
        "type": "object",
        "properties": {
            "permissions": {"type": ["object", "null"], "additionalProperties": _STRING},
        },
    },
}

# Every page of every find* route (client._find reads these two).
PAGE: Schema = {
    "type": "object",
    "required": ["results", "next"],
    "properties": {"results": {"type": "array", "items": {"type": "object"}}, "next": {}},
}

# An error answer (client._api_error reads these).
ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": _STRING, "message": _STRING, "details": {}},
        }
    },
}

_VALIDATORS = {route: Draft202012Validator(schema) for route, schema in RESPONSES.items()}


def contract_problems(route: str, body: object, *, row: int | None = None) -> list[str]:
    """Where `body` (a response of `route`'s template, or row `row` of its listing) breaks
    the contract: ``"/org-xxxx/findMembers row 3: field 'projectAccess' is missing"``.

    Messages name the route, the field and the expected type, never a value: values come
    from the platform, and a wrong one could be anything.
    """
    validator = _VALIDATORS[route]
    where = route if row is None else f"{route} row {row}"
    problems: list[str] = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.path))):
        for text in _describe(error):
            if f"{where}: {text}" not in problems:  # `required` reports once per missing name
                problems.append(f"{where}: {text}")
    return problems


def _describe(error: Any) -> list[str]:
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required":
        present = error.instance if isinstance(error.instance, Mapping) else {}
        return [
            f"field '{'.'.join(p for p in (path, name) if p)}' is missing"
            for name in error.validator_value
            if name not in present
        ]
    expected = error.validator_value
    if error.validator == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join(_ARTICLED.get(str(k), str(k)) for k in kinds)
    elif error.validator == "enum":
        wanted = "one of " + ", ".join("null" if v is None else str(v) for v in expected)
    elif error.validator == "pattern":
        wanted = f"a string matching {expected}"
    else:
        wanted = f"valid ({error.validator})"
    return [f"field '{path or '(the answer)'}' is not {wanted} (it is {_kind(error.instance)})"]


_ARTICLED = {
    "string": "a string",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "object": "an object",
    "array": "an array",
    "null": "null",
}


def _kind(value: object) -> str:
    """The JSON type of `value`: what a message may say about a value from the platform."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def declared_fields() -> set[str]:
    """Every field name any schema of the contract declares (for the coverage test)."""
    names: set[str] = set()
    for schema in (*RESPONSES.values(), PAGE, ERROR):
        names.update(_property_names(schema))
    return names


def _property_names(schema: object) -> Iterator[str]:
    if isinstance(schema, Mapping):
        for name, sub in (schema.get("properties") or {}).items():
            yield name
            yield from _property_names(sub)
        for key in ("items", "then", "additionalProperties"):
            yield from _property_names(schema.get(key))
