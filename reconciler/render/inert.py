"""Foreign text made inert, per medium: the one place that escapes it.

Foreign text is every string dxorg did not write itself: names, ids and property values
from the platform, values and reasons from the manifests, error messages from an API,
text from GitHub, and the summaries, reasons and messages the core builds from them. A
member may rename themselves, so a name is attacker-controlled: it must not move the
cursor, erase a line, fake a line of its own, open a Markdown comment or table, or make
a GitHub runner execute a workflow command.

The rule: every foreign string passes through one function of this module, for the
medium it is written to, at the point it enters output. The renderers take values; the
escaping happens here, never in their format strings.

- `terminal`: control characters (C0 with ESC, CR, BS and the line breaks; C1),
  bidi overrides and isolates, zero-width and other invisible characters are written as
  their escapes (``\\x1b``, ``\\n``, ``\\u202e``), never interpreted; very long strings are
  cut in the middle. The result is one visible line.
- `markdown_text`: the same, then everything Markdown or HTML could read as markup is
  escaped, so the text is one run of plain text: no HTML (a comment, `<details>`), no
  link (nor one of GitHub's autolinks: a bare address, an e-mail, `#1`), image,
  emphasis, table cell, heading or list, no @mention.
- `code_span`, `code_block`: literal text in a code span or a fenced block whose fence no
  foreign backtick run can close.
- `log_line`: a line of the GitHub Action's log. Foreign text is `terminal`-escaped (so
  it never starts a line), and the Action writes foreign-bearing blocks inside a
  ``::stop-commands::`` window (reconciler.github.runner.Log.commands_stopped): no line
  of it is read as a workflow command, whatever it says.
- `log_message`: a log record (a retry given up, an outage), for stderr and the Action's
  log: one visible line that no runner reads as a workflow command. The call sites make
  their foreign arguments `terminal`; the handlers the CLI and the Action install pass
  every record through this once more, whatever a call site did.
- `html_text` (text and attribute values) and `csv_cell` (no formula) for the access
  review's files.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Longest foreign value shown whole on a terminal line, and in Markdown; longer ones keep
# their start and end (where the org and level of a removal are) with the middle left out.
TERMINAL_LIMIT = 400
MARKDOWN_LIMIT = 1000
# Error messages and rail violations are longer, and each word of them may matter.
MESSAGE_LIMIT = 4000
# Combining marks stacked on one character beyond this are shown escaped: a long stack
# draws over the lines above and below it in a browser.
MAX_COMBINING = 2

_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]~|#!])")
# `_` inside a word (SPLUNK_HEC_TOKEN) can neither open nor close emphasis in CommonMark:
# left as it is, so identifiers read as themselves in the Markdown source too.
_UNDERSCORES = re.compile(r"_+")
_MARKDOWN_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# A line that starts with one of these could become a list, a heading, a quote, a
# setext underline or a thematic break: its first character is escaped.
_LINE_START = re.compile(r"\A(?:[-+=>]|\d{1,9}[.)])")
_BACKTICKS = re.compile(r"`+")
# Where GitHub (and a linkifier) would start a link in plain text, a zero-width space goes:
# after a dot before a letter or digit (`www.`, `evil.com`, an e-mail's domain), inside
# `://` and `//`, between `#` (escaped `\#`) and a digit (an issue: `#1`, `owner/repo#1`),
# after `GH-` before a digit; `@` gets one too (a mention, an e-mail, `repo@sha`). Bare
# commit SHAs are left: GitHub links them only to commits of the same repository.
_AUTOLINK_BREAKS = re.compile(
    r"(?i)(?<=www)(?=\.)|(?<=\.)(?=[^\W_])|(?<=[:/])(?=/)|(?<=\\#)(?=\d)|(?<=\bgh-)(?=\d)"
)
_ZERO_WIDTH_SPACE = "&#8203;"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escaped(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


def _conjoining_jamo(char: str) -> bool:
    """A Hangul vowel or final consonant jamo: printable, but of no width, so a terminal
    joins it to whatever came before (a terminal emulator was seen to drop the rest of the
    line after one). Korean names are written in precomposed syllables, which stay."""
    code = ord(char)
    return 0x1160 <= code <= 0x11FF or 0xD7B0 <= code <= 0xD7FF


def printable(text: str) -> str:
    """`text` with every character that is not visible written as its escape (\\x1b, \\n,
    \\u202e, ...): C0 and C1 controls, line and paragraph separators, format characters
    (bidi controls, zero-width), unassigned and private-use code points, Hangul conjoining
    jamo of no width, and stacks of combining marks past MAX_COMBINING."""
    if text.isprintable() and text.isascii():
        return text
    out: list[str] = []
    stacked = 0
    for char in text:
        if not char.isprintable() or _conjoining_jamo(char):
            out.append(_escaped(char))
            stacked = 0
        elif unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me"):
            stacked += 1
            out.append(char if stacked <= MAX_COMBINING else _escaped(char))
        else:
            out.append(char)
            stacked = 0
    return "".join(out)


def capped(text: str, limit: int | None) -> str:
    """`text`, or its start and end with the middle left out when longer than `limit`."""
    if limit is None or len(text) <= limit:
        return text
    keep = max(limit - 40, 2)
    head, tail = text[: keep * 2 // 3], text[-(keep - keep * 2 // 3) :]
    return f"{head}…({len(text) - len(head) - len(tail)} chars left out)…{tail}"


def terminal(text: object, *, limit: int | None = TERMINAL_LIMIT) -> str:
    """Foreign text for a terminal (and any plain-text line): one visible line."""
    return capped(printable(_str(text)), limit)


def terminal_lines(text: object) -> str:
    """A multi-line message (an error with its details) for a terminal: its line breaks
    kept, everything else as `terminal` makes it, and no line a runner would read as a
    workflow command (as `log_line`): dxorg may run in a workflow's step."""
    return "\n".join(log_line(terminal(line, limit=None)) for line in _str(text).split("\n"))


