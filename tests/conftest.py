"""Settings for the whole suite."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

from reconciler.config_repo import STATE_DIR_NAME, STATE_DIR_VAR

# Several tests press Ctrl-C (SIGINT) at a dxorg process, as a person at a terminal would.
# A job started in the background by a non-interactive shell (a CI runner, `cmd &`) ignores
# SIGINT, and an ignored signal stays ignored across exec: every process the tests start
# would then shrug off the Ctrl-C. A handler does not survive exec, so installing Python's
# own here gives each child the default a terminal session has.
signal.signal(signal.SIGINT, signal.default_int_handler)

# The property tests draw the same examples on every run (a flaky test is a failing test,
# and a new finding must not surface as a red CI on an unrelated change). To explore new
# examples, as when working on one of them: HYPOTHESIS_PROFILE=explore pytest ...
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


# ---------------------------------------------------------------- the checkout stays clean
#
# dxorg keeps its state (journal, apply lock, sandbox) in the state directory of the config
# repository holding the manifests: for tests/scenarios/ or examples/orgs/ that would be
# this checkout's own `.dxorg/`. Every test that does not name a state directory of its own
# gets a throwaway one, and the session fails if the checkout's `.dxorg/` changed anyway.
CHECKOUT = Path(__file__).resolve().parent.parent
_SESSION_STATE = Path(tempfile.mkdtemp(prefix="dxorg-test-state-"))
os.environ[STATE_DIR_VAR] = str(_SESSION_STATE)


def _checkout_state() -> dict[str, tuple[int, int]] | None:
    directory = CHECKOUT / STATE_DIR_NAME
    if not directory.exists():
        return None
    return {
        str(path.relative_to(directory)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(directory.rglob("*"))
    }


_CHECKOUT_STATE_BEFORE = _checkout_state()


@pytest.fixture
def own_state_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a test of where dxorg puts its state by default: no session state directory."""
    monkeypatch.delenv(STATE_DIR_VAR, raising=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_STATE, ignore_errors=True)
    after = _checkout_state()
    if after != _CHECKOUT_STATE_BEFORE:
        sys.stderr.write(
            f"\nthe test suite wrote into the checkout's {CHECKOUT / STATE_DIR_NAME} "
            f"(before: {_CHECKOUT_STATE_BEFORE}, after: {after}): a test ran dxorg without a "
            "state directory of its own\n"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
