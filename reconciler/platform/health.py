"""What one run has learnt about the platform, shared by all its clients (read and write).

- Which servers have answered: a refused connection to a server that answered earlier
  in the run is a passing fault (retried), not a wrong address.
- When the platform last answered: a run whose calls keep failing for want of any
  answer for `PlatformLimits.outage_seconds` stops sending (the circuit breaker opens
  and stays open), and so does a run past its deadline.
- The platform's clock, from the ``Date`` header of its answers: expiry is decided by
  the platform's time, not this machine's.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from reconciler.platform.limits import OUTAGE_SECONDS_VAR, RUN_DEADLINE_VAR, PlatformLimits
from reconciler.render import inert

log = logging.getLogger("reconciler.platform")

# A local clock this far from the platform's is reported: expiry dates are decided by
# the platform's time, and a clock that far off would decide them differently.
CLOCK_SKEW_WARNING = timedelta(minutes=5)


def clock_skew(platform_time: datetime, local_time: datetime) -> timedelta:
    """How far the platform's clock is ahead of the local one (negative: behind)."""
    return platform_time - local_time


def clock_skew_warning(skew: timedelta) -> str | None:
    """A sentence about a local clock more than `CLOCK_SKEW_WARNING` off, or None."""
    if abs(skew) <= CLOCK_SKEW_WARNING:
        return None
    direction = "behind" if skew > timedelta(0) else "ahead of"
    return (
        f"the local clock is {_duration(abs(skew))} {direction} the platform's (from its "
        "Date header): dxorg decides expiry dates by the platform's time; fix this "
        "machine's clock"
    )


