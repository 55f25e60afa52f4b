"""How far this machine's clock is from the platform's, from an HTTP `Date` header."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime


def clock_skew(date_header: str | None, local_now: datetime) -> timedelta | None:
    """The platform's time minus `local_now` (positive: the local clock is behind); None
    when there is no header, or it is not an HTTP date. To the second: a Date header has
    no finer resolution."""
    if not date_header:
        return None
    try:
        server = parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return None
    if server.tzinfo is None:  # "-0000": UTC by RFC 5322
        server = server.replace(tzinfo=UTC)
    return server - local_now.replace(microsecond=0)
