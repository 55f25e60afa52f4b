"""The `dxorg` command line: options in, one library call, output, exit code.

This is the only module that knows about typer, and `main()` is the one error
boundary. Exit codes (the README's table): 0 success; 1 an error of any kind, a usage
error included (the parser's own message; never 2, which `plan --detailed-exitcode` keeps for
"changes present" and `apply` for "applied, but the org still differs"); 130 Ctrl-C
and 143 SIGTERM, saying what was applied. A traceback means a bug in dxorg, never a user mistake.
"""

from __future__ import annotations

import functools
import inspect
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, get_type_hints

import typer

from reconciler import __version__
from reconciler.commands.exit_codes import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Terminated,
    plan_exit_code,
)
from reconciler.commands.export import ExportRequest, InitRequest, export, init
from reconciler.commands.files import check_file_target
from reconciler.commands.platform import PlatformRequest
from reconciler.commands.validate import Manifests
from reconciler.commands.validate import validate as validate_manifests
from reconciler.config_repo import (
    STATE_DIR_VAR,
)
from reconciler.errors import ConfigError, DxorgError
from reconciler.platform.client import DEFAULT_CONCURRENCY
from reconciler.presenters.terminal import (
    AppliedCalls,
    confirm,
    interrupted,
    log_records_on_stderr,
    new_console,
    plan_text,
    report_apply,
    report_unchanged,
    said_interrupted,
    said_refused,
    said_written,
    show_error,
    show_plan,
    show_report,
)
from reconciler.scaffold import DEFAULT_ACTION_REF

if TYPE_CHECKING:
    from reconciler.github.api import GitHubClient
    from reconciler.plan import Plan

app = typer.Typer(
    name="dxorg",
    help="Declarative GitOps reconciler for DNAnexus Platform organizations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help and errors: they end up in CI logs as often as on terminals.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
emulator_app = typer.Typer(help="The local emulator of the DNAnexus API.", no_args_is_help=True)
app.add_typer(emulator_app, name="emulator")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"dxorg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_show_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Declarative GitOps reconciler for DNAnexus Platform organizations."""


@emulator_app.command("serve", short_help="Serve the emulated API over HTTP.")
def emulator_serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8124,
    state: Annotated[
        Path, typer.Option(help="SQLite state file (:memory: keeps it in memory).")
    ] = Path("sandbox.db"),
    seed: Annotated[
        str | None,
        typer.Option(
            metavar="SEED",
            help="Seed YAML, loaded only into an empty state (default: the demo seed that "
            "--sandbox uses; 'none': an empty platform).",
        ),
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
    """Serve the emulated DNAnexus API over HTTP until interrupted (Ctrl-C: exit 0)."""
    from reconciler.emulator.server import serve_forever
    from reconciler.emulator.store import MEMORY
    from reconciler.sandbox import DEMO_SEED_NAME, check_state_file, demo_seed_file

    if str(state) != MEMORY:
        check_state_file(state, "--state")
    with demo_seed_file() as demo:
        seed_path: Path | None = demo
        seed_name: str | None = DEMO_SEED_NAME
        if seed is not None and seed.lower() == "none":
            seed_path, seed_name = None, None
        elif seed is not None:
            seed_path, seed_name = Path(seed), None
            if not seed_path.is_file():
                raise ConfigError(f"--seed {seed}: no such file")
        try:
            serve_forever(
                host=host,
                port=port,
                state_path=state,
                seed_path=seed_path,
                reset=reset,
                control_token=control_token,
                seed_name=seed_name,
            )
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"--state {state}: cannot use it as a state file: {exc}") from exc
        except OSError as exc:
            if exc.filename is not None:
                raise
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


# ---------------------------------------------------------------- where the platform is

SandboxOpt = Annotated[
    bool,
    typer.Option("--sandbox", help="Run against the embedded emulator (state in --sandbox-state)."),
]
SandboxStateOpt = Annotated[
    Path | None,
    typer.Option(
        dir_okay=False,
        help="The sandbox's SQLite state file (default: sandbox.db in the state directory).",
    ),
]
StateDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        envvar=STATE_DIR_VAR,
        file_okay=False,
        help="Where the journal, the apply lock and the sandbox live (default: .dxorg/ at "
        "the root of the config repository holding the manifests, whatever the current "
        "directory).",
    ),
]
SandboxSeedOpt = Annotated[
    Path | None,
    typer.Option(
        exists=True,
        dir_okay=False,
        help="Seed loaded into an empty sandbox (default: the demo seed shipped with dxorg).",
    ),
]
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


