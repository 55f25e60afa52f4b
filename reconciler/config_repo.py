"""The config repository: its root, its state directory, and saved plans' paths within it.

A config repository is the git work tree holding the manifests. Everything dxorg keeps
between runs (the apply journal and its lock, the sandbox, saved plans by default) lives
in one state directory, `.dxorg/` at that root, whatever directory dxorg is run from: a
second audit trail must not start because someone ran `cd elsewhere && dxorg apply
/path/orgs`. `--state-dir` or DXORG_STATE_DIR names another one.

A saved plan records its manifests relative to the root, and the root, so that `apply
--plan` finds them from any directory.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from reconciler.errors import ConfigError
from reconciler.plan import Plan

STATE_DIR_NAME = ".dxorg"
STATE_DIR_VAR = "DXORG_STATE_DIR"
JOURNAL_NAME = "journal.jsonl"
# Earlier applies' journals restored into the state directory (the Action restores the
# dxorg-journal branch's `journal/` here): read for provisioning evidence and the review.
RESTORED_JOURNALS_NAME = "journals"
SANDBOX_NAME = "sandbox.db"


def git_root(start: Path) -> Path | None:
    """The nearest directory at or above `start` holding `.git` (a directory, or the file
    a worktree or submodule has), if any."""
    here = start.absolute()
    for directory in (here, *here.parents):
        if (directory / ".git").exists():
            return directory
    return None


def _root_of(path: Path) -> Path:
    path = path.absolute()
    manifests_dir = path if path.is_dir() else path.parent
    return git_root(manifests_dir) or manifests_dir.parent


def config_root(
    paths: Sequence[Path],
    *,
    explicit_state_dir: Path | None = None,
    env: Mapping[str, str] = os.environ,
) -> Path:
    """The root of the config repository holding the manifests `paths`: the git work tree
    above them, else the parent of the directory holding them (so `orgs/` and
    `orgs/x.yaml` agree). No paths: the current directory's.

    Manifests of two config repositories in one run are refused unless a state directory
    is named (--state-dir, DXORG_STATE_DIR): each repository's journal and apply lock are
    its own, and the first path's repository would otherwise keep the other's."""
    if not paths:
        return git_root(Path.cwd()) or Path.cwd()
    roots = list(dict.fromkeys(_root_of(path) for path in paths))
    named = explicit_state_dir is not None or env.get(STATE_DIR_VAR, "").strip()
    if len(roots) > 1 and not named:
        raise ConfigError(
            f"the manifests are in {len(roots)} config repositories ({roots[0]} and "
            f"{roots[1]}), each with its own state directory (journal, apply lock): run "
            "dxorg once per repository, or name the one state directory to use with "
            f"--state-dir (or {STATE_DIR_VAR})"
        )
    return roots[0]


def state_dir(
    root: Path, explicit: Path | None = None, env: Mapping[str, str] = os.environ
) -> Path:
    """The state directory: `explicit` (--state-dir), else DXORG_STATE_DIR, else root/.dxorg;
    refused when it is not safe to keep evidence in (`check_state_dir`)."""
    if explicit is not None:
        return check_state_dir(explicit.absolute())
    named = env.get(STATE_DIR_VAR, "").strip()
    if named:
        return check_state_dir(Path(named).absolute())
    return check_state_dir(root / STATE_DIR_NAME)


def _others_could_write(path: Path, found: os.stat_result, what: str) -> str | None:
    """Why another local user could have written `path` (ssh's rule for its keys), if so."""
    if found.st_uid != os.geteuid():
        return (
            f"{path}: the {what} belongs to another user (uid {found.st_uid}), who could have "
            "planted journals in it"
        )
    if found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (
            f"{path}: the {what} is writable by group or others "
            f"(mode {stat.filemode(found.st_mode)}), who could have planted journals in it"
        )
    return None


def check_state_dir(path: Path) -> Path:
    """`path`, if it may be the state directory: absent (dxorg makes it, mode 0700), or a
    real directory of the user running dxorg that no one else can write. Its journals are
    evidence of the accounts dxorg created, so a symbolic link (which could point anywhere,
    a committed one too) or a directory another user could write to (`/tmp/.dxorg` for
    manifests in `/tmp/orgs`) is refused, never read or written through."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise ConfigError(f"{path}: the state directory cannot be read: {exc.strerror}") from None
    if stat.S_ISLNK(found.st_mode):
        raise ConfigError(
            f"{path}: the state directory is a symbolic link; dxorg neither reads evidence "
            "through it nor writes its journal, lock or sandbox there. Remove the link (dxorg "
            "makes the directory), or name a directory of yours with --state-dir"
        )
    if not stat.S_ISDIR(found.st_mode):
        raise ConfigError(f"{path}: the state directory is not a directory")
    problem = _others_could_write(path, found, "state directory")
    if problem:
        raise ConfigError(
            f"{problem}. Nothing was read from it: remove it (or `chmod go-w` it if it is "
            "yours), or name a directory of yours with --state-dir"
        )
    return path


def make_state_dir(path: Path) -> None:
    """Make the state directory (mode 0700: evidence no other user may write), if absent."""
    check_state_dir(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _relative(path: str, root: Path) -> str:
    return Path(os.path.relpath(Path(path).absolute(), root)).as_posix()


def plan_for_file(plan: Plan, root: Path) -> Plan:
    """The plan as saved: its manifest paths relative to `root`, and the root recorded."""
    return replace(
        plan,
        root=str(root.absolute()),
        orgs=tuple(
            replace(
                org,
                source=_relative(org.source, root),
                manifests={_relative(p, root): d for p, d in org.manifests.items()},
            )
            for org in plan.orgs
        ),
    )


def plan_root(plan_file: Path, plan: Plan, explicit_state_dir: Path | None) -> Path:
    """Where a saved plan's manifest paths start: the git work tree holding the plan file,
    else the one holding the state directory given, else the root the plan recorded."""
    found = git_root(plan_file.absolute().parent)
    if found is None and explicit_state_dir is not None:
        found = git_root(explicit_state_dir)
    if found is None and plan.root is not None:
        found = Path(plan.root)
    if found is None:
        raise ConfigError(
            f"--plan {plan_file}: not inside a git work tree and it records no root: cannot "
            "tell where its manifests are (plan again with this dxorg)"
        )
    return found


def plan_from_file(plan: Plan, root: Path) -> Plan:
    """A saved plan with its manifest paths made usable from here: each resolved against
    `root`, shown relative to the current directory when under it."""

    def here(path: str) -> str:
        target = root / path
        try:
            return str(target.relative_to(Path.cwd()))
        except ValueError:
            return str(target)

    return replace(
        plan,
        orgs=tuple(
            replace(
                org,
                source=here(org.source),
                manifests={here(p): d for p, d in org.manifests.items()},
            )
            for org in plan.orgs
        ),
    )


def _tracked_by_git(paths: list[Path], warn: Callable[[str], None]) -> set[Path]:
    """Those of `paths` that git tracks (in the work tree holding them); all of them when
    git cannot say (fail closed: such a file is not evidence)."""
    tracked: set[Path] = set()
    by_root: dict[Path, list[Path]] = {}
    for path in paths:
        root = git_root(path.parent)
        if root is not None:
            by_root.setdefault(root, []).append(path)
    for root, inside in by_root.items():
        try:
            listed = subprocess.run(
                ["git", "-C", str(root), "ls-files", "-z", "--full-name", "--", *map(str, inside)],
                capture_output=True,
                timeout=60,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            warn(
                f"{root}: git could not say which journals it tracks; the journals there are "
                "not read as evidence of accounts dxorg created"
            )
            tracked.update(inside)
            continue
        names = {root / name for name in listed.stdout.decode(errors="replace").split("\0") if name}
        tracked.update(p for p in inside if p.absolute() in names)
    return tracked


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def evidence_journals(
    state: Path, journal: Path | None, warn: Callable[[str], None] = _warn
) -> list[Path]:
    """The journals that may hold evidence of accounts dxorg created: `journal` (this
    run's, or the one given) and every `*.jsonl` restored under `state/journals/`, in
    name order. Only regular files count: a symbolic link there is not followed.

    A file git tracks is not evidence (a pull request can commit one under `.dxorg/`,
    which the .gitignore hides but `git add -f` does not): it is left out, with a warning
    naming it. A file another user could have written is refused, as its directory is."""
    found = [journal] if journal is not None else []
    restored = state / RESTORED_JOURNALS_NAME
    if restored.is_dir() and not restored.is_symlink():
        for directory, subdirectories, names in os.walk(restored):
            subdirectories.sort()
            for name in sorted(names):
                path = Path(directory) / name
                if name.endswith(".jsonl") and path.is_file() and not path.is_symlink():
                    found.append(path)
    found = list(dict.fromkeys(found))
    for path in found:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):
            continue  # never followed: the journal's reader refuses a link, naming it
        problem = _others_could_write(path, info, "journal")
        if problem:
            raise ConfigError(
                f"{problem}; it is not read as evidence of accounts dxorg created. Remove it "
                "(or `chmod go-w` it if it is yours)"
            )
    tracked = _tracked_by_git([p for p in found if p.exists()], warn)
    if tracked:
        shown = ", ".join(str(p) for p in sorted(tracked))
        warn(
            f"{shown}: tracked by git, so not evidence of accounts dxorg created (anyone "
            "who can merge could have committed it); left out. Apply journals of record "
            "belong on the dxorg-journal branch, not in a commit"
        )
    return [p for p in found if p not in tracked]
