"""The GitHub Action's entry point: ``python -m reconciler.github_action``.

action.yml sets the inputs as ``INPUT_*`` variables; the runner sets ``GITHUB_*``. The
command is one of:

- ``validate``: check the manifests; problems become ``::error`` annotations on their lines.
- ``doctor``: check the platform read-only (``dxorg doctor``): the report to the job summary.
- ``plan``: run the doctor first (a failure stops the step), then plan read-only, save the JSON plan, write the Markdown plan to the job summary
  and, on a pull request, keep one comment per org up to date.
- ``apply``: apply a saved, reviewed plan, only if it is still exactly what the manifests
  and the live orgs give now; otherwise refuse, writing nothing.
- ``drift``: plan read-only and keep one GitHub issue per drifted org.
- ``report``: the access review, read-only: Markdown to the job summary; Markdown, CSV,
  JSON and HTML files in ``report-dir`` for an artifact, named by the step's outputs.

`main` is the one error boundary. Exit 0: done; 1: an error, a safety violation, or a
refused apply; 2: drift found, with ``fail-on-drift``.

Plan, drift and report are given only a `ReadClient`: it has no write methods and its transport
refuses any non-read API method, whatever the inputs say. Only `apply` makes a
`WriteClient`, after every refusal check has passed.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from reconciler.config_repo import (
    JOURNAL_NAME,
    RESTORED_JOURNALS_NAME,
    config_root,
    evidence_journals,
    plan_for_file,
    plan_from_file,
    plan_root,
    state_dir,
)
from reconciler.doctor_verdict import DoctorReport
from reconciler.errors import (
    DivergedPlanError,
    DxorgError,
    ManifestError,
    StalePlanError,
    UnsafePlanError,
)
from reconciler.github.api import Actor, Comment, GitHubClient, GitHubError, Issue
from reconciler.github.comments import sync_plan_comments
from reconciler.github.issues import sync_drift_issues
from reconciler.github.runner import (
    SUMMARY_LIMIT,
    InputError,
    Inputs,
    Log,
    Runner,
    Secrets,
    StepFiles,
)
from reconciler.manifest import Fleet, load_fleet
from reconciler.plan import OrgPlan, Plan, Step
from reconciler.plan_file import PlanFileError, dumps_plan, load_plan
from reconciler.platform import (
    ConfigOverrides,
    Connection,
    PlatformConfig,
    ReadClient,
    RetryPolicy,
    discover,
    limits_from_env,
    retry_policy_from_env,
)
from reconciler.render import inert
from reconciler.render.apply_markdown import render_apply_markdown
from reconciler.render.markdown import platform_markdown, render_markdown
from reconciler.render.text import render_text, summary_line

EXIT_OK, EXIT_ERROR, EXIT_DRIFT = 0, 1, 2


@dataclass(frozen=True)
class Context:
    inputs: Inputs
    runner: Runner
    env: Mapping[str, str]
    log: Log
    files: StepFiles
    secrets: Secrets


# ---------------------------------------------------------------- the platform


def _platform_config(inputs: Inputs, env: Mapping[str, str]) -> PlatformConfig:
    """Where the platform is: the inputs first, then as dx finds it.

    The token input is an override, as a CLI option would be: never put in the process
    environment or on a command line, and named "the token input" in errors.
    """
    overrides = ConfigOverrides(
        protocol=inputs.apiserver_protocol,
        host=inputs.apiserver_host,
        port=inputs.apiserver_port,
        token=inputs.token or None,
        kind="input",  # errors name "the apiserver-port input", "the token input"
    )
    return discover(env=env, overrides=overrides)


def _retry(env: Mapping[str, str]) -> RetryPolicy:
    return retry_policy_from_env(env)


def read_client(ctx: Context) -> ReadClient:
    return _connection(ctx).read_client()


def _connection(ctx: Context) -> Connection:
    """The run's one way to the platform: its config, retry policy and DXORG_* limits."""
    return Connection(
        _platform_config(ctx.inputs, ctx.env),
        retry=_retry(ctx.env),
        limits=limits_from_env(ctx.env),
    )


