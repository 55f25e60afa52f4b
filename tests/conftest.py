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


# The fast loop is `pytest -m "not slow"`; the full suite (`.ci/run`, the README) runs all.
# Slow: tests that start processes (dxorg, dx, git, Chromium) or servers, build big orgs, or
# search at length, whatever their own markers say. New tests in these modules, and any
# test marked `dxcli` or `browser`, are slow without a marker of their own.
SLOW_MODULES = frozenset(
    {
        # start dxorg, dx or git processes
        "tests/doctor/test_doctor.py",
        "tests/emulator/test_dx_cli.py",
        "tests/emulator/test_server.py",
        "tests/emulator/test_dx_conformance.py",
        "tests/integration/test_cli.py",
        "tests/integration/test_cli_boundary.py",
        "tests/integration/test_cli_console.py",
        "tests/integration/test_config_repo.py",
        "tests/integration/test_every_flag.py",
        "tests/integration/test_import_contracts.py",
        "tests/integration/test_packaging.py",
        "tests/integration/test_untrusted_text.py",
        "tests/manifest/test_manifest_cli.py",
        "tests/reliability/test_apply_binding.py",
        "tests/reliability/test_bad_input.py",
        "tests/reliability/test_crash.py",
        "tests/reliability/test_forwarding_token.py",
        "tests/reliability/test_provisioning_ownership.py",
        "tests/reliability/test_secrets.py",
        "tests/reliability/test_token_checked_before_any_request.py",
        "tests/reliability/test_two_step.py",
        "tests/review/test_approvals.py",
        "tests/review/test_report_cli.py",
        # the Action end to end, each run against a fake GitHub server
        "tests/action/test_allowed_orgs.py",
        "tests/action/test_apply.py",
        "tests/action/test_drift.py",
        "tests/action/test_init.py",
        "tests/action/test_journal_branch.py",
        "tests/action/test_plan.py",
        "tests/action/test_platform_text_in_logs.py",
        "tests/action/test_report.py",
        "tests/action/test_state_journal.py",
        "tests/action/test_trust.py",
        "tests/action/test_untrusted_text.py",
        "tests/action/test_workflows.py",
        # big orgs, random faults, long property searches
        "tests/core/test_inert.py",
        "tests/emulator/test_fuzz.py",
        "tests/emulator/test_persistence_concurrency.py",
        "tests/platform/test_platform_emulated.py",
        "tests/reliability/test_fail_closed.py",
        "tests/reliability/test_faults.py",
        "tests/reliability/test_bounded_reads.py",
        "tests/reliability/test_load.py",
        "tests/reliability/test_outage_stops_apply.py",
        "tests/reliability/test_properties.py",
    }
)
SLOW_MARKERS = ("dxcli", "browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    for item in items:
        module = item.path.relative_to(root).as_posix()
        if module in SLOW_MODULES or any(item.get_closest_marker(m) for m in SLOW_MARKERS):
            item.add_marker(pytest.mark.slow)
