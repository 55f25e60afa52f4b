"""How much a run may ask of the platform, and for how long: the bounds no answer can exceed.

Each one is a ``DXORG_*`` environment variable, read once per run (next to
DXORG_MAX_RETRY_SECONDS, see `retry.retry_policy_from_env`):

- DXORG_REQUEST_DEADLINE_SECONDS: wall time from sending one HTTP request to holding its
  complete body (not the time between two bytes: a server trickling a byte a second
  still ends here).
- DXORG_MAX_RESPONSE_BYTES: the largest answer read; a bigger one is abandoned while it
  streams in, never buffered whole.
- DXORG_MAX_PAGES: the most pages one listing (a ``find*`` method) may take. The
  platform gives no member or project count to bound it by, so this is an absolute
  ceiling, which bounds the time a listing of fresh cursors on empty pages takes: the
  default reads DXORG_MAX_ROWS rows at 500 a page (the platform sends 1000).
- DXORG_MAX_ROWS: the most rows one listing may hold, which bounds its memory (a page
  may hold 1000): the largest real orgs have about 100,000 members, and the default is
  twice that.
- DXORG_OUTAGE_SECONDS: how long the platform may answer nothing while calls fail for
  want of an answer before the run stops sending (the circuit breaker).
- DXORG_RUN_DEADLINE_SECONDS: how long one run may keep sending. It is what bounds
  waiting on a throttling platform, whose 429/503 answers are retried as dxpy does
  (without counting them against the attempt budget).

And what the Action may restore from the journal branch (`JournalLimits`), which only
ever grows: streamed to disk, never held in memory whole, and refused beyond these:

- DXORG_MAX_JOURNAL_BYTES: the largest journal file restored (one apply of one org).
- DXORG_MAX_JOURNALS_BYTES: all the journal files restored together.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.errors import ConfigError

REQUEST_DEADLINE_VAR = "DXORG_REQUEST_DEADLINE_SECONDS"
MAX_RESPONSE_BYTES_VAR = "DXORG_MAX_RESPONSE_BYTES"
MAX_PAGES_VAR = "DXORG_MAX_PAGES"
MAX_ROWS_VAR = "DXORG_MAX_ROWS"
OUTAGE_SECONDS_VAR = "DXORG_OUTAGE_SECONDS"
RUN_DEADLINE_VAR = "DXORG_RUN_DEADLINE_SECONDS"
MAX_JOURNAL_BYTES_VAR = "DXORG_MAX_JOURNAL_BYTES"
MAX_JOURNALS_BYTES_VAR = "DXORG_MAX_JOURNALS_BYTES"


@dataclass(frozen=True)
class PlatformLimits:
    """The defaults fit the largest real orgs, about 100,000 members (100 pages of 1000,
    each well under the size and time bounds), twice over."""

    request_deadline: float = 120.0
    max_response_bytes: int = 64 * 1024 * 1024
    max_pages: int = 400
    max_rows: int = 200_000
    outage_seconds: float = 120.0
    run_deadline: float = 3600.0

    def __post_init__(self) -> None:
        if self.request_deadline <= 0 or self.outage_seconds <= 0 or self.run_deadline <= 0:
            raise ValueError("deadlines must be positive")
        if self.max_response_bytes < 1 or self.max_pages < 1 or self.max_rows < 1:
            raise ValueError("size and page bounds must be at least 1")

    @property
    def outage_stop_bound(self) -> float:
        """Seconds after the platform's last answer by which an outage has stopped the run.

        The silence is noticed when a call fails for want of an answer (at most a request
        deadline) and is an outage once it has lasted `outage_seconds`; a request sent
        just before then can still take one request deadline to end."""
        return max(self.outage_seconds, self.request_deadline) + self.request_deadline


def limits_from_env(env: Mapping[str, str]) -> PlatformLimits:
    """The limits the environment asks for; a variable unset or empty keeps its default."""
    defaults = PlatformLimits()
    return PlatformLimits(
        request_deadline=_seconds(env, REQUEST_DEADLINE_VAR, defaults.request_deadline),
        max_response_bytes=_count(env, MAX_RESPONSE_BYTES_VAR, defaults.max_response_bytes),
        max_pages=_count(env, MAX_PAGES_VAR, defaults.max_pages),
        max_rows=_count(env, MAX_ROWS_VAR, defaults.max_rows),
        outage_seconds=_seconds(env, OUTAGE_SECONDS_VAR, defaults.outage_seconds),
        run_deadline=_seconds(env, RUN_DEADLINE_VAR, defaults.run_deadline),
    )


@dataclass(frozen=True)
class JournalLimits:
    """An apply journal is a few lines per API call: an apply of a 100,000-member org
    writes some tens of megabytes. The total allows years of daily applies of many orgs."""

    max_file_bytes: int = 256 * 1024 * 1024
    max_total_bytes: int = 4 * 1024 * 1024 * 1024


def journal_limits_from_env(env: Mapping[str, str]) -> JournalLimits:
    """The journal branch's limits the environment asks for (unset or empty: the default)."""
    defaults = JournalLimits()
    return JournalLimits(
        max_file_bytes=_count(env, MAX_JOURNAL_BYTES_VAR, defaults.max_file_bytes),
        max_total_bytes=_count(env, MAX_JOURNALS_BYTES_VAR, defaults.max_total_bytes),
    )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    if not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"{name}={raw!r}: expected a number of seconds above 0 (e.g. {default:g})"
        )
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{name}={raw!r}: expected a whole number, 1 or more (e.g. {default})")
    return value
