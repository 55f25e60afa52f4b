"""Typed access to a method's JSON input; every bad field is an InvalidInput naming it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.emulator.api_errors import InvalidInput

_MISSING = object()


def describe_json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class Fields:
    """One JSON object of a method's input. `where` prefixes field names in messages."""

    def __init__(self, data: Mapping[str, Any], where: str = "") -> None:
        self.data = data
        self.where = where

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def field_names(self) -> list[str]:
        return list(self.data)

    def _fail(self, key: str, expected: str) -> InvalidInput:
        got = describe_json_type(self.data.get(key))
        return InvalidInput(f"Expected field '{self.name(key)}' to be {expected}, got {got}")

    def required_string(self, key: str) -> str:
        value = self.data.get(key, _MISSING)
        if value is _MISSING:
            raise InvalidInput(f"Missing required field '{self.name(key)}'")
        if not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def optional_string(self, key: str) -> str | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def nonempty_string(self, key: str) -> str | None:
        value = self.optional_string(key)
        if value is not None and not value.strip():
            raise InvalidInput(f"Field '{self.name(key)}' must not be empty")
        return value

    def optional_bool(self, key: str) -> bool | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, bool):
            raise self._fail(key, "a boolean")
        return value

    def bool_or(self, key: str, default: bool) -> bool:
        value = self.optional_bool(key)
        return default if value is None else value

    def optional_int(self, key: str) -> int | None:
        if key not in self.data or self.data[key] is None:
            return None
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, "an integer")
        return value

    def optional_choice(self, key: str, choices: tuple[str, ...]) -> str | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, str) or value not in choices:
            raise InvalidInput(
                f"Expected field '{self.name(key)}' to be one of {', '.join(choices)}"
            )
        return value

    def optional_object(self, key: str) -> Fields | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, dict):
            raise self._fail(key, "an object")
        return Fields(value, self.name(key))

    def optional_string_list(self, key: str) -> list[str] | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self._fail(key, "an array of strings")
        return list(value)

    def describe_flag(self, key: str = "describe") -> bool:
        """`describe` may be a boolean or a describe-input object (treated as true)."""
        if key not in self.data:
            return False
        value = self.data[key]
        if isinstance(value, bool):
            return value
        if isinstance(value, dict):
            return True
        raise self._fail(key, "a boolean or an object")