def markdown_text(text: object, *, limit: int | None = MARKDOWN_LIMIT) -> str:
    """Foreign text as plain text in Markdown prose: a list item, a table cell, a heading."""
    value = capped(printable(_str(text)), limit)
    value = "".join(_MARKDOWN_ENTITIES.get(c, c) for c in value)
    value = _MARKDOWN_SPECIAL.sub(r"\\\1", value)
    value = _UNDERSCORES.sub(lambda run: _underscores(run, value), value)
    # GitHub turns @name into a notification and a link; a zero-width space after the @
    # (written as an entity: the source stays plain ASCII) keeps it plain text. The same
    # invisible break stops every autolink (see _AUTOLINK_BREAKS); the text reads the same.
    value = _AUTOLINK_BREAKS.sub(_ZERO_WIDTH_SPACE, value)
    value = value.replace("@", "@" + _ZERO_WIDTH_SPACE)
    if _LINE_START.match(value):
        value = re.sub(r"([-+=>.)])", r"\\\1", value, count=1)
    if value.startswith(" "):
        value = "&#32;" + value[1:]  # four leading spaces would make a code block
    return value


def _underscores(run: re.Match[str], text: str) -> str:
    before = text[run.start() - 1] if run.start() else " "
    after = text[run.end()] if run.end() < len(text) else " "
    if before.isalnum() and after.isalnum():
        return run.group()
    return run.group().replace("_", "\\_")


def code_span(text: object, *, in_table: bool = False, limit: int | None = MARKDOWN_LIMIT) -> str:
    """Foreign text as an inline code span (an id, a path): shown literally.

    The fence is one backtick longer than the longest run inside, so no backtick in the
    text closes it. In a table cell a `|` would end the cell even inside a code span, so
    `in_table` escapes it (GitHub shows it as `|`). Empty text gives an empty string.
    """
    value = capped(printable(_str(text)), limit)
    if not value:
        return ""
    if in_table:
        value = value.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(value)), default=0) + 1)
    edges = value.startswith(("`", " ")) or value.endswith(("`", " "))
    if edges and value.strip(" "):
        value = f" {value} "  # CommonMark strips one space each side (not from all-space text)
    return f"{fence}{value}{fence}"


def code_block(lines: list[str], *, info: str = "") -> str:
    """Lines in a fenced code block. Each line is made one visible line (as `terminal`,
    not cut: the renderers cut long values themselves); the fence is longer than any
    backtick run in them, so no line closes it."""
    shown = [printable(line) for line in lines]
    longest = max((len(run) for line in shown for run in _BACKTICKS.findall(line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([f"{fence}{info}", *shown, fence])


def log_line(text: object) -> str:
    """A line of the GitHub Action's log that carries foreign text: made one visible line
    (as `terminal`, not cut: the plan's lines are cut per value already), and never the
    old ``##[command]`` form, which the runner reads anywhere in a line, nor one that
    starts with ``::``."""
    line = printable(_str(text)).replace("##[", "##\\[")
    # Nor a line the runner reads as ``::command::`` (it trims leading space first).
    return "\\" + line if line.lstrip().startswith("::") else line


def log_message(text: object) -> str:
    """A log record's message, for stderr and the Action's log alike: one visible line
    (escapes shown, cut past MESSAGE_LIMIT) that no runner reads as a workflow command.
    Idempotent, so a message whose foreign parts were made inert already reads the same."""
    return log_line(terminal(text, limit=MESSAGE_LIMIT))


def log_lines(message: object, details: str | None = None) -> list[str]:
    """A log record as lines: its message (`log_message`), then each line of `details`
    (a traceback, which quotes values too) made a `log_line` of its own."""
    lines = [log_message(message)]
    if details:
        lines += [log_line(terminal(line, limit=None)) for line in details.split("\n")]
    return lines


def html_text(value: object) -> str:
    """Foreign text in HTML, as element text or a quoted attribute value."""
    return html.escape(printable(_str(value)), quote=True)


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a value starting with = + - @ (or a tab or
    CR) would run as a formula, so it gets a leading apostrophe."""
    if value is None:
        return ""
    text = printable(_str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


def yaml_comment(value: object) -> str:
    """Text for a YAML end-of-line comment (an exported manifest names each member): one
    line (a line break is a space, as the text was wrapped), and every other character a
    reviewer's editor or diff would not show as itself (a bidi override reordering the
    line, a zero-width space) written as its escape."""
    return printable(_LINE_BREAKS.sub(" ", _str(value))).strip()


_LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")


def _str(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
