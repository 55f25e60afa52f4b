"""Who last changed each manifest line: `git blame --porcelain`, one run per file.

The `git` command rather than a library: GitPython itself shells out to `git`, pygit2
needs libgit2 built for it, and dulwich has no blame of a work tree's uncommitted lines;
`git` is on every CI runner (actions/checkout needs it), and its porcelain format is a
stable, documented interface. The work-tree file is blamed (no revision given), so a
line edited since the last commit is "uncommitted", as the report must say.

A file outside a git work tree, an untracked file, or no `git` at all is not an error:
its lines say so. In a shallow clone, the oldest fetched commit stands for all the
history before it; those lines say that too.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from reconciler.review.value import (
    UNCOMMITTED,
    FileHistory,
    GitSummary,
    LineOrigin,
)
from reconciler.worker_threads import wait_all

GIT_TIMEOUT_SECONDS = 120
BLAME_WORKERS = 4
_NO_COMMIT = "0" * 40
SHALLOW_NOTE = "shallow clone: changed in or before this commit"


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # C locale: the messages are matched below; no optional locks: never contend with
    # another git process (an editor, a pre-commit hook) over the index.
    env = {**os.environ, "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=GIT_TIMEOUT_SECONDS,
        check=False,
    )


@dataclass(frozen=True)
class _WorkTree:
    """The work tree a directory is in (asked once per directory), or why there is none."""

    root: str | None
    shallow: bool
    note: str | None


def _work_tree(directory: Path) -> _WorkTree:
    try:
        found = _git(["rev-parse", "--show-toplevel", "--is-shallow-repository"], directory)
    except FileNotFoundError:
        return _WorkTree(None, False, "git is not installed")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _WorkTree(None, False, f"git failed: {exc}")
    if found.returncode != 0:
        message = _first_line(found.stderr)
        if "not a git repository" in message:
            return _WorkTree(None, False, None)
        return _WorkTree(None, False, message or f"git exited {found.returncode}")
    lines = found.stdout.splitlines()
    return _WorkTree(lines[0], len(lines) > 1 and lines[1] == "true", None)


def _first_line(text: str) -> str:
    stripped = text.strip().splitlines()
    return stripped[0].removeprefix("fatal: ") if stripped else ""


def _blame_file(path: Path, tree: _WorkTree) -> FileHistory:
    if tree.root is None:
        return FileHistory(otherwise=LineOrigin("not-in-git", note=tree.note))
    try:
        run = _git(["blame", "--porcelain", "--", path.name], path.parent)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return FileHistory(otherwise=LineOrigin("not-in-git", note=f"git blame failed: {exc}"))
    if run.returncode != 0:
        message = _first_line(run.stderr)
        # Not in HEAD (untracked, or a repository with no commit yet): nothing committed.
        if "no such path" in message or "no such ref" in message or "bad revision" in message:
            return FileHistory(otherwise=UNCOMMITTED)
        return FileHistory(otherwise=LineOrigin("not-in-git", note=message or "git blame failed"))
    return FileHistory(lines=parse_porcelain(run.stdout, shallow=tree.shallow))


def parse_porcelain(text: str, *, shallow: bool = False) -> dict[int, LineOrigin]:
    """`git blame --porcelain` output -> the origin of each final line (1-based).

    Each group is a header `<sha> <orig line> <final line> [<count>]`, the commit's
    `key value` lines (only the first time a commit appears), then the line's content
    after a tab.
    """
    infos: dict[str, dict[str, str]] = {}
    origins: dict[str, LineOrigin] = {}
    out: dict[int, LineOrigin] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        header = lines[index].split(" ")
        index += 1
        if len(header) < 3:
            continue  # the trailing empty line
        sha, final = header[0], int(header[2])
        info = infos.setdefault(sha, {})
        while index < len(lines) and not lines[index].startswith("\t"):
            key, _, value = lines[index].partition(" ")
            info[key] = value
            index += 1
        index += 1  # the content line
        if sha not in origins:
            origins[sha] = _origin(sha, info, shallow)
        out[final] = origins[sha]
    return out


def _origin(sha: str, info: Mapping[str, str], shallow: bool) -> LineOrigin:
    if sha == _NO_COMMIT:
        return UNCOMMITTED
    return LineOrigin(
        "committed",
        commit=sha,
        author=info.get("author"),
        email=info.get("author-mail", "").strip("<>") or None,
        date=_date(info.get("author-time"), info.get("author-tz")),
        subject=info.get("summary"),
        # The root commit is a boundary too; only in a shallow clone does it hide history.
        note=SHALLOW_NOTE if shallow and "boundary" in info else None,
    )


def _date(seconds: str | None, offset: str | None) -> str | None:
    if not seconds or not seconds.lstrip("-").isdigit():
        return None
    zone = UTC
    if offset and len(offset) == 5 and offset[1:].isdigit():
        sign = -1 if offset[0] == "-" else 1
        zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
    return datetime.fromtimestamp(int(seconds), tz=zone).isoformat(timespec="seconds")


def blame_files(files: Iterable[Path]) -> tuple[dict[str, FileHistory], GitSummary]:
    """The history of every file (keyed by `str(path)`, as manifests name their files),
    and a summary of the work trees they are in. One `git blame` per file."""
    paths = list(dict.fromkeys(files))
    trees: dict[Path, _WorkTree] = {}
    for directory in dict.fromkeys(path.parent for path in paths):
        trees[directory] = _work_tree(directory)
    workers = max(1, min(BLAME_WORKERS, len(paths)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_blame_file, p, trees[p.parent]) for p in paths]
        wait_all(futures)  # Ctrl-C or SIGTERM is handled while git runs
        histories = [f.result() for f in futures]
    roots = sorted({t.root for t in trees.values() if t.root})
    notes = sorted({t.note for t in trees.values() if t.note})
    outside = sorted(str(d) for d, t in trees.items() if t.root is None and t.note is None)
    if outside and not roots:
        notes.insert(0, "the manifests are not in a git work tree")
    elif outside:
        notes.insert(0, f"not in a git work tree: {', '.join(outside)}")
    summary = GitSummary(
        roots=tuple(roots),
        shallow=any(t.shallow for t in trees.values()),
        note="; ".join(notes) if notes else None,
    )
    return {str(path): history for path, history in zip(paths, histories, strict=True)}, summary