# ---------------------------------------------------------------- shared steps


def _manifest_paths(ctx: Context, paths: Sequence[str]) -> list[Path]:
    """The `path` input, each path checked to lie within the workspace once every link in
    it is followed. The manifests come from a pull request, which may make any directory
    of the checkout (`orgs`, or `orgs/prod`'s parent) a link to elsewhere on the runner;
    such a path is refused before anything under it is read."""
    workspace = Path(ctx.env.get("GITHUB_WORKSPACE") or Path.cwd()).resolve()
    for given in paths:
        resolved = Path(given).resolve()
        if not resolved.is_relative_to(workspace):
            raise InputError(
                f"input path: {inert.terminal(given)} resolves to {inert.terminal(resolved)}, "
                f"outside the workspace {inert.terminal(workspace)} (a symbolic link on the "
                "way leads out of the checkout): not read"
            )
    return [Path(p) for p in paths]


def _load(ctx: Context, paths: Sequence[str]) -> Fleet:
    # With allowed-orgs, a manifest naming another org is refused here, before the
    # platform is asked anything.
    fleet = load_fleet(_manifest_paths(ctx, paths), allowed_orgs=ctx.inputs.allowed_orgs or None)
    # The forwarding tokens the manifests name are secrets too: mask and scrub them.
    values = [
        ctx.env.get(org.forwarding.token_env, "")
        for org in fleet.orgs.values()
        if org.forwarding and org.forwarding.token_env
    ]
    ctx.secrets.add(*values)
    if ctx.runner.in_actions:
        ctx.log.mask(values)
    return fleet


def _restore_journals(ctx: Context, root: Path) -> Path:
    """The state directory, with the journal branch's journals restored into it (the
    journal-branch input, on a runner that names its repository)."""
    from reconciler.github.journal_branch import restore_journals

    state = state_dir(root, env=ctx.env)
    branch = ctx.inputs.journal_branch
    if branch and ctx.runner.repository:
        count = restore_journals(
            url=f"{ctx.runner.server_url}/{ctx.runner.repository}",
            branch=branch,
            token=ctx.inputs.github_token,
            into=state / RESTORED_JOURNALS_NAME,
            env=ctx.env,
        )
        ctx.log.line(f"{count} apply journal(s) restored from the {inert.terminal(branch)} branch")
    return state


def _plan_read_only(ctx: Context, fleet: Fleet) -> Plan:
    from reconciler.apply.journal import created_accounts
    from reconciler.read_and_plan import plan_fleet, platform_where

    state = _restore_journals(ctx, config_root([Path(p) for p in ctx.inputs.paths]))
    journal = Path(ctx.inputs.journal) if ctx.inputs.journal else None
    with read_client(ctx) as client:
        return plan_fleet(
            fleet,
            client,
            only=ctx.inputs.orgs or None,
            env=ctx.env,
            only_expiries=ctx.inputs.only_expiries,
            # Accounts earlier applies created: an invite a stopped run left undone is
            # planned (apply reads the same journals, so its plan is this one).
            created_accounts=created_accounts(
                evidence_journals(state, journal), platform_where(client.config)
            ),
        )


def _plan_path(ctx: Context, default_name: str) -> Path:
    if ctx.inputs.plan_file:
        return Path(ctx.inputs.plan_file)
    return (ctx.runner.temp_dir or Path.cwd()) / default_name


def _save_plan(ctx: Context, plan: Plan, path: Path) -> Path:
    """Saved with its manifest paths relative to the config repository's root, so the
    apply job finds them wherever it checks the repository out."""
    root = config_root([Path(p) for p in ctx.inputs.paths])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps_plan(plan_for_file(plan, root)), encoding="utf-8")
    return path.resolve()


def _plan_markdown(ctx: Context, plan: Plan, head: str = "") -> str:
    """The whole plan for the job summary (render_markdown opens with "## dxorg plan")."""
    provenance = ctx.runner.provenance()
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


