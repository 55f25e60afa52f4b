"""Foreign text made inert, per medium (issue 18, items 1-3): hostile names, org names,
error messages and warnings through every renderer of a plan and an apply report,
judged by what a terminal (pyte), a Markdown renderer (markdown-it-py) and a GitHub
runner (its workflow-command parser) make of the output."""

from __future__ import annotations

import io
import os
from dataclasses import replace
from unittest import mock

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from reconciler.apply.outcomes import ActionOutcome, ApplyOutcome, OrgApplyOutcome
from reconciler.github.comments import comment_bodies
from reconciler.github.issues import drift_body, drift_title
from reconciler.github.runner import Log, Secrets
from reconciler.model import LiveMember
from reconciler.plan import OrgPlan, Plan, PlanWarning, PlatformIdentity
from reconciler.planner import plan_org
from reconciler.presenters.github import log_plan
from reconciler.presenters.terminal import new_console as _console
from reconciler.presenters.terminal import show_plan as _show_plan
from reconciler.render import inert
from reconciler.render.apply_markdown import render_apply_markdown
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text, styled_text
from tests.as_seen import (
    assert_plan_markdown,
    assert_plan_on_screen,
    autolinks,
    blocks,
    markup_from_text,
    mentions,
    screen,
    tokens,
    without_zero_width,
    workflow_commands,
)
from tests.core.builders import desired_org, live_org, member, options, want

# What an attacker with a member account would put in their name.
FRAGMENTS = [
    "\x1b[2K",
    "\x1b[1A",
    "\x1b[2J\x1b[H",
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "\x1b]0;title\x07",
    "\x9b2K",
    "\x85",
    "\r",
    "\n",
    "\n\n",
    "\b\b\b\b",
    "\x00",
    "\t",
    "\u202e",
    "\u2066",
    "\u200b",
    "\u2028",
    "\ufeff",
    "e\u0301\u0301\u0301\u0301\u0301",
    "<!--",
    "-->",
    "<details>",
    "</details>",
    "<summary>",
    "<img src=x onerror=alert(1)>",
    "`",
    "``",
    "```",
    "````",
    "`````",
    "~~~",
    "|",
    "| a | b |\n|---|---|",
    "[x](https://evil.example)",
    "![i](https://evil.example/i.png)",
    "<https://evil.example>",
    "@someone",
    "@org/team",
    "*",
    "_",
    "**",
    "~~gone~~",
    "#",
    "> ",
    "- ",
    "1. ",
    "    ",
    "&amp;",
    "&#60;!--",
    "\\",
    "::add-mask::user-carol",
    "::notice::fake",
    "::stop-commands::tok",
    "::endgroup::",
    "##[error]fake",
    "[red]",
    "[link=https://evil.example]x[/link]",
    "Plan: 0 to add, 0 to change, 0 to remove.",
    "- remove user-carol (ADMIN)",
    "  - remove user-dave (MEMBER) from org-demo",
    # GitHub links bare addresses and references in Markdown text (finding 01).
    "https://evil.example/login",
    "www.evil.com",
    "evil.com/x",
    "//evil.example",
    "mailto:a@evil.com",
    "a@evil.com",
    "#1",
    "GH-12",
    "owner/repo#3",
]
hostile = st.one_of(
    st.lists(
        st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), min_size=1, max_size=10
    ).map("".join),
    st.builds(lambda f, n: f * n, st.sampled_from(FRAGMENTS), st.integers(100, 400)),
)
# A whole plan per example, through a terminal emulator or a Markdown parser: shrinking one
# takes minutes, so these report the failing example as generated (the per-medium test
# below shrinks, and finds the same faults in a smaller form).
EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
REMOVED = ["user-carol", "user-dave"]


def hostile_plan(carol: str, dave: str, org_name: str, error: str, warning: str) -> Plan:
    """org-demo: bob invited, the org renamed, carol (ADMIN) and dave removed; the names
    are the attacker's. org-lab could not be planned; its error is the attacker's too."""
    admins = {"user-alice": member("ADMIN"), "user-root": member("ADMIN")}
    live = live_org({**admins, "user-carol": member("ADMIN"), "user-dave": member()})
    live = replace(
        live,
        name=org_name,
        members={
            **live.members,
            "user-carol": LiveMember("user-carol", member("ADMIN"), carol),
            "user-dave": LiveMember("user-dave", member(), dave),
        },
    )
    members = {u: want(u, "ADMIN") for u in admins} | {"user-bob": want("user-bob")}
    demo = plan_org(desired_org(members, name="Demo"), live, options())
    demo = replace(demo, warnings=(*demo.warnings, PlanWarning("x", f"about {warning}")))
    lab = OrgPlan(
        org_id="org-lab", source="orgs/lab.yaml", caller="user-alice", error=f"failed: {error}"
    )
    return Plan(
        orgs=(demo, lab),
        created_at="2026-11-26T10:00:00+00:00",
        tool_version="0.1.0",
        platform=PlatformIdentity("https://api.dnanexus.com", "user-alice"),
    )