@dataclass(frozen=True)
class PlatformOptions:
    """Where the platform is and how to reach it: the options plan, apply, export and
    report share, declared here once (`with_platform_options` adds them to a command)."""

    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY
    sandbox: SandboxOpt = False
    sandbox_state: SandboxStateOpt = None
    state_dir: StateDirOpt = None
    sandbox_seed: SandboxSeedOpt = None
    host: HostOpt = None
    port: PortOpt = None
    protocol: ProtocolOpt = None

    def request(self) -> PlatformRequest:
        """The options as the command layer takes them."""
        from reconciler.platform import ConfigOverrides

        return PlatformRequest(
            env=dict(os.environ),
            overrides=ConfigOverrides(protocol=self.protocol, host=self.host, port=self.port),
            concurrency=self.concurrency,
            sandbox=self.sandbox,
            sandbox_state=self.sandbox_state,
            sandbox_seed=self.sandbox_seed,
            state_dir=self.state_dir,
        )


def with_platform_options(command: Callable[..., None]) -> Callable[..., None]:
    """`command`, taking PlatformOptions' fields as options of its own (after its other
    parameters, so each command's --help lists them) and receiving them as one
    `platform: PlatformOptions`."""
    own = inspect.signature(command, eval_str=True)
    hints = get_type_hints(PlatformOptions, include_extras=True)
    shared = [
        inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name]
        )
        for f in fields(PlatformOptions)
    ]
    parameters = [p for p in own.parameters.values() if p.name != "platform"] + shared

    @functools.wraps(command)
    def with_options(**given: Any) -> None:
        platform = PlatformOptions(**{f.name: given.pop(f.name) for f in fields(PlatformOptions)})
        command(platform=platform, **given)

    # What typer reads the options from (via inspect.signature); typeshed does not
    # declare the attribute on functions.
    with_options.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_options.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_options


# ---------------------------------------------------------------- plan


class OutputFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


FormatOpt = Annotated[OutputFormat, typer.Option("--format", help="Output format.")]
OrgOpt = Annotated[list[str] | None, typer.Option("--org", help="Only this org (repeatable).")]
OverrideOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--override",
        help="Accept a violated safety rule: min-admins, budget.members, budget.levels, "
        "budget.projectAccess, budget.appAccess, budget.permissions (repeatable; recorded "
        "in the plan).",
    ),
]
SkipRemovalsOpt = Annotated[
    bool, typer.Option("--skip-removals", help="Leave out every action that removes access.")
]
OnlyExpiriesOpt = Annotated[
    bool,
    typer.Option(
        "--only-expiries",
        help="Keep only the actions that follow from a date the manifests set (expired "
        "memberships and self-grants) or a departure; the rails still check the result.",
    ),
]
JournalOpt = Annotated[
    Path | None,
    typer.Option(
        "--journal",
        dir_okay=False,
        help="Apply's append-only JSON Lines audit journal (plan reads it to recognise "
        "accounts dxorg created; default: journal.jsonl in the state directory).",
    ),
]


@app.command("plan", short_help="Show the API calls that would make the orgs match.")
@with_platform_options
def plan_command(
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATH", help="Manifest files or directories.")
    ],
    org: OrgOpt = None,
    fmt: FormatOpt = OutputFormat.text,
    out: Annotated[
        Path | None,
        typer.Option("--out", dir_okay=False, help="Save the JSON plan here, for apply --plan."),
    ] = None,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes.")
    ] = False,
    override: OverrideOpt = None,
    skip_removals: SkipRemovalsOpt = False,
    only_expiries: OnlyExpiriesOpt = False,
    journal: JournalOpt = None,
    *,
    platform: PlatformOptions,
) -> None:
    """Show the ordered API calls that would make the live orgs match the manifests.

    Exit 0: no changes; 2: changes, removals --skip-removals left out, or forwarding not
    checked for want of its token (with --detailed-exitcode); 1: an error or a safety
    violation.
    """
    from reconciler.commands.plan import PlanRequest, check_overrides, plan

    overrides = tuple(override or ())
    check_overrides(overrides)
    if out is not None:
        check_file_target(out, "--out")
    planned = plan(
        PlanRequest(
            Manifests(tuple(paths)),
            platform.request(),
            only=tuple(org or ()),
            overrides=overrides,
            skip_removals=skip_removals,
            only_expiries=only_expiries,
            journal=journal,
            save_to=out,
            want_json=fmt == "json",
        )
    )
    assert planned.plan is not None  # only the doctor stops a plan, and it was not asked
    if fmt == "text":
        show_plan(planned.plan)
    else:
        typer.echo(planned.json if fmt == "json" else plan_text(planned.plan, fmt), nl=False)
    code = plan_exit_code(planned.plan, detailed=detailed_exitcode)
    if code:
        raise typer.Exit(code)