def _github(ctx: Context) -> GitHubClient:
    return GitHubClient(
        ctx.runner.api_url, ctx.inputs.github_token, ctx.runner.repository, retry=_retry(ctx.env)
    )


# ---------------------------------------------------------------- commands


def run_validate(ctx: Context) -> int:
    fleet = _load(ctx, ctx.inputs.paths)
    line = f"OK: {len(fleet.orgs)} org(s) in {len(fleet.files)} file(s)"
    ctx.log.line(line)
    ctx.files.summary(f"# dxorg validate\n\n✅ {line}")
    ctx.files.outputs({"summary": line, "has-changes": "false", "plan-file": ""})
    return EXIT_OK


def _doctor(ctx: Context, fleet: Fleet) -> DoctorReport:
    """`dxorg doctor` on the platform and the manifests: to the log and the job summary."""
    from reconciler.doctor import doctor_orgs, examine
    from reconciler.render.doctor import doctor_markdown, doctor_text

    with read_client(ctx) as client:
        report = examine(doctor_orgs(fleet, ctx.inputs.orgs), client, env=ctx.env)
    # Its lines quote the platform: one visible line each, in a stop-commands window.
    with ctx.log.group("dxorg doctor"), ctx.log.commands_stopped():
        for line in doctor_text(report).plain.rstrip("\n").split("\n"):
            ctx.log.line(inert.log_line(line))
    t = inert.terminal
    for check in report.checks:
        if check.status == "fail":
            detail = t(check.detail, limit=inert.MESSAGE_LIMIT)
            ctx.log.annotate("error", f"doctor: {t(check.scope)}: {check.name}: {detail}")
    ctx.files.summary(doctor_markdown(report))
    return report


def run_doctor(ctx: Context) -> int:
    report = _doctor(ctx, _load(ctx, ctx.inputs.paths))
    summary = inert.terminal(report.summary(), limit=inert.MESSAGE_LIMIT)
    ctx.files.outputs({"summary": summary, "has-changes": "false", "plan-file": ""})
    return report.exit_code


def run_plan(ctx: Context) -> int:
    fleet = _load(ctx, ctx.inputs.paths)
    # The platform is checked first. Where a plan would mislead (the platform answers
    # differently from what dxorg reads, the server or the token is wrong) none is made; an
    # org's own failure the plan reports itself, for that org (and the step still fails).
    doctor = _doctor(ctx, fleet)
    if doctor.stops_planning:
        summary = inert.terminal(doctor.summary(), limit=inert.MESSAGE_LIMIT)
        ctx.files.outputs({"summary": summary, "has-changes": "false", "plan-file": ""})
        return EXIT_ERROR
    plan = _plan_read_only(ctx, fleet)
    path = _save_plan(ctx, plan, _plan_path(ctx, "dxorg-plan.json"))
    line = summary_line(plan)
    log_plan(ctx.log, plan)
    ctx.files.summary(_plan_markdown(ctx, plan))
    ctx.files.outputs(
        {"has-changes": _bool(plan.has_changes), "plan-file": str(path), "summary": line}
    )
    number = ctx.runner.pull_request_number
    if ctx.inputs.comment and number is not None:
        _comment(ctx, number, plan)
    elif ctx.inputs.comment:
        event = inert.terminal(ctx.runner.event_name or "none")
        ctx.log.line(f"not a pull_request event ({event}): no comment")
    return EXIT_ERROR if doctor.blocks or plan.has_errors or not plan.applyable else EXIT_OK


def _identity(ctx: Context, github: GitHubClient, what: str) -> Actor | None:
    """Whom the github-token acts as: dxorg touches only comments and issues it wrote."""
    me = github.whoami()
    if me is None:
        ctx.log.annotate(
            "warning",
            f"cannot tell which {what} dxorg wrote: GitHub did not say whom the github-token "
            f"acts as (GraphQL viewer, GET /user); no {what} were touched",
        )
    return me


