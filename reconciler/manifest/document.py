"""Read one YAML manifest into plain values plus the position of every key and value.

The values are built straight from the parser's event stream (libyaml's when PyYAML has
it), not from PyYAML's constructor, so that:

- every key and value gets its (line, column), keyed by its JSON path;
- duplicate keys are errors that name both positions (PyYAML keeps the last silently);
- aliases are refused where they appear and never expanded, so an alias bomb costs one
  event, not billions of nodes; the file size and value count are capped as well;
- scalars follow the YAML 1.2 core schema: only true/false are booleans, so `name: NO`
  stays a string and `jobReuse: yes` is reported instead of guessed. Mapping keys are
  always their source text. Dates stay strings (YYYY-MM-DD), checked by the schema.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import Problem

MAX_FILE_BYTES = 16 * 1024 * 1024
# A 10,000-member manifest holds ~50,000 values; the cap bounds memory on hostile input.
MAX_VALUES = 1_000_000
MAX_DEPTH = 64

JsonPath = tuple[str | int, ...]
Position = tuple[int, int]  # 1-based line and column

_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUES = frozenset({"true", "True", "TRUE"})
_FALSES = frozenset({"false", "False", "FALSE"})
_STR_TAG = "tag:yaml.org,2002:str"


def _loader_class() -> Callable[[str], Any]:
    # libyaml's parser when PyYAML was built with it (about 10x faster), else pure Python.
    loader: Callable[[str], Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return loader


@dataclass(frozen=True)
class Document:
    """One parsed file: its value and where each key and value sits."""

    file: str
    value: object
    values: dict[JsonPath, Position]
    keys: dict[JsonPath, Position]
    # sha256 of the text parsed: a plan records it, so apply can tell the file changed.
    digest: str = field(default="", compare=False)

    def at(self, path: JsonPath, *, key: bool = False) -> Position:
        """The position of `path`: its key (`key=True`) or its value, else the nearest parent."""
        while True:
            if key and path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            if path in self.keys:
                return self.keys[path]
            if not path:
                return (1, 1)
            path = path[:-1]


class _Stop(Exception):
    """Parsing cannot go on (too deep, too big); the problem is already recorded."""


class _BadKey:
    """Marks a mapping entry whose key was refused: its value is parsed and dropped."""


_BAD = _BadKey()
_NO_KEY = object()


class _Frame:
    __slots__ = ("container", "is_map", "key", "path")

    def __init__(self, container: dict[str, object] | list[object], path: JsonPath | None) -> None:
        self.container = container
        self.is_map = isinstance(container, dict)
        self.path = path  # None inside a dropped subtree
        self.key: object = _NO_KEY


def read_document(path: Path, shown: str) -> Document | list[Problem]:
    """Read and parse `path`; `shown` is how messages name the file."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return [_too_big(shown, size)]
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return [Problem(shown, 1, 1, f"cannot read the file: {exc.strerror or exc}")]
    if len(data) > MAX_FILE_BYTES:  # it grew after stat
        return [_too_big(shown, len(data))]
    return parse_bytes(data, shown)


def _too_big(shown: str, size: int) -> Problem:
    limit = MAX_FILE_BYTES // (1024 * 1024)
    return Problem(shown, 1, 1, f"file is {size} bytes; a manifest may be at most {limit} MiB")


def parse_bytes(data: bytes, shown: str) -> Document | list[Problem]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = data[exc.start]
        return [
            Problem(
                shown,
                line,
                column,
                f"not valid UTF-8: byte 0x{byte:02x} at byte offset {exc.start}; "
                "save the file as UTF-8",
            )
        ]
    return parse_text(text, shown)


def parse_text(text: str, shown: str) -> Document | list[Problem]:
    """Parse YAML text into a Document, or return every problem found on the way."""
    builder = _Builder(shown)
    loader = _loader_class()(text)
    try:
        builder.run(loader)
    except _Stop:
        pass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if mark is not None and _tab_at(text, mark.index):
            # PyYAML says "found character '\t' that cannot start any token": name it.
            what = "a tab character; YAML indents with spaces only (replace the tab by spaces)"
        builder.problems.append(Problem(shown, line, column, f"invalid YAML: {what}"))
    except yaml.reader.ReaderError as exc:
        line, column = _text_position(text, exc.position)
        builder.problems.append(
            Problem(
                shown, line, column, f"invalid YAML: character #x{exc.character:04x} is not allowed"
            )
        )
    except yaml.YAMLError as exc:  # anything else the parser can raise, without a position
        builder.problems.append(Problem(shown, 1, 1, f"invalid YAML: {exc}"))
    finally:
        loader.dispose()
    if builder.problems:
        return builder.problems
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Document(shown, builder.root, builder.values, builder.keys, digest)


def _tab_at(text: str, index: int) -> bool:
    """A tab where the parser stopped, or in the indentation of that line."""
    start = text.rfind("\n", 0, index) + 1
    return text[index : index + 1] == "\t" or (
        "\t" in text[start:index] and not text[start:index].replace("\t", "").strip()
    )


def _text_position(text: str, index: int) -> Position:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


