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

import functools
import glob
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from reconciler.commands.doctor import DoctorRequest, doctor
from reconciler.commands.exit_codes import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    exit_code_of,
    plan_exit_code,
)
from reconciler.commands.plan import PlanRequest, plan
from reconciler.commands.platform import PlatformRequest
from reconciler.commands.validate import Manifests
from reconciler.commands.validate import validate as validate_manifests
from reconciler.config_repo import (
    RESTORED_JOURNALS_NAME,
)
from reconciler.errors import (
    DxorgError,
)
from reconciler.github.api import Actor, GitHubClient, GitHubError
from reconciler.github.comments import sync_plan_comments
from reconciler.github.issues import sync_drift_issues
from reconciler.github.runner import (
    InputError,
    Inputs,
    Log,
    Runner,
    Secrets,
    StepFiles,
)
from reconciler.manifest import Fleet
from reconciler.plan import OrgPlan, Plan
from reconciler.platform import ConfigOverrides, RetryPolicy, retry_policy_from_env
from reconciler.presenters.github import (
    apply_progress,
    as_output,
    log_plan,
    plan_markdown,
    report_foreign,
    said_cancelled,
    show_applied,
    show_doctor,
    show_error,
    show_nothing_to_apply,
    show_report,
)
from reconciler.render import inert
from reconciler.render.markdown import platform_markdown
from reconciler.render.text import summary_line

if TYPE_CHECKING:
    pass

EXIT_DRIFT = EXIT_CHANGES


@dataclass(frozen=True)
class Context:
    inputs: Inputs
    runner: Runner
    env: Mapping[str, str]
    log: Log
    files: StepFiles
    secrets: Secrets


# ---------------------------------------------------------------- the platform


def _platform(ctx: Context) -> PlatformRequest:
    """Where the platform is: the inputs first, then as dx finds it; the journal branch's
    journals restored into the state directory before any command reads them.

    The token input is an override, as a CLI option would be: never put in the process
    environment or on a command line, and named "the token input" in errors.
    """
    overrides = ConfigOverrides(
        protocol=ctx.inputs.apiserver_protocol,
        host=ctx.inputs.apiserver_host,
        port=ctx.inputs.apiserver_port,
        token=ctx.inputs.token or None,
        kind="input",  # errors name "the apiserver-port input", "the token input"
    )
    return PlatformRequest(
        env=ctx.env, overrides=overrides, on_state=functools.partial(_restore_journals, ctx)
    )


def _retry(env: Mapping[str, str]) -> RetryPolicy:
    return retry_policy_from_env(env)


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


def _manifests(ctx: Context, paths: Sequence[str]) -> Manifests:
    # With allowed-orgs, a manifest naming another org is refused as it is loaded, before
    # the platform is asked anything.
    return Manifests(
        tuple(_manifest_paths(ctx, paths)),
        ctx.inputs.allowed_orgs,
        loaded=functools.partial(_mask_forwarding_tokens, ctx),
    )


def _mask_forwarding_tokens(ctx: Context, fleet: Fleet) -> None:
    """The forwarding tokens the manifests name are secrets too: mask and scrub them."""
    values = [
        ctx.env.get(org.forwarding.token_env, "")
        for org in fleet.orgs.values()
        if org.forwarding and org.forwarding.token_env
    ]
    ctx.secrets.add(*values)
    if ctx.runner.in_actions:
        ctx.log.mask(values)


def _restore_journals(ctx: Context, state: Path) -> None:
    """The journal branch's journals restored into the state directory (the
    journal-branch input, on a runner that names its repository)."""
    from reconciler.github.journal_branch import restore_journals

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


def _plan_request(ctx: Context, default_name: str, *, doctor_first: bool) -> PlanRequest:
    """Plan, read-only, saving the plan with its manifest paths relative to the config
    repository's root, so the apply job finds them wherever it checks the repository out."""
    return PlanRequest(
        _manifests(ctx, ctx.inputs.paths),
        _platform(ctx),
        only=ctx.inputs.orgs,
        only_expiries=ctx.inputs.only_expiries,
        journal=Path(ctx.inputs.journal) if ctx.inputs.journal else None,
        save_to=_plan_path(ctx, default_name),
        doctor_first=doctor_first,
    )


def _plan_path(ctx: Context, default_name: str) -> Path:
    if ctx.inputs.plan_file:
        return Path(ctx.inputs.plan_file)
    return (ctx.runner.temp_dir or Path.cwd()) / default_name


def _github(ctx: Context) -> GitHubClient:
    return GitHubClient(
        ctx.runner.api_url, ctx.inputs.github_token, ctx.runner.repository, retry=_retry(ctx.env)
    )


# ---------------------------------------------------------------- commands


