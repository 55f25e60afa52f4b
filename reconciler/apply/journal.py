"""The audit journal: append-only JSON Lines, one event per line, flushed as written.

Every call is written before it is sent and after it returns, so after a crash the
journal says what the killed run had started. Secrets never reach it: values under
secret-named keys are replaced, and a token in a plan is only ever ``{"$env": NAME}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.model import normalise_user_id

DEFAULT_JOURNAL = Path(".dxorg") / "journal.jsonl"
_SECRET_KEYS = frozenset({"token", "auth_token", "authorization"})


def redact(value: Any) -> Any:
    """A copy of `value` with every secret-named key's value replaced."""
    if isinstance(value, Mapping):
        return {
            k: "[redacted]" if str(k).lower() in _SECRET_KEYS and not is_env_ref(v) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def is_env_ref(value: object) -> bool:
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


def created_accounts(path: Path | None) -> dict[str, str]:
    """Accounts this journal shows the platform created for dxorg: user id -> email.

    Only a `/user/new` the platform answered counts (`call-done` without `landedByCheck`,
    matched to its `call` line, which holds the body, by run and step). A `call` alone (a run killed while the request
    was out, or before it was sent), or one that failed ("username already taken", an
    answer lost), says what dxorg asked for, not that the account there now is the one it
    got. Unreadable lines (a torn write) are skipped.
    """
    found: dict[str, str] = {}
    if path is None or not path.is_file():
        return found
    asked: dict[tuple[object, object], tuple[str, str]] = {}
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):  # a torn or foreign line
                continue
            if not isinstance(record, dict) or record.get("route") != "/user/new":
                continue
            key = (record.get("run"), record.get("step"))
            body = record.get("body")
            if record.get("event") == "call" and isinstance(body, dict):
                username, email = body.get("username"), body.get("email")
                if isinstance(username, str) and isinstance(email, str):
                    asked[key] = (normalise_user_id(username), email)
            elif record.get("event") == "call-done" and key in asked:
                user_id, email = asked.pop(key)
                # "Landed by check" is no answer (and older dxorg checked only that the
                # username existed): the platform's own answer is what counts here.
                if record.get("landedByCheck") is not True:
                    found[user_id] = email
    return found