# ---------------------------------------------------------------- apply


@app.command("apply", short_help="Make the changes a plan shows, then verify.")
@with_platform_options
def apply_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(metavar="PATH", help="Manifest files or directories (plans them first)."),
    ] = None,
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan", exists=True, dir_okay=False, help="Apply exactly this saved JSON plan."
        ),
    ] = None,
    org: OrgOpt = None,
    auto_approve: Annotated[
        bool, typer.Option("--auto-approve", help="Do not ask for confirmation (for CI).")
    ] = False,
    journal: JournalOpt = None,
    override: OverrideOpt = None,
    skip_removals: SkipRemovalsOpt = False,
    only_expiries: OnlyExpiriesOpt = False,
    *,
    platform: PlatformOptions,
) -> None:
    """Make the changes a plan shows, then verify.

    A saved plan (--plan) is applied only if planning again now, from the same manifests
    with the same options, gives exactly it; the plan shown is checked the same way after
    the confirmation. Exit 0: converged; 2: applied but the org still differs (or removals
    were left out, or forwarding was not checked for want of its token); 1: an error, a
    refused (unsafe, stale or changed) plan, no confirmation, or a failed action; 130:
    interrupted (Ctrl-C); 143: stopped by SIGTERM.
    """
    from reconciler.commands.apply import ApplyRequest, apply, load_reviewed
    from reconciler.commands.plan import check_overrides

    overrides = tuple(override or ())
    check_overrides(overrides)
    if plan_file is None and not paths:
        raise DxorgError(
            "give manifest paths to plan and apply, or --plan FILE to apply a saved plan"
        )
    if plan_file is not None and paths:
        raise DxorgError("give either manifest paths or --plan FILE, not both")
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if not auto_approve and not interactive:
        raise DxorgError("not a terminal: refusing to apply without --auto-approve")
    saved: Plan | None = None
    if plan_file is not None:
        saved, root = load_reviewed(plan_file, platform.state_dir)
        # The manifests the plan names: their digests must match what the plan recorded.
        manifests = Manifests(tuple(sorted({Path(o.source) for o in saved.orgs})))
    else:
        manifests = Manifests(tuple(paths or ()))
        root = manifests.root_for(platform.request())
    request = platform.request()
    journal = request.journal(root, journal)
    check_file_target(journal, "--journal")
    calls = AppliedCalls(terminal=sys.stdout.isatty())
    applied = apply(
        ApplyRequest(
            manifests,
            request,
            root,
            reviewed=saved,
            only=tuple(org or ()),
            overrides=overrides,
            skip_removals=skip_removals,
            only_expiries=only_expiries,
            journal=journal,
            show=show_plan,
            confirm=None if auto_approve else confirm,
            progress=calls.progress,
            on_signal=said_interrupted,
            on_refused=said_refused,
        )
    )
    if applied.outcome is None:
        report_unchanged(applied.plan)
        return
    report_apply(applied, calls)


# ---------------------------------------------------------------- export


