"""The GitHub presenter: what the Action shows of a command's result, in the job's log
(workflow commands: annotations, groups, stop-commands windows), its job summary and its
step outputs. Every foreign value enters through render.inert, and every text passes
through `Secrets.scrub` on its way out (reconciler.github.runner).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import (
    DivergedPlanError,
    DxorgError,
    ManifestError,
    StalePlanError,
    UnsafePlanError,
)
from reconciler.github.runner import SUMMARY_LIMIT, Log, StepFiles
from reconciler.plan_file import PlanFileError
from reconciler.render import inert
from reconciler.render.apply_markdown import render_apply_markdown
from reconciler.render.markdown import render_markdown
from reconciler.render.progress import call_line
from reconciler.render.text import render_text

if TYPE_CHECKING:
    from reconciler.apply.executor import ProgressHook
    from reconciler.apply.outcomes import ApplyOutcome, Status
    from reconciler.doctor_verdict import DoctorReport
    from reconciler.github.api import Comment, Issue
    from reconciler.plan import Plan, Step
    from reconciler.review.value import AccessReport


def as_output(value: bool) -> str:
    return "true" if value else "false"


def plan_markdown(plan: Plan, provenance: str, head: str = "") -> str:
    """The whole plan for the job summary (render_markdown opens with "## dxorg plan")."""
    lead = "\n\n".join(p for p in (head, provenance) if p)
    body = "\n\n---\n\n".join(render_markdown(plan))
    return f"{lead}\n\n{body}" if lead else body


def log_plan(log: Log, plan: Plan) -> None:
    """The text plan in the log. Its foreign values are one visible line each (see
    render.inert), and it is written inside a stop-commands window: no line of it is run
    as a workflow command."""
    with log.group("dxorg plan"), log.commands_stopped():
        for line in render_text(plan).rstrip("\n").split("\n"):
            log.line(inert.log_line(line))
    t = inert.terminal
    for org in plan.orgs:
        if org.error:
            log.annotate(
                "error",
                f"{t(org.org_id)}: not planned: {t(org.error, limit=inert.MESSAGE_LIMIT)}",
                file=org.source,
            )
        for violation in org.blocking_violations:
            log.annotate(
                "error",
                f"{t(org.org_id)}: {t(violation.rule)}: {t(violation.message, limit=inert.MESSAGE_LIMIT)}",
                file=org.source,
            )
        for unchecked in org.unchecked:
            log.annotate("warning", f"{t(org.org_id)}: {t(unchecked)}", file=org.source)


def show_doctor(log: Log, files: StepFiles, report: DoctorReport) -> None:
    """`dxorg doctor`'s report: to the log and the job summary."""
    from reconciler.render.doctor import doctor_markdown, doctor_text

    # Its lines quote the platform: one visible line each, in a stop-commands window.
    with log.group("dxorg doctor"), log.commands_stopped():
        for line in doctor_text(report).plain.rstrip("\n").split("\n"):
            log.line(inert.log_line(line))
    t = inert.terminal
    for check in report.checks:
        if check.status == "fail":
            detail = t(check.detail, limit=inert.MESSAGE_LIMIT)
            log.annotate("error", f"doctor: {t(check.scope)}: {check.name}: {detail}")
    files.summary(doctor_markdown(report))


def report_foreign(log: Log, files: StepFiles, found: Sequence[Comment | Issue], what: str) -> None:
    """Someone else's comment or issue carrying dxorg's marker: named, never trusted."""
    if not found:
        return

    def said(author: str, url: str) -> str:
        return (
            f"a {what} posing as dxorg's was written by {author} ({url}): "
            "not edited and not trusted; dxorg's own is posted separately"
        )

    lines = []
    for item in found:
        # The author and the address are GitHub's text: inert, in each medium.
        url = item.url or "no url"
        log.annotate("warning", said(inert.terminal(item.author), inert.terminal(url)))
        lines.append(f"- {said(inert.markdown_text(item.author), inert.code_span(url))}")
    files.summary("### ⚠️ Not written by dxorg\n\n" + "\n".join(lines))