def on_terminal(plan: Plan) -> str:
    """The bytes `dxorg plan` writes to a colour terminal (the CLI's own console)."""
    out = io.StringIO()
    env = {"FORCE_COLOR": "1", "TERM": "xterm-256color"}
    with mock.patch.dict(os.environ, env), mock.patch("sys.stdout", out):
        os.environ.pop("NO_COLOR", None)
        _console().print(styled_text(plan), end="")
    return out.getvalue()


@EXAMPLES
@given(carol=hostile, dave=hostile, org_name=hostile, error=hostile, warning=hostile)
# Found by this test: a lone Hangul vowel jamo (no width) hid the rest of its line.
@example(carol="c", dave="d", org_name="", error="|---|---|\u1195::notice::fake", warning="w")
# And a mark of class 0 and no width after a wide character (a terminal keeps drawing).
@example(carol="c", dave="d", org_name="\u4e2d\U0001cf16 tail", error="e", warning="w")
@example(carol="\u0915\u0941\u092e\u093e\u0930", dave="d", org_name="", error="e", warning="w")
def test_a_terminal_shows_every_line_of_the_plan_whatever_the_names(
    carol: str, dave: str, org_name: str, error: str, warning: str
) -> None:
    plan = hostile_plan(carol, dave, org_name, error, warning)
    written = on_terminal(plan)
    assert "\x1b[" in written  # in colour: the styles are escape codes of dxorg's own
    rows = screen(written, columns=inert.MESSAGE_LIMIT + 200)  # wide enough: no line wraps
    assert_plan_on_screen(rows, REMOVED)
    # Exactly the plain text, line for line: nothing moved, erased, overwritten or added
    # (a terminal composes a letter and its combining marks into one character).
    lines = render_text(plan).rstrip("\n").split("\n")
    assert [without_zero_width(row) for row in rows] == [
        without_zero_width(line).rstrip() for line in lines
    ]
    assert sum(1 for row in rows if row.startswith("  ! error: ")) == 1


# Finding 04: a name padded to the edge of the screen wraps into a row of its own.
FAKE_LINES = [
    "  ~ update user-grace: projectAccess VIEW -> UPLOAD",
    "    why: orgs/org-demo.yaml:27 sets projectAccess UPLOAD (live: VIEW)",
    "  + invite user-mallory as ADMIN",
    "  - remove user-carol (Carol, ADMIN) from org-demo",
    "Plan: 0 to add, 0 to change, 0 to remove.",
]
PLAN_LINE_STARTS = ("  + ", "  ~ ", "  - ", "    why: ", "Plan:", "  ! ")
padded = st.builds(
    lambda start, pads, fakes: "".join(p + f for p, f in zip(pads, fakes, strict=False)) + start,
    st.text(max_size=20),
    st.lists(
        st.one_of(st.integers(0, 260).map(" ".__mul__), st.integers(0, 260).map("x".__mul__)),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.sampled_from(FAKE_LINES), min_size=1, max_size=4),
)


def shown_on_terminal(plan: Plan, columns: int) -> list[str]:
    """The rows a terminal `columns` wide shows of `dxorg plan` (the CLI's own printing)."""
    out = io.StringIO()
    env = {"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": str(columns)}
    with mock.patch.dict(os.environ, env), mock.patch("sys.stdout", out):
        os.environ.pop("NO_COLOR", None)
        _show_plan(plan)
    return screen(out.getvalue(), columns=columns)


@EXAMPLES
@given(carol=padded, dave=padded, org_name=padded, warning=padded, columns=st.sampled_from([40, 80, 120, 200]))  # fmt: skip
def test_no_name_wraps_into_a_row_that_reads_as_a_plan_line(
    carol: str, dave: str, org_name: str, warning: str, columns: int
) -> None:
    plan = hostile_plan(carol, dave, org_name, "boom", warning)
    rows = shown_on_terminal(plan, columns)
    lines = render_text(plan).rstrip("\n").split("\n")
    *body, summary = lines
    # Every line of the plan but the summary is exactly one row, in order.
    assert len(rows) >= len(body)
    for row, line in zip(rows, body, strict=False):
        assert row.startswith(line[:4].rstrip()), (row, line)
    # So the rows that start like a plan line are exactly the plan's own such lines.
    like = [i for i, row in enumerate(rows) if row.startswith(PLAN_LINE_STARTS)]
    own = [i for i, line in enumerate(lines) if line.startswith(PLAN_LINE_STARTS)]
    assert like == own, rows
    assert rows[len(body)].startswith(summary[:columns].rstrip())


