"""The audit journal: append-only JSON Lines, one event per line, flushed as written.

Every call is written before it is sent and after it returns, so after a crash the
journal says what the killed run had started. Secrets never reach it: values under
secret-named keys are replaced, and a token in a plan is only ever ``{"$env": NAME}``.

A journal that cannot be written (a full disk, a file-size limit, a read-only file) stops
the apply before its next call: no call is sent that the journal does not record. Each
line goes whole or not at all (a short write is taken back off the file).

The journal is never written or read through a symbolic link, nor when it is not a
regular file (see `reconciler.apply.lock`: the state directory may come from a checkout).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.apply.lock import refuse_unsafe_entry
from reconciler.errors import DxorgError
from reconciler.model import normalise_user_id

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


class JournalWriteError(DxorgError):
    """The journal could not be written: the call it was to record is not sent."""


# How the journal's last call record reads in the message of a journal that failed.
_CALL_STATES = {
    "call": "sent, its answer not journaled",
    "call-done": "done",
    "call-failed": "failed",
}


class Journal:
    """Append-only JSON Lines audit journal; one line per event, flushed as written."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.run_id = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        # Why the journal could not be written, once it could not: no call is sent after.
        self.failure: str | None = None
        self.last_call: str | None = None  # the last call record written, as a person reads it
        if path is not None:
            refuse_unsafe_entry(path)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _end_torn_line(path)

    def write(self, event: str, **fields: Any) -> None:
        """Append one record. A `call` record that cannot be written raises
        JournalWriteError (the call must not be sent); after a failure, other records are
        dropped and every `call` is refused."""
        if self.path is None:
            return
        record = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "run": self.run_id,
            "event": event,
        }
        record.update(redact(fields))
        line = json.dumps(record, default=str, sort_keys=False)
        with self._lock:
            if self.failure is None:
                try:
                    _append_whole(self.path, (line + "\n").encode("utf-8"))
                except OSError as exc:
                    self.failure = f"{self.path}: {exc.strerror or exc}"
                else:
                    if event in _CALL_STATES:
                        self.last_call = (
                            f"{fields.get('step')} {fields.get('route')} ({_CALL_STATES[event]})"
                        )
                    return
            if event == "call":
                raise JournalWriteError(f"not sent: the journal cannot be written ({self.failure})")

    def stop_reason(self) -> str | None:
        """Why no more calls are sent, once the journal could not be written: a stop like a
        signal's (apply.executor), not a failure of the calls it leaves unsent."""
        if self.failure is None:
            return None
        return f"not sent: the journal cannot be written ({self.failure})"

    def check_writable(self) -> None:
        """Refuse to start writing to the platform on a journal that already failed."""
        if self.failure is not None:
            raise JournalWriteError(
                f"the journal {self.failure}: nothing was sent (make room for it, then apply again)"
            )

    def failure_message(self) -> str | None:
        """What to tell the operator after an apply whose journal failed, if it did."""
        if self.failure is None:
            return None
        last = self.last_call or "none in this run"
        return (
            f"the journal could not be written ({self.failure}): the apply stopped before "
            f"its next call. The last call journaled: {last}. No call after it was sent; "
            "make room for the journal, then plan again to see what is left."
        )


def _append_whole(path: Path, data: bytes) -> None:
    """Append `data` as one piece or not at all: a write cut short (a full disk, a
    file-size limit) is taken back off, so no torn line is left for the next reader."""
    fd = _open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        start = os.fstat(fd).st_size
        done = 0
        try:
            while done < len(data):
                written = os.write(fd, data[done:])
                if written <= 0:
                    raise OSError(errno.EIO, "the write made no progress")
                done += written
        except OSError:
            if done:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)


def _open_regular(path: Path, flags: int) -> int:
    """Open the journal, never through a symbolic link (ELOOP), nor anything but a
    regular file (a FIFO would block, a device would take the lines)."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    return fd


def _end_torn_line(path: Path) -> None:
    """A run killed in the middle of writing a line leaves it without its newline; end it,
    so that this run's first record is not glued onto it and lost to line-based readers."""
    try:
        fd = _open_regular(path, os.O_RDWR)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DxorgError(f"{path}: cannot be opened: {exc.strerror or exc}") from None
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            os.pwrite(fd, b"\n", size)
    finally:
        os.close(fd)


def created_accounts(paths: Path | Iterable[Path] | None, platform: str) -> dict[str, str]:
    """Accounts these journals show `platform` created for dxorg: user id -> email.

    Several journals (this run's and earlier runs' restored into the state directory,
    `config_repo.evidence_journals`) are read one by one, each line bound to its own
    file's `run-start`, and their findings merged.

    `platform` is where the platform is, as a run's `run-start` line names it
    (`PlatformIdentity.where`): an account the sandbox made is no evidence about the
    platform's account of that username, which may be somebody else's.

    Only a `/user/new` the platform answered counts (`call-done` without `landedByCheck`,
    matched to its `call` line, which holds the body, by run and step). A `call` alone (a
    run killed while the request was out, or before it was sent), or one that failed
    ("username already taken", an answer lost), says what dxorg asked for, not that the
    account there now is the one it got. Unreadable lines (a torn write) are skipped.
    """
    if paths is None:
        return {}
    found: dict[str, str] = {}
    for path in [paths] if isinstance(paths, Path) else paths:
        found.update(_created_in(path, platform))
    return found


def _created_in(path: Path, platform: str) -> dict[str, str]:
    found: dict[str, str] = {}
    refuse_unsafe_entry(path)
    if not path.is_file():
        return found
    asked: dict[tuple[object, object], tuple[str, str]] = {}
    runs_here: set[object] = set()
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):  # a torn or foreign line
                continue
            if not isinstance(record, dict):
                continue
            if record.get("event") == "run-start" and record.get("platform") == platform:
                runs_here.add(record.get("run"))
            if record.get("route") != "/user/new" or record.get("run") not in runs_here:
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
