"""One apply at a time per state directory (where the journal lives, `.dxorg/` by default).

Two applies of one org from one directory would both send every write (an invite twice),
both verify "converged", and interleave their journal lines. The lock is the kernel's
(`flock` on `apply.lock` in the state directory), held from before apply's first read to
after its verification: the kernel releases it when its holder exits however it exits, so
a `kill -9` leaves no stale lock behind. The file also holds who took it (pid, host, start
time), for the refusal a second apply gets at once.

What it does not do: serialise applies on different machines, or with different state
directories (CI runners are serialised by the Action's `concurrency` group).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from reconciler.errors import DxorgError

LOCK_NAME = "apply.lock"


class ApplyLocked(DxorgError):
    """Another apply holds this state directory's lock."""


@contextmanager
def apply_lock(state_dir: Path) -> Iterator[Path]:
    """Hold the state directory's apply lock for the duration, or refuse at once."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ApplyLocked(_refusal(path, _holder(fd))) from None
        except OSError as exc:  # a filesystem without locks (some network mounts)
            raise DxorgError(
                f"{path}: cannot take the apply lock: {exc.strerror or exc}; use a state "
                "directory on a local disk (--journal names it)"
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield path
        finally:
            # Emptied while still held: a file with a holder in it is a holder still running.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> dict[str, object]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _refusal(path: Path, holder: dict[str, object]) -> str:
    pid, host, started = holder.get("pid"), holder.get("host"), holder.get("started")
    who = (
        f"pid {pid} on {host}, started {started}"
        if pid and host and started
        else "its holder is just starting"
    )
    stop = f"kill {pid} on {host}" if pid and host else "stop that dxorg apply"
    return (
        f"another dxorg apply is running with this state directory ({who}); nothing was "
        f"read or sent. Wait for it to finish, then plan again. The lock ({path}) is held "
        "by the operating system for as long as that process lives and is released when "
        f"it exits, even if it is killed; if it is stuck, {stop}. Deleting the file does "
        "not release the lock."
    )
