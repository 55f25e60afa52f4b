"""Desired x live -> one org's checked plan. Pure: no I/O, no clock (the caller passes both).

diff (what differs, and why) -> steps (the exact calls, in order) -> rails (what the
plan may not do) -> warnings -> the OrgPlan value, with what it was planned from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from reconciler.diff import DiffInput, ForwardingTokenMissing, diff_org
from reconciler.live_values import live_fingerprints, touched_values
from reconciler.model import DesiredOrg, LiveOrg
from reconciler.plan import (
    FORWARDING_UNCHECKED,
    Action,
    OrgPlan,
    PlanWarning,
    Violation,
    is_expiry,
    kind_order,
    leaving_out,
    phase_index,
)
from reconciler.plan_warnings import grant_drift, plan_warnings
from reconciler.rails import OVERRIDABLE_RULES, check_rails
from reconciler.steps import MEMBER_ACCESS_BATCH, build_steps


@dataclass(frozen=True)
class PlanOptions:
    today: date
    now_ms: int
    token_signatures: Mapping[str, str | None] = field(default_factory=dict)
    # Why a forwarding token variable may not be used (it holds a credential), by name.
    token_problems: Mapping[str, str] = field(default_factory=dict)
    overrides: frozenset[str] = frozenset()
    skip_removals: bool = False
    # Keep only the actions that follow from an expiry or a departure (`plan.is_expiry`).
    only_expiries: bool = False
    batch_size: int = MEMBER_ACCESS_BATCH
    # Accounts dxorg's journal shows it created (user id -> email): evidence for adopting one.
    created_accounts: Mapping[str, str] = field(default_factory=dict)
    # Why `/user/new` could not be sent now (no auth server configured or reachable), if so.
    auth_server_problem: str | None = None

    @staticmethod
    def at(
        now: datetime,
        *,
        token_signatures: Mapping[str, str | None] | None = None,
        token_problems: Mapping[str, str] | None = None,
        overrides: frozenset[str] = frozenset(),
        skip_removals: bool = False,
        only_expiries: bool = False,
        created_accounts: Mapping[str, str] | None = None,
        auth_server_problem: str | None = None,
    ) -> PlanOptions:
        utc = now.astimezone(UTC)
        return PlanOptions(
            today=utc.date(),
            now_ms=int(utc.timestamp() * 1000),
            token_signatures=token_signatures or {},
            token_problems=token_problems or {},
            overrides=overrides,
            skip_removals=skip_removals,
            only_expiries=only_expiries,
            created_accounts=created_accounts or {},
            auth_server_problem=auth_server_problem,
        )


def plan_org(desired: DesiredOrg, live: LiveOrg, options: PlanOptions) -> OrgPlan:
    forwarding = desired.forwarding
    token_env = forwarding.token_env if forwarding and forwarding.enabled else None
    if token_env and token_env in options.token_problems:
        return failed_org_plan(desired, live.caller, options.token_problems[token_env])
    unchecked: list[PlanWarning] = []
    if token_env and options.token_signatures.get(token_env) is None:
        # A missing secret is local: forwarding goes unchecked (and unwritten), the rest
        # of the org is planned. The plan still "differs": nobody may read "no changes".
        unchecked.append(
            PlanWarning(
                FORWARDING_UNCHECKED,
                f"job-log forwarding was not checked: environment variable {token_env} "
                f"(jobLogsForwarding.tokenEnv in {desired.source}) is not set, so the "
                "token cannot be compared or sent; set it and plan again",
            )
        )
        desired = replace(desired, forwarding=None)
    inputs = DiffInput(options.today, options.token_signatures, options.created_accounts)
    try:
        actions = diff_org(desired, live, inputs)
    except ForwardingTokenMissing as exc:
        return failed_org_plan(desired, live.caller, str(exc))

    def order(a: Action) -> tuple[int, int, str]:
        return (phase_index(a.phase), kind_order(a.kind), a.id)

    def left_out_now(a: Action) -> bool:
        return (options.skip_removals and bool(a.removals)) or (
            options.only_expiries and not is_expiry(a)
        )

    # The rails below run on what is kept: the plan that would be applied.
    left_out = sorted((a for a in actions if left_out_now(a)), key=order)
    actions = sorted((a for a in actions if not left_out_now(a)), key=order)
    steps = build_steps(desired, live.caller, actions, options.batch_size)
    violations = [
        # Only the rules in OVERRIDABLE_RULES yield to --override; the others never do.
        Violation(
            v.rule,
            v.message,
            v.step,
            overridden=v.rule in options.overrides and v.rule in OVERRIDABLE_RULES,
        )
        for v in check_rails(
            desired,
            live,
            actions,
            steps,
            created_accounts=options.created_accounts,
            auth_server_problem=options.auth_server_problem,
        )
    ]
    warnings = unchecked + plan_warnings(
        desired,
        live,
        today=options.today,
        now_ms=options.now_ms,
        left_out=left_out,
        left_out_by=leaving_out(
            skip_removals=options.skip_removals, only_expiries=options.only_expiries
        ),
    )
    touched = [key for action in actions for key in action.touches]
    return OrgPlan(
        org_id=desired.org_id,
        source=desired.source,
        caller=live.caller,
        actions=tuple(actions),
        steps=tuple(steps),
        violations=tuple(violations),
        warnings=tuple(warnings),
        fingerprints=live_fingerprints(live, touched),
        live_values=touched_values(live, actions),
        manifests=dict(desired.manifests),
        left_out=tuple(a.summary for a in left_out),
        unresolved=tuple(grant_drift(desired, live, options.today)),
    )


def failed_org_plan(desired: DesiredOrg, caller: str, message: str) -> OrgPlan:
    return OrgPlan(
        org_id=desired.org_id,
        source=desired.source,
        caller=caller,
        manifests=dict(desired.manifests),
        error=message,
    )


__all__ = ["OVERRIDABLE_RULES", "PlanOptions", "failed_org_plan", "plan_org"]