def run_validate(ctx: Context) -> int:
    line = validate_manifests(_manifests(ctx, ctx.inputs.paths)).line
    ctx.log.line(line)
    ctx.files.summary(f"# dxorg validate\n\n✅ {line}")
    ctx.files.outputs({"summary": line, "has-changes": "false", "plan-file": ""})
    return EXIT_OK


def run_doctor(ctx: Context) -> int:
    report = doctor(
        DoctorRequest(
            _platform(ctx),
            _manifests(ctx, ctx.inputs.paths),
            only=ctx.inputs.orgs,
            config_error_as_check=False,
        )
    )
    show_doctor(ctx.log, ctx.files, report)
    summary = inert.terminal(report.summary(), limit=inert.MESSAGE_LIMIT)
    ctx.files.outputs({"summary": summary, "has-changes": "false", "plan-file": ""})
    return report.exit_code


def run_plan(ctx: Context) -> int:
    # The platform is checked first. Where a plan would mislead (the platform answers
    # differently from what dxorg reads, the server or the token is wrong) none is made; an
    # org's own failure the plan reports itself, for that org (and the step still fails).
    planned = plan(_plan_request(ctx, "dxorg-plan.json", doctor_first=True))
    doctor_report = planned.doctor
    assert doctor_report is not None
    show_doctor(ctx.log, ctx.files, doctor_report)
    if planned.plan is None:
        summary = inert.terminal(doctor_report.summary(), limit=inert.MESSAGE_LIMIT)
        ctx.files.outputs({"summary": summary, "has-changes": "false", "plan-file": ""})
        return EXIT_ERROR
    made = planned.plan
    line = summary_line(made)
    log_plan(ctx.log, made)
    ctx.files.summary(plan_markdown(made, ctx.runner.provenance()))
    ctx.files.outputs(
        {
            "has-changes": as_output(made.has_changes),
            "plan-file": str(planned.saved),
            "summary": line,
        }
    )
    number = ctx.runner.pull_request_number
    if ctx.inputs.comment and number is not None:
        _comment(ctx, number, made)
    elif ctx.inputs.comment:
        event = inert.terminal(ctx.runner.event_name or "none")
        ctx.log.line(f"not a pull_request event ({event}): no comment")
    if doctor_report.blocks:
        return EXIT_ERROR
    return plan_exit_code(made, detailed=False)


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
    report_foreign(ctx.log, ctx.files, result.foreign, "plan comment")
    ctx.log.line(
        f"PR #{number} comments: {len(result.created)} posted, {len(result.updated)} edited, "
        f"{len(result.unchanged)} unchanged, {len(result.deleted)} deleted"
    )


def run_drift(ctx: Context) -> int:
    planned = plan(_plan_request(ctx, "dxorg-drift.json", doctor_first=False))
    assert planned.plan is not None  # the doctor was not asked to stop it
    drift_plan, path = planned.plan, planned.saved
    # Changes to make, drift only a person can resolve (an unrevokable expired grant), or
    # something left unchecked (forwarding without its token): the org may differ.
    drifted = [o.org_id for o in drift_plan.orgs if o.differs]
    line = (
        f"Drift in {len(drifted)} of {len(drift_plan.orgs)} org(s): {', '.join(drifted)}. {summary_line(drift_plan)}"
        if drifted
        else f"No drift in {len(drift_plan.orgs)} org(s). {summary_line(drift_plan)}"
    )
    log_plan(ctx.log, drift_plan)
    ctx.files.summary(
        plan_markdown(drift_plan, ctx.runner.provenance(), f"# dxorg drift\n\n**{line}**")
    )
    ctx.files.outputs(
        {"has-changes": as_output(bool(drifted)), "plan-file": str(path), "summary": line}
    )
    with _github(ctx) as github:
        me = _identity(ctx, github, "drift issues")
        result = (
            sync_drift_issues(
                github,
                drift_plan.orgs,
                me=me,
                provenance=ctx.runner.provenance(),
                scrub=ctx.secrets.scrub,
            )
            if me is not None
            else None
        )
    if result is not None:
        report_foreign(ctx.log, ctx.files, result.foreign, "drift issue")
        ctx.log.line(
            f"drift issues: {len(result.opened)} opened, {len(result.updated)} updated, "
            f"{len(result.closed)} closed"
        )
    for org_id in drifted:
        ctx.log.annotate("warning", f"{inert.terminal(org_id)} has drifted from its manifest")
    if drift_plan.has_errors:
        return EXIT_ERROR
    return EXIT_DRIFT if drifted and ctx.inputs.fail_on_drift else EXIT_OK


def _more_report_journals(ctx: Context) -> tuple[Path, ...]:
    """Every file the `report-journals` input names or matches (e.g. journals downloaded
    from apply runs' artifacts), besides the state directory's."""
    found: list[Path] = []
    for pattern in ctx.inputs.report_journals:
        matches = sorted(Path(m) for m in glob.glob(pattern, recursive=True))
        if not matches:
            raise DxorgError(f"input report-journals: {pattern}: no such file")
        found += [m for m in matches if m.is_file()]
    return tuple(found)