@app.command("export", short_help="Write the manifest of a live org.")
@with_platform_options
def export_command(
    org: Annotated[
        str | None, typer.Argument(metavar="ORG", help="The org to export, e.g. org-demo.")
    ] = None,
    all_orgs: Annotated[
        bool, typer.Option("--all", help="Every org the token administers, one file each.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--out",
            help="Write here (a directory with --all), with org.schema.json beside it for the "
            "$schema comment; default stdout.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace manifests that already exist (what a person wrote in them is lost).",
        ),
    ] = False,
    *,
    platform: PlatformOptions,
) -> None:
    """Write the manifest of a live org (deterministic: a re-export makes no git diff).

    Its `$schema` comment names org.schema.json in the same directory, which -o writes
    there: the reference works in any repository, offline. A manifest that already exists
    is never replaced without --force: it holds what a person wrote (requiredAdmins,
    protected, provisioning, self-grants, comments), which the platform cannot give back;
    export to stdout and merge by hand instead. --all with a token that administers no
    org is an error.
    """
    if (org is None) == (not all_orgs):
        raise DxorgError("give one ORG, or --all")
    if all_orgs and out is None:
        raise DxorgError("--all writes one file per org: give -o DIRECTORY")
    if out is not None and all_orgs:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"-o {out}: not a directory (--all writes one file per org in it)")
        check_file_target(out / "org.yaml", "-o")
    elif out is not None:
        if out.is_dir():
            raise ConfigError(
                f"-o {out}: is a directory; give a file path, or --all to write every org into it"
            )
        check_file_target(out, "-o")
    exported = export(ExportRequest(platform.request(), org, out, force=force, wrote=said_written))
    if exported.text is not None:
        typer.echo(exported.text, nl=False)


# ---------------------------------------------------------------- init


@app.command("init", short_help="Start a config repository from the live orgs.")
@with_platform_options
def init_command(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="The config repository to create.")
    ],
    force: Annotated[
        bool,
        typer.Option("--force", help="Write into DIR even if it is not empty (files replaced)."),
    ] = False,
    action: Annotated[
        str,
        typer.Option(
            "--action",
            help="The dxorg Action the workflows use, pinned (owner/repo@tag or @commit-sha).",
        ),
    ] = DEFAULT_ACTION_REF,
    *,
    platform: PlatformOptions,
) -> None:
    """Start a config repository from the live orgs: every org the token administers
    exported into DIR/orgs/ (the token's user protected and a required admin in each), the
    GitHub workflows wired to every forwarding token the manifests name, a pre-commit
    config, a .gitignore for the state directory and a README saying what to set up.

    Refuses a DIR that is not empty (a lone .git aside) unless --force; an account that
    administers no org is an error.
    """
    initialised = init(
        InitRequest(platform.request(), directory, action, force=force, wrote=said_written)
    )
    for note in initialised.notes:
        typer.echo(note, err=True)
    typer.echo(
        f"{directory}: {initialised.orgs} org(s) exported. Next: read {directory / 'README.md'} "
        "(the secrets to create, branch protection, the apply environment), then commit."
    )


# ---------------------------------------------------------------- report


class ReportFormat(StrEnum):
    markdown = "markdown"
    csv = "csv"
    json = "json"
    html = "html"


@app.command("report", short_help="The access review: who has what, and why.")
@with_platform_options
def report_command(
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATH", help="Manifest files or directories.")
    ],
    org: OrgOpt = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="Output format.")] = (
        ReportFormat.markdown
    ),
    out: Annotated[
        Path | None,
        typer.Option("--out", dir_okay=False, help="Write the report here (default: stdout)."),
    ] = None,
    github_repo: Annotated[
        str | None,
        typer.Option(
            "--github-repo",
            metavar="OWNER/REPO",
            help="Link each line's commit to its pull request, author and approvers on this "
            "GitHub repository (token: GITHUB_TOKEN; API: GITHUB_API_URL).",
        ),
    ] = None,
    github_logins: Annotated[
        Path | None,
        typer.Option(
            "--github-logins",
            dir_okay=False,
            help="YAML file of `user-id: github-login` lines: whom an approver is, to flag "
            "an ADMIN or self-grant approved by its grantee.",
        ),
    ] = None,
    journals: Annotated[
        list[Path] | None,
        typer.Option(
            "--journal",
            dir_okay=False,
            help="An apply journal to time departures' removals by (repeatable; default "
            "journal.jsonl in the state directory, when it exists).",
        ),
    ] = None,
    *,
    platform: PlatformOptions,
) -> None:
    """The access review: every member of every org, where the manifests set their access
    and who last changed that line (git), who approved that change (GitHub), drift,
    self-grants held, provisioned accounts, departed users still present and how long
    removals took. Read-only.

    Exit 0: the report is complete; 1: an error, or an org could not be read (the report
    is still written, and says so).
    """
    from reconciler.commands.report import ReportRequest
    from reconciler.commands.report import report as access_review

    if out is not None:
        check_file_target(out, "--out")
    report = access_review(
        ReportRequest(
            Manifests(tuple(paths)),
            platform.request(),
            only=tuple(org or ()),
            journals=tuple(journals) if journals is not None else None,
            logins=github_logins,
            github=(
                functools.partial(_github_client, github_repo) if github_repo is not None else None
            ),
        )
    )
    show_report(report, fmt, out)


