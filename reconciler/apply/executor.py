"""Run one org's steps: phase by phase, independent steps of a phase side by side.

A failed step's dependants are skipped; the others go on. A step not sent (a signal, an
outage, the run's deadline, a journal that cannot be written) leaves its dependants not sent either, each journaled
`not-sent` with that reason: every step of the plan ends with exactly one terminal
record. Right before the first demotion or removal, the org's ADMINs are read again and
the admin rails checked against them and the steps still to come: if someone else took
admins away meanwhile, the org stops there, before the write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.apply.journal import Journal, JournalWriteError
from reconciler.apply.landed import send_checked
from reconciler.apply.outcomes import ActionOutcome, Status, UnknownCall, was_not_sent, worse
from reconciler.apply.secrets import materialise
from reconciler.apply.stopping import StopSignal
from reconciler.errors import ApiError, DxorgError, PlatformOutage, ReadIncompleteError
from reconciler.model import DesiredOrg
from reconciler.plan import PHASES, OrgPlan, Phase, Step
from reconciler.rails import admin_violations

if TYPE_CHECKING:
    from reconciler.platform.client import CallOutcome, WriteClient

ProgressHook = Callable[[str, Step, Status, str | None], None]

# The phases that can take admins away: the admin rails are checked again before them.
GUARDED_PHASES = (Phase.DEMOTE, Phase.REMOVE)


class GuardRefused(DxorgError):
    """The admin rails failed on a fresh read right before a demotion or removal; the
    outcomes say what was done before and what was skipped."""

    def __init__(self, reason: str, outcomes: tuple[ActionOutcome, ...]) -> None:
        super().__init__(reason)
        self.outcomes = outcomes


@dataclass
class Executor:
    client: WriteClient
    journal: Journal
    env: Mapping[str, str]
    caller: str
    progress: ProgressHook | None = None
    # Set by a signal: no call is sent after it (each one due is `not-sent`).
    stop: StopSignal = field(default_factory=StopSignal)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Writes whose answers were lost, by org: verification settles each (see UnknownCall).
    unknown: dict[str, list[UnknownCall]] = field(default_factory=dict)

    def unknown_calls(self, org_id: str) -> tuple[UnknownCall, ...]:
        with self.lock:
            return tuple(self.unknown.get(org_id, ()))

    def run_org(self, org: OrgPlan, desired: DesiredOrg) -> tuple[ActionOutcome, ...]:
        outcomes: dict[str, ActionOutcome] = {}
        status: dict[str, Status] = {}
        guarded = False
        for phase in PHASES:
            pending = [s for s in org.steps if s.phase == phase]
            stopped = self.stop.reason() or self.journal.stop_reason()
            if pending and stopped is not None:
                # Stopped (a signal, a journal that cannot be written): nothing more is
                # sent, and the guard's fresh read would only see the promotions that were
                # not sent as admins gone.
                self._skip_rest(org, status, outcomes, stopped, "not-sent")
                break
            if pending and phase in GUARDED_PHASES and not guarded:
                guarded = True
                refusal = self._admin_guard(org, desired)
                if refusal is not None:
                    self._skip_rest(org, status, outcomes, refusal, "skipped")
                    raise GuardRefused(refusal, _in_order(org, outcomes))
            while pending:
                ready = [s for s in pending if all(d in status for d in s.depends_on)]
                if not ready:  # a dependency outside this phase never ran: a malformed plan
                    raise DxorgError(
                        f"{org.org_id}: steps {[s.id for s in pending]} wait on steps that never ran"
                    )
                pending = [s for s in pending if s not in ready]
                runnable = [s for s in ready if not self._skip_if_blocked(org, s, status, outcomes)]
                results = self.client.map(lambda s: self._run_step(org, s), runnable)
                for step, step_outcomes in zip(runnable, results, strict=True):
                    for outcome in step_outcomes:
                        # An action served by several steps ends as the worst of them.
                        outcomes[outcome.action_id] = worse(
                            outcomes.get(outcome.action_id), outcome
                        )
                    status[step.id] = _step_state(step_outcomes)
        return _in_order(org, outcomes)

    # -- the guard -----------------------------------------------------------------

    def _admin_guard(self, org: OrgPlan, desired: DesiredOrg) -> str | None:
        """Why the demotions and removals must not start now, if they must not."""
        try:
            rows = self.client.find_org_members(org.org_id, level="ADMIN")
        except (ApiError, ReadIncompleteError) as exc:
            return f"cannot read the org's admins again before the first demotion or removal: {exc}"
        admins = {str(row.get("id")): "ADMIN" for row in rows if row.get("level") == "ADMIN"}
        if len(admins) != len(rows):
            return "the re-read list of admins is malformed; demotions and removals not started"
        required = desired.membership.required_admins if desired.membership else frozenset()
        missing = sorted(required - set(admins))
        coming = [s for s in org.steps if s.phase in GUARDED_PHASES]
        violations = admin_violations(
            admins, coming, org.actions, required, desired.safety.min_admins
        )
        problems = [v.message for v in violations]
        if missing:
            problems.insert(0, f"required admin(s) {', '.join(missing)} are not ADMIN any more")
        self.journal.write("admin-guard", org=org.org_id, admins=sorted(admins), problems=problems)
        if not problems:
            return None
        return (
            f"{org.org_id}: stopped before the first demotion or removal: the org's admins "
            f"changed since the plan ({len(admins)} now: {', '.join(sorted(admins))}); "
            + "; ".join(problems)
        )

    def _skip_rest(
        self,
        org: OrgPlan,
        status: dict[str, Status],
        outcomes: dict[str, ActionOutcome],
        reason: str,
        outcome: Status,
    ) -> None:
        """Every step not run yet ends as `outcome`: `not-sent` (a stop) or `skipped`
        (the admin guard refused)."""
        for step in org.steps:
            if step.id not in status:
                shown = reason if outcome == "not-sent" else "admin guard"
                self._leave(org, step, status, outcomes, outcome, reason, shown)

    def _skip_if_blocked(
        self,
        org: OrgPlan,
        step: Step,
        status: dict[str, Status],
        outcomes: dict[str, ActionOutcome],
    ) -> bool:
        blocked = [d for d in step.depends_on if status[d] != "done"]
        if not blocked:
            return False
        steps = ", ".join(blocked)
        if all(status[d] == "not-sent" for d in blocked):
            # Never sent because what it needs was never sent: not a failure, not a skip.
            detail = f"not sent: step {steps}, which it depends on, was not sent"
            self._leave(org, step, status, outcomes, "not-sent", detail, detail)
        else:
            detail = f"skipped: step {steps} did not succeed"
            self._leave(org, step, status, outcomes, "skipped", detail, detail)
        return True

    def _leave(
        self,
        org: OrgPlan,
        step: Step,
        status: dict[str, Status],
        outcomes: dict[str, ActionOutcome],
        outcome: Status,
        reason: str | None,
        shown: str | None,
    ) -> None:
        """End a step without sending it, with one journal record, its only terminal one:
        `not-sent` (a stop, or a step it depends on not sent) or `skip` (a step it depends
        on failed, the admin guard)."""
        status[step.id] = outcome
        for action_id in step.actions:
            outcomes.setdefault(action_id, ActionOutcome(action_id, outcome, reason))
        self.journal.write(
            "not-sent" if outcome == "not-sent" else "skip",
            org=org.org_id,
            step=step.id,
            actions=list(step.actions),
            route=step.call.route,
            reason=reason,
        )
        self._report(org.org_id, step, outcome, shown)

    # -- one step ------------------------------------------------------------------

    def _report(self, org_id: str, step: Step, status: Status, detail: str | None) -> None:
        if self.progress is not None:
            with self.lock:
                self.progress(org_id, step, status, detail)

    def _run_step(self, org: OrgPlan, step: Step) -> list[ActionOutcome]:
        """Send one step's call; a failed batch of member access is retried user by user."""
        try:
            sent = self._send(org, step, step.call.body)
        except PlatformOutage as exc:
            # The run stopped sending: a call never sent is skipped; one whose answer was
            # lost before that has an unknown outcome, for verification to settle.
            status: Status = "unknown" if exc.maybe_landed else "skipped"
            detail = f"{'outcome unknown' if exc.maybe_landed else 'not sent'}: {exc.reason}"
            self._report(org.org_id, step, "unknown" if exc.maybe_landed else "not-sent", detail)
            return [ActionOutcome(a, status, detail) for a in step.actions]
        except (ApiError, DxorgError) as exc:
            if _splittable(step, exc):
                return self._run_users_one_by_one(org, step)
            status = _failure_status(exc)
            self._report(org.org_id, step, status, str(exc))
            return [ActionOutcome(a, status, str(exc)) for a in step.actions]
        if sent is None:  # stopped by a signal: never sent, so not a failure
            self._report(org.org_id, step, "not-sent", self.stop.reason())
            return [ActionOutcome(a, "not-sent", self.stop.reason()) for a in step.actions]
        self._report(org.org_id, step, "done", None)
        return [ActionOutcome(a, "done") for a in step.actions]

    def _run_users_one_by_one(self, org: OrgPlan, step: Step) -> list[ActionOutcome]:
        # One bad user must not fail the others: the same change, one user per call.
        action_of = {a.target: a.id for a in org.actions if a.id in step.actions}
        outcomes = []
        for user_id, access in step.call.body.items():
            try:
                sent = self._send(org, step, {user_id: access})
                outcomes.append(
                    ActionOutcome(action_of[user_id], "done")
                    if sent is not None
                    else ActionOutcome(action_of[user_id], "not-sent", self.stop.reason())
                )
            except (ApiError, DxorgError) as single:
                outcomes.append(
                    ActionOutcome(action_of[user_id], _failure_status(single), str(single))
                )
        failed = [o for o in outcomes if o.status != "done"]
        self._report(
            org.org_id,
            step,
            "failed" if failed else "done",
            f"{len(failed)} of {len(outcomes)} users failed" if failed else None,
        )
        return outcomes

    def _send(self, org: OrgPlan, step: Step, body: Mapping[str, Any]) -> CallOutcome | None:
        """The call's outcome; None: not sent, apply was stopped (journaled `not-sent`)."""
        route = step.call.route
        common = {
            "org": org.org_id,
            "step": step.id,
            "actions": list(step.actions),
            "route": route,
            "user": self.caller,
        }
        stopped = self.client.stop_reason()
        if stopped is not None:  # not sent, so not journalled as a call
            self.journal.write("not-sent", **common, reason=stopped)
            raise PlatformOutage(route, stopped, maybe_landed=False)
        reason = self.stop.reason()
        if reason is not None:  # a signal: not sent, so not journalled as a call
            self.journal.write("not-sent", **common, reason=reason)
            return None
        self.journal.write("call", **common, body=body)
        try:
            sendable = materialise(body, self.env, org, step)
            outcome = send_checked(self.client, route, sendable)
        except (ApiError, DxorgError) as exc:
            if isinstance(exc, PlatformOutage) and not exc.maybe_landed:
                # Refused before it went out (the run stopped between its record and its
                # send): its one terminal record says so, as for a call never journaled.
                self.journal.write(
                    "not-sent",
                    **common,
                    reason=f"not sent: {exc.reason}",
                    attempts=getattr(exc, "attempts", None),
                )
                raise
            unknown = _failure_status(exc) == "unknown"
            if unknown:
                with self.lock:
                    self.unknown.setdefault(org.org_id, []).append(
                        UnknownCall(org.org_id, step.id, route, dict(body), step.actions, str(exc))
                    )
            self.journal.write(
                # The answer was lost and may have landed: verification settles it.
                "call-unknown" if unknown else "call-failed",
                **common,
                error=str(exc),
                errorType=getattr(exc, "error_type", type(exc).__name__),
                requestId=getattr(exc, "request_id", None),
                attempts=getattr(exc, "attempts", None),
            )
            raise
        self.journal.write(
            "call-done",
            **common,
            response=outcome.body,
            requestId=outcome.request_id,
            attempts=outcome.attempts,
            landedByCheck=outcome.landed_by_check,
        )
        return outcome


