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
from collections.abc import Mapping, Sequence
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


def config_root(paths: Sequence[Path]) -> Path:
    """The root of the config repository holding the manifests `paths`: the git work tree
    above them, else the parent of the directory holding them (so `orgs/` and
    `orgs/x.yaml` agree). No paths: the current directory's."""
    if not paths:
        return git_root(Path.cwd()) or Path.cwd()
    first = paths[0].absolute()
    manifests_dir = first if first.is_dir() else first.parent
    return git_root(manifests_dir) or manifests_dir.parent


def state_dir(
    root: Path, explicit: Path | None = None, env: Mapping[str, str] = os.environ
) -> Path:
    """The state directory: `explicit` (--state-dir), else DXORG_STATE_DIR, else root/.dxorg."""
    if explicit is not None:
        return explicit.absolute()
    named = env.get(STATE_DIR_VAR, "").strip()
    if named:
        return Path(named).absolute()
    return root / STATE_DIR_NAME


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


def evidence_journals(state: Path, journal: Path | None) -> list[Path]:
    """The journals that may hold evidence of accounts dxorg created: `journal` (this
    run's, or the one given) and every `*.jsonl` restored under `state/journals/`, in
    name order. Only regular files count: a symbolic link there is not followed."""
    found = [journal] if journal is not None else []
    restored = state / RESTORED_JOURNALS_NAME
    if restored.is_dir() and not restored.is_symlink():
        for directory, subdirectories, names in os.walk(restored):
            subdirectories.sort()
            for name in sorted(names):
                path = Path(directory) / name
                if name.endswith(".jsonl") and path.is_file() and not path.is_symlink():
                    found.append(path)
    return list(dict.fromkeys(found))
