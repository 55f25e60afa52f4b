"""One line per API call as apply reports it: the CLI's progress (off a terminal, and the
list after its bar) and the Action's log write the same line."""

from __future__ import annotations

from reconciler.apply.outcomes import Status
from reconciler.plan import Step
from reconciler.render import inert


def shown_status(status: Status) -> str:
    return "not sent" if status == "not-sent" else status


def call_line(step: Step, status: Status, detail: str | None) -> str:
    """`status` right-aligned, the step and its route, then the detail (the platform's
    error message: foreign text). A call not sent needs no detail: its status says it."""
    suffix = f": {inert.terminal(detail)}" if detail and status != "not-sent" else ""
    return (
        f"{shown_status(status):>8} {inert.terminal(step.id)} {inert.terminal(step.call.route)}"
        + suffix
    )
