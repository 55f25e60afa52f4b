"""A stopped apply (SIGTERM, Ctrl-C) ends within two request deadlines, even on a silent
platform: the call in flight ends at its deadline, then the reads that follow
(verification, settling the call whose answer was lost) share one more deadline and are
never tried again. The call stays `unknown`, and says so.

Found by an adversarial review: after the stop, verification's reads retried against the
black-holed platform until the circuit breaker's outage limit (`DXORG_OUTAGE_SECONDS`,
120 s by default), far past a CI runner's grace before SIGKILL, where docs/reliability.md
promised at most one request deadline.

The platform is the served emulator with `hang` rules (accepted, never answered). The
invite is caught in flight by the emulator's latch (`held`), everything after it hangs
too, and the outage limit and retry budget are ten minutes: before the fix the test fails
on its `communicate` timeout, which only turns a hang into a failure.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.emulator_harness import EmulatorControl
from tests.integration.conftest import CONTROL_TOKEN
from tests.reliability.conftest import Served

DXORG = str(Path(sys.executable).parent / "dxorg")
DEADLINE = 2
HANG_LIMIT = 30.0


def test_sigterm_on_a_silent_platform_ends_within_two_request_deadlines(
    served: Served, tmp_path: Path
) -> None:
    orgs = tmp_path / "orgs"
    orgs.mkdir()
    (orgs / "org-demo.yaml").write_text(
        "org: org-demo\nmembers:\n  mode: additive\n  users:\n    alice: ADMIN\n    dave: MEMBER\n"
    )
    journal = tmp_path / "journal.jsonl"
    served.rule("/org-demo/invite", "hang")
    env = served.env(
        DXORG_REQUEST_DEADLINE_SECONDS=str(DEADLINE),
        DXORG_OUTAGE_SECONDS="600",
        DXORG_MAX_RETRY_SECONDS="600",
    )
    process = subprocess.Popen(
        [DXORG, "apply", str(orgs), "--auto-approve", "--journal", str(journal)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    control = EmulatorControl(url=served.url, token=CONTROL_TOKEN, timeout=60)
    try:
        give_up = time.monotonic() + 60
        while control.held() < 1:  # the latch: the invite has arrived and is in flight
            assert process.poll() is None and time.monotonic() < give_up, "no invite sent"
            time.sleep(0.01)
        last_seen = max(r["seq"] for r in served.requests())
        served.rule("*", "hang", count=1000)  # from now on the platform answers nothing
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=HANG_LIMIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        served.control.post("/faults/clear").raise_for_status()
    text = out + err
    assert process.returncode == 143, text
    assert "Traceback" not in text
    after = [r for r in served.requests() if r["seq"] > last_seen]
    # Nothing written after the signal, and no read tried twice.
    assert [r for r in after if r["route"] == "/org-demo/invite"] == []
    tried = Counter(r["route"] for r in after)
    assert all(n == 1 for n in tried.values()), tried
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    events = [r["event"] for r in records]
    assert "call-unknown" in events
    resolved = [r for r in records if r["event"] == "call-resolved"]
    # It could not be settled: it stays unknown, and is not called landed or not landed.
    assert [r["resolution"] for r in resolved] == ["unknown"]
    assert records[-1]["event"] == "run-end" and records[-1]["exitCode"] == 143
    assert "still unknown (verification could not read)" in text