class PlatformHealth:
    """Thread-safe; one per run (`Connection` makes it), shared by every client it opens.

    `clock` is monotonic seconds (the retry policy's, so tests can drive both), `wall`
    the local UTC time the platform's Date header is compared with.
    """

    def __init__(
        self,
        limits: PlatformLimits | None = None,
        *,
        where: str = "the platform",
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.limits = limits or PlatformLimits()
        self._where = where
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._started = clock()
        self._reached: set[str] = set()
        self._last_answer: float | None = None
        # Since when calls have been failing with no answer at all (None: they are not).
        self._silent_since: float | None = None
        self._stopped: str | None = None
        # Why no write may be tried again (a signal stopped the apply), or None; reads go on
        # (verification reads what the writes already sent did).
        self._writes_stopped: str | None = None
        # Set by `interrupt` and `stop_writes`: ends every wait between retries at once.
        self._stop_requested = threading.Event()
        # After `stop_writes`, when the reads' one request deadline ends (set by the first
        # read sent after the stop; None until then).
        self._reads_end: float | None = None
        self._last_failure: str | None = None
        # The platform's clock minus the local one, from the latest Date header.
        self._skew: timedelta | None = None

    # -- what happened -----------------------------------------------------------------

    def answered(self, server: str, date_header: str | None = None) -> None:
        """`server` ("api", "auth") sent an HTTP answer, whatever its status."""
        platform_time = _parse_http_date(date_header)
        with self._lock:
            self._reached.add(server)
            self._last_answer = self._clock()
            self._silent_since = None
            if platform_time is not None and server == "api":
                self._skew = clock_skew(platform_time, self._wall())

    def unanswered(self, sent_at: float, reason: str) -> None:
        """An attempt sent at `sent_at` (this health's clock) ended with no answer, for
        `reason` (shown in the outage message: never a header, so never the token)."""
        with self._lock:
            self._last_failure = reason
            began = sent_at if self._last_answer is None else max(sent_at, self._last_answer)
            if self._silent_since is None or began < self._silent_since:
                self._silent_since = began

    def has_answered(self, server: str) -> bool:
        with self._lock:
            return server in self._reached

    # -- what it means -----------------------------------------------------------------

    def now(self) -> float:
        return self._clock()

    def interrupt(self, reason: str) -> None:
        """Send nothing more in this run (Ctrl-C or SIGTERM while calls run on threads):
        each call's next attempt, each listing's next page, is refused."""
        with self._lock:
            if self._stopped is None:
                self._stopped = reason
        self._stop_requested.set()

    def stop_writes(self, reason: str) -> None:
        """Try no write again in this run (Ctrl-C or SIGTERM during an apply): a call in
        flight ends with its current attempt, not with its retries, which could outlast the
        runner's grace period before SIGKILL; reads (verification) go on."""
        with self._lock:
            if self._writes_stopped is None:
                self._writes_stopped = reason
        self._stop_requested.set()

    @property
    def stop_requested(self) -> threading.Event:
        """Set once a signal has stopped the run (`interrupt`, `stop_writes`): the retry
        waits watch it, so none outlasts the signal."""
        return self._stop_requested

    def read_seconds_after_stop(self) -> float | None:
        """None while no signal has stopped the writes. After one, how long a read may
        still wait for its answer: the reads sent after the stop (verification's, which
        settle calls whose answers were lost) share one request deadline, counted from
        the first of them, and none is tried again. So a stop ends within two request
        deadlines: the call in flight, then these reads."""
        with self._lock:
            if self._writes_stopped is None:
                return None
            now = self._clock()
            if self._reads_end is None:
                self._reads_end = now + self.limits.request_deadline
            return max(0.0, self._reads_end - now)

    @property
    def writes_stopped(self) -> str | None:
        with self._lock:
            return self._writes_stopped

    def stop_reason(self) -> str | None:
        """Why no call may be sent any more in this run, or None. Once set, it stays."""
        with self._lock:
            if self._stopped is None:
                self._stopped = self._why_stop()
                if self._stopped is not None:
                    # It quotes the last failure: the platform's text.
                    log.warning("%s", inert.terminal(self._stopped, limit=inert.MESSAGE_LIMIT))
            return self._stopped

    @property
    def stopped(self) -> str | None:
        """Why this run stopped sending, if it has (unlike `stop_reason`, checks nothing)."""
        with self._lock:
            return self._stopped

    def seconds_until_stop(self) -> float:
        """How long, at most, a retry may wait before the run would have to stop."""
        with self._lock:
            now = self._clock()
            left = self.limits.run_deadline - (now - self._started)
            if self._silent_since is not None:
                left = min(left, self.limits.outage_seconds - (now - self._silent_since))
            return max(0.0, left)

    def clock_skew(self) -> timedelta | None:
        """The platform's clock minus the local one, from its latest answer (None: no Date yet)."""
        with self._lock:
            return self._skew

    def platform_now(self) -> datetime | None:
        """The platform's time now, by its Date header; None before it has sent one."""
        skew = self.clock_skew()
        return None if skew is None else self._wall() + skew

    def _why_stop(self) -> str | None:
        now = self._clock()
        stamp = self._wall().strftime("%H:%M:%SZ")
        if (
            self._silent_since is not None
            and now - self._silent_since >= self.limits.outage_seconds
        ):
            return (
                f"platform outage: {self._where} has answered nothing for "
                f"{now - self._silent_since:.1f} s while calls failed without an answer "
                f"(the limit is {self.limits.outage_seconds:g} s, {OUTAGE_SECONDS_VAR}; the "
                f"last failure: {self._last_failure}); dxorg stopped sending at {stamp}"
            )
        if now - self._started >= self.limits.run_deadline:
            return (
                f"run deadline: this run has lasted {now - self._started:.1f} s, the most "
                f"{RUN_DEADLINE_VAR} allows ({self.limits.run_deadline:g} s); dxorg stopped "
                f"sending at {stamp}"
            )
        return None


def _parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _duration(delta: timedelta) -> str:
    """``1 d 2 h 5 min``, to the minute (a Date header only has whole seconds anyway)."""
    minutes = round(delta.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min")]
    return " ".join(f"{n} {unit}" for n, unit in parts if n) or "under a minute"
