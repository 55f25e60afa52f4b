"""The apply lock excludes an older dxorg on the same state directory, both ways.

dxorg versions before the directory lock took `flock` on the `apply.lock` file itself
(opened with O_CREAT, never truncated). Found by an adversarial review: an apply of each
version could then run at once on one state directory, each holding its own lock. Now
apply locks the directory and the file (the one at the path, and the new one it renames
into place, locked before it appears), so either version refuses while the other runs.

An older version's lock is taken here exactly as it took it. `flock` locks belong to an
open file description, so one process opening the file twice conflicts with itself as
two processes would.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from reconciler.apply.lock import LOCK_NAME, ApplyLocked, apply_lock

OLDER_HOLDER = {"pid": 4242, "host": "ci-runner-7", "started": "2026-12-01T10:00:00+00:00"}


@contextmanager
def older_version_lock(state_dir: Path) -> Iterator[None]:
    """What dxorg before the directory lock did: flock the file, write its holder."""
    fd = os.open(state_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(OLDER_HOLDER).encode(), 0)
        yield
    finally:
        os.close(fd)


def older_version_is_refused(state_dir: Path) -> bool:
    try:
        with older_version_lock(state_dir):
            return False
    except BlockingIOError:
        return True


def test_an_older_versions_lock_refuses_this_apply(tmp_path: Path) -> None:
    state_dir = tmp_path / ".dxorg"
    state_dir.mkdir()
    with (
        older_version_lock(state_dir),
        pytest.raises(ApplyLocked) as refused,
        apply_lock(state_dir),
    ):
        pass
    assert "pid 4242 on ci-runner-7" in str(refused.value)
    with apply_lock(state_dir):  # released with the older apply
        pass


@pytest.mark.parametrize("file_there", [False, True])
def test_this_applys_lock_refuses_an_older_version(tmp_path: Path, file_there: bool) -> None:
    state_dir = tmp_path / ".dxorg"
    state_dir.mkdir()
    if file_there:  # left by an earlier run (emptied)
        (state_dir / LOCK_NAME).write_text("")
    with apply_lock(state_dir):
        assert older_version_is_refused(state_dir)
    assert not older_version_is_refused(state_dir)


def test_two_applies_of_this_version_still_exclude_each_other(tmp_path: Path) -> None:
    state_dir = tmp_path / ".dxorg"
    with (
        apply_lock(state_dir),
        pytest.raises(ApplyLocked, match=f"pid {os.getpid()}"),
        apply_lock(state_dir),
    ):
        pass