def _report_foreign(ctx: Context, found: Sequence[Comment | Issue], what: str) -> None:
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
        ctx.log.annotate("warning", said(inert.terminal(item.author), inert.terminal(url)))
        lines.append(f"- {said(inert.markdown_text(item.author), inert.code_span(url))}")
    ctx.files.summary("### ⚠️ Not written by dxorg\n\n" + "\n".join(lines))


def _comment(ctx: Context, number: int, plan: Plan) -> None:
    try:
        with _github(ctx) as github:
            me = _identity(ctx, github, "pull-request comments")
            if me is None:
                return
            result = sync_plan_comments(
                github,
                number,
                plan.orgs,
                me=me,
                # Which platform, as whom: the apply of this plan refuses any other.
                provenance=" · ".join(
                    p for p in (ctx.runner.provenance(), f"on {platform_markdown(plan)}") if p
                ),
                # Comments of orgs left out of this plan say "no longer planned" only when
                # the whole fleet was planned: no org filter, directories only.
                all_planned=not ctx.inputs.orgs and all(Path(p).is_dir() for p in ctx.inputs.paths),
                scrub=ctx.secrets.scrub,
            )
    except GitHubError as exc:
        if exc.status == 403:  # a fork's pull request gets a read-only token: say so, go on
            ctx.log.annotate("warning", f"cannot comment on the pull request: {exc}")
            return
        raise
    _report_foreign(ctx, result.foreign, "plan comment")
    ctx.log.line(
        f"PR #{number} comments: {len(result.created)} posted, {len(result.updated)} edited, "
        f"{len(result.unchanged)} unchanged, {len(result.deleted)} deleted"
    )


def run_drift(ctx: Context) -> int:
    fleet = _load(ctx, ctx.inputs.paths)
    plan = _plan_read_only(ctx, fleet)
    path = _save_plan(ctx, plan, _plan_path(ctx, "dxorg-drift.json"))
    # Changes to make, or drift only a person can resolve (an unrevokable expired grant).
    drifted = [o.org_id for o in plan.orgs if o.has_changes or o.unresolved]
    line = (
        f"Drift in {len(drifted)} of {len(plan.orgs)} org(s): {', '.join(drifted)}. {summary_line(plan)}"
        if drifted
        else f"No drift in {len(plan.orgs)} org(s). {summary_line(plan)}"
    )
    log_plan(ctx.log, plan)
    ctx.files.summary(_plan_markdown(ctx, plan, f"# dxorg drift\n\n**{line}**"))
    ctx.files.outputs(
        {"has-changes": _bool(bool(drifted)), "plan-file": str(path), "summary": line}
    )
    with _github(ctx) as github:
        me = _identity(ctx, github, "drift issues")
        result = (
            sync_drift_issues(
                github,
                plan.orgs,
                me=me,
                provenance=ctx.runner.provenance(),
                scrub=ctx.secrets.scrub,
            )
            if me is not None
            else None
        )
    if result is not None:
        _report_foreign(ctx, result.foreign, "drift issue")
        ctx.log.line(
            f"drift issues: {len(result.opened)} opened, {len(result.updated)} updated, "
            f"{len(result.closed)} closed"
        )
    for org_id in drifted:
        ctx.log.annotate("warning", f"{inert.terminal(org_id)} has drifted from its manifest")
    if plan.has_errors:
        return EXIT_ERROR
    return EXIT_DRIFT if drifted and ctx.inputs.fail_on_drift else EXIT_OK


REPORT_FILES = {
    "markdown": "access-review.md",
    "csv": "access-review.csv",
    "json": "access-review.json",
    "html": "access-review.html",
}


def _report_journals(ctx: Context) -> list[Path]:
    """The `journal` input's file (by default apply's, in the state directory) when it
    exists, and every file the `report-journals` input names or matches (e.g. journals
    downloaded from apply runs' artifacts)."""
    state = _restore_journals(ctx, config_root([Path(p) for p in ctx.inputs.paths]))
    journal = Path(ctx.inputs.journal) if ctx.inputs.journal else state / JOURNAL_NAME
    found = [p for p in evidence_journals(state, journal) if p.is_file()]
    for pattern in ctx.inputs.report_journals:
        matches = sorted(Path(m) for m in glob.glob(pattern, recursive=True))
        if not matches:
            raise DxorgError(f"input report-journals: {pattern}: no such file")
        found += [m for m in matches if m.is_file()]
    return list(dict.fromkeys(found))


