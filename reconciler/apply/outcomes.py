"""What an apply did, as a value: per org, each action's outcome and what still differs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["done", "failed", "skipped"]


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
    left_out: tuple[str, ...] = ()  # removals --skip-removals left out: still differences
    unchecked: tuple[str, ...] = ()  # what could not be compared (forwarding without its token)
    error: str | None = None

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> bool:
        return bool(self.error or self.count("failed") or self.count("skipped"))

    @property
    def converged(self) -> bool:
        return not self.failed and not self.remaining and not self.left_out and not self.unchecked


@dataclass(frozen=True)
class ApplyReport:
    orgs: tuple[OrgApplyReport, ...] = ()

    @property
    def exit_code(self) -> int:
        """1: something failed; 2: all sent, but an org still differs (or was not all
        checked); 0: converged."""
        if any(o.failed for o in self.orgs):
            return 1
        if any(o.remaining or o.left_out or o.unchecked for o in self.orgs):
            return 2
        return 0

    def summary(self) -> str:
        """One line; it counts actions (the `+ ~ -` lines of the plan), like the plan's own."""
        done = sum(o.count("done") for o in self.orgs)
        failed = sum(o.count("failed") for o in self.orgs)
        skipped = sum(o.count("skipped") for o in self.orgs)
        return f"Apply: {done} action(s) done, {failed} failed, {skipped} skipped." + self.verdict()

    def verdict(self) -> str:
        """What verification found, for the end of a summary line (with a leading space)."""
        errors = sum(1 for o in self.orgs if o.error)
        differs = sum(1 for o in self.orgs if o.remaining)
        left_out = sum(len(o.left_out) for o in self.orgs)
        text = ""
        if errors:
            text += f" {errors} org(s) failed."
        if differs:
            text += f" {differs} org(s) still differ."
        if left_out:
            text += f" {left_out} removal(s) were left out (--skip-removals)."
        unchecked = sum(1 for o in self.orgs if o.unchecked)
        if unchecked:
            text += f" Job-log forwarding was not checked in {unchecked} org(s) (token unset)."
        # Convergence is claimed only when nothing failed and nothing was left.
        if self.exit_code == 0:
            text += " Verified: converged."
        return text