def _step_state(outcomes: list[ActionOutcome]) -> Status:
    """How a sent (or refused) step ended, for its dependants: only "done" lets them run.
    A step whose outcome is unknown is not done: its dependants wait for the next run."""
    if all(o.status == "done" for o in outcomes):
        return "done"
    if outcomes and all(was_not_sent(o) for o in outcomes):
        return "not-sent"
    return "failed"


def _in_order(org: OrgPlan, outcomes: Mapping[str, ActionOutcome]) -> tuple[ActionOutcome, ...]:
    return tuple(outcomes[a.id] for a in org.actions if a.id in outcomes)


def _failure_status(exc: Exception) -> Status:
    """ "unknown" for a write whose answer was lost and that may have landed (the client
    says so); "not-sent" for one the journal could not record (never sent: the run stops
    as for a signal); "failed" for one that certainly did not land."""
    if isinstance(exc, JournalWriteError):
        return "not-sent"
    return "unknown" if getattr(exc, "outcome_unknown", False) else "failed"


def _splittable(step: Step, exc: Exception) -> bool:
    """A batch of member access refused for one of its users (a 4xx that is not about the
    caller's token or the rate)."""
    return (
        step.call.method == "setMemberAccess"
        and len(step.call.body) > 1
        and isinstance(exc, ApiError)
        and exc.status is not None
        and 400 <= exc.status < 500
        and exc.status not in (401, 429)
    )
