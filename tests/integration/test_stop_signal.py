"""Cancellation is an explicit value: a StopSignal given to apply, read before every call.

A stop set before the first call sends nothing: every action ends `not-sent` (its own
status, not a failure with a detail to match), the journal has a `not-sent` record for
each call apply meant to send, and the run ends with the signal's exit code. A stop set
by the progress hook as the first call lands lets that call stand and sends no other.
"""

from __future__ import annotations

import json
import signal
from dataclasses import replace

from reconciler.apply.journal import Journal
from reconciler.apply.run import apply_reviewed
from reconciler.apply.stopping import NOT_SENT, StopSignal
from reconciler.read_and_plan import plan_fleet
from tests.emulator_harness import is_write
from tests.integration.conftest import write_manifest
from tests.integration.test_apply import MANIFEST, NOW


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_stop_before_the_first_call_sends_nothing(tmp_path, connection, read_client, control):
    fleet = write_manifest(tmp_path / "orgs", MANIFEST)
    plan = plan_fleet(fleet, read_client, now=NOW)
    stop = StopSignal()
    stop.stop(128 + signal.SIGTERM)
    journal = tmp_path / "journal.jsonl"

    report = apply_reviewed(
        plan, fleet, connection, journal=Journal(journal), env={}, now=NOW, stop=stop
    )

    assert [r for r in control.requests() if is_write(r["route"])] == []
    outcomes = [o for org in report.orgs for o in org.outcomes]
    assert outcomes and {(o.status, o.detail) for o in outcomes} == {("not-sent", NOT_SENT)}
    assert report.exit_code == 143
    assert "0 failed, 0 skipped" in report.summary()
    assert f"{len(outcomes)} not sent. Interrupted (SIGTERM)" in report.summary()
    written = records(journal)
    assert not [r for r in written if r["event"] == "call"]
    assert written[-1]["event"] == "run-end" and written[-1]["exitCode"] == 143


def test_a_stop_during_apply_lets_the_call_made_stand(tmp_path, connection, read_client, control):
    fleet = write_manifest(tmp_path / "orgs", MANIFEST)
    plan = plan_fleet(fleet, read_client, now=NOW)
    stop = StopSignal()
    seen: list[tuple[str, str]] = []

    def progress(org_id, step, status, detail):
        seen.append((step.id, status))
        stop.stop()  # as Ctrl-C would, once the first call is answered

    report = apply_reviewed(
        plan,
        fleet,
        # One call at a time: nothing else is in flight when the stop comes.
        replace(connection, concurrency=1),
        journal=Journal(tmp_path / "journal.jsonl"),
        env={},
        now=NOW,
        progress=progress,
        stop=stop,
    )

    assert seen[0][1] == "done"
    assert {status for _, status in seen[1:]} == {"not-sent"}
    assert len([r for r in control.requests() if is_write(r["route"])]) == 1
    assert report.exit_code == 130
