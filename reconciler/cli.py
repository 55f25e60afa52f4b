"""The `dxorg` command line: options in, one library call, output, exit code.

This is the only module that knows about typer, and `main()` is the one error
boundary: DxorgError -> message on stderr, exit 1 (Typer itself maps usage errors
to 2 and Ctrl-C to 130). A traceback means a bug in dxorg, never a user mistake.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reconciler.apply import DEFAULT_JOURNAL, ProgressHook
from reconciler.errors import DxorgError, ManifestError
from reconciler.platform.client import DEFAULT_CONCURRENCY
from reconciler.sandbox import DEFAULT_SEED, DEFAULT_STATE

if TYPE_CHECKING:
    from reconciler.manifest import Fleet
    from reconciler.plan import Plan, Step
    from reconciler.platform import Connection, ReadClient
    from reconciler.review.value import AccessReport

app = typer.Typer(
    name="dxorg",
    help="Declarative GitOps reconciler for DNAnexus Platform organizations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
emulator_app = typer.Typer(help="The local emulator of the DNAnexus API.", no_args_is_help=True)
app.add_typer(emulator_app, name="emulator")


@emulator_app.command("serve")
def emulator_serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8124,
    state: Annotated[Path, typer.Option(help="SQLite state file.")] = Path("sandbox.db"),
    seed: Annotated[
        Path | None, typer.Option(help="Seed YAML, loaded only into an empty state.")
    ] = None,
    reset: Annotated[bool, typer.Option(help="Wipe the state and load the seed again.")] = False,
    control_token: Annotated[
        str | None,
        typer.Option(
            envvar="DXORG_EMULATOR_CONTROL_TOKEN",
            help="Token for the /_emulator control endpoints (default: generated, written to the state dir).",
        ),
    ] = None,
) -> None:
    """Serve the emulated DNAnexus API over HTTP until interrupted."""
    from reconciler.emulator.server import serve_forever

    serve_forever(
        host=host,
        port=port,
        state_path=state,
        seed_path=seed,
        reset=reset,
        control_token=control_token,
    )


# ---------------------------------------------------------------- where the platform is

SandboxOpt = Annotated[
    bool,
    typer.Option("--sandbox", help="Run against the embedded emulator (state in --sandbox-state)."),
]
SandboxStateOpt = Annotated[Path, typer.Option(help="The sandbox's SQLite state file.")]
SandboxSeedOpt = Annotated[Path, typer.Option(help="Seed loaded into an empty sandbox.")]
HostOpt = Annotated[
    str | None, typer.Option("--apiserver-host", help="API server host (default: as dx finds it).")
]
PortOpt = Annotated[int | None, typer.Option("--apiserver-port", help="API server port.")]
ProtocolOpt = Annotated[str | None, typer.Option("--apiserver-protocol", help="http or https.")]
ConcurrencyOpt = Annotated[
    int,
    typer.Option(
        "--concurrency",
        min=1,
        help="At most this many API calls in flight at once (1: one by one).",
    ),
]


def _connection(
    *,
    sandbox: bool,
    sandbox_state: Path,
    sandbox_seed: Path,
    host: str | None,
    port: int | None,
    protocol: str | None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> Connection:
    """Where the platform is and how to reach it: the only place that is decided.

    DXORG_MAX_RETRY_SECONDS bounds the time spent retrying one call (default 120).
    """
    import os

    from reconciler.platform import ConfigOverrides, Connection, discover, retry_policy_from_env

    retry = retry_policy_from_env(os.environ)

    transport = None
    if sandbox:
        from reconciler.sandbox import open_sandbox

        transport, config = open_sandbox(sandbox_state, sandbox_seed)
    else:
        config = discover(overrides=ConfigOverrides(protocol=protocol, host=host, port=port))
    return Connection(config, transport=transport, retry=retry, concurrency=concurrency)


def _client(**where: Any) -> ReadClient:
    """A read-only client: plan, export and the other commands that never write."""
    return _connection(**where).read_client()


def _load(paths: list[Path]) -> Fleet:
    from reconciler.manifest import load_fleet

    return load_fleet(paths)


# ---------------------------------------------------------------- plan

FormatOpt = Annotated[str, typer.Option("--format", help="text, markdown or json.")]
OrgOpt = Annotated[list[str] | None, typer.Option("--org", help="Only this org (repeatable).")]
OverrideOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--override",
        help="Accept a violated safety rule: min-admins, budget.members, budget.levels, "
        "budget.projectAccess, budget.appAccess (repeatable; recorded in the plan).",
    ),
]
SkipRemovalsOpt = Annotated[
    bool, typer.Option("--skip-removals", help="Leave out every action that removes access.")
]
JournalOpt = Annotated[
    Path,
    typer.Option(
        "--journal",
        help="Apply's append-only JSON Lines audit journal (plan reads it to recognise "
        "accounts dxorg created).",
    ),
]


def _check_overrides(overrides: list[str]) -> None:
    from reconciler.planning import OVERRIDABLE_RULES

    unknown = sorted(set(overrides) - set(OVERRIDABLE_RULES))
    if unknown:
        raise DxorgError(
            f"--override {', '.join(unknown)}: not an overridable rule "
            f"(choose from {', '.join(OVERRIDABLE_RULES)})"
        )


def _render(plan: Plan, fmt: str) -> str:
    from reconciler.render.markdown import render_markdown
    from reconciler.render.plan_json import dumps_plan
    from reconciler.render.text import render_text

    if fmt == "text":
        return render_text(plan, colour=sys.stdout.isatty())
    if fmt == "markdown":
        return "\n\n---\n\n".join(render_markdown(plan)) + "\n"
    if fmt == "json":
        return dumps_plan(plan)
    raise DxorgError(f"--format {fmt}: choose text, markdown or json")


@app.command("plan")
def plan_command(
    paths: Annotated[list[Path], typer.Argument(help="Manifest files or directories.")],
    org: OrgOpt = None,
    fmt: FormatOpt = "text",
    out: Annotated[
        Path | None, typer.Option("--out", help="Save the JSON plan here, for apply --plan.")
    ] = None,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes.")
    ] = False,
    override: OverrideOpt = None,
    skip_removals: SkipRemovalsOpt = False,
    journal: JournalOpt = DEFAULT_JOURNAL,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    sandbox: SandboxOpt = False,
    sandbox_state: SandboxStateOpt = DEFAULT_STATE,
    sandbox_seed: SandboxSeedOpt = DEFAULT_SEED,
    apiserver_host: HostOpt = None,
    apiserver_port: PortOpt = None,
    apiserver_protocol: ProtocolOpt = None,
) -> None:
    """Show the ordered API calls that would make the live orgs match the manifests.

    Exit 0: no changes; 2: changes (with --detailed-exitcode); 1: an error or a safety violation.
    """
    from reconciler.apply import created_accounts
    from reconciler.plan_fleet import plan_fleet
    from reconciler.render.plan_json import dumps_plan

    overrides = override or []
    _check_overrides(overrides)
    if fmt not in ("text", "markdown", "json"):
        raise DxorgError(f"--format {fmt}: choose text, markdown or json")
    fleet = _load(paths)
    with _client(
        sandbox=sandbox,
        sandbox_state=sandbox_state,
        sandbox_seed=sandbox_seed,
        host=apiserver_host,
        port=apiserver_port,
        protocol=apiserver_protocol,
        concurrency=concurrency,
    ) as client:
        plan = plan_fleet(
            fleet,
            client,
            only=org,
            overrides=overrides,
            skip_removals=skip_removals,
            created_accounts=created_accounts(journal),
        )
    # A big plan's JSON takes a while to write: once, when both --out and --format json want it.
    plan_json = dumps_plan(plan) if out is not None or fmt == "json" else ""
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(plan_json, encoding="utf-8")
    typer.echo(plan_json if fmt == "json" else _render(plan, fmt), nl=False)
    if plan.has_errors or not plan.applyable:
        raise typer.Exit(1)
    # Removals left out by --skip-removals are still differences: a drift cron must see them.
    if detailed_exitcode and plan.differs:
        raise typer.Exit(2)


# ---------------------------------------------------------------- apply


@app.command("apply")
def apply_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Manifest files or directories (plans them first).")
    ] = None,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="Apply exactly this saved JSON plan.")
    ] = None,
    org: OrgOpt = None,
    auto_approve: Annotated[
        bool, typer.Option("--auto-approve", help="Do not ask for confirmation (for CI).")
    ] = False,
    journal: JournalOpt = DEFAULT_JOURNAL,
    override: OverrideOpt = None,
    skip_removals: SkipRemovalsOpt = False,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    sandbox: SandboxOpt = False,
    sandbox_state: SandboxStateOpt = DEFAULT_STATE,
    sandbox_seed: SandboxSeedOpt = DEFAULT_SEED,
    apiserver_host: HostOpt = None,
    apiserver_port: PortOpt = None,
    apiserver_protocol: ProtocolOpt = None,
) -> None:
    """Make the changes a plan shows, then verify.

    A saved plan (--plan) is applied only if planning again now, from the same manifests
    with the same options, gives exactly it; the interactive plan is checked the same way
    after the confirmation. Exit 0: converged; 2: applied but the org still differs (or
    removals were left out); 1: an error, a refused (unsafe, stale or changed) plan, or a
    failed action.
    """
    import os

    from reconciler.apply import Journal, apply_reviewed, created_accounts
    from reconciler.apply.review import refuse_unsafe
    from reconciler.plan_fleet import plan_fleet
    from reconciler.render.plan_json import load_plan
    from reconciler.render.text import render_text

    overrides = override or []
    _check_overrides(overrides)
    if plan_file is None and not paths:
        raise DxorgError(
            "give manifest paths to plan and apply, or --plan FILE to apply a saved plan"
        )
    if plan_file is not None and paths:
        raise DxorgError("give either manifest paths or --plan FILE, not both")
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if not auto_approve and not interactive:
        raise DxorgError("not a terminal: refusing to apply without --auto-approve")

    connection = _connection(
        sandbox=sandbox,
        sandbox_state=sandbox_state,
        sandbox_seed=sandbox_seed,
        host=apiserver_host,
        port=apiserver_port,
        protocol=apiserver_protocol,
        concurrency=concurrency,
    )
    created = created_accounts(journal)
    if plan_file is not None:
        plan = load_plan(plan_file)
        # The manifests the plan names: their digests must match what the plan recorded.
        fleet = _load(sorted({Path(o.source) for o in plan.orgs}))
    else:
        fleet = _load(paths or [])
        with connection.read_client() as client:
            plan = plan_fleet(
                fleet,
                client,
                only=org,
                overrides=overrides,
                skip_removals=skip_removals,
                created_accounts=created,
            )
    typer.echo(render_text(plan, colour=sys.stdout.isatty()), nl=False)
    if plan_file is None:
        refuse_unsafe(plan.orgs)  # the plan just made: refuse now, before asking
    if not plan.has_changes:
        if plan.differs:
            typer.echo(f"{plan.left_out} removal(s) were left out (--skip-removals).")
            raise typer.Exit(2)
        return
    if not auto_approve and not typer.confirm("Apply these changes?", default=False):
        raise DxorgError("not applied: not confirmed")

    total = sum(len(o.steps) for o in plan.orgs)
    with _progress(total, sys.stdout.isatty()) as progress:
        report = apply_reviewed(
            plan,
            fleet,
            connection,
            journal=Journal(journal),
            env=os.environ,
            overrides=frozenset(overrides),
            skip_removals=skip_removals,
            only=org,
            created_accounts=created,
            progress=progress,
        )
    for org_report in report.orgs:
        if org_report.error:
            typer.echo(f"{org_report.org_id}: error: {org_report.error}", err=True)
        for outcome in org_report.outcomes:
            if outcome.status != "done":
                typer.echo(
                    f"{org_report.org_id}: {outcome.status}: {outcome.action_id}: {outcome.detail}",
                    err=True,
                )
        for remaining in org_report.remaining:
            typer.echo(f"{org_report.org_id}: still differs: {remaining}")
        for left_out in org_report.left_out:
            typer.echo(f"{org_report.org_id}: left out (--skip-removals): {left_out}")
    typer.echo(report.summary())
    if report.exit_code:
        raise typer.Exit(report.exit_code)


@contextmanager
def _progress(total: int, terminal: bool) -> Iterator[ProgressHook]:
    """A progress bar on a terminal; one plain line per call elsewhere (CI logs)."""
    if not terminal:

        def line(org_id: str, step: Step, status: str, detail: str | None) -> None:
            suffix = f": {detail}" if detail else ""
            typer.echo(f"{status:>7} {step.id} {step.call.route}{suffix}")

        yield line
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("applying"), BarColumn(), MofNCompleteColumn()) as bar:
        task = bar.add_task("apply", total=total)

        def advance(org_id: str, step: Step, status: str, detail: str | None) -> None:
            if status != "done":
                bar.console.print(f"{status} {step.id} {step.call.route}: {detail}")
            bar.advance(task)

        yield advance


# ---------------------------------------------------------------- export


@app.command("export")
def export_command(
    org: Annotated[str | None, typer.Argument(help="The org to export, e.g. org-demo.")] = None,
    all_orgs: Annotated[
        bool, typer.Option("--all", help="Every org the token administers, one file each.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("-o", "--out", help="Write here (a directory with --all); default stdout."),
    ] = None,
    sandbox: SandboxOpt = False,
    sandbox_state: SandboxStateOpt = DEFAULT_STATE,
    sandbox_seed: SandboxSeedOpt = DEFAULT_SEED,
    apiserver_host: HostOpt = None,
    apiserver_port: PortOpt = None,
    apiserver_protocol: ProtocolOpt = None,
) -> None:
    """Write the manifest of a live org (deterministic: a re-export makes no git diff)."""
    from reconciler.export_orgs import administered_orgs, export_org

    if (org is None) == (not all_orgs):
        raise DxorgError("give one ORG, or --all")
    if all_orgs and out is None:
        raise DxorgError("--all writes one file per org: give -o DIRECTORY")
    with _client(
        sandbox=sandbox,
        sandbox_state=sandbox_state,
        sandbox_seed=sandbox_seed,
        host=apiserver_host,
        port=apiserver_port,
        protocol=apiserver_protocol,
    ) as client:
        caller = client.whoami()
        if org is not None:
            target = out
            text = export_org(client, org, caller=caller, out=target)
            if target is None:
                typer.echo(text, nl=False)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
                typer.echo(f"wrote {target}", err=True)
            return
        assert out is not None
        out.mkdir(parents=True, exist_ok=True)
        for org_id in administered_orgs(client):
            target = out / f"{org_id}.yaml"
            target.write_text(
                export_org(client, org_id, caller=caller, out=target), encoding="utf-8"
            )
            typer.echo(f"wrote {target}", err=True)


# ---------------------------------------------------------------- report

REPORT_FORMATS = ("markdown", "csv", "json", "html")


def _render_report(report: AccessReport, fmt: str) -> str:
    from reconciler.review.as_csv import render_report_csv
    from reconciler.review.as_html import render_report_html
    from reconciler.review.as_json import dumps_report
    from reconciler.review.as_markdown import render_report_markdown

    if fmt == "markdown":
        return "\n\n---\n\n".join(render_report_markdown(report)) + "\n"
    if fmt == "csv":
        return render_report_csv(report)
    if fmt == "json":
        return dumps_report(report)
    return render_report_html(report)


@app.command("report")
def report_command(
    paths: Annotated[list[Path], typer.Argument(help="Manifest files or directories.")],
    org: OrgOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="markdown, csv, json or html.")] = "markdown",
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the report here (default: stdout).")
    ] = None,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    sandbox: SandboxOpt = False,
    sandbox_state: SandboxStateOpt = DEFAULT_STATE,
    sandbox_seed: SandboxSeedOpt = DEFAULT_SEED,
    apiserver_host: HostOpt = None,
    apiserver_port: PortOpt = None,
    apiserver_protocol: ProtocolOpt = None,
) -> None:
    """The access review: every member of every org, where the manifests set their access
    and who last changed that line (git), drift, self-grants held, provisioned accounts and
    departed users still present. Read-only.

    Exit 0: the report is complete; 1: an error, or an org could not be read (the report
    is still written, and says so).
    """
    from reconciler.review.collect import review_fleet

    if fmt not in REPORT_FORMATS:
        raise DxorgError(f"--format {fmt}: choose {', '.join(REPORT_FORMATS)}")
    fleet = _load(paths)
    with _client(
        sandbox=sandbox,
        sandbox_state=sandbox_state,
        sandbox_seed=sandbox_seed,
        host=apiserver_host,
        port=apiserver_port,
        protocol=apiserver_protocol,
        concurrency=concurrency,
    ) as client:
        report = review_fleet(fleet, client, only=org)
    text = _render_report(report, fmt)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)
    for org_review in report.orgs:
        if org_review.error:
            typer.echo(f"{org_review.org_id}: not read: {org_review.error}", err=True)
    if report.has_errors:
        raise typer.Exit(1)


@app.command("validate")
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Manifest files or directories.")],
) -> None:
    """Check manifests against the schema and each other; contacts nothing."""
    from reconciler.manifest import load_fleet

    fleet = load_fleet(paths)
    typer.echo(f"OK: {len(fleet.orgs)} org(s) in {len(fleet.files)} file(s)")


def main() -> None:
    """The error boundary. Typer's standalone mode handles usage errors (exit 2) and
    typer.Exit; everything dxorg raises for a user to read is turned into exit 1 here."""
    try:
        app()
    except ManifestError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"{len(exc.problems)} problem(s) found", err=True)
        sys.exit(1)
    except DxorgError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
