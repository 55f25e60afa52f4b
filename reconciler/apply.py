"""Apply a Plan: exactly its calls, in its order, guarded, journaled, then verified.

1. Refuse a plan that is not applyable (errors, safety violations not overridden).
2. Re-read every org and refuse the whole apply, before any write, if any object an
   action touches has changed since the plan (its fingerprint differs): a stale plan.
3. Run each org's steps phase by phase; independent steps of a phase run concurrently.
   A failed step's dependants are skipped; other steps go on; one org's failure does
   not stop the others.
4. Re-read and re-plan each org: converged, or what still differs.

Every call is journaled before it is sent and after it returns, so after a crash the
journal says what the killed run had started; re-running apply converges because it
plans again from live state.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from reconciler.errors import (
    ApiError,
    DxorgError,
    ReadIncompleteError,
    ResourceNotFound,
    StalePlanError,
    UnsafePlanError,
)
from reconciler.live import read_org
from reconciler.model import DesiredOrg, LiveOrg, normalise_user_id
from reconciler.plan import PHASES, OrgPlan, Plan, Step, fingerprint
from reconciler.planning import PlanOptions, fingerprint_of, percent_allowance, plan_org

if TYPE_CHECKING:
    from reconciler.platform.client import CallOutcome, WriteClient

Status = Literal["done", "failed", "skipped"]
ORG_CONCURRENCY = 4
DEFAULT_JOURNAL = Path(".dxorg") / "journal.jsonl"
_SECRET_KEYS = frozenset({"token", "auth_token", "authorization"})


# ---------------------------------------------------------------- journal


def redact(value: Any) -> Any:
    """A copy of `value` with every secret-named key's value replaced."""
    if isinstance(value, Mapping):
        return {
            k: "[redacted]" if str(k).lower() in _SECRET_KEYS and not _is_env_ref(v) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _is_env_ref(value: object) -> bool:
    return isinstance(value, Mapping) and set(value) == {"$env"}


class Journal:
    """Append-only JSON Lines audit journal; one line per event, flushed as written."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.run_id = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            _end_torn_line(path)

    def write(self, event: str, **fields: Any) -> None:
        if self.path is None:
            return
        record = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "run": self.run_id,
            "event": event,
        }
        record.update(redact(fields))
        line = json.dumps(record, default=str, sort_keys=False)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()


def _end_torn_line(path: Path) -> None:
    """A run killed in the middle of writing a line leaves it without its newline; end it,
    so that this run's first record is not glued onto it and lost to line-based readers."""
    with contextlib.suppress(FileNotFoundError), path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size:
            handle.seek(size - 1)
            if handle.read(1) != b"\n":
                handle.write(b"\n")


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class ActionOutcome:
    action_id: str
    status: Status
    detail: str | None = None


@dataclass(frozen=True)
class OrgApplyReport:
    org_id: str
    outcomes: tuple[ActionOutcome, ...] = ()
    remaining: tuple[str, ...] = ()  # summaries of what still differs after verification
    error: str | None = None

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


@dataclass(frozen=True)
class ApplyReport:
    orgs: tuple[OrgApplyReport, ...] = ()

    @property
    def exit_code(self) -> int:
        if any(o.error or o.count("failed") or o.count("skipped") for o in self.orgs):
            return 1
        if any(o.remaining for o in self.orgs):
            return 2
        return 0

    def summary(self) -> str:
        done = sum(o.count("done") for o in self.orgs)
        failed = sum(o.count("failed") for o in self.orgs)
        skipped = sum(o.count("skipped") for o in self.orgs)
        differs = sum(1 for o in self.orgs if o.remaining)
        errors = sum(1 for o in self.orgs if o.error)
        text = f"Apply: {done} done, {failed} failed, {skipped} skipped."
        if errors:
            text += f" {errors} org(s) failed."
        text += (
            f" {differs} org(s) still differ."
            if differs
            else " Verified: converged."
            if not errors
            else ""
        )
        return text


ProgressHook = Callable[[str, Step, Status, str | None], None]


@dataclass
class ApplyContext:
    client: WriteClient
    journal: Journal
    env: Mapping[str, str]
    options: PlanOptions
    progress: ProgressHook | None = None
    caller: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


# ---------------------------------------------------------------- guards


def refuse_unsafe(plan: Plan, overrides: frozenset[str]) -> None:
    """A plan with errors or blocking violations is never applied.

    A saved plan's overridden violations count as overridden only if apply is given
    the same overrides again: the operator confirms them twice.
    """
    problems = []
    for org in plan.orgs:
        if org.error:
            problems.append(f"{org.org_id}: not planned: {org.error}")
        for violation in org.violations:
            if not violation.overridden or violation.rule not in overrides:
                problems.append(f"{org.org_id}: {violation.rule}: {violation.message}")
    missing = sorted(set(plan.overrides) - overrides)
    if missing:
        problems.append(
            f"the plan was made with --override {', '.join(missing)}; give the same overrides to apply it"
        )
    if problems:
        raise UnsafePlanError("the plan cannot be applied:\n  " + "\n  ".join(problems))


def stale_objects(org: OrgPlan, live: LiveOrg) -> list[str]:
    """Keys of touched objects whose live fingerprint differs from the plan's."""
    keys = sorted({key for action in org.actions for key in action.touches})
    return [key for key in keys if org.fingerprints.get(key) != fingerprint_of(live, key)]


def shrunk_members(org: OrgPlan, live: LiveOrg, desired: DesiredOrg) -> str | None:
    """Why the member list looks suspiciously smaller than when the plan was made, if it does.

    Members the plan read that are gone now, not counting the plan's own removals, beyond
    what the members removal budget allows: a partial read or a mass removal by someone
    else. Either way it is reported and never acted on.
    """
    budget = desired.safety.budgets.get("members")
    if desired.membership is None or budget is None:
        return None
    gone_already = fingerprint(None)
    planned = [
        key.removeprefix("member:")
        for key, value in org.fingerprints.items()
        if key.startswith("member:") and value != gone_already
    ]
    removing = {a.target for a in org.actions if a.kind == "remove-member"}
    vanished = sorted(u for u in planned if u not in live.members and u not in removing)
    limits = [budget.count] if budget.count is not None else []
    if budget.percent is not None:
        limits.append(percent_allowance(budget.percent, len(planned)))
    if not limits or len(vanished) <= min(limits):
        return None
    return (
        f"the member list shrank since the plan: {len(vanished)} of its {len(planned)} members "
        f"are gone ({', '.join(vanished[:3])}{', ...' if len(vanished) > 3 else ''}), more than "
        f"the members removal budget ({min(limits)}) allows: a partial read or a mass removal"
    )


# ---------------------------------------------------------------- apply


def apply_plan(
    plan: Plan,
    client: WriteClient,
    desired: Mapping[str, DesiredOrg],
    *,
    options: PlanOptions,
    journal: Journal,
    env: Mapping[str, str],
    overrides: frozenset[str] = frozenset(),
    progress: ProgressHook | None = None,
) -> ApplyReport:
    refuse_unsafe(plan, overrides)
    caller = client.whoami()
    journal.write(
        "run-start", user=caller, planCreatedAt=plan.created_at, orgs=[o.org_id for o in plan.orgs]
    )
    missing = [o.org_id for o in plan.orgs if o.org_id not in desired]
    if missing:
        raise DxorgError(
            f"no manifest for {', '.join(missing)}: apply needs the manifests the plan was made from"
        )

    # Stale-plan guard: every org is re-read before the first write of any org.
    lives: dict[str, LiveOrg] = {}
    stale: list[str] = []
    for org in plan.orgs:
        if not org.actions:
            continue
        if org.caller != caller:
            stale.append(f"{org.org_id}: planned as {org.caller}, applying as {caller}")
        # Fingerprints only: the invitees' account checks (a plan warning) are not needed.
        live = read_org(client, desired[org.org_id], caller, check_invitees=False)
        lives[org.org_id] = live
        stale += [f"{org.org_id}: {key}" for key in stale_objects(org, live)]
        shrunk = shrunk_members(org, live, desired[org.org_id])
        if shrunk:
            stale.append(f"{org.org_id}: {shrunk}")
    if stale:
        journal.write("stale-plan", objects=stale)
        raise StalePlanError(
            "the plan is stale: these objects changed since it was made, nothing was applied "
            "(plan again):\n  " + "\n  ".join(stale)
        )

    context = ApplyContext(client, journal, env, options, progress, caller)

    def one(org: OrgPlan) -> OrgApplyReport:
        try:
            outcomes = _apply_org(org, context) if org.actions else ()
        except DxorgError as exc:  # one org's trouble never stops the others
            journal.write("org-error", org=org.org_id, error=str(exc))
            return OrgApplyReport(org.org_id, error=str(exc))
        return _verify(org, outcomes, desired[org.org_id], context)

    workers = max(1, min(ORG_CONCURRENCY, client.concurrency, len(plan.orgs)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reports = tuple(pool.map(one, plan.orgs))
    report = ApplyReport(reports)
    journal.write("run-end", exitCode=report.exit_code, summary=report.summary())
    return report


def _verify(
    org: OrgPlan, outcomes: tuple[ActionOutcome, ...], desired: DesiredOrg, context: ApplyContext
) -> OrgApplyReport:
    try:
        live = read_org(context.client, desired, context.caller)
    except ReadIncompleteError as exc:
        return OrgApplyReport(org.org_id, outcomes, error=f"verification read failed: {exc}")
    again = plan_org(desired, live, context.options)
    remaining = tuple(a.summary for a in again.actions)
    shrunk = shrunk_members(org, live, desired)
    if shrunk:  # a converged-looking read that lost members is reported, not trusted
        remaining += (shrunk,)
    if again.error:
        return OrgApplyReport(org.org_id, outcomes, error=again.error)
    context.journal.write(
        "verify", org=org.org_id, converged=not remaining, remaining=list(remaining)
    )
    return OrgApplyReport(org.org_id, outcomes, remaining)


def _apply_org(org: OrgPlan, context: ApplyContext) -> tuple[ActionOutcome, ...]:
    outcomes: dict[str, ActionOutcome] = {}
    step_status: dict[str, Status] = {}
    for phase in PHASES:
        pending = [s for s in org.steps if s.phase == phase]
        while pending:
            ready = [s for s in pending if all(d in step_status for d in s.depends_on)]
            if not ready:  # a dependency outside this phase never ran: a malformed plan
                raise DxorgError(
                    f"{org.org_id}: steps {[s.id for s in pending]} wait on steps that never ran"
                )
            pending = [s for s in pending if s not in ready]
            runnable = []
            for step in ready:
                blocked = [d for d in step.depends_on if step_status[d] != "done"]
                if blocked:
                    step_status[step.id] = "skipped"
                    detail = f"skipped: step {', '.join(blocked)} did not succeed"
                    for action_id in step.actions:
                        outcomes.setdefault(action_id, ActionOutcome(action_id, "skipped", detail))
                    context.journal.write(
                        "skip",
                        org=org.org_id,
                        step=step.id,
                        actions=list(step.actions),
                        reason=detail,
                    )
                    _report(context, org.org_id, step, "skipped", detail)
                else:
                    runnable.append(step)
            results = context.client.map(lambda s: _run_step(org, s, context), runnable)
            for step, step_outcomes in zip(runnable, results, strict=True):
                for outcome in step_outcomes:
                    # An action served by several steps fails if any of them fails.
                    current = outcomes.get(outcome.action_id)
                    if current is None or current.status == "done":
                        outcomes[outcome.action_id] = outcome
                step_status[step.id] = (
                    "done" if all(o.status == "done" for o in step_outcomes) else "failed"
                )
    return tuple(outcomes[a.id] for a in org.actions if a.id in outcomes)


def _report(
    context: ApplyContext, org_id: str, step: Step, status: Status, detail: str | None
) -> None:
    if context.progress is not None:
        with context.lock:
            context.progress(org_id, step, status, detail)


def _run_step(org: OrgPlan, step: Step, context: ApplyContext) -> list[ActionOutcome]:
    """Send one step's call; a failed batch of member access is retried user by user."""
    try:
        _send(org, step, step.call.body, context)
    except (ApiError, DxorgError) as exc:
        body = step.call.body
        batched = step.call.method == "setMemberAccess" and len(body) > 1
        if (
            batched
            and isinstance(exc, ApiError)
            and exc.status is not None
            and 400 <= exc.status < 500
            and exc.status not in (401, 429)
        ):
            # One bad user must not fail the others: the same change, one user per call.
            targets = {a.id: a.target for a in org.actions if a.id in step.actions}
            actions_by_user = {target: action_id for action_id, target in targets.items()}
            outcomes = []
            for user_id, access in body.items():
                try:
                    _send(org, step, {user_id: access}, context)
                    outcomes.append(ActionOutcome(actions_by_user[user_id], "done"))
                except (ApiError, DxorgError) as single:
                    outcomes.append(ActionOutcome(actions_by_user[user_id], "failed", str(single)))
            failed = [o for o in outcomes if o.status == "failed"]
            _report(
                context,
                org.org_id,
                step,
                "failed" if failed else "done",
                f"{len(failed)} of {len(outcomes)} users failed" if failed else None,
            )
            return outcomes
        _report(context, org.org_id, step, "failed", str(exc))
        return [ActionOutcome(a, "failed", str(exc)) for a in step.actions]
    _report(context, org.org_id, step, "done", None)
    return [ActionOutcome(a, "done") for a in step.actions]


def _send(org: OrgPlan, step: Step, body: Mapping[str, Any], context: ApplyContext) -> CallOutcome:
    route = step.call.route
    journal = context.journal
    common = {
        "org": org.org_id,
        "step": step.id,
        "actions": list(step.actions),
        "route": route,
        "user": context.caller,
    }
    journal.write("call", **common, body=body)
    try:
        sendable = _materialise(body, context.env, org, step)
        outcome = context.client.call(
            route, sendable, landed=_landed_check(org.org_id, route, sendable, context.client)
        )
    except (ApiError, DxorgError) as exc:
        journal.write(
            "call-failed",
            **common,
            error=str(exc),
            errorType=getattr(exc, "error_type", type(exc).__name__),
            requestId=getattr(exc, "request_id", None),
            attempts=getattr(exc, "attempts", None),
        )
        raise
    journal.write(
        "call-done",
        **common,
        response=outcome.body,
        requestId=outcome.request_id,
        attempts=outcome.attempts,
        landedByCheck=outcome.landed_by_check,
    )
    return outcome


class SecretUnavailable(DxorgError):
    pass


def _materialise(
    body: Mapping[str, Any], env: Mapping[str, str], org: OrgPlan, step: Step
) -> dict[str, Any]:
    """Replace each {"$env": NAME} with the variable's value, checked against the plan."""

    def expected_signature() -> str | None:
        for action in org.actions:
            if action.id in step.actions and action.after and "tokenSignature" in action.after:
                return str(action.after["tokenSignature"])
        return None

    def walk(value: Any) -> Any:
        if _is_env_ref(value):
            name = value["$env"]
            secret = env.get(name)
            if not secret:
                raise SecretUnavailable(
                    f"{step.id}: environment variable {name} is not set; the call was not sent"
                )
            expected = expected_signature()
            if expected is not None and hashlib.sha256(secret.encode()).hexdigest() != expected:
                raise SecretUnavailable(
                    f"{step.id}: the token in {name} is not the one the plan was made with (sha256 differs); the call was not sent"
                )
            return secret
        if isinstance(value, Mapping):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    result: dict[str, Any] = walk(body)
    return result


def _landed_check(
    org_id: str, route: str, body: Mapping[str, Any], client: WriteClient
) -> Callable[[], bool] | None:
    """How to tell whether a non-idempotent call landed when its answer was lost."""
    target, _, method = route.strip("/").rpartition("/")
    if method == "invite" and target.startswith("org-"):
        invitee = str(body["invitee"])
        return lambda: bool(client.find_org_members(target, ids=[invitee]))
    if method == "removeMember":
        user = str(body["user"])
        return lambda: not client.find_org_members(target, ids=[user])
    if method == "invite" and target.startswith("project-"):
        invitee, level = str(body["invitee"]), body["level"]

        def project_invite_landed() -> bool:
            permissions = client.describe_project(target, permissions=True).get("permissions") or {}
            return permissions.get(invitee) == level

        return project_invite_landed
    if route == "/user/new":
        user_id = normalise_user_id(str(body["username"]))

        def account_exists() -> bool:
            try:
                client.describe_user(user_id)
            except ResourceNotFound:
                return False
            return True

        return account_exists
    return None
