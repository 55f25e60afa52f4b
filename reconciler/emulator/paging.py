"""Paging and name filters shared by every find* method.

Pages are keyset pages over the object id: ``next`` is ``{"after": <last id returned>}``
and the following page holds the ids strictly greater than it. Objects present for the
whole walk appear exactly once however others are inserted or deleted meanwhile.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from reconciler.emulator.api_errors import InvalidInput
from reconciler.emulator.inputs import Fields

MAX_LIMIT = 1000
DEFAULT_LIMIT = 1000

Row = TypeVar("Row")


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: str | None


def page_request(fields: Fields) -> PageRequest:
    limit = fields.optional_int("limit")
    if limit is None:
        limit = DEFAULT_LIMIT
    elif not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"Field 'limit' must be between 1 and {MAX_LIMIT}, got {limit}")
    starting = fields.raw("starting")
    after: str | None = None
    if starting is not None:
        if (
            not isinstance(starting, dict)
            or set(starting) != {"after"}
            or not isinstance(starting["after"], str)
        ):
            raise InvalidInput(
                "Field 'starting' must be the 'next' value of a previous page, passed unchanged"
            )
        after = starting["after"]
    return PageRequest(limit, after)


def finish_page(
    rows: Sequence[Row], request: PageRequest, key: Callable[[Row], str]
) -> tuple[list[Row], dict[str, str] | None]:
    """`rows` holds up to limit+1 rows; the extra one only says another page exists."""
    page = list(rows[: request.limit])
    if len(rows) > request.limit and page:
        return page, {"after": key(page[-1])}
    return page, None


def name_condition(fields: Fields, column: str, key: str = "name") -> tuple[str, list[Any]]:
    """SQL for a `name` filter: an exact string, ``{"glob": ..}`` or ``{"regexp": ..}``."""
    if not fields.has(key):
        return "", []
    value = fields.raw(key)
    if isinstance(value, str):
        return f" AND {column} = ?", [value]
    if isinstance(value, dict) and len(value) >= 1:
        spec = Fields(value, fields.name(key))
        if "glob" in value and set(value) == {"glob"}:
            return f" AND glob_match(?, {column})", [spec.required_string("glob")]
        if "regexp" in value and set(value) <= {"regexp", "flags"}:
            pattern = spec.required_string("regexp")
            flags = spec.optional_string("flags") or ""
            try:
                re.compile(pattern)
            except (re.error, RecursionError, OverflowError) as exc:
                raise InvalidInput(
                    f"Field '{fields.name(key)}.regexp' is not a valid regular expression: {exc}"
                ) from exc
            return f" AND regexp_match(?, ?, {column})", [pattern, flags]
    raise InvalidInput(
        f"Field '{fields.name(key)}' must be a string or an object with 'glob' or 'regexp'"
    )


def time_range_condition(fields: Fields, key: str, column: str) -> tuple[str, list[Any]]:
    """SQL for ``{"after": ms, "before": ms}`` filters such as `created`."""
    spec = fields.optional_object(key)
    if spec is None:
        return "", []
    sql, params = "", []
    after = spec.optional_int("after")
    before = spec.optional_int("before")
    if after is not None:
        sql += f" AND {column} >= ?"
        params.append(after)
    if before is not None:
        sql += f" AND {column} <= ?"
        params.append(before)
    return sql, params


def id_list_condition(fields: Fields, column: str, key: str = "id") -> tuple[str, list[Any]]:
    ids = fields.optional_string_list(key)
    if ids is None:
        return "", []
    if not ids:
        return " AND 0", []
    if len(ids) > MAX_LIMIT:
        raise InvalidInput(f"Field '{fields.name(key)}' may list at most {MAX_LIMIT} ids")
    return f" AND {column} IN ({','.join('?' * len(ids))})", list(ids)


def after_condition(request: PageRequest, column: str) -> tuple[str, list[Any]]:
    if request.after is None:
        return "", []
    return f" AND {column} > ?", [request.after]
