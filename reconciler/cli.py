"""The `dxorg` command line: options in, one library call, output, exit code.

This is the only module that knows about typer, and `main()` is the one error
boundary. Exit codes (the README's table): 0 success; 1 an error of any kind, a usage
error included (the parser's own message; never 2, which `plan --detailed-exitcode` keeps for
"changes present" and `apply` for "applied, but the org still differs"); 130 Ctrl-C
and 143 SIGTERM, saying what was applied. A traceback means a bug in dxorg, never a user mistake.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, get_type_hints

import typer

from reconciler import __version__
from reconciler.apply.executor import ProgressHook
from reconciler.apply.journal import Journal
from reconciler.apply.stopping import StoppingJournal, stop_on_signals
from reconciler.config_repo import (
    JOURNAL_NAME,
    SANDBOX_NAME,
    STATE_DIR_VAR,
    config_root,
    state_dir,
)
from reconciler.errors import ConfigError, DxorgError, ManifestError
from reconciler.platform.client import DEFAULT_CONCURRENCY
from reconciler.platform.health import PlatformHealth
from reconciler.render import inert
from reconciler.scaffold import DEFAULT_ACTION_REF

if TYPE_CHECKING:
    from rich.console import Console

    from reconciler.apply.outcomes import ApplyReport
    from reconciler.manifest import Fleet
    from reconciler.plan import Plan, Step
    from reconciler.platform import Connection, ReadClient

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it
EXIT_TERMINATED = 143  # 128 + SIGTERM: what a CI cancel or a service manager sends

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


def _console() -> Console:
    """A console on the current stdout. rich leaves colours out when NO_COLOR is set, TERM
    is dumb, or the output is not a terminal; soft wrap keeps long lines whole. Markup is
    off: a `[red]` or `[link=...]` in a name is text (and every foreign value is already
    made inert by render.inert)."""
    from rich.console import Console

    return Console(soft_wrap=True, highlight=False, emoji=False, markup=False)


def _check_file_target(path: Path, option: str) -> None:
    """A path dxorg will write a file at: refused, before anything is written, if it cannot be."""
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a directory; give the path of a file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{option} {path}: {parent} is not a directory")
            return


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

    def state(self, root: Path) -> Path:
        """The state directory of the config repository at `root` (reconciler.config_repo)."""
        return state_dir(root, self.state_dir)

    def connection(self, root: Path) -> Connection:
        """The only place where the platform is decided; `root`: the config repository's.

        DXORG_MAX_RETRY_SECONDS bounds the time spent retrying one call (default 120); the
        other DXORG_* limits (request deadline, response size, pages, outage, run
        deadline) are read by `limits_from_env`.
        """
        from reconciler.platform import (
            ConfigOverrides,
            Connection,
            discover,
            limits_from_env,
            retry_policy_from_env,
        )

        retry = retry_policy_from_env(os.environ)
        limits = limits_from_env(os.environ)
        transport = None
        if self.sandbox:
            from reconciler.sandbox import open_sandbox

            state = self.sandbox_state or self.state(root) / SANDBOX_NAME
            transport, config = open_sandbox(state, self.sandbox_seed)
        else:
            config = discover(
                overrides=ConfigOverrides(protocol=self.protocol, host=self.host, port=self.port)
            )
        return Connection(
            config, transport=transport, retry=retry, concurrency=self.concurrency, limits=limits
        )

    def read_client(self, root: Path) -> ReadClient:
        """A read-only client: plan, export, report, and apply's checks never write."""
        return self.connection(root).read_client()


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


def _load(paths: list[Path]) -> Fleet:
    from reconciler.manifest import load_fleet

    return load_fleet(paths)


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


def _check_overrides(overrides: list[str]) -> None:
    from reconciler.planner import OVERRIDABLE_RULES

    unknown = sorted(set(overrides) - set(OVERRIDABLE_RULES))
    if unknown:
        raise DxorgError(
            f"--override {', '.join(unknown)}: not an overridable rule "
            f"(choose from {', '.join(OVERRIDABLE_RULES)})"
        )


