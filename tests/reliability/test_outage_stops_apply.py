"""Issue 19, item 5: a platform that goes dark mid-apply stops the apply within a bound.

The emulator is black-holed (every call accepted, none answered) right after the first
write lands. With a 1 s outage limit and a 1 s request deadline, the documented bound is
max(outage, deadline) + deadline = 2 s after the platform's last answer: the apply must
have returned by then (plus a margin for a loaded machine), exit 1, say why, mark the
calls it never sent as skipped, and send nothing once the breaker opened.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from reconciler.apply.journal import Journal
from reconciler.apply.run import apply_reviewed
from reconciler.emulator import Emulator
from reconciler.manifest import load_fleet
from reconciler.plan import Step
from reconciler.platform import Connection, PlatformLimits, ReadClient, RetryPolicy, discover
from reconciler.read_and_plan import plan_fleet
from tests.integration.conftest import base_seed

NEWCOMERS = [f"user-n{i:02d}" for i in range(40)]
MARGIN = 3.0


def seed() -> dict[str, Any]:
    data = base_seed()
    for user in NEWCOMERS:
        name = user.removeprefix("user-")
        data["users"].append(
            {"id": user, "first": name, "last": "X", "email": f"{name}@example.com"}
        )
    return data


def test_a_black_holed_platform_stops_the_apply_within_the_bound(tmp_path: Path) -> None:
    users = "\n".join(f"    {u.removeprefix('user-')}: MEMBER" for u in NEWCOMERS)
    (tmp_path / "orgs").mkdir()
    (tmp_path / "orgs" / "org-demo.yaml").write_text(
        f"org: org-demo\nmembers:\n  mode: additive\n  users:\n    alice: ADMIN\n{users}\n"
    )
    fleet = load_fleet([tmp_path / "orgs"])
    emulator = Emulator(state_path=tmp_path / "state.db", seed=seed())
    limits = PlatformLimits(request_deadline=1, outage_seconds=1)
    bound = max(limits.outage_seconds, limits.request_deadline) + limits.request_deadline
    assert limits.outage_stop_bound == bound
    dark: list[float] = []

    def black_hole_after_the_first_write(org: str, step: Step, status: str, _: Any) -> None:
        if status == "done" and not dark:
            emulator.control.add_rule("*", "hang", count=1_000_000)
            dark.append(time.monotonic())

    with emulator.serve() as server:
        config = discover(
            env={
                "DX_APISERVER_PROTOCOL": "http",
                "DX_APISERVER_HOST": "127.0.0.1",
                "DX_APISERVER_PORT": str(server.port),
                "DX_SECURITY_CONTEXT": '{"auth_token_type":"Bearer","auth_token":"alice-token"}',
            },
            global_conf_dir=None,
        )
        with ReadClient(config) as reader:
            plan = plan_fleet(fleet, reader, env={})
        assert len(plan.orgs[0].actions) == len(NEWCOMERS)
        # A safety net only, so that a client without a breaker still ends: the hung
        # calls are let go long after the bound.
        safety_net = threading.Timer(bound + 3 * MARGIN, emulator.control.clear_faults)
        safety_net.start()
        try:
            report = apply_reviewed(
                plan,
                fleet,
                Connection(config, retry=RetryPolicy(max_attempts=3), limits=limits),
                journal=Journal(tmp_path / "journal.jsonl"),
                env={},
                progress=black_hole_after_the_first_write,
            )
            stopped = time.monotonic()
        finally:
            safety_net.cancel()
            emulator.control.clear_faults()
        calls = emulator.control.requests()
    emulator.close()

    assert dark, "no write landed before the black hole"
    assert stopped - dark[0] < bound + MARGIN, stopped - dark[0]
    assert report.exit_code == 1
    assert report.stopped and "platform outage" in report.stopped
    assert "Stopped: platform outage" in report.summary()
    assert "DXORG_OUTAGE_SECONDS" in report.summary()
    outcomes = [o for org in report.orgs for o in org.outcomes]
    skipped = [o for o in outcomes if o.status == "skipped"]
    assert skipped and all("not sent" in (o.detail or "") for o in skipped)
    assert sum(o.status == "done" for o in outcomes) >= 1

    # Nothing was sent after the breaker opened: the calls it marked "not sent" never
    # reached the platform, and all that did reach the dark platform were sent before:
    # at most one attempt per worker, and one retry each if the silence was not yet long.
    hung = [c for c in calls if c["fault"] == "hang"]
    assert 1 <= len(hung) <= 2 * 8
    arrived = {c["body"].get("invitee") for c in calls if c["route"] == "/org-demo/invite"}
    never_sent = {o.action_id.split("/")[2] for o in skipped}
    assert never_sent and not never_sent & arrived
    records = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    not_sent = [r for r in records if r["event"] == "not-sent"]
    assert len(not_sent) == len(skipped)
