"""Routes of the API (``/<entity-id>/<method>``, ``/<class>/new``, ``/system/<method>``) and
the table of methods that answer them."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.emulator.inputs import Fields

ENTITY_PREFIXES: dict[str, str] = {
    "user-": "user",
    "org-": "org",
    "project-": "project",
    "app-": "app",
    "globalworkflow-": "globalworkflow",
}
CLASSES_WITH_NEW = ("user", "org", "project")
# Executables may be addressed as /app-name/<version or tag>/method.
ALIASED_CLASSES = ("app", "globalworkflow")
_METHOD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_ENTITY_ID = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class Route:
    entity_class: str
    target: str | None
    alias: str | None
    method: str

    @property
    def method_name(self) -> str:
        """The name the request log and counters use, e.g. ``org/invite``."""
        return f"{self.entity_class}/{self.method}"


def parse_route(path: str) -> Route | None:
    segments = path.strip("/").split("/")
    if not all(segments) or not _METHOD_NAME.match(segments[-1]):
        return None
    first, method = segments[0], segments[-1]
    if len(segments) == 2:
        if first == "system":
            return Route("system", None, None, method)
        if first in CLASSES_WITH_NEW and method == "new":
            return Route(first, None, None, method)
    entity_class = next(
        (cls for prefix, cls in ENTITY_PREFIXES.items() if first.startswith(prefix)), None
    )
    if entity_class is None or not _ENTITY_ID.match(first) or len(first) > 200:
        return None
    if len(segments) == 2:
        return Route(entity_class, first, None, method)
    if len(segments) == 3 and entity_class in ALIASED_CLASSES and len(segments[1]) <= 200:
        return Route(entity_class, first, segments[1], method)
    return None


@dataclass(frozen=True)
class Call:
    """One authenticated API call, as a method handler sees it."""

    caller: str
    route: Route
    body: Fields
    now: int
    client_ip: str

    @property
    def target(self) -> str:
        assert self.route.target is not None, "entity methods always have a target"
        return self.route.target


Handler = Callable[[Call, sqlite3.Connection], dict[str, Any]]


@dataclass(frozen=True)
class Method:
    """One API method. `retryable` is its class in dx-toolkit's `wrapper_table.json`: dxpy
    resends a retryable method after a lost answer, so a repeat must be accepted. `nonce`
    marks the methods that table gives `acceptNonce` (dxpy adds a nonce and resends them
    too; the repeat is answered from the nonce)."""

    entity_class: str
    name: str
    handler: Handler
    writes: bool
    retryable: bool = True
    nonce: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.entity_class, self.name)


def method_table(*groups: Iterable[Method]) -> Mapping[tuple[str, str], Method]:
    table: dict[tuple[str, str], Method] = {}
    for group in groups:
        for method in group:
            assert method.key not in table, f"duplicate method {method.key}"
            table[method.key] = method
    return table