def run_report(ctx: Context) -> int:
    """The access review: read-only, like plan; an org not read fails the step."""
    from reconciler.review.as_markdown import render_report_markdown
    from reconciler.review.collect import EvidenceSources, review_fleet
    from reconciler.review.evidence import load_logins
    from reconciler.review.formats import render_report

    fleet = _load(ctx, ctx.inputs.paths)
    logins = load_logins(Path(ctx.inputs.github_logins)) if ctx.inputs.github_logins else None
    with contextlib.ExitStack() as stack:
        # On GitHub (a repository and a token), the approval evidence of each line.
        github = (
            stack.enter_context(_github(ctx))
            if ctx.inputs.github_token and ctx.runner.repository
            else None
        )
        sources = EvidenceSources(github=github, journals=_report_journals(ctx), logins=logins)
        client = stack.enter_context(read_client(ctx))
        report = review_fleet(fleet, client, only=ctx.inputs.orgs or None, sources=sources)
    directory = (
        Path(ctx.inputs.report_dir)
        if ctx.inputs.report_dir
        else (ctx.runner.temp_dir or Path.cwd()) / "dxorg-report"
    )
    directory.mkdir(parents=True, exist_ok=True)
    texts = {fmt: render_report(report, fmt) for fmt in REPORT_FILES}
    paths: dict[str, str] = {}
    for fmt, name in REPORT_FILES.items():
        path = directory / name
        path.write_text(ctx.secrets.scrub(texts[fmt]), encoding="utf-8")
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
    provenance = ctx.runner.provenance()
    summary = texts["markdown"].removesuffix("\n")  # the whole report, as the file has it
    if len(summary) + len(provenance) > SUMMARY_LIMIT - 1000:
        # Too big for a job summary: what needs attention and the counts; the rest is in the files.
        summary = "\n\n---\n\n".join(render_report_markdown(report, members=False))
    ctx.files.summary(f"{provenance}\n\n{summary}" if provenance else summary)
    ctx.log.line(line)
    for org in report.orgs:
        if org.error:
            ctx.log.annotate(
                "error",
                f"{inert.terminal(org.org_id)}: not read: {inert.terminal(org.error, limit=inert.MESSAGE_LIMIT)}",
                file=org.source,
            )
    for presence in report.departed:
        if presence.present_in:
            orgs = inert.terminal(", ".join(org for org, _ in presence.present_in))
            user = inert.terminal(presence.departure.user_id)
            ctx.log.annotate("warning", f"{user} has departed and is still in {orgs}")
    ctx.files.outputs(
        {
            "summary": line,
            "has-changes": _bool(c["drifted"] > 0),
            "report-dir": str(directory.resolve()),
            "report-markdown": paths["markdown"],
            "report-csv": paths["csv"],
            "report-json": paths["json"],
            "report-html": paths["html"],
        }
    )
    return EXIT_ERROR if report.has_errors else EXIT_OK


