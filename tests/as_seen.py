"""What a reader or a runner makes of dxorg's output: the oracles of the untrusted-text tests.

- `screen`: the bytes fed to a real terminal emulator (pyte); the rows it shows.
- `markdown`: the tokens of a CommonMark renderer (markdown-it-py, with GitHub's tables
  and strikethrough), and the visible text of each block.
- `workflow_commands`: the commands a GitHub runner would run from a step's log, parsed
  as the runner parses them (``::cmd::`` after leading whitespace, the old ``##[cmd]``
  anywhere in a line, ``::stop-commands::`` windows), lines split where .NET splits them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pyte
import pyte.screens
from markdown_it import MarkdownIt
from markdown_it.token import Token
from wcwidth import wcwidth


class _MarksAsTerminalsDrawThem:
    """`unicodedata` as pyte's screen consults it. xterm and VTE draw a printable character
    of no width on the cell before it, whatever its combining class; pyte does so only for
    a nonzero class and otherwise drops the rest of what it was given (a Devanagari vowel
    sign such as U+0941, of class 0, would hide the end of a Hindi name's line). The
    oracle is a terminal, so it draws them as terminals do."""

    normalize = staticmethod(unicodedata.normalize)

    @staticmethod
    def combining(char: str) -> int:
        return unicodedata.combining(char) or int(wcwidth(char) == 0)


pyte.screens.unicodedata = _MarksAsTerminalsDrawThem  # type: ignore[assignment]


def without_zero_width(text: str) -> str:
    """`text` as a comparison of screen rows needs it: composed (NFC, as a terminal
    composes a letter and its marks) and without characters of no width, which a terminal
    keeps on the cell before them (pyte loses them on a wide character's second cell)."""
    return "".join(c for c in unicodedata.normalize("NFC", text) if wcwidth(c) != 0)


def screen(data: str, *, columns: int = 1200, rows: int | None = None) -> list[str]:
    """The rows a terminal shows after receiving `data` (trailing spaces dropped)."""
    height = rows or data.count("\n") + data.count("\r") + 10
    terminal = pyte.Screen(columns, height)
    stream = pyte.Stream(terminal)
    # A terminal receives CR LF for each line feed (the tty's output processing).
    stream.feed(data.replace("\n", "\r\n"))
    shown = [row.rstrip() for row in terminal.display]
    while shown and not shown[-1]:
        shown.pop()
    return shown


_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
# GitHub also links bare addresses in text (GFM's autolink extension: http://, https://,
# www., e-mail addresses) and its references (#1, GH-1, owner/repo#1). linkify-it links a
# superset of those addresses (any host with a known top-level domain too): what it leaves
# alone, GitHub leaves alone.
_LINKIFIED = MarkdownIt("commonmark", {"linkify": True}).enable(
    ["table", "strikethrough", "linkify"]
)
GITHUB_REFERENCE = re.compile(r"(?<![\w`])(?:#|GH-)\d|\b[\w.-]+/[\w.-]+#\d", re.IGNORECASE)


@dataclass(frozen=True)
class Block:
    """A block of the rendered Markdown: its kind (``paragraph``, ``heading``,
    ``list_item``, ``fence``, ``html_block``, ...) and its visible text."""

    kind: str
    text: str
    level: int = 0


def tokens(text: str) -> list[Token]:
    return _MARKDOWN.parse(text)


def inline_text(token: Token) -> str:
    """What a reader sees of an inline token: text, code spans, line breaks as spaces."""
    out = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append("\n")
    return "".join(out)


def blocks(text: str) -> list[Block]:
    """The rendered blocks, in order. A list item is one block (the text of its first
    paragraph), its `level` how deeply it is nested (1: a top-level item)."""
    out: list[Block] = []
    stack: list[str] = []
    item_opened = False
    for token in tokens(text):
        if token.nesting == 1:
            stack.append(token.type.removesuffix("_open"))
            item_opened = item_opened or token.type == "list_item_open"
        elif token.nesting == -1:
            stack.pop()
        elif token.type == "inline":
            shown = inline_text(token)
            if stack[-1] == "heading":
                out.append(Block("heading", shown))
            elif item_opened:
                out.append(Block("list_item", shown, stack.count("list_item")))
                item_opened = False
            elif "list_item" in stack:
                out.append(Block("item_paragraph", shown, stack.count("list_item")))
            else:
                out.append(Block(stack[-1] if stack[-1] in ("th", "td") else "paragraph", shown))
        elif token.type in ("fence", "code_block", "html_block"):
            out.append(Block(token.type, token.content))
    return out


def section(found: list[Block], heading: str) -> list[Block]:
    """The blocks after the first heading that starts with `heading`, up to the next one."""
    start = next(
        i for i, b in enumerate(found) if b.kind == "heading" and b.text.startswith(heading)
    )
    end = next((i for i in range(start + 1, len(found)) if found[i].kind == "heading"), len(found))
    return found[start + 1 : end]


def autolinks(text: str, own_links: tuple[str, ...] = ()) -> list[str]:
    """The addresses GitHub would link in the visible text (as linkify-it finds them,
    other than those starting with one of `own_links`), and its references (#1)."""
    found = []
    for token in _LINKIFIED.parse(text):
        for child in token.children or []:
            href = str(child.attrs.get("href"))
            if child.type == "link_open" and child.markup == "linkify":
                if not href.startswith(own_links):
                    found.append(href)
            elif child.type == "text":
                found += [m.group() for m in GITHUB_REFERENCE.finditer(child.content)]
    return found


def markup_from_text(text: str, own_links: tuple[str, ...] = ()) -> list[str]:
    """Token types that only markup in foreign text could have made in a dxorg plan: a
    link (other than to an address starting with one of `own_links`: the workflow run
    the provenance line names), an autolink GitHub would make of a bare address or a
    reference, an image, an inline HTML tag, a table, a strikethrough, a blockquote."""
    found = autolinks(text, own_links)
    for token in tokens(text):
        if token.type in ("table_open", "blockquote_open"):
            found.append(token.type)
        for child in token.children or []:
            if child.type == "link_open" and str(child.attrs.get("href")).startswith(own_links):
                continue
            if child.type in ("link_open", "image", "html_inline", "s_open"):
                found.append(child.type)
    return found


MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9][\w-]*")


def mentions(text: str) -> list[str]:
    """@name in the visible prose (GitHub notifies them); code spans and blocks excluded."""
    found = []
    for token in tokens(text):
        for child in token.children or []:
            if child.type == "text":
                found += MENTION.findall(child.content)
    return found


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def workflow_commands(log: str) -> list[tuple[str, str]]:
    """(command, data) for every line a runner would run as a workflow command."""
    commands: list[tuple[str, str]] = []
    stopped: str | None = None
    for line in _LINE_BREAK.split(log):
        trimmed = line.lstrip()
        if stopped is not None:
            if trimmed == f"::{stopped}::":
                stopped = None
            continue
        if trimmed.startswith("::"):
            end = trimmed.find("::", 2)
            if end >= 0:
                name = trimmed[2:end].split(" ", 1)[0]
                data = trimmed[end + 2 :]
                commands.append((name, data))
                if name == "stop-commands":
                    stopped = data
                continue
        start = line.find("##[")
        if start >= 0 and "]" in line[start:]:
            name = line[start + 3 : line.index("]", start)].split(" ", 1)[0]
            commands.append((f"##[{name}", line[line.index("]", start) + 1 :]))
    return commands


# ---------------------------------------------------------------- a plan, as shown

_SUMMARY = re.compile(r"Plan: (\d+) to add, (\d+) to change, (\d+) to remove\.")
_HTML_OF_DXORG = re.compile(
    r"<details><summary>[^<>]*</summary>|</details>|<!-- dxorg-(plan|drift):org-[\w.-]+( part \d+)? -->"
)


def assert_plan_on_screen(rows: list[str], removed: list[str]) -> None:
    """The terminal shows the plan's real summary line, once, and one `- remove` row per
    removal it counts, each user in `removed` on a row of their own."""
    summaries = [row for row in rows if row.startswith("Plan:")]
    assert len(summaries) == 1, rows
    counts = _SUMMARY.match(summaries[0])
    assert counts, summaries
    actions = [i for i, row in enumerate(rows) if row.startswith(("  + ", "  ~ ", "  - "))]
    last_action = max(actions, default=len(rows))
    assert rows.index(summaries[0]) > last_action, rows
    added, changed, removing = (int(n) for n in counts.groups())
    assert sum(1 for row in rows if row.startswith("  + ")) == added, rows
    assert sum(1 for row in rows if row.startswith("  ~ ")) == changed, rows
    removal_rows = [row for row in rows if row.startswith("  - ")]
    assert len(removal_rows) == removing, rows
    for user in removed:
        assert sum(1 for row in removal_rows if row.startswith(f"  - remove {user} (")) == 1, rows


def assert_plan_markdown(text: str, removed: list[str], own_links: tuple[str, ...] = ()) -> None:
    """Rendered, the plan shows every removal line its heading counts, every API call,
    and nothing foreign became markup (HTML, a link, an image, a table, a mention)."""
    assert markup_from_text(text, own_links) == [], text
    assert mentions(text) == [], text
    found = blocks(text)
    for block in found:
        if block.kind == "html_block":
            assert _HTML_OF_DXORG.fullmatch(block.text.strip()), block.text
    headings = [b.text for b in found if b.kind == "heading" and b.text.startswith("Removals (")]
    shown: list[str] = []
    for heading in headings:
        items = [b.text for b in section(found, heading) if b.kind == "list_item" and b.level == 1]
        count = re.match(r"Removals \((\d+)", heading)
        assert count and len(items) == int(count[1]), (heading, items)
        shown += items
    for user in removed:
        assert sum(1 for item in shown if item.startswith(f"- remove {user} (")) == 1, shown
    calls = [b for b in found if b.kind == "html_block" and "API calls in order (" in b.text]
    for call_block in calls:
        number = re.search(r"API calls in order \((\d+)", call_block.text)
        fence = found[found.index(call_block) + 1]
        assert fence.kind == "fence", fence
        lines = fence.text.rstrip("\n").split("\n")
        assert number and len(lines) == int(number[1]), lines
        assert all(re.match(r"org-[\w.-]+#\d+ \[[\w,-]+\] POST /", line) for line in lines), lines