REPORT_FILES = {
    "markdown": "access-review.md",
    "csv": "access-review.csv",
    "json": "access-review.json",
    "html": "access-review.html",
}


def _write_scrubbed(path: Path, pieces: Iterable[str], scrub: Callable[[str], str]) -> None:
    """`pieces` to `path`, scrubbed a run of whole lines at a time: no secret (nor any line
    of one, see Secrets.add) spans a line break, so none can hide across two pieces."""
    with path.open("w", encoding="utf-8") as out:
        pending = ""
        for piece in pieces:
            pending += piece
            end = pending.rfind("\n") + 1
            if end:
                out.write(scrub(pending[:end]))
                pending = pending[end:]
        out.write(scrub(pending))


def show_report(
    log: Log,
    files: StepFiles,
    report: AccessReport,
    directory: Path,
    provenance: str,
    scrub: Callable[[str], str],
) -> None:
    """The access review: Markdown to the job summary; Markdown, CSV, JSON and HTML files
    in `directory` for an artifact, named by the step's outputs."""
    from reconciler.review.as_markdown import render_report_markdown
    from reconciler.review.formats import iter_report, render_report

    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    for fmt, name in REPORT_FILES.items():
        path = directory / name
        # Streamed, one format after the other: a big fleet's JSON and HTML are never
        # held whole (the Markdown is, for the job summary, below).
        _write_scrubbed(path, iter_report(report, fmt), scrub)
        paths[fmt] = str(path.resolve())
    c = report.counts()
    flagged = sum(1 for approval in report.approvals if approval.flags)
    line = (
        f"Access review of {c['orgs']} org(s): {c['memberships']} membership(s) of "
        f"{c['users']} user(s); {c['drifted']} drifted, {c['departedPresent']} departed "
        f"user(s) still present, {c['expiring'] + c['expired']} self-grant(s) expired or "
        f"expiring within {report.expiry_days} days"
        + (f"; {c['errors']} org(s) not read" if c["errors"] else "")
        + (f"; {flagged} change(s) without an independent approval" if flagged else "")
        + "."
    )
    summary = scrub(render_report(report, "markdown")).removesuffix("\n")  # as the file has it
    if len(summary) + len(provenance) > SUMMARY_LIMIT - 1000:
        # Too big for a job summary: what needs attention and the counts; the rest is in the files.
        summary = "\n\n---\n\n".join(render_report_markdown(report, members=False))
    files.summary(f"{provenance}\n\n{summary}" if provenance else summary)
    log.line(line)
    for org in report.orgs:
        if org.error:
            log.annotate(
                "error",
                f"{inert.terminal(org.org_id)}: not read: {inert.terminal(org.error, limit=inert.MESSAGE_LIMIT)}",
                file=org.source,
            )
    for presence in report.departed:
        if presence.present_in:
            orgs = inert.terminal(", ".join(org for org, _ in presence.present_in))
            user = inert.terminal(presence.departure.user_id)
            log.annotate("warning", f"{user} has departed and is still in {orgs}")
    files.outputs(
        {
            "summary": line,
            "has-changes": as_output(c["drifted"] > 0),
            "report-dir": str(directory.resolve()),
            "report-markdown": paths["markdown"],
            "report-csv": paths["csv"],
            "report-json": paths["json"],
            "report-html": paths["html"],
        }
    )


def show_nothing_to_apply(log: Log, files: StepFiles, plan: Plan) -> bool:
    """A reviewed plan without changes; True if it left job-log forwarding unchecked."""
    line = "Nothing to apply: the reviewed plan has no changes."
    unchecked = [(o.org_id, u) for o in plan.orgs for u in o.unchecked]
    if unchecked:
        line += f" Job-log forwarding was not checked in {len(unchecked)} org(s)."
    for org_id, message in unchecked:
        log.annotate("warning", f"{inert.terminal(org_id)}: {inert.terminal(message)}")
    log.line(line)
    listed = "".join(
        f"\n- {inert.code_span(org_id)}: {inert.markdown_text(message)}"
        for org_id, message in unchecked
    )
    files.summary(f"# dxorg apply\n\n{line}\n{listed}")
    files.outputs({"summary": line})
    return bool(unchecked)