def test_a_plan_piped_keeps_every_line_whole() -> None:
    """Not a terminal: nothing is cut, the API calls' bodies included."""
    name = "Grace" + " " * 300 + "Kim"
    plan = hostile_plan(name, "Dave", "Old", "boom", "it")
    out = io.StringIO()
    with (
        mock.patch.dict(os.environ, {"COLUMNS": "40", "TERM": "dumb"}),
        mock.patch("sys.stdout", out),
    ):
        os.environ.pop("FORCE_COLOR", None)
        _show_plan(plan)
    assert out.getvalue() == render_text(plan)
    assert "…" not in out.getvalue()


@EXAMPLES
@given(carol=hostile, dave=hostile, org_name=hostile, error=hostile, warning=hostile)
def test_markdown_shows_every_removal_and_call_whatever_the_names(
    carol: str, dave: str, org_name: str, error: str, warning: str
) -> None:
    plan = hostile_plan(carol, dave, org_name, error, warning)
    plain = hostile_plan("Carol", "Dave", "Old", "failed", "it")
    demo = plan.orgs[0]
    rendered = {
        "job summary": "\n\n---\n\n".join(render_markdown(plan)),
        "PR comment": "\n\n".join(comment_bodies(demo, "commit `abc`")),
        "drift issue": drift_body(demo, "commit `abc`"),
    }
    expected = {
        "job summary": "\n\n---\n\n".join(render_markdown(plain)),
        "PR comment": "\n\n".join(comment_bodies(plain.orgs[0], "commit `abc`")),
        "drift issue": drift_body(plain.orgs[0], "commit `abc`"),
    }
    for where, text in rendered.items():
        assert_plan_markdown(text, REMOVED)
        # The same document as with plain names: no block, list, table, link or HTML more.
        assert [t.type for t in tokens(text)] == [t.type for t in tokens(expected[where])], where
    summary = blocks(rendered["job summary"])
    errors = [b for b in summary if b.kind == "heading" and b.text == "❌ Not planned"]
    assert len(errors) == 1
    assert "\n" not in drift_title(demo.org_id)


@EXAMPLES
@given(carol=hostile, dave=hostile, org_name=hostile, error=hostile, warning=hostile)
def test_the_action_log_runs_no_workflow_command_from_the_names(
    carol: str, dave: str, org_name: str, error: str, warning: str
) -> None:
    plan = hostile_plan(carol, dave, org_name, error, warning)
    out = io.StringIO()
    log_plan(Log(out, Secrets()), plan)
    commands = workflow_commands(out.getvalue())
    # dxorg's own: the group around the plan, the window that stops commands inside it,
    # and the error annotations: org-lab not planned, org-demo over its removal budget.
    assert [name for name, _ in commands] == [
        "group",
        "stop-commands",
        "endgroup",
        "error",
        "error",
    ]
    assert commands[3][1].startswith("org-demo: budget.members: ")
    assert commands[4][1].startswith("org-lab: not planned: ")
    lines = out.getvalue().split("\n")
    assert all("\r" not in line for line in lines)
    inside = lines[lines.index("::group::dxorg plan") + 2 : lines.index("::endgroup::") - 1]
    # The plan is all there: the text plan's lines, one log line each.
    assert len(inside) == len(render_text(plan).rstrip("\n").split("\n"))
    assert sum(1 for line in inside if line.startswith("  - remove user-")) == 2


@EXAMPLES
@given(detail=hostile, remaining=hostile, error=hostile)
def test_the_apply_report_keeps_its_table_and_every_line(
    detail: str, remaining: str, error: str
) -> None:
    def report(detail: str, remaining: str, error: str) -> ApplyOutcome:
        return ApplyOutcome(
            orgs=(
                OrgApplyOutcome(
                    "org-demo",
                    outcomes=(
                        ActionOutcome("org-demo#1", "done"),
                        ActionOutcome("org-demo#2", "failed", detail),
                        ActionOutcome("org-demo#3", "skipped", f"after {detail}"),
                    ),
                    remaining=(remaining, f"remove user-carol ({remaining}, ADMIN)"),
                ),
                OrgApplyOutcome("org-lab", error=error),
            )
        )

    text = render_apply_markdown(report(detail, remaining, error), "commit `abc`")
    plain = render_apply_markdown(report("refused", "x", "failed"), "commit `abc`")
    assert [t.type for t in tokens(text)] == [t.type for t in tokens(plain)]
    found = blocks(text)
    assert [b.text for b in found if b.kind == "td"][::5] == ["org-demo", "org-lab"]
    items = [b for b in found if b.kind == "list_item"]
    assert len(items) == 4  # failed, skipped, and the two still differing
    assert [b.kind for b in found].count("td") == 10
    assert mentions(text) == []
    assert set(markup_from_text(text)) == {"table_open"}


