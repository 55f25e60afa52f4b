"""Settings for the whole suite."""

from __future__ import annotations

import signal

import pytest

# Several tests press Ctrl-C (SIGINT) at a dxorg process, as a person at a terminal would.
# A job started in the background by a non-interactive shell (a CI runner, `cmd &`) ignores
# SIGINT, and an ignored signal stays ignored across exec: every process the tests start
# would then shrug off the Ctrl-C. A handler does not survive exec, so installing Python's
# own here gives each child the default a terminal session has.
signal.signal(signal.SIGINT, signal.default_int_handler)


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
        "tests/action/test_apply.py",
        "tests/action/test_drift.py",
        "tests/action/test_plan.py",
        "tests/action/test_platform_text_in_logs.py",
        "tests/action/test_report.py",
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