def _github_client(repository: str) -> GitHubClient:
    """The report's approval evidence: GitHub's API as GITHUB_TOKEN sees `repository`."""
    from reconciler.github.api import GitHubClient
    from reconciler.platform import retry_policy_from_env

    token = os.environ.get("GITHUB_TOKEN", "").strip()
    if not token:
        raise DxorgError("--github-repo needs a GitHub token: set GITHUB_TOKEN")
    return GitHubClient(
        os.environ.get("GITHUB_API_URL") or "https://api.github.com",
        token,
        repository,
        retry=retry_policy_from_env(os.environ),
    )


# ---------------------------------------------------------------- doctor


class DoctorFormat(StrEnum):
    text = "text"
    json = "json"


@app.command("doctor", short_help="Check, read-only, that the platform can be managed.")
@with_platform_options
def doctor_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(metavar="[PATH]...", help="Manifest files or directories."),
    ] = None,
    org: Annotated[
        list[str] | None,
        typer.Option("--org", help="Check this org (repeatable): one of the manifests', or any."),
    ] = None,
    fmt: Annotated[DoctorFormat, typer.Option("--format", help="Output format.")] = (
        DoctorFormat.text
    ),
    *,
    platform: PlatformOptions,
) -> None:
    """Check, read-only, that the platform can be planned and applied against: where it is,
    its clock, the token, each org (admin, listings, expiry), what the manifests need
    (auth server, forwarding tokens, self-grants) and every field dxorg reads.

    Exit 0: nothing blocks a plan or an apply (warnings allowed); 1: a check failed.
    """
    from reconciler.commands.doctor import DoctorRequest, doctor
    from reconciler.render.doctor import doctor_json, doctor_text

    report = doctor(
        DoctorRequest(
            platform.request(),
            Manifests(tuple(paths)) if paths else None,
            only=tuple(org or ()),
        )
    )
    if fmt == DoctorFormat.json:
        typer.echo(doctor_json(report), nl=False)
    else:
        new_console().print(doctor_text(report), end="")
    raise typer.Exit(report.exit_code)


@app.command("validate", short_help="Check manifests; contacts nothing.")
def validate(
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATH", help="Manifest files or directories.")
    ],
) -> None:
    """Check manifests against the schema and each other; contacts nothing."""
    typer.echo(validate_manifests(Manifests(tuple(paths))).line)


def main(args: list[str] | None = None) -> None:
    """The error boundary: always ends in SystemExit with the README's exit code.

    Typer runs in non-standalone mode, so usage errors come here as click exceptions and
    are shown with click's own message but exit 1 (2 means "changes present" to a cron job
    running `plan --detailed-exitcode`); everything dxorg raises for a user to read is 1.
    """
    sys.exit(_run(args))


@contextmanager
def _terminate_on_sigterm() -> Iterator[None]:
    """SIGTERM raises Terminated, as SIGINT raises KeyboardInterrupt: the error boundary
    says what was applied (nothing, outside apply's writes) instead of dying silently."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: FrameType | None) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _applies(args: list[str] | None) -> bool:
    """Whether the command run is `apply`, the one that writes on the platform (the only
    global option, --version, takes no value: the first other word is the command)."""
    words = [a for a in (sys.argv[1:] if args is None else args) if not a.startswith("-")]
    return bool(words) and words[0] == "apply"


def _run(args: list[str] | None) -> int:
    applies = _applies(args)
    try:
        with _terminate_on_sigterm(), log_records_on_stderr():
            code = app(args=args, prog_name="dxorg", standalone_mode=False)
    except typer.TyperException as exc:
        # Usage errors (typer's vendored click): shown with its own message, but exit 1.
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            typer.echo(f"error: {exc.format_message()}", err=True)
        return EXIT_USAGE
    except typer.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            return interrupted(applies=applies)
        typer.echo("Aborted.", err=True)
        return EXIT_USAGE
    except (KeyboardInterrupt, Terminated, DxorgError, OSError) as exc:
        return show_error(exc, applies=applies)
    if code == EXIT_INTERRUPTED:  # typer turns a KeyboardInterrupt into this exit code
        return interrupted(applies=applies)
    return int(code or 0)
