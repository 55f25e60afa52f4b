"""The retry policy: bounded attempts and total time, capped exponential backoff, full jitter.

The decision *whether* a failed attempt may be retried is the client's (it knows
whether the call may be repeated and whether the request can have landed); this
module only decides *when* and *until when*, on top of tenacity. Both the DNAnexus
client and the GitHub client run their calls through `run_with_retries`.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception

from reconciler.errors import ConfigError, DxorgError
from reconciler.render import inert

T = TypeVar("T")

log = logging.getLogger("reconciler.platform")

# The variable that bounds the time spent retrying one call, in seconds.
MAX_RETRY_SECONDS_VAR = "DXORG_MAX_RETRY_SECONDS"


def full_jitter(upper: float) -> float:
    """A uniform draw in [0, upper] (AWS "full jitter")."""
    return random.uniform(0.0, upper)


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry. `sleep`, `clock` and `jitter` are hooks for tests;
    `sleep` None waits in real time, ended at once by the caller's stop (see
    `run_with_retries`)."""

    max_attempts: int = 8
    max_total_seconds: float = 120.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    sleep: Callable[[float], None] | None = None
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[float], float] = full_jitter

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_total_seconds < 0 or self.backoff_base < 0 or self.backoff_cap < 0:
            raise ValueError("retry delays must not be negative")

    def backoff(self, retry_number: int) -> float:
        """Delay before retry number `retry_number` (1-based): jitter over a capped exponential."""
        exponent = min(retry_number - 1, 62)  # keeps 2**n finite for absurd attempt counts
        return self.jitter(min(self.backoff_cap, self.backoff_base * 2.0**exponent))