def _show_plan(plan: Plan) -> None:
    """The plan as text on stdout, in colour where the console allows it.

    On a terminal, each line of the plan is one row of the screen, whatever its width: a
    longer line is cut with "…" instead of wrapped, so no foreign text (a name padded to
    the edge of the screen) can wrap into a row of its own that reads as a plan line.
    Only the summary line, all dxorg's own text, wraps. Piped or redirected, every line
    is written whole (the API calls' bodies included)."""
    from reconciler.render.text import styled_text, summary_line

    console = _console()
    text = styled_text(plan)
    if not console.is_terminal:
        console.print(text, end="")
        return
    summary = summary_line(plan) + "\n"
    body = text[: len(text) - len(summary)] if text.plain.endswith(summary) else text
    console.print(body, end="", no_wrap=True, overflow="ellipsis", soft_wrap=False)
    if body is not text:
        console.print(text[len(body) :], end="")


def _render(plan: Plan, fmt: str) -> str:
    from reconciler.plan_file import dumps_plan
    from reconciler.render.markdown import render_markdown

    if fmt == "markdown":
        return "\n\n---\n\n".join(render_markdown(plan)) + "\n"
    if fmt == "json":
        return dumps_plan(plan)
    raise DxorgError(f"--format {fmt}: choose text, markdown or json")


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
    from reconciler.apply.journal import created_accounts
    from reconciler.config_repo import evidence_journals, plan_for_file
    from reconciler.plan_file import dumps_plan
    from reconciler.read_and_plan import plan_fleet, platform_where

    overrides = override or []
    _check_overrides(overrides)
    if out is not None:
        _check_file_target(out, "--out")
    fleet = _load(paths)
    root = config_root(paths)
    journal = journal or platform.state(root) / JOURNAL_NAME
    connection = platform.connection(root)
    with connection.read_client() as client:
        plan = plan_fleet(
            fleet,
            client,
            only=org,
            overrides=overrides,
            skip_removals=skip_removals,
            only_expiries=only_expiries,
            created_accounts=created_accounts(
                evidence_journals(platform.state(root), journal),
                platform_where(connection.config),
            ),
        )
    # As JSON (saved or printed), its manifest paths are relative to the config
    # repository's root, so apply --plan finds them from any directory. A big plan's JSON
    # takes a while to write: once, when both --out and --format json want it.
    plan_json = dumps_plan(plan_for_file(plan, root)) if out is not None or fmt == "json" else ""
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(plan_json, encoding="utf-8")
    if fmt == "text":
        _show_plan(plan)
    else:
        typer.echo(plan_json if fmt == "json" else _render(plan, fmt), nl=False)
    if plan.has_errors or not plan.applyable:
        raise typer.Exit(1)
    # Removals left out by --skip-removals are still differences: a drift cron must see them.
    if detailed_exitcode and plan.differs:
        raise typer.Exit(2)


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
    from reconciler.apply.journal import created_accounts
    from reconciler.apply.lock import apply_lock
    from reconciler.apply.review import refuse_other_platform, refuse_unsafe
    from reconciler.apply.run import apply_reviewed
    from reconciler.config_repo import evidence_journals, plan_from_file, plan_root
    from reconciler.plan_file import load_plan
    from reconciler.read_and_plan import plan_fleet, platform_identity, platform_where

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
    saved: Plan | None = None
    if plan_file is not None:
        # Its manifest paths are relative to the config repository's root: found from
        # where the plan file is, so apply --plan works from any directory.
        saved = load_plan(plan_file)
        root = plan_root(plan_file, saved, platform.state_dir)
        saved = plan_from_file(saved, root)
    else:
        root = config_root(paths or [])
    journal = journal or platform.state(root) / JOURNAL_NAME
    _check_file_target(journal, "--journal")

    # One apply at a time per state directory, from before the first read to after
    # verification (see reconciler.apply.lock).
    with apply_lock(journal.parent):
        connection = platform.connection(root)
        created = created_accounts(
            evidence_journals(platform.state(root), journal), platform_where(connection.config)
        )
        if saved is not None:
            plan = saved
            # The manifests the plan names: their digests must match what the plan recorded.
            fleet = _load(sorted({Path(o.source) for o in plan.orgs}))
            # A plan from another platform, or another user, is refused before it is shown
            # for a `yes` (apply_reviewed checks it again).
            with connection.read_client() as client:
                refuse_other_platform(plan, platform_identity(client.config, client.whoami()))
        else:
            fleet = _load(paths or [])
            with connection.read_client() as client:
                plan = plan_fleet(
                    fleet,
                    client,
                    only=org,
                    overrides=overrides,
                    skip_removals=skip_removals,
                    only_expiries=only_expiries,
                    created_accounts=created,
                )
        _show_plan(plan)
        refused: dict[str, tuple[str, ...]] = {}
        if saved is None:
            # The plan just made: never ask about an org apply refuses (nor, when no org
            # would be left, about any).
            refused = refuse_unsafe(plan.orgs)
            for org_id in refused:
                typer.echo(
                    f"{inert.terminal(org_id)}: refused: its plan breaks safety rails (shown "
                    "above); nothing will be written to it, the other orgs are applied.",
                    err=True,
                )
        if not plan.has_changes:
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
                raise typer.Exit(2)
            return
        if not auto_approve:
            _confirm(plan, refused)

        calls = AppliedCalls(plan, terminal=sys.stdout.isatty(), refused=set(refused))
        audit = StoppingJournal(journal, calls.stop)
        with _stop_on_interrupt(calls, audit, connection.health), _progress(calls) as progress:
            # Plans again on what is live now (after the confirmation) and applies only the
            # same plan: see reconciler.apply.run.
            report = apply_reviewed(
                plan,
                fleet,
                connection,
                journal=audit,
                env=os.environ,
                overrides=frozenset(overrides),
                skip_removals=skip_removals,
                only_expiries=only_expiries,
                only=org,
                created_accounts=created,
                progress=progress,
            )
        _report_apply(report, calls, audit)