def run_apply(ctx: Context) -> int:
    """Apply the reviewed plan, or refuse it: never anything else.

    The core proves the plan first (the same manifests, planned again on the live orgs,
    must give exactly it, and pass every rail) with a read-only client; a client that can
    write exists only after that.
    """
    from reconciler.apply.lock import apply_lock
    from reconciler.apply.run import reviewed_orgs

    if not ctx.inputs.plan_file:
        raise DxorgError("apply needs the plan-file input: the saved plan that was reviewed")
    plan_file = Path(ctx.inputs.plan_file)
    plan = load_plan(plan_file)
    root = plan_root(plan_file, plan, None)
    plan = plan_from_file(plan, root)
    _refuse_orgs_not_allowed(ctx, plan_file, plan)
    orgs = reviewed_orgs(plan, ctx.inputs.orgs or None)
    has_changes = any(o.actions for o in orgs)
    ctx.files.outputs(
        {
            "has-changes": _bool(has_changes),
            "plan-file": str(Path(ctx.inputs.plan_file).resolve()),
        }
    )
    if not orgs:
        line = "Nothing to apply: the reviewed plan has no changes."
        unchecked = [(o.org_id, u) for o in plan.orgs for u in o.unchecked]
        if unchecked:
            line += f" Job-log forwarding was not checked in {len(unchecked)} org(s)."
        for org_id, message in unchecked:
            ctx.log.annotate("warning", f"{inert.terminal(org_id)}: {inert.terminal(message)}")
        ctx.log.line(line)
        listed = "".join(
            f"\n- {inert.code_span(org_id)}: {inert.markdown_text(message)}"
            for org_id, message in unchecked
        )
        ctx.files.summary(f"# dxorg apply\n\n{line}\n{listed}")
        ctx.files.outputs({"summary": line})
        return EXIT_ERROR if unchecked else EXIT_OK
    journal = (
        Path(ctx.inputs.journal)
        if ctx.inputs.journal
        else state_dir(root, env=ctx.env) / JOURNAL_NAME
    )
    # One apply per state directory on this runner (the workflow's concurrency group
    # serialises runners); the kernel's lock, gone with the process.
    with apply_lock(journal.parent):
        return _apply_locked(ctx, plan, orgs, journal, _restore_journals(ctx, root))


def _refuse_orgs_not_allowed(ctx: Context, plan_file: Path, plan: Plan) -> None:
    """A plan naming an org outside allowed-orgs is not applied, not even in part: it was
    not made by this repository's plan workflow as the base branch has it."""
    allowed = ctx.inputs.allowed_orgs
    outside = [o for o in plan.orgs if allowed and o.org_id not in allowed]
    if outside:
        named = ", ".join(f"{o.org_id} ({o.source}: org)" for o in outside)
        raise DxorgError(
            f"{plan_file}: the plan includes {inert.terminal(named)}, not in the allowed-orgs "
            f"input ({', '.join(allowed)}): nothing applied"
        )


def _apply_locked(ctx: Context, plan: Plan, orgs: list[OrgPlan], journal: Path, state: Path) -> int:
    from reconciler.apply.journal import created_accounts
    from reconciler.apply.run import apply_reviewed
    from reconciler.apply.stopping import StoppingJournal, stop_on_signals
    from reconciler.read_and_plan import platform_where

    fleet = _load(ctx, sorted({o.source for o in orgs}))
    connection = _connection(ctx)
    stop = threading.Event()
    stopped_by: list[int] = []
    audit = StoppingJournal(journal, stop)

    def cancelled(signum: int) -> None:
        # A cancelled run gets SIGINT, then SIGTERM: the first stops the sending; the calls
        # in flight finish and the journal's run ends (the runner kills the job later).
        if not stop.is_set():
            stopped_by.append(128 + signum)
            audit.signalled(signum)
            connection.health.stop_writes("interrupted")  # the call in flight is not retried
            ctx.log.line(
                f"{signal.Signals(signum).name}: finishing the calls in flight, sending no more"
            )

    # Progress lines carry the platform's error messages: inside a stop-commands window.
    with ctx.log.group("dxorg apply"), stop_on_signals(cancelled), ctx.log.commands_stopped():

        def progress(org_id: str, step: Step, status: str, detail: str | None) -> None:
            suffix = f": {inert.terminal(detail)}" if detail else ""
            line = f"{status:>7} {inert.terminal(step.id)} {inert.terminal(step.call.route)}"
            ctx.log.line(inert.log_line(line + suffix))

        # Overrides and --skip-removals are a human's decision at a terminal: the Action
        # never gives them, so a plan made with either is refused. `only-expiries` must be
        # the plan's own, like any option that changes what is applied.
        report = apply_reviewed(
            plan,
            fleet,
            connection,
            journal=audit,
            env=ctx.env,
            only_expiries=ctx.inputs.only_expiries,
            only=ctx.inputs.orgs or None,
            created_accounts=created_accounts(
                evidence_journals(state, journal), platform_where(connection.config)
            ),
            progress=progress,
        )
    line = report.summary()
    for org in report.orgs:
        if org.error:
            ctx.log.annotate(
                "error",
                f"{inert.terminal(org.org_id)}: {inert.terminal(org.error, limit=inert.MESSAGE_LIMIT)}",
            )
        for violation in org.refused:
            ctx.log.annotate(
                "error",
                f"{inert.terminal(org.org_id)}: refused, nothing written to it: "
                f"{inert.terminal(violation, limit=inert.MESSAGE_LIMIT)}",
            )
        for message in org.unchecked:
            ctx.log.annotate("warning", f"{inert.terminal(org.org_id)}: {inert.terminal(message)}")
    ctx.log.line(line)
    ctx.files.summary(render_apply_markdown(report, ctx.runner.provenance()))
    ctx.files.outputs({"summary": line})
    failure = audit.failure_message()
    if failure is not None:
        raise DxorgError(failure)
    if stopped_by:
        ctx.log.annotate(
            "error", "cancelled: no more calls were sent; the journal has every call; plan again"
        )
        return stopped_by[0]
    if ctx.inputs.only_expiries and not any(
        o.failed or o.remaining or o.unchecked for o in report.orgs
    ):
        # What only-expiries left out is other workflows' to apply (and the drift run's to
        # report): the expiries converged, so the scheduled job succeeds.
        return EXIT_OK
    return EXIT_OK if report.exit_code == 0 else EXIT_ERROR


