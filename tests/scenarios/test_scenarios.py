"""Scenario folders: seed + manifests + the expected plan (text and JSON), walked by one test.

Each scenario plans against an in-process emulator seeded with its seed (or the shared
base seed), compares the plan with what was reviewed and committed, then applies it
and checks that planning again gives nothing. A scenario whose plan violates a safety
rail must be refused by apply instead, with nothing written.

To regenerate the expected files after an intended change, run with
DXORG_REGENERATE_SCENARIOS=1 and review the diff.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from deepdiff import DeepDiff

from reconciler.apply.journal import Journal
from reconciler.apply.run import apply_reviewed
from reconciler.emulator import Emulator
from reconciler.errors import UnsafePlanError
from reconciler.manifest import load_fleet
from reconciler.plan_file import plan_to_json
from reconciler.platform import ReadClient
from reconciler.read_and_plan import plan_fleet
from reconciler.render.text import render_text
from tests.integration.conftest import (
    CONTROL_TOKEN,
    FAST_RETRY,
    config_for,
    connection_to,
    is_write,
)

HERE = Path(__file__).parent
SCENARIOS = sorted(
    p
    for p in HERE.iterdir()
    if p.is_dir() and not p.name.startswith("_") and p.name != "__pycache__"
)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
REGENERATE = os.environ.get("DXORG_REGENERATE_SCENARIOS") == "1"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario(scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Manifests are loaded by a path relative to the scenario, so plans name "org-demo.yaml".
    monkeypatch.chdir(scenario)
    seed_path = (
        scenario / "seed.yaml" if (scenario / "seed.yaml").exists() else HERE / "base-seed.yaml"
    )
    env_path = scenario / "env.json"
    env = json.loads(env_path.read_text()) if env_path.exists() else {}
    emulator = Emulator(
        state_path=tmp_path / "state.db",
        seed=yaml.safe_load(seed_path.read_text()),
        control_token=CONTROL_TOKEN,
    )
    # The org manifests only (a scenario folder may also hold its seed.yaml).
    fleet = load_fleet(sorted(Path(".").glob("org-*.yaml")))
    transport = emulator.transport()
    with ReadClient(config_for(), transport=transport, retry=FAST_RETRY) as reader:
        plan = plan_fleet(fleet, reader, now=NOW, env=env)
    text = render_text(plan)
    data = plan_to_json(plan)

    if REGENERATE:
        (scenario / "expected.txt").write_text(text)
        (scenario / "expected.json").write_text(json.dumps(data, indent=2) + "\n")
    assert text == (scenario / "expected.txt").read_text()
    expected = json.loads((scenario / "expected.json").read_text())
    difference = DeepDiff(expected, data)
    assert not difference, difference.pretty()

    connection = connection_to(emulator)
    if not plan.applyable:
        with pytest.raises(UnsafePlanError):
            apply_reviewed(plan, fleet, connection, journal=Journal(None), env=env, now=NOW)
        assert not [r for r in _requests(emulator) if is_write(r["route"])]
        return
    report = apply_reviewed(
        plan, fleet, connection, journal=Journal(tmp_path / "j.jsonl"), env=env, now=NOW
    )
    # Drift dxorg does not change (an unrecorded expired grant) leaves an apply at exit 2.
    assert report.exit_code == (2 if plan.unresolved else 0), report
    with ReadClient(config_for(), transport=transport, retry=FAST_RETRY) as reader:
        again = plan_fleet(fleet, reader, now=NOW, env=env)
    assert not again.has_changes, render_text(again)


def _requests(emulator: Emulator) -> list[dict]:
    response = httpx.Client(transport=emulator.transport(), base_url="http://e").get(
        "/_emulator/requests", headers={"Authorization": f"Bearer {CONTROL_TOKEN}"}
    )
    return response.json()["requests"]
