"""What the review showed refused stays refused, whatever the platform says at apply.

Found by an adversarial review: a saved plan showed org-demo refused by a rail (a listed
user with no account: `applyable: false`, "cannot be applied"); the user then signed up,
and `apply --plan FILE` (what the Action runs on merge) wrote all of org-demo's calls and
said "converged", because apply decided what to refuse from the fresh plan only. The
same in the interactive path: the prompt said "org-demo: refused ... nothing will be
written to it" and counted 6 calls; the user signed up while it was open; after `yes`,
23 calls were made. The verdict is part of what was reviewed: an org the review refused
is never written by that apply, and a plan that could not be applied at all stays so.

The example fleet (org-demo, org-clinical) on the demo seed, in the embedded sandbox.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.commands.apply import ApplyRequest, apply
from reconciler.commands.platform import PlatformRequest
from reconciler.commands.validate import Manifests
from reconciler.emulator import Emulator
from reconciler.plan import Plan
from reconciler.sandbox import demo_seed_file
from tests.reliability.conftest import CliRunner

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "orgs"
ENV = {"SPLUNK_HEC_TOKEN": "demo-hec-token", "NO_COLOR": "1", "COLUMNS": "200"}
FRANK = "    frank: {level: MEMBER, allowBillableActivities: true}\n"


class Fleet:
    """The example fleet, org-demo listing `zed`, who has no account yet: a rail."""

    def __init__(self, root: Path) -> None:
        self.orgs = root / "orgs"
        shutil.copytree(EXAMPLES, self.orgs)
        demo = self.orgs / "org-demo.yaml"
        assert FRANK in demo.read_text()
        demo.write_text(demo.read_text().replace(FRANK, FRANK + "    zed: MEMBER\n"))
        self.state = root / "sandbox.db"
        self.journal = root / "state" / "journal.jsonl"
        with demo_seed_file() as seed:
            Emulator(state_path=self.state, seed=seed).close()

    def args(self, *more: str) -> list[str]:
        return [*more, "--sandbox", "--sandbox-state", str(self.state)]

    def zed_signs_up(self) -> None:
        emulator = Emulator(state_path=self.state)
        with httpx.Client(
            transport=emulator.transport(),
            base_url="http://sandbox.invalid",
            headers={"Authorization": "Bearer bob-token"},
        ) as zed:
            zed.post(
                "/user/new",
                json={"username": "zed", "email": "z@x.example", "first": "Z", "last": "Z"},
            ).raise_for_status()
        emulator.close()

    def org(self, org_id: str) -> dict[str, Any]:
        emulator = Emulator(state_path=self.state)
        try:
            return next(o for o in emulator.control.state()["orgs"] if o["id"] == org_id)
        finally:
            emulator.close()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.journal.read_text().splitlines()]


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return Fleet(tmp_path)


def test_an_org_the_saved_plan_refused_is_not_written_once_its_rail_holds(
    fleet: Fleet, cli: CliRunner, tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    planned = cli("plan", str(fleet.orgs), *fleet.args("--out", str(saved)), env=ENV)
    assert planned.code == 1, planned.text
    assert "cannot be applied (org-demo)" in planned.out
    fleet.zed_signs_up()
    before = fleet.org("org-demo")

    applied = cli(
        "apply",
        *fleet.args("--plan", str(saved), "--auto-approve", "--journal", str(fleet.journal)),
        env=ENV,
    )
    assert applied.code == 1, applied.text
    assert fleet.org("org-demo") == before
    assert "org-demo: refused, nothing was written to it: refused in the reviewed plan:" in (
        applied.err
    )
    assert "user-zed" in applied.err
    assert "Verified: converged" not in applied.out
    records = fleet.records()
    assert not [r for r in records if r.get("org") == "org-demo" and r["event"].startswith("call")]
    (refusal,) = [r for r in records if r["event"] == "org-refused"]
    assert refusal["reason"].startswith("refused in the reviewed plan")
    # The other org is applied.
    assert any(r["event"] == "call-done" and r["org"] == "org-clinical" for r in records)


def test_a_saved_plan_that_could_not_be_applied_at_all_stays_so(
    fleet: Fleet, cli: CliRunner, tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    planned = cli(
        "plan", str(fleet.orgs), *fleet.args("--org", "org-demo", "--out", str(saved)), env=ENV
    )
    assert planned.code == 1, planned.text
    assert json.loads(saved.read_text())["applyable"] is False
    fleet.zed_signs_up()
    before = fleet.org("org-demo")

    applied = cli(
        "apply",
        *fleet.args("--plan", str(saved), "--auto-approve", "--journal", str(fleet.journal)),
        env=ENV,
    )
    assert applied.code == 1, applied.text
    assert "the plan cannot be applied" in applied.err
    assert "org-demo: refused in the reviewed plan:" in applied.err
    assert fleet.org("org-demo") == before
    assert not [r for r in fleet.records() if r["event"].startswith("call")]


def test_what_the_prompt_showed_refused_stays_refused_after_yes(fleet: Fleet) -> None:
    """The interactive path: the user signs up while the prompt is open (the confirmation
    is where the person would type `yes`)."""
    shown: dict[str, tuple[str, ...]] = {}
    prompted: list[int] = []
    made: list[str] = []

    def confirm(asked: Plan) -> None:
        prompted.append(sum(len(o.steps) for o in asked.orgs))
        fleet.zed_signs_up()

    before = fleet.org("org-demo")
    platform = PlatformRequest(env=ENV, sandbox=True, sandbox_state=fleet.state)
    manifests = Manifests(tuple(sorted(fleet.orgs.glob("org-*.yaml"))))
    applied = apply(
        ApplyRequest(
            manifests,
            platform,
            manifests.root_for(platform),
            journal=fleet.journal,
            on_refused=shown.update,
            confirm=confirm,
            progress=lambda plan: _recording(made),
        )
    )
    assert list(shown) == ["org-demo"]
    assert prompted and prompted[0] > 0
    assert applied.outcome is not None
    assert fleet.org("org-demo") == before
    assert not [org for org in made if org == "org-demo"]
    assert len(made) <= prompted[0]
    (refused,) = [o for o in applied.outcome.orgs if o.refused]
    assert refused.org_id == "org-demo" and applied.outcome.exit_code == 1


class _recording:
    """A progress hook that notes the org of each call sent."""

    def __init__(self, made: list[str]) -> None:
        self.made = made

    def __enter__(self) -> Any:
        def hook(org_id: str, step: Any, status: str, detail: str | None) -> None:
            if status == "done":
                self.made.append(org_id)

        return hook

    def __exit__(self, *exc: object) -> None:
        return None