class _Builder:
    """Turns parser events into values; holds only the state of one parse."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.problems: list[Problem] = []
        self.values: dict[JsonPath, Position] = {}
        self.keys: dict[JsonPath, Position] = {}
        self.root: object = None
        self.count = 0

    def problem(self, mark: Any, message: str) -> None:
        self.problems.append(Problem(self.shown, mark.line + 1, mark.column + 1, message))

    def run(self, loader: Any) -> None:
        get = loader.get_event
        get()  # StreamStart
        event = get()
        if isinstance(event, yaml.StreamEndEvent):
            self.problems.append(
                Problem(
                    self.shown, 1, 1, "the file is empty; a manifest starts with `org: org-...`"
                )
            )
            return
        stack: list[_Frame] = []
        event = get()  # the DocumentStart is behind us: this is the root node
        while True:
            cls = type(event)
            if cls is yaml.ScalarEvent:
                self._scalar(stack, event)
            elif cls is yaml.MappingStartEvent or cls is yaml.SequenceStartEvent:
                self._start(stack, event, {} if cls is yaml.MappingStartEvent else [])
            elif cls is yaml.MappingEndEvent or cls is yaml.SequenceEndEvent:
                stack.pop()
            elif cls is yaml.AliasEvent:
                self.problem(
                    event.start_mark,
                    f"YAML aliases (*{event.anchor}) are not supported: write the value out",
                )
                top = stack[-1] if stack else None
                if top is not None and top.is_map and top.key is _NO_KEY:
                    top.key = _BAD
                else:
                    self._place(stack, None, event.start_mark)
            if not stack:
                break
            event = get()
        get()  # DocumentEnd
        event = get()
        if not isinstance(event, yaml.StreamEndEvent):
            self.problem(
                event.start_mark, "a manifest holds one YAML document; remove the second (---)"
            )

    def _count(self, mark: Any, depth: int) -> None:
        self.count += 1
        if self.count > MAX_VALUES:
            self.problem(mark, f"more than {MAX_VALUES} YAML values; this is not a manifest")
            raise _Stop
        if depth > MAX_DEPTH:
            self.problem(mark, f"nested more than {MAX_DEPTH} levels deep")
            raise _Stop

    def _tag_ok(self, event: Any) -> bool:
        tag = event.tag
        if tag is None or tag == "!" or tag == _STR_TAG:
            return True
        self.problem(event.start_mark, f"YAML tags ({tag}) are not supported")
        return False

    def _scalar(self, stack: list[_Frame], event: Any) -> None:
        self._count(event.start_mark, len(stack))
        top = stack[-1] if stack else None
        if top is not None and top.is_map and top.key is _NO_KEY:
            self._key(top, event)
            return
        value: object
        if not self._tag_ok(event):
            value = None
        elif event.implicit[0]:
            value = _plain(event.value)
        else:
            value = event.value
        self._place(stack, value, event.start_mark)

    def _key(self, top: _Frame, event: Any) -> None:
        key: str = event.value
        if not self._tag_ok(event):
            top.key = _BAD
            return
        if key == "<<" and event.implicit[0]:
            self.problem(event.start_mark, "YAML merge keys (<<) are not supported")
            top.key = _BAD
            return
        if key in top.container:
            if top.path is not None:
                first = self.keys.get((*top.path, key), (0, 0))
                self.problem(
                    event.start_mark,
                    f"{dotted((*top.path, key))}: duplicate key (first at line {first[0]})",
                )
            top.key = _BAD
            return
        top.key = key
        if top.path is not None:
            self.keys[(*top.path, key)] = (event.start_mark.line + 1, event.start_mark.column + 1)

    def _start(
        self, stack: list[_Frame], event: Any, container: dict[str, object] | list[object]
    ) -> None:
        self._count(event.start_mark, len(stack))
        self._tag_ok(event)
        top = stack[-1] if stack else None
        if top is not None and top.is_map and top.key is _NO_KEY:
            self.problem(event.start_mark, "a mapping key must be a plain string")
            top.key = _BAD
            stack.append(_Frame(container, None))
            return
        path = self._place(stack, container, event.start_mark)
        stack.append(_Frame(container, path))

    def _place(self, stack: list[_Frame], value: object, mark: Any) -> JsonPath | None:
        """Put `value` where the parser is; return its path (None when it is dropped)."""
        position = (mark.line + 1, mark.column + 1)
        if not stack:
            self.root = value
            self.values[()] = position
            return ()
        top = stack[-1]
        path: JsonPath
        if top.is_map:
            key = top.key
            top.key = _NO_KEY
            if key is _BAD or key is _NO_KEY or top.path is None:
                return None
            assert isinstance(key, str)
            top.container[key] = value  # type: ignore[call-overload]
            path = (*top.path, key)
        else:
            index = len(top.container)
            top.container.append(value)  # type: ignore[union-attr]
            if top.path is None:
                return None
            path = (*top.path, index)
        self.values[path] = position
        return path


def _plain(text: str) -> object:
    """Resolve a plain scalar the YAML 1.2 core way (dates stay strings)."""
    if text in _NULLS:
        return None
    if text in _TRUES:
        return True
    if text in _FALSES:
        return False
    first = text[0]
    if first.isdigit() or first in "-+.":
        if _INT.fullmatch(text):
            return int(text)
        if _FLOAT.fullmatch(text):
            return float(text)
    return text


def dotted(path: JsonPath) -> str:
    """`members.users.carol.projectAccess`, `selfGrants.projects[2].id`; the top is `(top)`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"