class AttemptFailed(Exception):
    """One failed attempt, classified by the client.

    `error` is what the caller finally sees; `retryable` says whether another attempt
    is allowed at all; `retry_after` is the server's requested delay, if any;
    `must_wait` says that delay is a requirement (a rate limit that refuses anything
    sooner), so when it does not fit in the time left the call gives up at once instead
    of trying once more at the deadline; `outcome_unknown` says the request may have
    taken effect even though it failed; `uncounted` says it cannot have taken effect and
    the platform asked for patience (a 429 or 503, or a refused connection to a server that
    answered earlier in the run): such attempts are retried the way dxpy retries them,
    without counting against the attempt or time budget, for as long as the caller's
    `time_left` allows (the run's deadline and circuit breaker).
    """

    def __init__(
        self,
        error: DxorgError,
        *,
        retryable: bool,
        retry_after: float | None = None,
        must_wait: bool = False,
        outcome_unknown: bool = False,
        uncounted: bool = False,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable
        self.retry_after = retry_after
        self.must_wait = must_wait
        self.outcome_unknown = outcome_unknown
        self.uncounted = uncounted


def retry_policy_from_env(env: Mapping[str, str]) -> RetryPolicy:
    """The retry policy the environment asks for: DXORG_MAX_RETRY_SECONDS bounds the time
    spent retrying one call (default 120 s; 0 means no waiting, one more try at most)."""
    raw = env.get(MAX_RETRY_SECONDS_VAR, "")
    if not raw.strip():
        return RetryPolicy()
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(
            f"{MAX_RETRY_SECONDS_VAR}={raw!r}: expected a number of seconds, 0 or more (e.g. 120)"
        )
    return RetryPolicy(max_total_seconds=seconds)


def parse_retry_after(value: str | None, now: Callable[[], datetime] | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now() if now else datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def run_with_retries(
    policy: RetryPolicy,
    route: str,
    attempt: Callable[[], T],
    *,
    logger: logging.Logger = log,
    time_left: Callable[[], float] | None = None,
    stop: threading.Event | None = None,
) -> T:
    """Call `attempt` until it returns, raises a non-retryable failure, or the budget runs out.

    `route` names the call in log lines. Raises the classified `error` of the last
    AttemptFailed (never AttemptFailed itself). With `time_left` (seconds the caller's
    run may still wait), failures marked `uncounted` are retried outside the policy's
    budget, each wait cut to `time_left()`: `attempt` itself must then refuse to go on
    once that time is up. Without it, every failure counts.

    `stop` (set when the run is interrupted or stopped) ends a wait between attempts at
    once: a signal during a 25 s Retry-After is acted on now, not when the wait is over.
    `attempt` must then refuse to send again (it is the one that knows what the stop
    means for its call).
    """
    start = policy.clock()
    counted = 0
    # Time spent waiting on the platform's request for patience: not charged to the budget.
    excused = 0.0

    def is_uncounted(failure: AttemptFailed | None) -> bool:
        return time_left is not None and failure is not None and failure.uncounted

    def remaining() -> float:
        return policy.max_total_seconds - (policy.clock() - start - excused)

    # tenacity asks `wait` before `stop` after each failed attempt: the count is kept here.
    def wait(state: RetryCallState) -> float:
        nonlocal excused, counted
        failure = _failure_of(state)
        if not is_uncounted(failure):
            counted += 1
        if failure is not None and failure.retry_after is not None:
            delay = failure.retry_after
            if is_uncounted(failure):
                # Uncounted retries end only at the run's deadline: a Retry-After of 0 (or a
                # few ms) must not make them a tight loop, so patience grows like a backoff.
                delay = max(delay, policy.backoff(state.attempt_number))
        else:
            delay = policy.backoff(state.attempt_number)
        if time_left is not None:
            delay = min(delay, time_left())
        if is_uncounted(failure):
            excused += max(0.0, delay)
            return max(0.0, delay)
        # Never sleep past the total budget: the last attempt happens at the deadline.
        return max(0.0, min(delay, remaining()))

    def give_up(state: RetryCallState) -> bool:
        failure = _failure_of(state)
        if is_uncounted(failure):
            return False
        if counted >= policy.max_attempts or remaining() <= 0:
            return True
        # A wait the server requires but the budget cannot cover: another try is futile.
        return (
            failure is not None
            and failure.must_wait
            and failure.retry_after is not None
            and failure.retry_after > remaining()
        )

    def before_sleep(state: RetryCallState) -> None:
        failure = _failure_of(state)
        # The platform's error message is foreign text: one visible line, escapes shown.
        reason = inert.terminal(failure.error if failure is not None else "unknown failure")
        logger.info(
            "retrying %s: attempt %d failed (%s; %d of %d counted); next attempt in %.2fs",
            inert.terminal(route),
            state.attempt_number,
            reason,
            counted,
            policy.max_attempts,
            state.upcoming_sleep,
        )

    retrying = Retrying(
        stop=give_up,
        wait=wait,
        retry=retry_if_exception(lambda exc: isinstance(exc, AttemptFailed) and exc.retryable),
        sleep=_waiter(policy, stop),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except AttemptFailed as failure:
        if failure.retryable:
            logger.warning(
                "giving up on %s: %s",
                inert.terminal(route),
                inert.terminal(failure.error, limit=inert.MESSAGE_LIMIT),
            )
        raise failure.error from failure.__cause__


def _waiter(policy: RetryPolicy, stop: threading.Event | None) -> Callable[[float], None]:
    """The wait between attempts: the policy's hook, or real time that `stop` ends."""

    def sleep(seconds: float) -> None:
        if stop is not None and stop.is_set():
            return  # stopped: the next attempt refuses itself, no need to wait for it
        if policy.sleep is not None:
            policy.sleep(seconds)
        elif stop is not None:
            stop.wait(seconds)
        else:
            time.sleep(seconds)

    return sleep


def _failure_of(state: RetryCallState) -> AttemptFailed | None:
    if state.outcome is None:
        return None
    exc = state.outcome.exception()
    return exc if isinstance(exc, AttemptFailed) else None