@pytest.mark.parametrize(
    "name",
    ["https://evil.example/login www.evil.com #1", "[click](https://e.vil)", "WWW.EVIL.COM",
     "http://x.co/?a=b#c", "ftp://files.example", "mailto:x@y.co", "x@evil-mail.com",
     "see gh-7 and owner/repo#12 and #42", "xn--80ak6aa92e.com", "192.168.0.1:8080/x",
     "HTTPS://EVIL.EXAMPLE", "evil.com.", "(https://evil.example)"],
)  # fmt: skip
def test_markdown_text_links_nothing_and_reads_as_written(name: str) -> None:
    """Finding 01: GitHub links bare addresses and #1 references in text; the names read
    the same (the breaks are zero-width) and link nowhere."""
    paragraph = f"- remove user-grace ({inert.markdown_text(name)}, MEMBER)"
    assert autolinks(paragraph) == [], paragraph
    assert markup_from_text(paragraph) == []
    [item] = [b.text for b in blocks(paragraph)]
    assert item.replace("\u200b", "") == f"remove user-grace ({name}, MEMBER)"


@settings(max_examples=300, deadline=None)
@given(text=hostile)
def test_each_medium_keeps_foreign_text_to_itself(text: str) -> None:
    # A terminal: one visible line, nothing a terminal acts on.
    shown = inert.terminal(text)
    assert shown.isprintable() and len(shown) <= inert.TERMINAL_LIMIT + 40
    assert len(screen(f"[{shown}]")) == 1
    # Markdown prose: a single paragraph of plain text.
    paragraph = f"a {inert.markdown_text(text)} b"
    assert [t.type for t in tokens(paragraph)] == ["paragraph_open", "inline", "paragraph_close"]
    assert [c.type for c in tokens(paragraph)[1].children or []] == ["text"]
    assert mentions(paragraph) == []
    assert autolinks(paragraph) == []
    # At the start of a line, too.
    line = f"{inert.markdown_text(text)} b"
    assert [t.type for t in tokens(line)] == ["paragraph_open", "inline", "paragraph_close"]
    assert [c.type for c in tokens(line)[1].children or []] == ["text"]
    # A code span holds it all, and only one span opens.
    span = inert.code_span(text)
    if span:
        children = tokens(f"a {span} b")[1].children or []
        assert [c.type for c in children] == ["text", "code_inline", "text"]
        assert children[1].content == inert.capped(inert.printable(text), inert.MARKDOWN_LIMIT)
    # A fenced block: one block, the lines as given.
    block = inert.code_block([text, "after"])
    [fence] = tokens(block)
    assert fence.type == "fence" and fence.content.endswith("after\n")
    # The log: no workflow command.
    assert workflow_commands(inert.log_line(text)) == []
    # A CSV cell starts no formula.
    assert not inert.csv_cell(text).startswith(("=", "+", "-", "@", "\t", "\r"))


def test_printable_is_the_one_escape_the_manifest_errors_use_too() -> None:
    from reconciler.errors import Problem

    problem = Problem("orgs/a.yaml", 3, 5, "bad \x1b[2K value \u202e")
    assert problem.message == "bad \\x1b[2K value \\u202e"
    assert inert.printable("zero\u200bwidth") == "zero\\u200bwidth"
    assert inert.printable("ok é ü 名前") == "ok é ü 名前"


@settings(max_examples=100, deadline=None)
@given(error=hostile)
def test_a_refusal_lists_one_line_per_problem_whatever_the_messages(error: str) -> None:
    from reconciler.apply.proof import refuse_unsafe
    from reconciler.errors import UnsafePlanError

    orgs = [
        OrgPlan(org_id=f"org-{i}", source="orgs/a.yaml", caller="user-alice", error=f"x {error}")
        for i in range(3)
    ]
    with pytest.raises(UnsafePlanError) as refused:
        refuse_unsafe(orgs)
    lines = str(refused.value).split("\n")
    assert lines[0] == "the plan cannot be applied:"
    assert [line[:9] for line in lines[1:]] == ["  org-0: ", "  org-1: ", "  org-2: "]
    assert all(line.isprintable() for line in lines)
