"""Planning one scenario folder against an in-process emulator seeded with its seed (or the
shared base seed): shared by the scenario test and the script that rewrites its text plans."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from reconciler.emulator import Emulator
from reconciler.manifest import Fleet, load_fleet
from reconciler.plan import Plan
from reconciler.platform import ReadClient
from reconciler.read_and_plan import plan_fleet
from tests.integration.conftest import CONTROL_TOKEN, FAST_RETRY, config_for

HERE = Path(__file__).parent
SCENARIOS = sorted(
    p
    for p in HERE.iterdir()
    if p.is_dir() and not p.name.startswith("_") and p.name != "__pycache__"
)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# The one scenario whose JSON plan is kept, as a check of the plan file's format.
JSON_GOLDEN = HERE / "permission-flags" / "expected.json"


@dataclass
class Planned:
    plan: Plan
    fleet: Fleet
    emulator: Emulator
    env: dict[str, str]

    def plan_again(self) -> Plan:
        return plan_now(self.fleet, self.emulator, self.env)


def plan_now(fleet: Fleet, emulator: Emulator, env: dict[str, str]) -> Plan:
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as reader:
        return plan_fleet(fleet, reader, now=NOW, env=env)


def plan_scenario(scenario: Path, state: Path) -> Planned:
    """Plan `scenario` (the working directory must be the scenario folder: manifests are
    loaded by a relative path, so plans name "org-demo.yaml")."""
    seed_path = (
        scenario / "seed.yaml" if (scenario / "seed.yaml").exists() else HERE / "base-seed.yaml"
    )
    env_path = scenario / "env.json"
    env = json.loads(env_path.read_text()) if env_path.exists() else {}
    emulator = Emulator(
        state_path=state, seed=yaml.safe_load(seed_path.read_text()), control_token=CONTROL_TOKEN
    )
    # The org manifests only (a scenario folder may also hold its seed.yaml).
    fleet = load_fleet(sorted(Path(".").glob("org-*.yaml")))
    return Planned(plan_now(fleet, emulator, env), fleet, emulator, env)
