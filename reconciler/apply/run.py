"""Apply a reviewed plan: the one path the CLI (`apply`, `apply --plan`) and the Action share.

1. Refuse options that differ from the plan's (`--override`, `--skip-removals`) and
   manifests that are not byte for byte the ones it was made from.
2. Read every org again, read-only, and plan it again with the same options: refuse the
   whole apply, before any write and before a write client exists, if a live object the
   plan was made from changed (naming how), or if the fresh plan is not exactly the
   reviewed one. An org the reviewed plan refused, or whose fresh plan breaks a rail, is
   refused on its own (journaled `org-refused`, each of its steps `not-sent`, nothing
   written to it, exit 1); the others go on. What is sent is the fresh plan, proven equal to the review.
3. Run each org's steps (`executor`), the admin rails checked once more on a fresh read
   right before the first demotion or removal; one org's failure never stops the others.
4. Read and plan each org again: converged, or what still differs (including removals
   `--skip-removals` left out) or was not checked (forwarding whose token variable is
   unset; it stays unchecked at apply if the reviewed plan left it so).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from reconciler.apply.executor import Executor, GuardRefused, ProgressHook
from reconciler.apply.journal import Journal
from reconciler.apply.landed import effect_check
from reconciler.apply.outcomes import (
    ActionOutcome,
    ApplyOutcome,
    OrgApplyOutcome,
    UnknownCall,
    settle,
)
from reconciler.apply.proof import (
    refuse_as_reviewed,
    refuse_changed_manifests,
    refuse_other_options,
    refuse_other_platform,
    refuse_unless_same,
    refuse_unplanned,
)
from reconciler.apply.stopping import StopSignal
from reconciler.errors import DivergedPlanError, DxorgError, ReadIncompleteError, StalePlanError
from reconciler.live_values import live_values
from reconciler.model import DesiredOrg, LiveOrg
from reconciler.plan import ObjectKey, OrgPlan, Plan
from reconciler.planner import PlanOptions, plan_org
from reconciler.rails import shrunk_members
from reconciler.read_and_plan import (
    plan_options,
    platform_identity,
    platform_time,
    read_and_plan_orgs,
)
from reconciler.read_live import read_org
from reconciler.worker_threads import wait_all

if TYPE_CHECKING:
    from reconciler.manifest import Fleet
    from reconciler.platform import Connection, ReadClient, WriteClient

ORG_CONCURRENCY = 4
# What a refused org's journal record adds to why it was refused (its violations follow).
NOTHING_WRITTEN = "nothing was written to it"


def reviewed_orgs(plan: Plan, only: Collection[str] | None = None) -> list[OrgPlan]:
    """The orgs of a plan that apply acts on: those with changes, errors or violations.

    Orgs the review saw no change in are left alone: a drift there since is the drift
    job's to report, and must not block applying what was reviewed elsewhere. (The plan's
    own violations only add orgs to be planned and checked again, never remove any.)
    """
    orgs = list(plan.orgs)
    if only:
        missing = sorted(set(only) - {o.org_id for o in orgs})
        if missing:
            raise DxorgError(f"{', '.join(missing)} not in the reviewed plan")
        orgs = [o for o in orgs if o.org_id in only]
    # An org with drift only a person can resolve is applied too (nothing is sent): its
    # report then says it still differs, so an apply never ends "converged" on it.
    return [o for o in orgs if o.actions or o.error or o.violations or o.unresolved]


def apply_reviewed(
    reviewed: Plan,
    fleet: Fleet,
    connection: Connection,
    *,
    journal: Journal,
    env: Mapping[str, str],
    overrides: frozenset[str] = frozenset(),
    skip_removals: bool = False,
    only_expiries: bool = False,
    only: Collection[str] | None = None,
    now: datetime | None = None,
    created_accounts: Mapping[str, str] | None = None,
    progress: ProgressHook | None = None,
    stop: StopSignal | None = None,
) -> ApplyOutcome:
    """Apply `reviewed`, or raise (StalePlanError, DivergedPlanError, UnsafePlanError) with
    nothing written. `overrides` and `skip_removals` are what the operator gave apply;
    once `stop` is set (a signal), no more calls are sent."""
    stop = stop or StopSignal()
    refuse_other_options(reviewed, overrides, skip_removals, only_expiries)
    orgs = reviewed_orgs(reviewed, only)
    if not orgs:
        return ApplyOutcome(unchecked_elsewhere(reviewed, ()))
    # A plan with an org it could not plan was never a complete review.
    refuse_unplanned(orgs)
    missing = [o.org_id for o in orgs if o.org_id not in fleet.orgs]
    if missing:
        raise DivergedPlanError(
            f"no manifest for {', '.join(missing)}: apply needs the manifests the plan was made from"
        )
    desired = {o.org_id: fleet.orgs[o.org_id] for o in orgs}
    refuse_changed_manifests(orgs, {org_id: d.manifests for org_id, d in desired.items()})

    with connection.read_client() as reader:
        caller = reader.whoami()
        here = platform_identity(connection.config, caller)
        journal.write(
            "run-start",
            user=caller,
            platform=here.where,
            planCreatedAt=reviewed.created_at,
            orgs=[o.org_id for o in orgs],
        )
        try:
            refuse_other_platform(reviewed, here)
        except DxorgError as exc:
            journal.write("refused", reason=str(exc))
            raise
        options = _unchecked_as_reviewed(
            orgs,
            desired,
            plan_options(
                list(desired.values()),
                reader,
                now=now or platform_time(reader),
                env=env,
                overrides=overrides,
                skip_removals=skip_removals,
                only_expiries=only_expiries,
                created_accounts=created_accounts,
            ),
        )
        fresh = _plan_again(orgs, desired, reader, options, caller)
    try:
        refuse_unless_same(
            orgs, {org_id: p for org_id, (_, p) in fresh.items()}, _values_now(orgs, fresh)
        )
        refused = refuse_as_reviewed(orgs, [plan for _, plan in fresh.values()])
        refuse_shrunk(orgs, fresh, desired)
    except DxorgError as exc:
        journal.write("refused", reason=str(exc))
        raise
    for org_id, (why, violations) in refused.items():
        journal.write(
            "org-refused",
            org=org_id,
            reason=f"{why}: {NOTHING_WRITTEN}",
            violations=list(violations),
        )
        # Every step of the plan ends with exactly one terminal record, a refused org's too.
        for step in fresh[org_id][1].steps:
            journal.write(
                "not-sent",
                org=org_id,
                step=step.id,
                actions=list(step.actions),
                route=step.call.route,
                user=caller,
                reason=f"org refused: {why}: " + "; ".join(violations),
            )

    journal.check_writable()
    # Only now, every check passed, is a client that can write made.
    with connection.write_client() as writer:
        executor = Executor(writer, journal, env, caller, progress, stop)

        def one(org: OrgPlan) -> OrgApplyOutcome:
            if org.org_id in refused:
                why, violations = refused[org.org_id]
                return OrgApplyOutcome(org.org_id, refused=violations, refused_why=why)
            planned = fresh[org.org_id][1]
            try:
                outcomes = executor.run_org(planned, desired[org.org_id])
            except GuardRefused as exc:
                journal.write("org-error", org=org.org_id, error=str(exc))
                report = OrgApplyOutcome(org.org_id, exc.outcomes, error=str(exc))
            except DxorgError as exc:  # one org's trouble never stops the others
                journal.write("org-error", org=org.org_id, error=str(exc))
                report = OrgApplyOutcome(org.org_id, error=str(exc))
            else:
                report = _verify(planned, outcomes, desired[org.org_id], writer, options, journal)
            calls = executor.unknown_calls(org.org_id)
            return _settle_unknown(report, calls, writer, options, journal)

        workers = max(1, min(ORG_CONCURRENCY, writer.concurrency, len(orgs)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(one, org) for org in orgs]
            wait_all(futures)  # a stop signal is handled while the orgs are applied
            report = ApplyOutcome(
                tuple(f.result() for f in futures) + unchecked_elsewhere(reviewed, orgs),
                left_out_by=reviewed.left_out_by,
                stopped=writer.stopped(),
                interrupted_by=stop.exit_code,
            )
    journal.write("run-end", exitCode=report.exit_code, summary=report.summary())
    return report


def unchecked_elsewhere(
    reviewed: Plan, acted_on: Collection[OrgPlan]
) -> tuple[OrgApplyOutcome, ...]:
    """Orgs apply leaves alone whose plan left something unchecked: reported as such, so
    an apply never says "converged" over them."""
    acted = {o.org_id for o in acted_on}
    return tuple(
        OrgApplyOutcome(o.org_id, unchecked=o.unchecked)
        for o in reviewed.orgs
        if o.unchecked and o.org_id not in acted
    )


def _unchecked_as_reviewed(
    orgs: Collection[OrgPlan], desired: Mapping[str, DesiredOrg], options: PlanOptions
) -> PlanOptions:
    """Forwarding the reviewed plan left unchecked stays unchecked now, even if its token
    variable is set at apply: no reviewer saw that change, so it is neither sent nor a
    reason to refuse the rest. (A plan file can only take a write away this way.)"""
    names = set()
    for org in orgs:
        forwarding = desired[org.org_id].forwarding
        if org.unchecked and forwarding is not None and forwarding.token_env:
            names.add(forwarding.token_env)
    if not names:
        return options
    signatures = {k: (None if k in names else v) for k, v in options.token_signatures.items()}
    return replace(options, token_signatures=signatures)


def _plan_again(
    orgs: list[OrgPlan],
    desired: Mapping[str, DesiredOrg],
    reader: ReadClient,
    options: PlanOptions,
    caller: str,
) -> dict[str, tuple[LiveOrg | None, OrgPlan]]:
    planned = read_and_plan_orgs([desired[o.org_id] for o in orgs], reader, options, caller)
    return {o.org_id: result for o, result in zip(orgs, planned, strict=True)}


def _values_now(
    orgs: list[OrgPlan], fresh: Mapping[str, tuple[LiveOrg | None, OrgPlan]]
) -> dict[str, dict[str, object]]:
    """Per org, the live value now of every object the reviewed or the fresh plan touches."""
    out: dict[str, dict[str, object]] = {}
    for org in orgs:
        live, plan = fresh[org.org_id]
        if live is not None:
            out[org.org_id] = live_values(
                live, [ObjectKey.parse(k) for k in sorted({*org.live_values, *plan.live_values})]
            )
    return out


def refuse_shrunk(
    orgs: list[OrgPlan],
    fresh: Mapping[str, tuple[LiveOrg | None, OrgPlan]],
    desired: Mapping[str, DesiredOrg],
) -> None:
    """A member list much shorter than at plan time is a partial read or a mass removal by
    someone else: either way, not a state to write on."""
    shrunk = []
    for org in orgs:
        live = fresh[org.org_id][0]
        why = shrunk_members(org, live, desired[org.org_id]) if live is not None else None
        if why:
            shrunk.append(f"{org.org_id}: {why}")
    if shrunk:
        raise StalePlanError(
            "the plan is stale, nothing was applied (plan again):\n  " + "\n  ".join(shrunk)
        )


def _verify(
    org: OrgPlan,
    outcomes: tuple[ActionOutcome, ...],
    desired: DesiredOrg,
    client: WriteClient,
    options: PlanOptions,
    journal: Journal,
) -> OrgApplyOutcome:
    try:
        live = read_org(client, desired, org.caller)
    except ReadIncompleteError as exc:
        return OrgApplyOutcome(org.org_id, outcomes, error=f"verification read failed: {exc}")
    again = plan_org(desired, live, options)
    if again.error:
        return OrgApplyOutcome(org.org_id, outcomes, error=again.error)
    # Drift dxorg does not change itself still differs: an apply never ends "converged" on it.
    remaining = tuple(a.summary for a in again.actions) + again.unresolved
    shrunk = shrunk_members(org, live, desired)
    if shrunk:  # a converged-looking read that lost members is reported, not trusted
        remaining += (shrunk,)
    journal.write(
        "verify",
        org=org.org_id,
        converged=not remaining and not again.left_out and not again.unchecked,
        remaining=list(remaining),
        leftOut=list(again.left_out),
        unchecked=list(again.unchecked),
    )
    return OrgApplyOutcome(
        org.org_id,
        outcomes,
        remaining,
        again.left_out,
        again.unchecked,
    )


def _settle_unknown(
    report: OrgApplyOutcome,
    calls: tuple[UnknownCall, ...],
    client: WriteClient,
    options: PlanOptions,
    journal: Journal,
) -> OrgApplyOutcome:
    """Each call whose answer was lost, settled by a fresh read of its own effect: landed or
    not (a line in the journal for each); left unknown where that effect cannot be seen or
    the read failed."""
    if not calls:
        return report
    calls = settle(calls, [_effect_shown(call, client, options) for call in calls])
    for call in calls:
        journal.write(
            "call-resolved",
            org=call.org_id,
            step=call.step_id,
            actions=list(call.actions),
            route=call.route,
            resolution=call.resolution or "unknown",
        )
    return replace(report, unknown_calls=calls)


def _effect_shown(call: UnknownCall, client: WriteClient, options: PlanOptions) -> bool | None:
    """Whether the live state shows this call's effect; None when it cannot tell."""
    check = effect_check(call.route, call.body, client, token_signatures=options.token_signatures)
    if check is None:
        return None
    try:
        return check()
    except DxorgError:  # a failed read (or an account not shown ours) settles nothing
        return None
