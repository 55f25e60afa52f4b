"""One apply at a time per state directory (where the journal lives, `.dxorg/` by default).

Two applies of one org from one directory would both send every write (an invite twice),
both verify "converged", and interleave their journal lines. The lock is the kernel's
(`flock`) on the state directory itself, held from before apply's first read to after its
verification: the kernel releases it when its holder exits however it exits, so a
`kill -9` leaves no stale lock behind, and no file can be deleted or replaced to release
it (a lock on a file inside would be released by `rm`: the next apply would lock a new
file). `apply.lock` in the directory says who holds the lock (pid, host, start time),
for the refusal a second apply gets at once. It is locked too, only because dxorg
versions before the directory lock locked that file: holding both, either version
excludes the other.

The state directory is usually inside a checkout, so its entries are not trusted: one
that is a symbolic link or not a regular file is refused (never followed: a link planted
by a commit must not make apply write to its target), and apply never truncates a file it
did not create (`apply.lock` is written as a new file and renamed into place).

What it does not do: serialise applies on different machines, or with different state
directories (CI runners are serialised by the Action's `concurrency` group).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from reconciler.errors import DxorgError

LOCK_NAME = "apply.lock"


class ApplyLocked(DxorgError):
    """Another apply holds this state directory's lock."""


def refuse_unsafe_entry(path: Path) -> None:
    """Refuse a state directory entry that is a symbolic link or not a regular file (an
    absent one is fine: dxorg creates it)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DxorgError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode):
        raise DxorgError(
            f"{path}: is a symbolic link; dxorg does not follow links in its state "
            "directory (nothing was read or sent). Remove the link, then plan again."
        )
    if not stat.S_ISREG(info.st_mode):
        raise DxorgError(
            f"{path}: is not a regular file; nothing was read or sent. Remove it, then plan again."
        )


@contextmanager
def apply_lock(state_dir: Path) -> Iterator[Path]:
    """Hold the state directory's apply lock for the duration, or refuse at once."""
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise DxorgError(f"{state_dir}: cannot be created: {exc.strerror or exc}") from None
    path = state_dir / LOCK_NAME
    refuse_unsafe_entry(path)
    dir_fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _flock(dir_fd, state_dir, path)
        # The file an older dxorg locks: whatever is at the path now (created if absent, so
        # that one racing us opens the same file), held until the end.
        older_fd = _open_for_older_versions(path)
        try:
            _flock(older_fd, state_dir, path)
            holder = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            fd = _write_new(path, json.dumps(holder).encode())
            try:
                yield path
            finally:
                # Emptied (the file this run created, whatever is at the path now) while
                # still held: a file with a holder in it is a holder still running.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                os.close(fd)
        finally:
            os.close(older_fd)
    finally:
        os.close(dir_fd)  # releases the lock


def _flock(fd: int, state_dir: Path, path: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ApplyLocked(_refusal(state_dir, path, _holder(path))) from None
    except OSError as exc:  # a filesystem without locks (some network mounts)
        raise DxorgError(
            f"{state_dir}: cannot take the apply lock: {exc.strerror or exc}; use a "
            "state directory on a local disk (--journal names it)"
        ) from None


def _open_for_older_versions(path: Path) -> int:
    """The file at `path`, opened to be locked (never through a link, never truncated)."""
    flags = os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:  # a link or a FIFO planted since it was checked; a full disk
        raise DxorgError(f"{path}: cannot be opened: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DxorgError(
            f"{path}: is not a regular file; nothing was read or sent. Remove it, then plan again."
        )
    return fd


def _write_new(path: Path, data: bytes) -> int:
    """Put a new file holding `data` at `path` (replacing what is there, never writing
    through it) and return an open descriptor of it."""
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:  # a full or read-only state directory
        raise DxorgError(f"{path}: cannot be written: {exc.strerror or exc}") from None
    try:
        os.write(fd, data)
        os.fchmod(fd, 0o644)
        # Locked before it is at the path: an older dxorg that opens it then is refused.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(temporary, path)  # replaces a link planted meanwhile; never follows it
    except OSError as exc:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise DxorgError(f"{path}: cannot be written: {exc.strerror or exc}") from None
    return fd


def _holder(path: Path) -> dict[str, object]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {}
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    finally:
        os.close(fd)
    return data if isinstance(data, dict) else {}


def _refusal(state_dir: Path, path: Path, holder: dict[str, object]) -> str:
    pid, host, started = holder.get("pid"), holder.get("host"), holder.get("started")
    who = (
        f"pid {pid} on {host}, started {started}"
        if pid and host and started
        else f"its holder is not named: it is just starting, or {path} was removed"
    )
    stop = f"kill {pid} on {host}" if pid and host else "stop that dxorg apply"
    return (
        f"another dxorg apply is running with this state directory ({who}); nothing was "
        f"read or sent. Wait for it to finish, then plan again. The lock is on the "
        f"directory {state_dir} itself ({path} only names its holder): the operating "
        "system holds it for as long as that process lives and releases it when it "
        f"exits, even if it is killed; if it is stuck, {stop}. Deleting files does not "
        "release the lock."
    )