def _confirm(plan: Plan, refused: Collection[str]) -> None:
    """Terraform's confirmation: only the word `yes` applies; anything else exits 1."""
    total = sum(len(o.steps) for o in plan.orgs if o.org_id not in refused)
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


_STATUS_STYLES = {
    "done": "green",
    "failed": "red",
    "skipped": "yellow",
    "unknown": "yellow",
    "not sent": "dim",
}


@dataclass
class AppliedCalls:
    """Each of the plan's API calls (its steps) as apply reported it: the unit the progress
    lines, the list after the bar and the summary all count."""

    plan: Plan
    terminal: bool
    stop: threading.Event = field(default_factory=threading.Event)
    # The exit code of the signal that stopped apply (130 Ctrl-C, 143 SIGTERM), once one did.
    stopped_by: int | None = None
    results: dict[tuple[str, str], tuple[str, str | None]] = field(default_factory=dict)
    # Orgs refused for the rails their plan breaks: none of their calls is to be made.
    refused: set[str] = field(default_factory=set)

    @property
    def planned(self) -> int:
        return sum(len(o.steps) for o in self.plan.orgs if o.org_id not in self.refused)

    def record(self, org_id: str, step: Step, status: str, detail: str | None) -> str:
        shown = "not sent" if status in ("failed", "skipped") and _not_sent(detail) else status
        self.results[(org_id, step.id)] = (shown, None if shown == "not sent" else detail)
        return shown

    def count(self, status: str) -> int:
        return sum(1 for shown, _ in self.results.values() if shown == status)

    def lines(self) -> Iterator[tuple[str, str]]:
        """(status, line) for every reported call, in the plan's order."""
        for org in self.plan.orgs:
            for step in org.steps:
                result = self.results.get((org.org_id, step.id))
                if result is not None:
                    yield result[0], call_line(step, *result)


def _not_sent(detail: str | None) -> bool:
    """A call refused before it was sent: after Ctrl-C or SIGTERM, or by a broken journal."""
    return detail is not None and detail.startswith("not sent")


