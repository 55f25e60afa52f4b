"""The fast loop's list of slow modules names modules that exist (a renamed module would
otherwise quietly join the fast loop)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SLOW_MODULES

ROOT = Path(__file__).resolve().parents[1]


def test_every_slow_module_exists() -> None:
    assert sorted(m for m in SLOW_MODULES if not (ROOT / m).is_file()) == []
