"""A fast yes/no check for the seed schema, so that big seeds load in seconds.

jsonschema needs ~20 s for a 50,000-member seed; this compiles the small subset of JSON
Schema the seed schema uses into closures (well under a second). It answers exactly
"valid or not" for that subset; the seed loader still asks jsonschema whenever this says
"not valid", so jsonschema alone words every error message. A schema using any keyword
outside the subset cannot be compiled (UnsupportedSchema) and jsonschema does all the work.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

# Keywords that only annotate; they never change validity.
ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "default", "$comment"})


class UnsupportedSchema(Exception):
    """The schema uses a keyword this compiler does not implement."""


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, int | float)
    raise UnsupportedSchema(f"type {name!r}")


def compile_schema(schema: Mapping[str, Any]) -> Check:
    definitions: Mapping[str, Any] = schema.get("$defs", {})
    compiled: dict[str, Check] = {}

    def reference(ref: str) -> Check:
        if not ref.startswith("#/$defs/") or ref[len("#/$defs/") :] not in definitions:
            raise UnsupportedSchema(f"$ref {ref!r}")
        name = ref[len("#/$defs/") :]
        if name not in compiled:
            compiled[name] = lambda value: True  # placeholder while compiling recursion
            compiled[name] = build(definitions[name])
        return lambda value: compiled[name](value)

    def build(node: Any) -> Check:
        if node is True:
            return lambda value: True
        if node is False:
            return lambda value: False
        if not isinstance(node, Mapping):
            raise UnsupportedSchema(repr(node))
        checks: list[Check] = []
        for keyword, argument in node.items():
            if keyword in ANNOTATIONS or keyword == "$defs":
                continue
            checks.append(keyword_check(keyword, argument, node))
        return lambda value: all(check(value) for check in checks)

    def keyword_check(keyword: str, argument: Any, node: Mapping[str, Any]) -> Check:
        if keyword == "$ref":
            return reference(argument)
        if keyword == "type":
            names = [argument] if isinstance(argument, str) else list(argument)
            for name in names:
                _is_type(None, name)  # rejects unknown type names now
            return lambda value: any(_is_type(value, name) for name in names)
        if keyword == "enum":
            options = list(argument)
            return lambda value: any(
                type(value) is type(option) and value == option for option in options
            )
        if keyword == "pattern":
            regex = re.compile(argument)
            return lambda value: not isinstance(value, str) or regex.search(value) is not None
        if keyword == "minLength":
            return lambda value: not isinstance(value, str) or len(value) >= argument
        if keyword in ("minimum", "maximum"):
            low = keyword == "minimum"

            def bound(value: Any) -> bool:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    return True
                return bool(value >= argument if low else value <= argument)

            return bound
        if keyword == "required":
            names = list(argument)
            return lambda value: not isinstance(value, dict) or all(n in value for n in names)
        if keyword == "properties":
            properties = {name: build(sub) for name, sub in argument.items()}
            return lambda value: (
                not isinstance(value, dict)
                or all(check(value[name]) for name, check in properties.items() if name in value)
            )
        if keyword == "additionalProperties":
            known = set(node.get("properties", {}))
            if "patternProperties" in node:
                raise UnsupportedSchema("patternProperties")
            extra = build(argument)
            return lambda value: (
                not isinstance(value, dict)
                or all(extra(item) for name, item in value.items() if name not in known)
            )
        if keyword == "propertyNames":
            names_check = build(argument)
            return lambda value: (
                not isinstance(value, dict) or all(names_check(name) for name in value)
            )
        if keyword == "items":
            item_check = build(argument)
            return lambda value: (
                not isinstance(value, list) or all(item_check(item) for item in value)
            )
        if keyword == "oneOf":
            branches = [build(sub) for sub in argument]
            return lambda value: sum(1 for branch in branches if branch(value)) == 1
        raise UnsupportedSchema(keyword)

    return build(schema)