def call_line(step: Step, status: str, detail: str | None) -> str:
    # The detail is the platform's error message: foreign text.
    suffix = f": {inert.terminal(detail)}" if detail else ""
    return f"{status:>8} {inert.terminal(step.id)} {inert.terminal(step.call.route)}{suffix}"


@contextmanager
def _stop_on_interrupt(
    calls: AppliedCalls, journal: StoppingJournal, health: PlatformHealth
) -> Iterator[None]:
    """While apply runs, the first Ctrl-C or SIGTERM (a CI cancel) lets the calls in flight
    finish, sends no more and ends the journal's run; a second one exits at once."""

    def interrupted(signum: int) -> None:
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        if calls.stop.is_set():
            sys.stderr.write(
                f"\nInterrupted again ({name}): exiting now. Calls in flight may still land; "
                "the journal has every call that was sent.\n"
            )
            sys.stderr.flush()
            os._exit(128 + signum)
        calls.stopped_by = 128 + signum
        journal.signalled(signum)  # sets calls.stop: the journal shares it
        health.stop_writes("interrupted")  # a call in flight is not retried: its outcome is settled
        sys.stderr.write(
            f"\n{'Interrupt' if signum == signal.SIGINT else name} received: finishing the "
            f"calls in flight, sending no more ({name} again to exit at once).\n"
        )
        sys.stderr.flush()

    with stop_on_signals(interrupted):
        yield


@contextmanager
def _progress(calls: AppliedCalls) -> Iterator[ProgressHook]:
    """A progress bar on a terminal, then the calls listed; one line per call elsewhere."""
    if not calls.terminal:

        def line(org_id: str, step: Step, status: str, detail: str | None) -> None:
            shown = calls.record(org_id, step, status, detail)
            typer.echo(call_line(step, shown, calls.results[(org_id, step.id)][1]))

        yield line
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.text import Text

    console = _console()
    with Progress(
        TextColumn("applying"), BarColumn(), MofNCompleteColumn(), console=console
    ) as bar:
        task = bar.add_task("apply", total=calls.planned)

        def advance(org_id: str, step: Step, status: str, detail: str | None) -> None:
            calls.record(org_id, step, status, detail)
            bar.advance(task)

        yield advance
    for status, text in calls.lines():
        console.print(Text(text, style=_STATUS_STYLES.get(status, "")))


def _apply_summary(report: ApplyReport, calls: AppliedCalls) -> str:
    """The summary line the Action and the journal write (it counts actions), with the API
    calls listed above it counted in brackets; then what verification found."""
    text = f"{calls.count('done')} of {calls.planned} API call(s) made"
    for status in ("failed", "skipped", "unknown", "not sent"):
        count = calls.count(status)
        text += f", {count} {status}" if count else ""
    return report.summary(calls=text)


