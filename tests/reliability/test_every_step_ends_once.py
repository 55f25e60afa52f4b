"""Every step of an apply's plan ends with exactly one terminal journal record.

A step that is not sent (a signal, an outage, the run's deadline) is `not-sent`, with its
reason; so is a step never sent because a step it depends on was not sent. `skip` is
left for steps whose dependency was sent and failed, and for the admin guard. Found by
an adversarial review: the dependants of a call refused after SIGTERM were journaled
`skip`, so the journal's count of calls not sent disagreed with what the run printed.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from reconciler.apply.journal import Journal
from reconciler.apply.run import apply_reviewed
from reconciler.apply.stopping import StopSignal
from reconciler.emulator import Emulator
from reconciler.manifest import load_fleet
from reconciler.plan import Step
from reconciler.platform import Connection, ReadClient
from reconciler.read_and_plan import plan_fleet
from tests.integration.conftest import FAST_RETRY, base_seed, config_for
from tests.reliability.conftest import CliRunner
from tests.reliability.test_refused_as_reviewed import ENV
from tests.reliability.test_refused_as_reviewed import Fleet as RefusedFleet

# Two accounts to create (each `/user/new`, then an invite that depends on it) and a
# member to invite, a phase later.
MANIFEST = """\
org: org-demo
members:
  mode: additive
  users:
    dave: MEMBER
provisioning:
  - {username: newa, email: newa@example.com, first: New, last: A}
  - {username: newb, email: newb@example.com, first: New, last: B}
