"""Restoring the journal branch takes bounded memory and refuses beyond its limits.

The dxorg-journal branch only ever grows (every apply of every org, for as long as the
repository lives) and every plan, drift, apply and report run of the Action restores it:
its archive is streamed from git into the files, and a file or a total beyond
DXORG_MAX_JOURNAL_BYTES / DXORG_MAX_JOURNALS_BYTES is refused by name, nothing restored.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.errors import ConfigError, DxorgError
from reconciler.github.journal_branch import restore_journals

LINE = b'{"run":"r","event":"note","pad":"' + b"x" * 1000 + b'"}\n'


def _branch(tmp_path: Path, files: dict[str, bytes]) -> str:
    """A bare repository whose dxorg-journal branch holds `files` under journal/2026/."""
    remote, work = tmp_path / "remote.git", tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "dxorg-journal", str(work)], check=True)
    (work / "journal" / "2026").mkdir(parents=True)
    for name, data in files.items():
        (work / "journal" / "2026" / name).write_bytes(data)
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "journals"], check=True)
    subprocess.run([*git, "push", "-q", str(remote), "dxorg-journal"], check=True)
    return f"file://{remote}"


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux's /proc")
def test_a_big_branch_is_restored_in_bounded_memory(tmp_path):
    """Three journals of 16 MB each: the old restore held the whole archive and each file
    in memory (about twice the branch); streamed, the process grows by a few megabytes."""
    url = _branch(tmp_path, {f"big{i}.jsonl": LINE * 16_000 for i in range(3)})
    # VmHWM, the peak resident size of this process's memory: unlike ru_maxrss it starts
    # afresh at exec, not at the parent's (pytest's) size.
    probe = f"""
from pathlib import Path
from reconciler.github.journal_branch import restore_journals
def peak():
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
before = peak()
count = restore_journals(url={url!r}, branch="dxorg-journal", token="", into=Path({str(tmp_path / "state" / "journals")!r}))
print(count, (peak() - before) // 1024)
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    count, grew_mb = map(int, done.stdout.split())
    assert count == 3
    assert grew_mb < 16, f"the restore grew the process by {grew_mb} MB"
    restored = sorted((tmp_path / "state" / "journals" / "2026").iterdir())
    assert [p.stat().st_size for p in restored] == [len(LINE) * 16_000] * 3


def test_a_journal_over_the_file_limit_is_refused_by_name(tmp_path):
    url = _branch(tmp_path, {"a.jsonl": LINE, "huge.jsonl": LINE * 10})
    into = tmp_path / "state" / "journals"
    env = {"DXORG_MAX_JOURNAL_BYTES": str(len(LINE) * 5)}
    with pytest.raises(DxorgError) as refused:
        restore_journals(url=url, branch="dxorg-journal", token="", into=into, env=env)
    said = str(refused.value)
    assert "journal/2026/huge.jsonl" in said and "DXORG_MAX_JOURNAL_BYTES" in said
    assert list(into.iterdir()) == []  # nothing half-restored is read as evidence


def test_journals_over_the_total_limit_are_refused(tmp_path):
    url = _branch(tmp_path, {f"j{i}.jsonl": LINE * 3 for i in range(4)})
    into = tmp_path / "state" / "journals"
    env = {"DXORG_MAX_JOURNALS_BYTES": str(len(LINE) * 10)}
    with pytest.raises(DxorgError, match="DXORG_MAX_JOURNALS_BYTES"):
        restore_journals(url=url, branch="dxorg-journal", token="", into=into, env=env)
    assert list(into.iterdir()) == []
    # Within the limits, the same branch restores.
    env = {"DXORG_MAX_JOURNALS_BYTES": str(len(LINE) * 12)}
    assert restore_journals(url=url, branch="dxorg-journal", token="", into=into, env=env) == 4


def test_the_limits_are_read_from_the_environment():
    from reconciler.platform.limits import journal_limits_from_env

    limits = journal_limits_from_env(
        {"DXORG_MAX_JOURNAL_BYTES": "10", "DXORG_MAX_JOURNALS_BYTES": ""}
    )
    assert limits.max_file_bytes == 10
    assert limits.max_total_bytes == journal_limits_from_env({}).max_total_bytes
    with pytest.raises(ConfigError, match="DXORG_MAX_JOURNAL_BYTES='lots'"):
        journal_limits_from_env({"DXORG_MAX_JOURNAL_BYTES": "lots"})
