"""Paths a command will write a file at, refused before anything is written."""

from __future__ import annotations

from pathlib import Path

from reconciler.errors import ConfigError


def check_file_target(path: Path, option: str) -> None:
    """`path` (given as `option`) can take a file: refused, before anything is written,
    if it cannot."""
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a directory; give the path of a file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{option} {path}: {parent} is not a directory")
            return
