"""The JSON Schemas the package ships (reconciler/schemas/, also reached as schemas/), and jsonschema errors turned into positioned Problems.

Messages name the field by its path (`members.users.carol.projectAccess`) and say what
is allowed. Values under `jobLogsForwarding` are never echoed: a misplaced token must not
end up in a CI log. The schema is the single source of truth for shapes; the wording of
a pattern error comes from the `title` and `description` of the definition that failed.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from reconciler.errors import Problem
from reconciler.manifest.document import Document, JsonPath, dotted

if TYPE_CHECKING:
    # What Registry.resolver() returns; referencing documents it but exports only its name.
    from referencing._core import Resolver

# Package data, so a wheel installed anywhere finds them (the checkout's top-level schemas/
# is a link to this directory: one copy).
SCHEMA_DIR: Traversable = files("reconciler") / "schemas"
ORG_SCHEMA = "org.schema.json"
DEFAULTS_SCHEMA = "defaults.schema.json"
# Sections whose values may be secrets: errors there never show the value.
SECRET_SECTIONS = frozenset({"jobLogsForwarding"})

_TYPE_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "object": "a mapping",
        "array": "a list",
        "string": "a string",
        "integer": "an integer",
        "number": "a number",
        "boolean": "a boolean (true or false)",
        "null": "null",
    }
)


def read_schema(name: str) -> dict[str, Any]:
    with (SCHEMA_DIR / name).open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema


@dataclass(frozen=True)
class Schemas:
    """Both schemas and their validators; built once per load, never kept globally."""

    org: dict[str, Any]
    defaults: dict[str, Any]
    org_validator: Draft202012Validator
    defaults_validator: Draft202012Validator

    @staticmethod
    def load() -> Schemas:
        registry = schema_registry()
        org: dict[str, Any] = registry.contents(ORG_SCHEMA)
        defaults: dict[str, Any] = registry.contents(DEFAULTS_SCHEMA)
        checker = Draft202012Validator.FORMAT_CHECKER
        return Schemas(
            org=org,
            defaults=defaults,
            # Resolving a reference costs jsonschema more than checking the value it points
            # at (10,000 members: 0.78 s with references, 0.33 s inlined). The target's
            # `title` and `description` win over the referring site's, because error
            # messages describe the definition ("not a valid project id (...)").
            org_validator=Draft202012Validator(
                dereferenced(ORG_SCHEMA, registry, lambda site, target: {**site, **target}),
                registry=registry,
                format_checker=checker,
            ),
            defaults_validator=Draft202012Validator(
                defaults, registry=registry, format_checker=checker
            ),
        )


def schema_registry() -> Registry[Any]:
    """The manifest schemas under the names their `$ref`s use: defaults.schema.json refers
    to `org.schema.json#/$defs/...` by relative URI, which editors resolve next to the file."""
    return Registry().with_resources(
        (name, Resource.from_contents(read_schema(name), default_specification=DRAFT202012))
        for name in (ORG_SCHEMA, DEFAULTS_SCHEMA)
    )


# How a `$ref` site (its other keys) and the dereferenced definition it names become one.
Merge = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


def dereferenced(name: str, registry: Registry[Any], merge: Merge) -> Any:
    """Schema `name` of `registry` with every `$ref` replaced by `merge(site, target)`.

    `referencing` resolves each reference as a validator does: its file part too, relative
    to the file the reference is written in. The schemas have no cycles.
    """
    return _dereferenced(registry.contents(name), registry.resolver(base_uri=name), merge)


def _dereferenced(node: Any, resolver: Resolver[Any], merge: Merge) -> Any:
    if isinstance(node, list):
        return [_dereferenced(item, resolver, merge) for item in node]
    if not isinstance(node, Mapping):
        return node
    site = {k: _dereferenced(v, resolver, merge) for k, v in node.items() if k != "$ref"}
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return site
    resolved = resolver.lookup(ref)
    return merge(site, _dereferenced(resolved.contents, resolved.resolver, merge))


@dataclass(frozen=True)
class SchemaProblem:
    path: JsonPath
    problem: Problem


# Maps whose entries are checked once per distinct value: in a 10,000-member org most
# users share a handful of values, so this turns 10,000 checks into a few.
SHARED_VALUE_MAPS: tuple[JsonPath, ...] = (("members", "users"),)


def check(
    doc: Document, validator: Draft202012Validator, *, shared: tuple[JsonPath, ...] = ()
) -> list[SchemaProblem]:
    """Every schema error in `doc`, positioned and worded; duplicates dropped."""
    found: dict[tuple[JsonPath, str], SchemaProblem] = {}
    for base, as_key, error in _errors(doc.value, validator, shared):
        for path, on_key, text in _explain(error, base, as_key):
            line, column = doc.at(path, key=on_key)
            message = f"{dotted(path)}: {text}" if path else text
            found.setdefault(
                (path, message), SchemaProblem(path, Problem(doc.file, line, column, message))
            )
    return list(found.values())


def _errors(
    value: object, validator: Draft202012Validator, shared: tuple[JsonPath, ...]
) -> Iterator[tuple[JsonPath, str | None, ValidationError]]:
    """(path the error is relative to, the key it is about or None, the error)."""
    carved: dict[JsonPath, dict[str, object]] = {}
    root = value
    for path in shared:
        mapping = _get(root, path)
        if isinstance(mapping, dict) and mapping:
            carved[path] = mapping
            root = _replaced(root, path, {})
    for error in validator.iter_errors(root):
        yield (), None, error
    for path, mapping in carved.items():
        schema = _subschema(cast("Mapping[str, Any]", validator.schema), path)
        names = validator.evolve(schema=schema.get("propertyNames", True))
        entries = validator.evolve(schema=schema.get("additionalProperties", True))
        verdicts: dict[object, list[ValidationError]] = {}
        for key, entry in mapping.items():
            for error in names.iter_errors(key):
                yield path, key, error
            fingerprint = _fingerprint(entry)
            if fingerprint not in verdicts:
                verdicts[fingerprint] = list(entries.iter_errors(entry))
            for error in verdicts[fingerprint]:
                yield (*path, key), None, error


def _get(value: object, path: JsonPath) -> object:
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _replaced(value: object, path: JsonPath, new: object) -> object:
    """A copy of `value` with the thing at `path` replaced; copies only along the path."""
    if not path:
        return new
    assert isinstance(value, dict)
    return {**value, path[0]: _replaced(value[path[0]], path[1:], new)}


def _subschema(schema: Mapping[str, Any], path: JsonPath) -> Mapping[str, Any]:
    for part in path:
        schema = schema["properties"][part]
    return schema


def _fingerprint(value: object) -> object:
    """Equal for values that validate alike (types included: true is not 1); else unique."""
    if isinstance(value, dict):
        items = [(key, type(item).__name__, item) for key, item in value.items()]
        if all(isinstance(item, str | int | float | bool | None) for _, _, item in items):
            return ("mapping", frozenset(items))
        return ("unique", id(value))
    if isinstance(value, str | int | float | bool | None):
        return ("scalar", type(value).__name__, value)
    return ("unique", id(value))


@dataclass(frozen=True)
class _Failure:
    """One jsonschema error, with what every explanation needs of it."""

    path: JsonPath
    value: Any
    schema: Mapping[str, Any]
    rule: Any
    secret: bool  # the value may be a secret: never quoted

    @property
    def shown(self) -> str:
        return "the value (not shown: it may be a secret)" if self.secret else _show(self.value)


Explanation = list[tuple[JsonPath, bool, str]]


def _explain(
    error: ValidationError, base: JsonPath = (), as_key: str | None = None
) -> Iterator[tuple[JsonPath, bool, str]]:
    """(path, point at the key?, message) for one jsonschema error.

    `base` is where the validated value sits; `as_key` is set when the value was a key.
    """
    path: JsonPath = (*base, *error.absolute_path)
    value: Any = error.instance
    failure = _Failure(
        path,
        value,
        error.schema if isinstance(error.schema, Mapping) else {},
        error.validator_value,
        bool(path) and path[0] in SECRET_SECTIONS and isinstance(value, str),
    )
    if as_key is not None or "propertyNames" in error.absolute_schema_path:
        # A key that fails its pattern: jsonschema reports it on the parent mapping.
        yield (*path, value), True, f"{_show(value)} is not a valid {_what(failure.schema)}"
        return
    explain = _EXPLAIN.get(str(error.validator))
    explained = explain(failure) if explain is not None else None
    if explained is not None:
        yield from explained
        return
    # Anything the schema grows later still gets a position and a bounded message
    # (jsonschema's own message quotes the value, so not where secrets may be).
    plain = not failure.secret and len(error.message) < 200
    yield path, False, error.message if plain else f"invalid value ({error.validator})"


def _unknown_keys(f: _Failure) -> Explanation | None:
    if not isinstance(f.value, dict):
        return None
    allowed = list(f.schema.get("properties", {}))
    out = []
    for key in f.value:
        if key not in allowed:
            hint = difflib.get_close_matches(key, allowed, n=1)
            maybe = f" (did you mean {hint[0]}?)" if hint else ""
            out.append(
                ((*f.path, key), True, f"unknown key{maybe}; allowed here: {', '.join(allowed)}")
            )
    return out


def _missing_keys(f: _Failure) -> Explanation | None:
    if not isinstance(f.value, dict):
        return None
    return [(f.path, True, f"missing required key '{key}'") for key in f.rule if key not in f.value]


def _wrong_type(f: _Failure) -> Explanation:
    wanted = [f.rule] if isinstance(f.rule, str) else list(f.rule)
    expected = " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
    got = _kind(f.value) if f.secret else _describe(f.value)
    if not f.path:
        expected += " of keys, starting with `org: org-...`"
    return [(f.path, False, f"expected {expected}, got {got}")]


def _not_an_option(f: _Failure) -> Explanation:
    options = [str(option) for option in f.rule]
    same = [o for o in options if isinstance(f.value, str) and o.lower() == f.value.lower()]
    maybe = f" (did you mean {same[0]}?)" if same else ""
    return [(f.path, False, f"{f.shown} is not one of: {', '.join(options)}{maybe}")]


def _not_the_constant(f: _Failure) -> Explanation:
    return [(f.path, False, f"must be {json.dumps(f.rule)}, got {f.shown}")]


def _malformed(f: _Failure) -> Explanation:
    return [(f.path, False, f"{f.shown} is not a valid {_what(f.schema)}")]


def _too_short(f: _Failure) -> Explanation:
    message = "must not be empty" if f.rule == 1 else f"must be at least {f.rule} characters"
    return [(f.path, False, message)]


def _too_long(f: _Failure) -> Explanation:
    return [(f.path, False, f"is longer than {f.rule} characters")]


def _out_of_bounds(bound: str) -> Callable[[_Failure], Explanation]:
    return lambda f: [(f.path, False, f"must be {bound} {f.rule}, got {f.shown}")]


def _listed_twice(f: _Failure) -> Explanation | None:
    if not isinstance(f.value, list):
        return None
    out: Explanation = []
    seen: list[object] = []
    for index, item in enumerate(f.value):
        if item in seen:
            out.append(((*f.path, index), False, f"{_show(item)} is listed twice"))
        seen.append(item)
    return out


def _one_key_of(f: _Failure) -> Explanation | None:
    keys = _one_key_each(f.rule) if isinstance(f.value, dict) else []
    if not keys:
        return None
    present = [key for key in keys if key in f.value]
    if present:
        return [(f.path, True, f"give only one of {', '.join(keys)} (found {', '.join(present)})")]
    return [(f.path, True, f"needs one of {', '.join(keys)}")]


def _described(point_at_key: bool) -> Callable[[_Failure], Explanation | None]:
    def explain(f: _Failure) -> Explanation | None:
        description = f.schema.get("description")
        return [(f.path, point_at_key, str(description))] if description else None

    return explain


# How each kind of schema error is put to a person; anything else gets jsonschema's words.
_EXPLAIN: Mapping[str, Callable[[_Failure], Explanation | None]] = {
    "additionalProperties": _unknown_keys,
    "required": _missing_keys,
    "type": _wrong_type,
    "enum": _not_an_option,
    "const": _not_the_constant,
    "pattern": _malformed,
    "format": _malformed,
    "minLength": _too_short,
    "maxLength": _too_long,
    "minimum": _out_of_bounds("at least"),
    "maximum": _out_of_bounds("at most"),
    "uniqueItems": _listed_twice,
    "oneOf": _one_key_of,
    "not": _described(True),
    "maxProperties": _described(False),
}


def _one_key_each(branches: Any) -> list[str]:
    """For a oneOf of `{"required": [key]}` branches, those keys; else []."""
    keys: list[str] = []
    for branch in branches if isinstance(branches, list) else []:
        if not (isinstance(branch, dict) and list(branch) == ["required"]):
            return []
        if len(branch["required"]) != 1:
            return []
        keys.append(branch["required"][0])
    return keys


def _what(schema: Mapping[str, Any]) -> str:
    title = schema.get("title", "value")
    description = schema.get("description")
    return f"{title} ({description})" if description else str(title)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return _TYPE_NAMES["boolean"].split(" (")[0]
    if value is None:
        return "null"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    return "a list"


def _describe(value: object) -> str:
    if value is None or isinstance(value, dict | list):
        return _kind(value)
    return f"{_kind(value)} ({_show(value)})"


def _show(value: object) -> str:
    """A short, single-line rendering of a value; never a whole structure."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    if isinstance(value, int | float):
        return str(value)
    return _kind(value)