def _bool(value: bool) -> str:
    return "true" if value else "false"


# ---------------------------------------------------------------- the error boundary

COMMANDS = {
    "validate": run_validate,
    "doctor": run_doctor,
    "plan": run_plan,
    "apply": run_apply,
    "drift": run_drift,
    "report": run_report,
}

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


def _security_context_token(env: Mapping[str, str]) -> str:
    """The token in DX_SECURITY_CONTEXT, if the runner's environment carries one: masked
    and scrubbed like the token input."""
    try:
        context = json.loads(env.get("DX_SECURITY_CONTEXT", ""))
    except ValueError:
        return ""
    token = context.get("auth_token") if isinstance(context, dict) else None
    return token.strip() if isinstance(token, str) else ""


def main(env: Mapping[str, str] | None = None, *, stdout: TextIO | None = None) -> int:
    """Run one command; return the exit status (0 ok, 1 error or refused, 2 drift)."""
    environ: Mapping[str, str] = dict(os.environ if env is None else env)
    secrets = Secrets()
    secrets.add(
        environ.get("INPUT_TOKEN", "").strip(),
        environ.get("INPUT_GITHUB_TOKEN", "").strip(),
        _security_context_token(environ),
    )
    log = Log(stdout or sys.stdout, secrets)
    command = environ.get("INPUT_COMMAND", "").strip() or "(none)"
    files: StepFiles | None = None
    try:
        runner = Runner.from_env(environ)
        files = StepFiles(runner, secrets)
        if runner.in_actions:
            log.mask(secrets.values)
        inputs = Inputs.from_env(environ)
        ctx = Context(inputs, runner, environ, log, files, secrets)
        with log.records():
            return COMMANDS[inputs.command](ctx)
    except ManifestError as exc:
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
        return EXIT_ERROR
    except (StalePlanError, UnsafePlanError, PlanFileError, DivergedPlanError) as exc:
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
        return EXIT_ERROR
    except (DxorgError, OSError) as exc:  # OSError: a path input that cannot be written
        text = inert.terminal_lines(str(exc) or type(exc).__name__)
        log.annotate("error", text)
        if files is not None:
            block = inert.code_block(text.split("\n"))
            files.summary(f"# dxorg {command}\n\n❌ **Failed**\n\n{block}")
            files.outputs({"summary": f"Failed: {text.splitlines()[0]}"})
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