def _report_apply(report: ApplyReport, calls: AppliedCalls, journal: Journal) -> None:
    interrupted = calls.stop.is_set()
    t = inert.terminal
    calls.refused |= {o.org_id for o in report.orgs if o.refused}
    for org_report in report.orgs:
        org_id = t(org_report.org_id)
        if org_report.refused:
            typer.echo(
                f"{org_id}: refused, nothing was written to it: its plan breaks safety rails:"
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
            if outcome.status != "done" and not _not_sent(outcome.detail):
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
    typer.echo(_apply_summary(report, calls))
    failure = journal.failure_message()
    if failure is not None:
        raise DxorgError(failure)
    if interrupted:
        done = calls.count("done")
        raise ApplyInterrupted(
            (
                f"Interrupted: {done} of the plan's {calls.planned} API call(s) were made "
                "(listed above), no more were sent"
                if done
                else "Interrupted: nothing was applied"
            )
            + f"; the journal {journal.path} has every call; plan again to see what is left",
            calls.stopped_by or EXIT_INTERRUPTED,
        )
    if report.exit_code:
        raise typer.Exit(report.exit_code)


class ApplyInterrupted(DxorgError):
    """Ctrl-C (exit 130) or SIGTERM (143) during apply, after the calls in flight finished."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(BaseException):  # like KeyboardInterrupt: not an error
    """SIGTERM outside apply's writes: stops like Ctrl-C does there."""


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
        _check_file_target(out / "org.yaml", "-o")
    elif out is not None:
        if out.is_dir():
            raise ConfigError(
                f"-o {out}: is a directory; give a file path, or --all to write every org into it"
            )
        _check_file_target(out, "-o")
        if not force:
            _refuse_overwrite([out])
    # The repository the manifests go to (a file in the directory --all writes into).
    root = config_root([] if out is None else [out / "org.yaml" if all_orgs else out])
    with platform.read_client(root) as client:
        caller = client.whoami()
        if org is not None and out is None:
            from reconciler.read_and_export import export_org

            typer.echo(export_org(client, org, caller=caller), nl=False)
            return
        assert out is not None
        texts = _export_orgs(client, caller, [org] if org is not None else None, out)
    if all_orgs and not force:
        _refuse_overwrite(list(texts))
    _write_exported(texts, out if all_orgs else out.parent)


def _export_orgs(
    client: ReadClient, caller: str, orgs: list[str] | None, out: Path, *, keep_caller: bool = False
) -> dict[Path, str]:
    """Each org's manifest text by target file (`orgs` None: every org the token
    administers, into the directory `out`). Every org is read before the first file is
    written: a failed read writes nothing. Written beside a fleet defaults file, its
    departed users are left out."""
    from reconciler.read_and_export import administered_orgs, export_org

    if orgs is not None and len(orgs) == 1 and not out.is_dir():
        return {out: export_org(client, orgs[0], caller=caller, out=out, keep_caller=keep_caller)}
    return {
        out / f"{org_id}.yaml": export_org(
            client, org_id, caller=caller, out=out / f"{org_id}.yaml", keep_caller=keep_caller
        )
        for org_id in (orgs if orgs is not None else administered_orgs(client))
    }


def _refuse_overwrite(targets: list[Path]) -> None:
    existing = [str(t) for t in targets if t.exists()]
    if existing:
        raise ConfigError(
            f"{', '.join(existing)}: already exists; export would replace what a person "
            "wrote there (requiredAdmins, protected, provisioning, self-grants, comments), "
            "which the platform cannot give back. Nothing was written: give --force to "
            "replace it, or export to stdout and merge by hand"
        )


def _write_exported(texts: dict[Path, str], directory: Path) -> None:
    from reconciler.read_and_export import write_schema_beside

    directory.mkdir(parents=True, exist_ok=True)
    for target, text in texts.items():
        target.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {target}", err=True)
    typer.echo(f"wrote {write_schema_beside(directory)} (the schema the files name)", err=True)


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
    from reconciler.scaffold import check_target, scaffold_files

    if not force:
        check_target(directory)
    elif directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory}: not a directory")
    orgs_dir = directory / "orgs"
    with platform.read_client(config_root([orgs_dir / "org.yaml"])) as client:
        caller = client.whoami()
        texts = _export_orgs(client, caller, None, orgs_dir, keep_caller=True)
    files = scaffold_files(texts.values(), action=action)
    _write_exported(texts, orgs_dir)
    for relative, text in files.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {target}", err=True)
    typer.echo(
        f"{directory}: {len(texts)} org(s) exported. Next: read {directory / 'README.md'} "
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
    from reconciler.review.collect import EvidenceSources, review_fleet
    from reconciler.review.evidence import load_logins
    from reconciler.review.formats import iter_report

    if out is not None:
        _check_file_target(out, "--out")
    fleet = _load(paths)
    root = config_root(paths)
    if journals is None:
        default_journal = platform.state(root) / JOURNAL_NAME
        journals = [default_journal] if default_journal.is_file() else []
    logins = load_logins(github_logins) if github_logins is not None else None
    with contextlib.ExitStack() as stack:
        github = None
        if github_repo is not None:
            if not os.environ.get("GITHUB_TOKEN", "").strip():
                raise DxorgError("--github-repo needs a GitHub token: set GITHUB_TOKEN")
            from reconciler.github.api import GitHubClient
            from reconciler.platform import retry_policy_from_env

            github = stack.enter_context(
                GitHubClient(
                    os.environ.get("GITHUB_API_URL") or "https://api.github.com",
                    os.environ.get("GITHUB_TOKEN", "").strip(),
                    github_repo,
                    retry=retry_policy_from_env(os.environ),
                )
            )
        sources = EvidenceSources(github=github, journals=journals, logins=logins)
        client = stack.enter_context(platform.read_client(root))
        report = review_fleet(fleet, client, only=org, sources=sources)
    del fleet  # the report holds what it needs: a 50,000-member fleet's model is big
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
    from reconciler.doctor import doctor_orgs, examine_platform
    from reconciler.render.doctor import doctor_json, doctor_text

    fleet = _load(paths) if paths else None
    orgs = doctor_orgs(fleet, org or [])
    root = config_root(paths or [])
    api_server = None
    if platform.sandbox:
        state = platform.sandbox_state or platform.state(root) / SANDBOX_NAME
        api_server = f"the embedded sandbox ({state}, --sandbox)"
    report = examine_platform(
        orgs, functools.partial(platform.read_client, root), env=os.environ, api_server=api_server
    )
    if fmt == DoctorFormat.json:
        typer.echo(doctor_json(report), nl=False)
    else:
        _console().print(doctor_text(report), end="")
    raise typer.Exit(report.exit_code)


@app.command("validate", short_help="Check manifests; contacts nothing.")
def validate(
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATH", help="Manifest files or directories.")
    ],
) -> None:
    """Check manifests against the schema and each other; contacts nothing."""
    from reconciler.manifest import load_fleet

    fleet = load_fleet(paths)
    typer.echo(f"OK: {len(fleet.orgs)} org(s) in {len(fleet.files)} file(s)")


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