@contextmanager
def apply_progress(log: Log, _plan: Plan) -> Iterator[ProgressHook]:
    """One log line per API call. They carry the platform's error messages: inside a
    stop-commands window."""
    with log.group("dxorg apply"), log.commands_stopped():

        def line(org_id: str, step: Step, status: Status, detail: str | None) -> None:
            log.line(inert.log_line(call_line(step, status, detail)))

        yield line


def said_cancelled(log: Log, signum: int, again: bool) -> None:
    """A cancelled run gets SIGINT, then SIGTERM: the first stops the sending; the calls
    in flight finish and the journal's run ends (the runner kills the job later)."""
    import signal

    if not again:
        log.line(f"{signal.Signals(signum).name}: finishing the calls in flight, sending no more")


def show_applied(log: Log, files: StepFiles, report: ApplyOutcome, provenance: str) -> None:
    """The apply's summary line in the log, its report in the job summary."""
    line = report.summary()
    for org in report.orgs:
        if org.error:
            log.annotate(
                "error",
                f"{inert.terminal(org.org_id)}: {inert.terminal(org.error, limit=inert.MESSAGE_LIMIT)}",
            )
        for violation in org.refused:
            log.annotate(
                "error",
                f"{inert.terminal(org.org_id)}: refused, nothing written to it: "
                f"{inert.terminal(violation, limit=inert.MESSAGE_LIMIT)}",
            )
        for message in org.unchecked:
            log.annotate("warning", f"{inert.terminal(org.org_id)}: {inert.terminal(message)}")
    log.line(line)
    files.summary(render_apply_markdown(report, provenance))
    files.outputs({"summary": line})


REFUSALS: dict[type[DxorgError], str] = {
    StalePlanError: "stale",
    DivergedPlanError: "not what was reviewed",
    UnsafePlanError: "unsafe",
    PlanFileError: "not a readable plan",
}
REMEDY = (
    "Nothing was applied. Plan again (re-run the plan workflow, or run the apply workflow "
    "by hand so a fresh plan is reviewed in its job summary), then apply that plan."
)


def show_error(log: Log, files: StepFiles | None, command: str, exc: BaseException) -> None:
    """An error that ended the run: annotated in the log; in the job summary and the
    summary output once the step's files are known."""
    if isinstance(exc, ManifestError):
        for problem in exc.problems:
            log.annotate(
                "error", problem.message, file=problem.file, line=problem.line, col=problem.column
            )
        log.line(f"{len(exc.problems)} problem(s) found")
        if files is not None:
            listed = "\n".join(
                f"- {inert.code_span(f'{p.file}:{p.line}:{p.column}')}: "
                f"{inert.markdown_text(p.message)}"
                for p in exc.problems
            )
            files.summary(
                f"# dxorg {command}\n\n❌ **{len(exc.problems)} problem(s) in the manifests**\n\n{listed}"
            )
            files.outputs({"summary": f"{len(exc.problems)} problem(s) in the manifests"})
        return
    if isinstance(exc, (StalePlanError, UnsafePlanError, PlanFileError, DivergedPlanError)):
        # The messages quote the plan's summaries and the platform's answers: foreign text.
        log.annotate("error", f"refused: {inert.terminal_lines(exc)}")
        if files is not None:
            kind = REFUSALS.get(type(exc), "refused")
            first, _, rest = str(exc).partition("\n")
            details = inert.code_block(rest.strip().split("\n")) + "\n\n" if rest.strip() else ""
            files.summary(
                f"# dxorg {command}\n\n⛔ **Refused ({kind}): {inert.markdown_text(first)}**\n\n"
                + details
                + REMEDY
            )
            files.outputs({"summary": f"Refused ({kind}): {inert.terminal(first)}"})
        return
    text = inert.terminal_lines(str(exc) or type(exc).__name__)
    log.annotate("error", text)
    if files is not None:
        block = inert.code_block(text.split("\n"))
        files.summary(f"# dxorg {command}\n\n❌ **Failed**\n\n{block}")
        files.outputs({"summary": f"Failed: {text.splitlines()[0]}"})
