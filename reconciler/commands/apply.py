"""`apply`: make the changes a plan shows, then verify (reconciler.apply.run proves the
plan first: planned again now, it must be exactly the one reviewed).

One apply at a time per state directory, from before the first read to after
verification (reconciler.apply.lock). While the calls are sent, the first SIGINT or
SIGTERM (Ctrl-C, a CI cancel) stops the sending: the calls in flight finish, no more
are sent, the journal's run ends, and the result carries the signal's exit code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.apply.stopping import StopSignal
from reconciler.commands.exit_codes import signal_exit_code
from reconciler.commands.platform import PlatformRequest
from reconciler.commands.validate import Manifests

if TYPE_CHECKING:
    from collections.abc import Collection

    from reconciler.apply.executor import ProgressHook
    from reconciler.apply.outcomes import ApplyOutcome
    from reconciler.plan import OrgPlan, Plan
    from reconciler.platform import Connection

# Opened once the plan is confirmed, around the sending: yields the hook each API call's
# outcome is reported to (a progress bar, log lines).
ProgressFactory = Callable[["Plan"], AbstractContextManager["ProgressHook | None"]]


__all__ = ["Applied", "ApplyRequest", "ProgressHook", "apply", "load_reviewed", "reviewed_orgs"]


@dataclass(frozen=True)
class ApplyRequest:
    manifests: Manifests  # the manifests the plan is (or was) made from
    platform: PlatformRequest
    root: Path  # the config repository's root: where its state directory is
    reviewed: Plan | None = None  # a saved, reviewed plan; None: plan now from `manifests`
    only: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()
    skip_removals: bool = False
    only_expiries: bool = False
    journal: Path | None = None  # default: journal.jsonl in the state directory
    # A plan with no changes is shown and not applied (the CLI); off, the reviewed orgs are
    # proven and verified all the same (the Action: an org with drift only a person can
    # resolve ends "still differs").
    skip_unchanged: bool = True
    # Shown the plan about to be applied; a saved plan from another platform, or another
    # user, is refused before it is shown.
    show: Callable[[Plan], None] | None = None
    # Asked before anything is sent; raises to refuse.
    confirm: Callable[[Plan], None] | None = None
    progress: ProgressFactory | None = None
    # Told of each SIGINT or SIGTERM while the calls are sent: (signum, again).
    on_signal: Callable[[int, bool], None] | None = None
    # Told, before the confirmation, of each org of the plan just made that apply refuses
    # for the rails its plan breaks (the other orgs are applied): org id -> the rails.
    on_refused: Callable[[Mapping[str, tuple[str, ...]]], None] | None = None
    stop: StopSignal = field(default_factory=StopSignal)


@dataclass(frozen=True)
class Applied:
    plan: Plan
    outcome: ApplyOutcome | None  # None: the plan had no changes, nothing was applied
    journal: Path
    # Why the journal could not be written (the apply stopped before its next call).
    journal_failure: str | None = None
    stopped_by: int | None = None  # the exit code of the signal that stopped the sending


def load_reviewed(plan_file: Path, state_dir: Path | None) -> tuple[Plan, Path]:
    """A saved plan and the root of its config repository. Its manifest paths are
    relative to that root, found from where the plan file is, so apply --plan works from
    any directory."""
    from reconciler.config_repo import plan_from_file, plan_root
    from reconciler.plan_file import load_plan

    saved = load_plan(plan_file)
    root = plan_root(plan_file, saved, state_dir)
    return plan_from_file(saved, root), root


def reviewed_orgs(plan: Plan, only: Collection[str] | None = None) -> list[OrgPlan]:
    """The orgs of a reviewed plan that apply acts on (reconciler.apply.run)."""
    from reconciler.apply.run import reviewed_orgs as acted_on

    return acted_on(plan, only)


def apply(request: ApplyRequest) -> Applied:
    from reconciler.apply.lock import apply_lock

    journal = request.platform.journal(request.root, request.journal)
    with apply_lock(journal.parent):
        return _apply_locked(request, journal)


def _apply_locked(request: ApplyRequest, journal_path: Path) -> Applied:
    from reconciler.apply.journal import Journal, created_accounts
    from reconciler.apply.proof import rail_refusals, refuse_other_platform, refuse_unsafe
    from reconciler.apply.run import apply_reviewed
    from reconciler.commands.plan import PlanRequest, plan_loaded
    from reconciler.config_repo import evidence_journals
    from reconciler.read_and_plan import platform_identity, platform_where

    platform = request.platform
    connection = platform.connection(request.root)
    created = created_accounts(
        evidence_journals(platform.journals_state(request.root), journal_path),
        platform_where(connection.config),
    )
    fleet = request.manifests.load()
    if request.reviewed is not None:
        plan = request.reviewed
        if request.show is not None:
            # A plan from another platform, or another user, is refused before it is
            # shown for a `yes` (apply_reviewed checks it again).
            with connection.read_client() as client:
                refuse_other_platform(plan, platform_identity(client.config, client.whoami()))
    else:
        plan = plan_loaded(
            PlanRequest(
                request.manifests,
                platform,
                only=request.only,
                overrides=request.overrides,
                skip_removals=request.skip_removals,
                only_expiries=request.only_expiries,
            ),
            fleet,
            connection,
            created,
        )
    if request.show is not None:
        request.show(plan)
    # What is asked about and counted: the orgs apply does not refuse. What is shown
    # refused here stays refused whatever the platform says after the `yes`
    # (apply.proof.refuse_as_reviewed): the prompt never counts fewer calls than are made.
    # The plan just made: never ask about an org apply refuses (nor, when no org would be
    # left, about any). A saved plan: the orgs it showed refused.
    refused = refuse_unsafe(plan.orgs) if request.reviewed is None else rail_refusals(plan.orgs)
    if refused and request.on_refused is not None:
        request.on_refused(refused)
    asked = replace(plan, orgs=tuple(o for o in plan.orgs if o.org_id not in refused))
    if request.skip_unchanged and not plan.has_changes:
        return Applied(plan, None, journal_path)
    if request.confirm is not None:
        request.confirm(asked)

    journal = Journal(journal_path)
    progress = request.progress(asked) if request.progress else contextlib.nullcontext(None)
    with _stop_on_signals(request, connection), progress as hook:
        # Plans again on what is live now (after the confirmation) and applies only the
        # same plan: see reconciler.apply.run.
        outcome = apply_reviewed(
            plan,
            fleet,
            connection,
            journal=journal,
            env=platform.env,
            overrides=frozenset(request.overrides),
            skip_removals=request.skip_removals,
            only_expiries=request.only_expiries,
            only=request.only or None,
            created_accounts=created,
            progress=hook,
            stop=request.stop,
        )
    return Applied(plan, outcome, journal_path, journal.failure_message(), request.stop.exit_code)


def _stop_on_signals(request: ApplyRequest, connection: Connection) -> AbstractContextManager[None]:
    """The first SIGINT or SIGTERM stops the sending; the presenter hears of every one."""
    from reconciler.apply.stopping import stop_on_signals

    def on_signal(signum: int) -> None:
        again = request.stop.is_set()
        if not again:
            request.stop.stop(signal_exit_code(signum))
            # A call in flight is not retried: its outcome is settled as it stands.
            connection.health.stop_writes("interrupted")
        if request.on_signal is not None:
            request.on_signal(signum, again)

    return stop_on_signals(on_signal)
