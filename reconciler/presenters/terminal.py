"""The terminal presenter: what `dxorg` shows of a command's result, and how.

Every foreign value (names, the platform's messages) enters through render.inert; colours
follow rich's rules (NO_COLOR, TERM=dumb, not a terminal). The CLI (reconciler.cli) turns
options into a request, runs the command and hands the result here.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from reconciler.apply.outcomes import Status, was_not_sent
from reconciler.commands.exit_codes import (
    EXIT_CHANGES,
    EXIT_INTERRUPTED,
    Interrupted,
    Terminated,
    exit_code_of,
    signal_exit_code,
)
from reconciler.errors import DxorgError, ManifestError
from reconciler.presenters.log_records import records_as_lines
from reconciler.render import inert
from reconciler.render.progress import call_line, shown_status

if TYPE_CHECKING:
    from rich.console import Console

    from reconciler.apply.executor import ProgressHook
    from reconciler.apply.outcomes import ApplyOutcome
    from reconciler.commands.apply import Applied
    from reconciler.commands.export import FileKind
    from reconciler.plan import Plan, Step
    from reconciler.review.value import AccessReport


def new_console() -> Console:
    """A console on the current stdout. rich leaves colours out when NO_COLOR is set, TERM
    is dumb, or the output is not a terminal; soft wrap keeps long lines whole. Markup is
    off: a `[red]` or `[link=...]` in a name is text (and every foreign value is already
    made inert by render.inert)."""
    from rich.console import Console

    return Console(soft_wrap=True, highlight=False, emoji=False, markup=False)


def show_plan(plan: Plan) -> None:
    """The plan as text on stdout, in colour where the console allows it.

    On a terminal, each line of the plan is one row of the screen, whatever its width: a
    longer line is cut with "…" instead of wrapped, so no foreign text (a name padded to
    the edge of the screen) can wrap into a row of its own that reads as a plan line.
    Only the summary line, all dxorg's own text, wraps. Piped or redirected, every line
    is written whole (the API calls' bodies included)."""
    from reconciler.render.text import styled_text, summary_line

    console = new_console()
    text = styled_text(plan)
    if not console.is_terminal:
        console.print(text, end="")
        return
    summary = summary_line(plan) + "\n"
    body = text[: len(text) - len(summary)] if text.plain.endswith(summary) else text
    console.print(body, end="", no_wrap=True, overflow="ellipsis", soft_wrap=False)
    if body is not text:
        console.print(text[len(body) :], end="")


def plan_text(plan: Plan, fmt: str) -> str:
    from reconciler.plan_file import dumps_plan
    from reconciler.render.markdown import render_markdown

    if fmt == "markdown":
        return "\n\n---\n\n".join(render_markdown(plan)) + "\n"
    if fmt == "json":
        return dumps_plan(plan)
    raise DxorgError(f"--format {fmt}: choose text, markdown or json")


def report_unchanged(plan: Plan) -> None:
    """A plan without changes: what was left out or not checked, and exit 2 if the orgs
    still differ."""
    if plan.left_out:
        what = "removal(s)" if plan.left_out_by == "--skip-removals" else "change(s)"
        typer.echo(f"{plan.left_out} {what} were left out ({plan.left_out_by}).")
    for org_plan in plan.orgs:
        for unchecked in org_plan.unchecked:
            org_id = inert.terminal(org_plan.org_id)
            typer.echo(f"{org_id}: not checked: {inert.terminal(unchecked)}")
    if plan.unresolved:
        typer.echo(
            f"{plan.unresolved} difference(s) dxorg does not change (shown above): "
            "a person must resolve them."
        )
    if plan.differs:
        raise typer.Exit(EXIT_CHANGES)


def said_refused(refused: Mapping[str, tuple[str, ...]]) -> None:
    """Before the question: the orgs apply refuses (their violations are shown above)."""
    for org_id in refused:
        typer.echo(
            f"{inert.terminal(org_id)}: refused: its plan breaks safety rails (shown above); "
            "nothing will be written to it, the other orgs are applied.",
            err=True,
        )


def confirm(plan: Plan) -> None:
    """Terraform's confirmation: only the word `yes` applies; anything else exits 1."""
    total = sum(len(o.steps) for o in plan.orgs)
    typer.echo(
        "\nDo you want to perform these actions?\n"
        f"  dxorg will make the {total} API call(s) listed above, in that order.\n"
        "  Only 'yes' will be accepted to approve.\n"
    )
    typer.echo("  Enter a value: ", nl=False)
    try:
        answer = input()
    except EOFError:
        answer = ""
    if answer.strip() != "yes":
        typer.echo("\nApply cancelled.", err=True)
        raise typer.Exit(1)
    typer.echo("")


STATUS_STYLES = {
    "done": "green",
    "failed": "red",
    "skipped": "yellow",
    "unknown": "yellow",
    "not-sent": "dim",
}


@dataclass
class AppliedCalls:
    """Each of the plan's API calls (its steps) as apply reported it: the unit the progress
    lines, the list after the bar and the summary all count."""

    terminal: bool
    plan: Plan | None = None
    results: dict[tuple[str, str], tuple[Status, str | None]] = field(default_factory=dict)

    @property
    def planned(self) -> int:
        return sum(len(o.steps) for o in self.plan.orgs) if self.plan else 0

    def record(self, org_id: str, step: Step, status: Status, detail: str | None) -> None:
        self.results[(org_id, step.id)] = (status, detail)

    def count(self, status: Status) -> int:
        return sum(1 for shown, _ in self.results.values() if shown == status)

    def lines(self) -> Iterator[tuple[Status, str]]:
        """(status, line) for every reported call, in the plan's order."""
        for org in self.plan.orgs if self.plan else ():
            for step in org.steps:
                result = self.results.get((org.org_id, step.id))
                if result is not None:
                    yield result[0], call_line(step, *result)

    @contextmanager
    def progress(self, plan: Plan) -> Iterator[ProgressHook]:
        """A progress bar on a terminal, then the calls listed; one line per call elsewhere."""
        self.plan = plan
        if not self.terminal:

            def line(org_id: str, step: Step, status: Status, detail: str | None) -> None:
                self.record(org_id, step, status, detail)
                typer.echo(call_line(step, status, detail))

            yield line
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        from rich.text import Text

        console = new_console()
        with Progress(
            TextColumn("applying"), BarColumn(), MofNCompleteColumn(), console=console
        ) as bar:
            task = bar.add_task("apply", total=self.planned)

            def advance(org_id: str, step: Step, status: Status, detail: str | None) -> None:
                self.record(org_id, step, status, detail)
                bar.advance(task)

            yield advance
        for status, text in self.lines():
            console.print(Text(text, style=STATUS_STYLES.get(status, "")))


def said_interrupted(signum: int, again: bool) -> None:
    """While apply sends: the first Ctrl-C or SIGTERM (a CI cancel) lets the calls in
    flight finish and sends no more; a second one exits at once."""
    name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    if again:
        sys.stderr.write(
            f"\nInterrupted again ({name}): exiting now. Calls in flight may still land; "
            "the journal has every call that was sent.\n"
        )
        sys.stderr.flush()
        os._exit(signal_exit_code(signum))
    sys.stderr.write(
        f"\n{'Interrupt' if signum == signal.SIGINT else name} received: finishing the "
        f"calls in flight, sending no more ({name} again to exit at once).\n"
    )
    sys.stderr.flush()


def apply_summary(report: ApplyOutcome, calls: AppliedCalls) -> str:
    """The summary line the Action and the journal write (it counts actions), with the API
    calls listed above it counted in brackets; then what verification found."""
    text = f"{calls.count('done')} of {calls.planned} API call(s) made"
    for status in ("failed", "skipped", "unknown", "not-sent"):
        count = calls.count(status)
        text += f", {count} {shown_status(status)}" if count else ""
    return report.summary(calls=text)


def report_apply(applied: Applied, calls: AppliedCalls) -> None:
    report = applied.outcome
    assert report is not None
    t = inert.terminal
    if calls.plan is not None and any(o.refused for o in report.orgs):
        # Refused by apply's own proof (a saved plan): none of their calls is counted.
        refused = {o.org_id for o in report.orgs if o.refused}
        calls.plan = replace(
            calls.plan, orgs=tuple(o for o in calls.plan.orgs if o.org_id not in refused)
        )
    for org_report in report.orgs:
        org_id = t(org_report.org_id)
        if org_report.refused:
            typer.echo(
                f"{org_id}: refused, nothing was written to it: {t(org_report.refused_why)}:"
                + "".join(
                    f"\n  {t(line, limit=inert.MESSAGE_LIMIT)}" for line in org_report.refused
                ),
                err=True,
            )
        if org_report.error:
            typer.echo(
                f"{org_id}: error: {t(org_report.error, limit=inert.MESSAGE_LIMIT)}", err=True
            )
        for outcome in org_report.outcomes:
            if outcome.status != "done" and not was_not_sent(outcome):
                typer.echo(
                    f"{org_id}: {t(outcome.status)}: {t(outcome.action_id)}: {t(outcome.detail)}",
                    err=True,
                )
        for call in org_report.unknown_calls:
            typer.echo(
                f"{org_id}: answer lost: {t(call.step_id)} {t(call.route)}: "
                + (
                    f"verified {call.resolution}"
                    if call.resolution
                    else "still unknown (verification could not read)"
                )
            )
        for remaining in org_report.remaining:
            # What still differs may be a drift message (an unrevokable grant): long.
            typer.echo(f"{org_id}: still differs: {t(remaining, limit=inert.MESSAGE_LIMIT)}")
        for left_out in org_report.left_out:
            typer.echo(f"{org_id}: left out ({report.left_out_by}): {t(left_out)}")
        for unchecked in org_report.unchecked:
            typer.echo(f"{org_id}: not checked: {t(unchecked)}")
    typer.echo(apply_summary(report, calls))
    if applied.journal_failure is not None:
        raise DxorgError(applied.journal_failure)
    if applied.stopped_by is not None:
        done = calls.count("done")
        raise Interrupted(
            (
                f"Interrupted: {done} of the plan's {calls.planned} API call(s) were made "
                "(listed above), no more were sent"
                if done
                else "Interrupted: nothing was applied"
            )
            + f"; the journal {applied.journal} has every call; plan again to see what is left",
            applied.stopped_by,
        )
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def said_written(path: Path, kind: FileKind) -> None:
    note = " (the schema the files name)" if kind == "schema" else ""
    typer.echo(f"wrote {path}{note}", err=True)


def show_report(report: AccessReport, fmt: str, out: Path | None) -> None:
    """The access review in `fmt`, on stdout or in `out`; the orgs not read on stderr."""
    from reconciler.review.formats import iter_report

    # Written piece by piece: a fleet's JSON or HTML is never held whole.
    pieces = iter_report(report, fmt)
    if out is None:
        for piece in pieces:
            typer.echo(piece, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as stream:
            stream.writelines(pieces)
        typer.echo(f"wrote {out}", err=True)
    for org_review in report.orgs:
        if org_review.error:
            org_id, error = (
                inert.terminal(org_review.org_id),
                inert.terminal(org_review.error, limit=inert.MESSAGE_LIMIT),
            )
            typer.echo(f"{org_id}: not read: {error}", err=True)
    if report.has_errors:
        raise typer.Exit(1)


def log_records_on_stderr() -> AbstractContextManager[None]:
    """dxorg's log records on stderr (see presenters.log_records)."""

    def write(lines: list[str]) -> None:
        for line in lines:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    return records_as_lines(write)


def show_error(error: BaseException, *, applies: bool = False) -> int:
    """`error` shown as the README says; its exit code from the one table. `applies`: the
    command is one that writes on the platform (apply), so a signal's message says that
    nothing was; a read-only command's just names the signal."""
    code = exit_code_of(error)
    if code is None:
        raise error  # a bug in dxorg: its traceback
    if isinstance(error, KeyboardInterrupt):
        return interrupted(applies=applies)
    if isinstance(error, Terminated):
        typer.echo(
            "\nTerminated (SIGTERM): nothing was applied."
            if applies
            else "\nTerminated (SIGTERM).",
            err=True,
        )
    elif isinstance(error, Interrupted):
        typer.echo(f"{error}", err=True)
    elif isinstance(error, ManifestError):
        for problem in error.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"{len(error.problems)} problem(s) found", err=True)
    elif isinstance(error, DxorgError):
        # Messages quote the platform's answers and the manifests: foreign text.
        typer.echo(f"error: {inert.terminal_lines(error)}", err=True)
    elif isinstance(error, OSError):
        # A path the user gave that cannot be read or written (permissions, a full disk).
        typer.echo(f"error: {error.filename}: {error.strerror or error}", err=True)
    return code


def interrupted(*, applies: bool = False) -> int:
    typer.echo("\nInterrupted: nothing was applied." if applies else "\nInterrupted.", err=True)
    return EXIT_INTERRUPTED