class _RecordsToStderr(logging.Handler):
    """dxorg's log records (a read given up after its retries, an outage) on stderr, at
    WARNING and above as Python shows them by default, but each as one visible line that
    no runner reads as a workflow command (inert.log_message): they quote the platform."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            details = (
                logging.Formatter().formatException(record.exc_info) if record.exc_info else None
            )
            for line in inert.log_lines(record.getMessage(), details):
                sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except Exception:  # logging's contract: a handler never raises into the caller
            self.handleError(record)


@contextmanager
def _log_records_on_stderr() -> Iterator[None]:
    handler = _RecordsToStderr()
    logger = logging.getLogger("reconciler")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _run(args: list[str] | None) -> int:
    try:
        with _terminate_on_sigterm(), _log_records_on_stderr():
            code = app(args=args, prog_name="dxorg", standalone_mode=False)
    except typer.TyperException as exc:
        # Usage errors (typer's vendored click): shown with its own message, but exit 1.
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            typer.echo(f"error: {exc.format_message()}", err=True)
        return 1
    except typer.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            return _interrupted()
        typer.echo("Aborted.", err=True)
        return 1
    except KeyboardInterrupt:
        return _interrupted()
    except ApplyInterrupted as exc:
        typer.echo(f"{exc}", err=True)
        return exc.exit_code
    except Terminated:
        typer.echo("\nTerminated (SIGTERM): nothing was applied.", err=True)
        return EXIT_TERMINATED
    except ManifestError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"{len(exc.problems)} problem(s) found", err=True)
        return 1
    except DxorgError as exc:
        # Messages quote the platform's answers and the manifests: foreign text.
        typer.echo(f"error: {inert.terminal_lines(exc)}", err=True)
        return 1
    except OSError as exc:
        # A path the user gave that cannot be read or written (permissions, a full disk).
        if exc.filename is None:
            raise
        typer.echo(f"error: {exc.filename}: {exc.strerror or exc}", err=True)
        return 1
    if code == EXIT_INTERRUPTED:  # typer turns a KeyboardInterrupt into this exit code
        return _interrupted()
    return int(code or 0)


def _interrupted() -> int:
    typer.echo("\nInterrupted: nothing was applied.", err=True)
    return EXIT_INTERRUPTED
