"""One org whose plan breaks a rail is refused on its own; the fleet's other orgs apply.

Found by an adversarial review: a provisioning entry dxorg cannot prove (here a stranger
registered the username first; a `kill -9` while `/user/new` is out leaves the same)
made `dxorg apply` refuse the whole fleet, so another org's expired self-grant was never
revoked, for as long as nobody resolved the first org. Now that org is refused with its
reason and nothing is written to it, the others proceed, and the exit code is 1.

Rails that are about the whole run (a plan file from another platform or user, changed
manifests, a stale plan) still refuse everything.

The example fleet (org-demo, org-clinical) on the demo seed, in the embedded sandbox.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulator import Emulator
from reconciler.sandbox import demo_seed_file
from tests.reliability.conftest import CliRunner

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "orgs"
# org-clinical's self-grant on this project expired on 2026-06-30: it must be revoked.
TRIAL_SEQUENCING = "trial_sequencing"
# org-demo's, expired on 2026-09-30: org-demo is refused, so it stays (nothing written).
CLINICAL_TRIAL_DATA = "clinical_trial_data"


class Fleet:
    def __init__(self, root: Path) -> None:
        self.orgs = root / "orgs"
        shutil.copytree(EXAMPLES, self.orgs)
        self.state = root / "sandbox.db"
        self.journal = root / "state" / "journal.jsonl"
        with demo_seed_file() as seed:
            Emulator(state_path=self.state, seed=seed).close()
        # A stranger (bob, signing up) takes the username org-demo's provisioning entry asks for.
        emulator = Emulator(state_path=self.state)
        with httpx.Client(
            transport=emulator.transport(),
            base_url="http://sandbox.invalid",
            headers={"Authorization": "Bearer bob-token"},
        ) as bob:
            bob.post(
                "/user/new",
                json={
                    "username": "erin",
                    "email": "mallory@evil.example",
                    "first": "E",
                    "last": "L",
                },
            ).raise_for_status()
        emulator.close()

    def args(self, *more: str) -> list[str]:
        return [*more, "--sandbox", "--sandbox-state", str(self.state)]

    def state_now(self) -> dict[str, Any]:
        emulator = Emulator(state_path=self.state)
        try:
            return dict(emulator.control.state())
        finally:
            emulator.close()

    def alice_on(self, project: str) -> str | None:
        (found,) = [p for p in self.state_now()["projects"] if p["name"] == project]
        return found.get("permissions", {}).get("user-alice")

    def org(self, org_id: str) -> dict[str, Any]:
        return next(o for o in self.state_now()["orgs"] if o["id"] == org_id)

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.journal.read_text().splitlines()]


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return Fleet(tmp_path)


ENV = {"SPLUNK_HEC_TOKEN": "demo-hec-token", "NO_COLOR": "1", "COLUMNS": "200"}


def check_org_demo_refused_and_org_clinical_applied(
    fleet: Fleet, run: Any, demo_before: dict[str, Any]
) -> None:
    assert run.code == 1, run.text
    assert "org-demo: refused, nothing was written to it" in run.err
    assert "provisioning: user-erin" in run.err
    assert "1 org(s) refused, nothing written to them (safety rails): org-demo." in run.out
    # org-clinical: applied, its expired grant revoked.
    assert fleet.alice_on(TRIAL_SEQUENCING) is None
    # org-demo: nothing written (its expired grant, its members, the stranger uninvited).
    assert fleet.alice_on(CLINICAL_TRIAL_DATA) == "ADMINISTER"
    assert fleet.org("org-demo") == demo_before
    records = fleet.records()
    assert not [r for r in records if r.get("org") == "org-demo" and r["event"].startswith("call")]
    (refusal,) = [r for r in records if r["event"] == "org-refused"]
    assert refusal["org"] == "org-demo"
    assert [v.split(":")[0] for v in refusal["violations"]] == ["provisioning"]
    assert any(r["event"] == "call-done" and r["org"] == "org-clinical" for r in records)
    end = records[-1]
    assert end["event"] == "run-end" and end["exitCode"] == 1
    assert "refused" in end["summary"] and "org-demo" in end["summary"]


def test_apply_refuses_the_org_that_breaks_a_rail_and_applies_the_others(
    fleet: Fleet, cli: CliRunner
) -> None:
    demo_before = fleet.org("org-demo")
    planned = cli("plan", str(fleet.orgs), *fleet.args(), env=ENV)
    # plan says the same: org-demo cannot be applied, the others can; still exit 1.
    assert planned.code == 1, planned.text
    assert "1 org(s) violate safety rails and cannot be applied (org-demo)" in planned.out
    assert "apply makes the other orgs' changes" in planned.out

    applied = cli(
        "apply",
        str(fleet.orgs),
        *fleet.args("--auto-approve", "--journal", str(fleet.journal)),
        env=ENV,
    )
    check_org_demo_refused_and_org_clinical_applied(fleet, applied, demo_before)
    # Shown before anything was sent, too.
    assert "org-demo: refused: its plan breaks safety rails" in applied.err


def test_apply_of_a_saved_plan_refuses_the_org_that_breaks_a_rail_and_applies_the_others(
    fleet: Fleet, cli: CliRunner, tmp_path: Path
) -> None:
    demo_before = fleet.org("org-demo")
    saved = tmp_path / "plan.json"
    planned = cli("plan", str(fleet.orgs), *fleet.args("--out", str(saved)), env=ENV)
    assert planned.code == 1 and saved.is_file(), planned.text
    applied = cli(
        "apply",
        *fleet.args("--plan", str(saved), "--auto-approve", "--journal", str(fleet.journal)),
        env=ENV,
    )
    check_org_demo_refused_and_org_clinical_applied(fleet, applied, demo_before)


def test_a_rail_about_the_whole_run_still_refuses_every_org(
    fleet: Fleet, cli: CliRunner, tmp_path: Path
) -> None:
    """A manifest changed since the plan (org-clinical's, the org with no violation):
    nothing is applied anywhere, org-demo's refusal notwithstanding."""
    before = fleet.state_now()
    saved = tmp_path / "plan.json"
    cli("plan", str(fleet.orgs), *fleet.args("--out", str(saved)), env=ENV)
    with (fleet.orgs / "org-clinical.yaml").open("a") as manifest:
        manifest.write("# edited after the plan\n")
    applied = cli(
        "apply",
        *fleet.args("--plan", str(saved), "--auto-approve", "--journal", str(fleet.journal)),
        env=ENV,
    )
    assert applied.code == 1, applied.text
    assert "the manifests are not the ones the plan was made from" in applied.err
    assert fleet.state_now()["orgs"] == before["orgs"]
    assert fleet.alice_on(TRIAL_SEQUENCING) == "ADMINISTER"


def test_when_every_org_with_changes_is_refused_nothing_is_applied(
    fleet: Fleet, cli: CliRunner
) -> None:
    """Only org-demo asked for: the refusal is the whole apply's, as before."""
    before = fleet.org("org-demo")
    applied = cli(
        "apply",
        str(fleet.orgs),
        *fleet.args("--org", "org-demo", "--auto-approve", "--journal", str(fleet.journal)),
        env=ENV,
    )
    assert applied.code == 1, applied.text
    assert "the plan cannot be applied" in applied.err and "org-demo: provisioning" in applied.err
    assert fleet.org("org-demo") == before
