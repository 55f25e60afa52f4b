"""What an apply did, as a value: per org, each action's outcome and what still differs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

# "unknown": a call's answer was lost and nothing showed whether it landed (see
# `UnknownCall`); verification settles each such call. "not-sent": apply was stopped (a
# signal, see apply.stopping) before it sent the call.
Status = Literal["done", "failed", "skipped", "unknown", "not-sent"]
Resolution = Literal["landed", "not-landed"]

# When the steps of one action end differently, the action takes the worst of them.
_SEVERITY: Mapping[str, int] = {
    "done": 0,
    "unknown": 1,
    "not-sent": 2,
    "skipped": 2,
    "failed": 3,
}


_SIGNALS: Mapping[int, str] = {130: "Ctrl-C", 143: "SIGTERM"}


def was_not_sent(outcome: ActionOutcome) -> bool:
    """An action whose call was never sent: stopped by a signal (`not-sent`), or skipped
    or failed because the run stopped sending (an outage, a journal that cannot be
    written), which the executor words "not sent: <why>"."""
    if outcome.status == "not-sent":
        return True
    detail = outcome.detail or ""
    return outcome.status in ("skipped", "failed") and detail.startswith("not sent")


def worse(current: ActionOutcome | None, new: ActionOutcome) -> ActionOutcome:
    """The outcome an action keeps when one more of its steps ends as `new`."""
    if current is None or _SEVERITY[new.status] > _SEVERITY[current.status]:
        return new
    return current


@dataclass(frozen=True)
class ActionOutcome:
    action_id: str
    status: Status
    detail: str | None = None


@dataclass(frozen=True)
class UnknownCall:
    """A write whose answer was lost (a timeout or a dropped connection after it was sent,
    a 5xx) and which the client could not show landed or not: the platform may have made
    the change. Verification reads the org again and settles it (`resolution`)."""

    org_id: str
    step_id: str
    route: str
    body: Mapping[str, object]
    actions: tuple[str, ...]
    detail: str
    resolution: Resolution | None = None  # None: not settled (verification could not read)


def settle(calls: Iterable[UnknownCall], shown: Iterable[bool | None]) -> tuple[UnknownCall, ...]:
    """Each unknown call settled by whether a fresh read shows its own effect (`shown`, in
    the same order; None: the effect cannot be seen, or the read failed): landed only on
    that evidence. The plan's silence is none: a plan may not ask for a change it cannot
    see is missing (a self-grant's record while the grant is active), nor one a rail holds
    back."""
    resolutions: dict[bool | None, Resolution | None] = {
        True: "landed",
        False: "not-landed",
        None: None,
    }
    return tuple(
        replace(call, resolution=resolutions[seen]) for call, seen in zip(calls, shown, strict=True)
    )


@dataclass(frozen=True)
class OrgApplyOutcome:
    org_id: str
    outcomes: tuple[ActionOutcome, ...] = ()
    remaining: tuple[str, ...] = ()  # summaries of what still differs after verification
    left_out: tuple[str, ...] = ()  # removals --skip-removals left out: still differences
    unchecked: tuple[str, ...] = ()  # what could not be compared (forwarding without its token)
    error: str | None = None
    unknown_calls: tuple[UnknownCall, ...] = ()
    # The rails the org's plan breaks (one line each), when it was refused: nothing sent.
    refused: tuple[str, ...] = ()
    # Why it was refused: its plan breaks them now, or the reviewed plan refused it.
    refused_why: str = "its plan breaks safety rails"

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def not_sent(self) -> int:
        """Actions stopped or skipped whose calls were never sent (a signal, an outage)."""
        return sum(1 for o in self.outcomes if o.status != "failed" and was_not_sent(o))

    def settled(self, resolution: Resolution | None) -> int:
        return sum(1 for c in self.unknown_calls if c.resolution == resolution)

    @property
    def failed(self) -> bool:
        # An unknown call that verification found landed is no failure; one that did not
        # land, or that could not be settled, is.
        unsettled = len(self.unknown_calls) - self.settled("landed")
        stopped = self.count("skipped") + self.count("not-sent")
        return bool(self.refused or self.error or self.count("failed") or stopped or unsettled)


@dataclass(frozen=True)
class ApplyOutcome:
    orgs: tuple[OrgApplyOutcome, ...] = ()
    # The option that left actions out of the plan (see `plan.leaving_out`).
    left_out_by: str = "--skip-removals"
    # Why the run stopped sending before the end (a platform outage, the run's deadline).
    stopped: str | None = None
    # The exit code of the signal that stopped the run (130 Ctrl-C, 143 SIGTERM), if one did.
    interrupted_by: int | None = None

    @property
    def exit_code(self) -> int:
        """The signal's (130, 143) when one stopped the run; else 1: something failed;
        2: all sent, but an org still differs (or was not all checked); 0: converged."""
        return self.interrupted_by or self._outcome_code()

    def _outcome_code(self) -> int:
        if self.stopped or any(o.failed for o in self.orgs):
            return 1
        if any(o.remaining or o.left_out or o.unchecked for o in self.orgs):
            return 2
        return 0

    def summary(self, calls: str = "") -> str:
        """One line; it counts actions (the `+ ~ -` lines of the plan), like the plan's own,
        whoever prints it (the CLI, the Action, the journal). `calls`: what the CLI adds
        about the API calls it listed, in brackets before the verdict."""
        done = sum(o.count("done") for o in self.orgs)
        failed = sum(o.count("failed") for o in self.orgs)
        not_sent = sum(o.not_sent() for o in self.orgs)
        skipped = sum(o.count("skipped") + o.count("not-sent") for o in self.orgs) - not_sent
        unknown = sum(o.count("unknown") for o in self.orgs)
        text = f"Apply: {done} action(s) done, {failed} failed, {skipped} skipped"
        text += f", {unknown} unknown" if unknown else ""
        text += f", {not_sent} not sent" if not_sent else ""
        text += f" ({calls})." if calls else "."
        if self.interrupted_by:
            signal_name = _SIGNALS.get(self.interrupted_by, "a signal")
            text += f" Interrupted ({signal_name}): no more calls were sent."
        return text + self.verdict()

    def verdict(self) -> str:
        """What verification found, for the end of a summary line (with a leading space)."""
        errors = sum(1 for o in self.orgs if o.error)
        refused = [o.org_id for o in self.orgs if o.refused]
        differs = sum(1 for o in self.orgs if o.remaining)
        left_out = sum(len(o.left_out) for o in self.orgs)
        text = self.unknown_verdict()
        if self.stopped:
            text += f" Stopped: {self.stopped}."
        if refused:
            text += (
                f" {len(refused)} org(s) refused, nothing written to them (safety rails): "
                f"{', '.join(refused)}."
            )
        if errors:
            text += f" {errors} org(s) failed."
        if differs:
            text += f" {differs} org(s) still differ."
        if left_out:
            what = "removal(s)" if self.left_out_by == "--skip-removals" else "change(s)"
            text += f" {left_out} {what} were left out ({self.left_out_by})."
        unchecked = sum(1 for o in self.orgs if o.unchecked)
        if unchecked:
            text += f" Job-log forwarding was not checked in {unchecked} org(s) (token unset)."
        # Convergence is claimed only when nothing failed and nothing was left.
        if self._outcome_code() == 0:
            text += " Verified: converged."
        return text

    def unknown_verdict(self) -> str:
        """How verification settled the calls whose answers were lost, if there were any."""
        calls = sum(len(o.unknown_calls) for o in self.orgs)
        if not calls:
            return ""
        landed = sum(o.settled("landed") for o in self.orgs)
        missed = sum(o.settled("not-landed") for o in self.orgs)
        unsettled = calls - landed - missed
        text = f" {calls} call(s) with a lost answer: {landed} landed, {missed} not landed"
        return text + (f", {unsettled} still unknown." if unsettled else ".")
