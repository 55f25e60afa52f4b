"""The one table from an outcome to an exit code, for both entry points (the README's).

0 success; 1 an error of any kind (a bad manifest, a refused plan: stale, unsafe, not
what was reviewed, unreadable; a usage error, whose parser message the CLI shows); 2
"changes present" (`plan --detailed-exitcode`, `apply` that left the org differing, the
Action's drift with fail-on-drift), which is why a usage error is never 2; 130 Ctrl-C
(SIGINT) and 143 SIGTERM, the shell's 128 + the signal.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

from reconciler.errors import (
    DivergedPlanError,
    DxorgError,
    ManifestError,
    StalePlanError,
    UnsafePlanError,
)

if TYPE_CHECKING:
    from reconciler.plan import Plan

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_USAGE = EXIT_ERROR  # never 2: that means "changes present" to a drift cron job
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130, as a shell reports Ctrl-C
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143: what a CI cancel or a service manager sends


def signal_exit_code(signum: int) -> int:
    return 128 + signum


class Terminated(BaseException):  # like KeyboardInterrupt: not an error
    """SIGTERM outside apply's writes: stops like Ctrl-C does there."""


class Interrupted(DxorgError):
    """Ctrl-C (exit 130) or SIGTERM (143) during apply, after the calls in flight finished."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# Most specific first; an error not listed here is a bug in dxorg (a traceback).
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (KeyboardInterrupt, EXIT_INTERRUPTED),
    (Terminated, EXIT_TERMINATED),
    (ManifestError, EXIT_ERROR),
    (StalePlanError, EXIT_ERROR),
    (DivergedPlanError, EXIT_ERROR),
    (UnsafePlanError, EXIT_ERROR),
    (DxorgError, EXIT_ERROR),
    # A path the user gave that cannot be read or written (permissions, a full disk).
    (OSError, EXIT_ERROR),
)


def exit_code_of(error: BaseException) -> int | None:
    """The exit code `error` ends a run with; None: not a user's error but a bug in dxorg
    (its traceback is what to report), an OSError about no path among them."""
    if isinstance(error, Interrupted):
        return error.exit_code
    if isinstance(error, OSError) and error.filename is None:
        return None
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return None


def plan_exit_code(plan: Plan, *, detailed: bool) -> int:
    """1: an error or a safety violation; 2 (with --detailed-exitcode): the orgs differ,
    removals left out by --skip-removals included (a drift cron job must see them)."""
    if plan.has_errors or not plan.applyable:
        return EXIT_ERROR
    return EXIT_CHANGES if detailed and plan.differs else EXIT_OK
