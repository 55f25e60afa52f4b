"""dxorg's log records (a read given up after its retries, an outage), at WARNING and
above as Python shows them by default, written as lines of a presenter's own output (the
CLI's stderr, the Action's log): each one visible line that no runner reads as a workflow
command (inert.log_lines), whatever its call site did, for they quote the platform."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from reconciler.render import inert


class RecordsAsLines(logging.Handler):
    def __init__(self, write_lines: Callable[[list[str]], None]) -> None:
        super().__init__(logging.WARNING)
        self._write_lines = write_lines

    def emit(self, record: logging.LogRecord) -> None:
        try:
            details = (
                logging.Formatter().formatException(record.exc_info) if record.exc_info else None
            )
            self._write_lines(list(inert.log_lines(record.getMessage(), details)))
        except Exception:  # logging's contract: a handler never raises into the caller
            self.handleError(record)


@contextmanager
def records_as_lines(write_lines: Callable[[list[str]], None]) -> Iterator[None]:
    """While the context lasts, dxorg's records go to `write_lines`, one call a record."""
    handler = RecordsAsLines(write_lines)
    logger = logging.getLogger("reconciler")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