def run_report(ctx: Context) -> int:
    """The access review: read-only, like plan; an org not read fails the step."""
    from reconciler.commands.report import ReportRequest
    from reconciler.commands.report import report as access_review

    report = access_review(
        ReportRequest(
            _manifests(ctx, ctx.inputs.paths),
            _platform(ctx),
            only=ctx.inputs.orgs,
            journal=Path(ctx.inputs.journal) if ctx.inputs.journal else None,
            more_journals=_more_report_journals(ctx),
            logins=Path(ctx.inputs.github_logins) if ctx.inputs.github_logins else None,
            # On GitHub (a repository and a token), the approval evidence of each line.
            github=(
                functools.partial(_github, ctx)
                if ctx.inputs.github_token and ctx.runner.repository
                else None
            ),
        )
    )
    directory = (
        Path(ctx.inputs.report_dir)
        if ctx.inputs.report_dir
        else (ctx.runner.temp_dir or Path.cwd()) / "dxorg-report"
    )
    show_report(ctx.log, ctx.files, report, directory, ctx.runner.provenance(), ctx.secrets.scrub)
    return EXIT_ERROR if report.has_errors else EXIT_OK


def run_apply(ctx: Context) -> int:
    """Apply the reviewed plan, or refuse it: never anything else.

    The core proves the plan first (the same manifests, planned again on the live orgs,
    must give exactly it, and pass every rail) with a read-only client; a client that can
    write exists only after that.
    """
    from reconciler.commands.apply import load_reviewed, reviewed_orgs

    if not ctx.inputs.plan_file:
        raise DxorgError("apply needs the plan-file input: the saved plan that was reviewed")
    plan_file = Path(ctx.inputs.plan_file)
    plan, root = load_reviewed(plan_file, None)
    _refuse_orgs_not_allowed(ctx, plan_file, plan)
    orgs = reviewed_orgs(plan, ctx.inputs.orgs or None)
    has_changes = any(o.actions for o in orgs)
    ctx.files.outputs(
        {
            "has-changes": as_output(has_changes),
            "plan-file": str(Path(ctx.inputs.plan_file).resolve()),
        }
    )
    if not orgs:
        unchecked = show_nothing_to_apply(ctx.log, ctx.files, plan)
        return EXIT_ERROR if unchecked else EXIT_OK
    return _apply(ctx, plan, orgs, root)


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


def _apply(ctx: Context, plan: Plan, orgs: list[OrgPlan], root: Path) -> int:
    """The reviewed orgs applied, one apply per state directory on this runner (the
    workflow's concurrency group serialises runners; the kernel's lock, gone with the
    process)."""
    from reconciler.commands.apply import ApplyRequest, apply

    # Overrides and --skip-removals are a human's decision at a terminal: the Action
    # never gives them, so a plan made with either is refused. `only-expiries` must be
    # the plan's own, like any option that changes what is applied.
    applied = apply(
        ApplyRequest(
            _manifests(ctx, sorted({o.source for o in orgs})),
            _platform(ctx),
            root,
            reviewed=plan,
            only=ctx.inputs.orgs,
            only_expiries=ctx.inputs.only_expiries,
            journal=Path(ctx.inputs.journal) if ctx.inputs.journal else None,
            skip_unchanged=False,
            progress=functools.partial(apply_progress, ctx.log),
            on_signal=functools.partial(said_cancelled, ctx.log),
        )
    )
    report = applied.outcome
    assert report is not None  # skip_unchanged is off
    show_applied(ctx.log, ctx.files, report, ctx.runner.provenance())
    if applied.journal_failure is not None:
        raise DxorgError(applied.journal_failure)
    if applied.stopped_by is not None:
        ctx.log.annotate(
            "error", "cancelled: no more calls were sent; the journal has every call; plan again"
        )
        return applied.stopped_by
    if ctx.inputs.only_expiries and not any(
        o.failed or o.remaining or o.unchecked for o in report.orgs
    ):
        # What only-expiries left out is other workflows' to apply (and the drift run's to
        # report): the expiries converged, so the scheduled job succeeds.
        return EXIT_OK
    return EXIT_OK if report.exit_code == 0 else EXIT_ERROR


# ---------------------------------------------------------------- the error boundary

COMMANDS = {
    "validate": run_validate,
    "doctor": run_doctor,
    "plan": run_plan,
    "apply": run_apply,
    "drift": run_drift,
    "report": run_report,
}


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
    except (DxorgError, OSError) as exc:  # OSError: a path input that cannot be written
        code = exit_code_of(exc)
        if code is None:
            raise  # a bug in dxorg: its traceback
        show_error(log, files, command, exc)
        return code


if __name__ == "__main__":
    sys.exit(main())