"""
TERMINAL = ("call-done", "call-failed", "call-unknown", "not-sent", "skip")


def test_the_dependants_of_a_call_not_sent_are_not_sent_with_their_reason(
    tmp_path: Path,
) -> None:
    (tmp_path / "org-demo.yaml").write_text(MANIFEST)
    emulator = Emulator(seed=base_seed())
    fleet = load_fleet([tmp_path / "org-demo.yaml"])
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as reader:
        plan = plan_fleet(fleet, reader)
    (org,) = plan.orgs
    assert org.applyable, org.violations
    routes = sorted(s.call.route for s in org.steps)
    assert routes == ["/org-demo/invite"] * 3 + ["/user/new"] * 2, routes
    assert any(s.depends_on for s in org.steps)

    path = tmp_path / "journal.jsonl"
    stop = StopSignal()

    def sigterm_after_the_first_call(org_id: str, step: Step, status: str, detail: Any) -> None:
        # What the CLI's SIGTERM handler does, once the first call is done: one call at a
        # time, so the other `/user/new` is refused, and the invite that needs it with it.
        if status == "done":
            stop.stop(128 + signal.SIGTERM)

    report = apply_reviewed(
        plan,
        fleet,
        Connection(config_for(), transport=emulator.transport(), retry=FAST_RETRY, concurrency=1),
        journal=Journal(path),
        env={},
        progress=sigterm_after_the_first_call,
        stop=stop,
    )
    emulator.close()

    records = [json.loads(line) for line in path.read_text().splitlines()]
    ended: dict[str, list[str]] = {}
    for record in records:
        if record["event"] in TERMINAL:
            ended.setdefault(record["step"], []).append(record["event"])
    # Each step of the plan: exactly one terminal record.
    assert {s.id: len(ended.get(s.id, [])) for s in org.steps} == {s.id: 1 for s in org.steps}
    assert sorted(e for (e,) in ended.values()) == ["call-done"] + ["not-sent"] * 4, ended
    by_step = {r["step"]: r for r in records if r["event"] == "not-sent"}
    first_user_new = next(r["step"] for r in records if r["event"] == "call-done")
    needs_unsent = [
        s for s in org.steps if s.depends_on and s.depends_on[0] != first_user_new
    ]  # the invite of the account whose `/user/new` was refused
    (dependant,) = needs_unsent
    reason = by_step[dependant.id]["reason"]
    assert reason.startswith("not sent") and dependant.depends_on[0] in reason
    assert "depends on" in reason and by_step[dependant.id]["route"] == "/org-demo/invite"
    # The invite a phase later, never reached: not sent, for the signal.
    later = next(s for s in org.steps if s.phase == "invite")
    assert by_step[later.id]["reason"] == "not sent: interrupted"

    # The run's end record and the summary count the same: nothing skipped, 4 not sent.
    assert report.exit_code == 143
    summary = records[-1]["summary"]
    assert records[-1]["event"] == "run-end" and summary == report.summary()
    assert "0 failed, 0 skipped" in summary and "not sent" in summary
    # (The account made is not provisioned until its invite: each action has a call unsent.)
    assert sum(o.not_sent() for o in report.orgs) == len(org.actions)


def test_a_dependant_of_a_failed_call_is_still_a_skip(tmp_path: Path) -> None:
    """`skip` keeps its meaning: the step it needs was sent and failed."""
    (tmp_path / "org-demo.yaml").write_text(MANIFEST)
    emulator = Emulator(seed=base_seed())
    emulator.control.add_rule("/user/new", "500", count=100, retry_after=0)
    fleet = load_fleet([tmp_path / "org-demo.yaml"])
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as reader:
        plan = plan_fleet(fleet, reader)
    path = tmp_path / "journal.jsonl"
    apply_reviewed(
        plan,
        fleet,
        Connection(config_for(), transport=emulator.transport(), retry=FAST_RETRY),
        journal=Journal(path),
        env={},
    )
    emulator.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    skips = [r for r in records if r["event"] == "skip"]
    assert len(skips) == 2 and all("did not succeed" in r["reason"] for r in skips)
    assert not [r for r in records if r["event"] == "not-sent"]


class SignalAtTheFirstInvite(httpx.BaseTransport):
    """The emulator's transport; the first invite is where SIGTERM lands: after the call's
    record, during its first attempt (which the emulator refuses with a 503)."""

    def __init__(self, emulator: Emulator) -> None:
        self.inner = emulator.transport()
        self.on_first_invite: list[Callable[[], None]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/org-demo/invite" and self.on_first_invite:
            self.on_first_invite.pop()()
        return self.inner.handle_request(request)


def test_a_call_the_stop_catches_between_its_record_and_its_send_is_not_sent(
    tmp_path: Path,
) -> None:
    (tmp_path / "org-demo.yaml").write_text("org: org-demo\n" + MANIFEST.split("\n", 1)[1])
    emulator = Emulator(seed=base_seed())
    emulator.control.add_rule("/org-demo/invite", "503", count=1, retry_after=0)
    fleet = load_fleet([tmp_path / "org-demo.yaml"])
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as reader:
        plan = plan_fleet(fleet, reader)
    path = tmp_path / "journal.jsonl"
    stop = StopSignal()
    transport = SignalAtTheFirstInvite(emulator)
    connection = Connection(config_for(), transport=transport, retry=FAST_RETRY, concurrency=1)

    def sigterm() -> None:  # what the CLI's handler does
        stop.stop(128 + signal.SIGTERM)
        connection.health.stop_writes("interrupted")

    transport.on_first_invite.append(sigterm)
    report = apply_reviewed(plan, fleet, connection, journal=Journal(path), env={}, stop=stop)
    emulator.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    (first,) = [r["step"] for r in records if r["event"] == "call" and "invite" in r["route"]]
    events = [r for r in records if r.get("step") == first]
    assert [r["event"] for r in events] == ["call", "not-sent"], events
    assert events[1]["reason"].startswith("not sent") and events[1]["attempts"] == 1
    assert not [r for r in records if r["event"] == "call-failed"]
    assert report.exit_code == 143 and ", 0 failed," in report.summary()


def test_each_step_of_a_refused_org_ends_not_sent_with_the_refusal(
    tmp_path: Path, cli: CliRunner
) -> None:
    """An org refused by a rail (org-demo lists `zed`, who has no account) sends nothing;
    each of its steps still ends with one `not-sent` record saying why."""
    fleet = RefusedFleet(tmp_path)
    saved = tmp_path / "plan.json"
    planned = cli("plan", str(fleet.orgs), *fleet.args("--out", str(saved)), env=ENV)
    assert planned.code == 1, planned.text
    (demo,) = [o for o in json.loads(saved.read_text())["orgs"] if o["org"] == "org-demo"]
    steps = [s["id"] for s in demo["steps"]]
    assert steps
    applied = cli(
        "apply",
        *fleet.args("--plan", str(saved), "--auto-approve", "--journal", str(fleet.journal)),
        env=ENV,
    )
    assert applied.code == 1, applied.text
    records = [r for r in fleet.records() if r.get("org") == "org-demo"]
    ended: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record["event"] in TERMINAL:
            ended.setdefault(record["step"], []).append(record)
    assert sorted(ended) == sorted(steps)
    for step_id, (record, *more) in ended.items():
        assert not more, (step_id, more)
        assert record["event"] == "not-sent"
        assert record["reason"].startswith("org refused: ") and "user-zed" in record["reason"]
