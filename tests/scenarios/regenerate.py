"""Rewrite the scenarios' text plans (and the one JSON plan kept as a format check) after an
intended change, for a person to review in the diff:

    .venv/bin/python -m tests.scenarios.regenerate

It is a script of its own so that no test run can write what it then compares with; it
refuses to run inside pytest. The structural expectations in test_scenarios.py are never
generated: they are written from what each scenario means.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from reconciler.plan_file import plan_to_json
from reconciler.render.text import render_text
from tests.scenarios.scenario import JSON_GOLDEN, SCENARIOS, plan_scenario


def main() -> int:
    if "PYTEST_CURRENT_TEST" in os.environ:  # set while pytest runs a test
        print("regenerate: refusing to run under pytest", file=sys.stderr)
        return 1
    home = Path.cwd()
    with tempfile.TemporaryDirectory() as scratch:
        for scenario in SCENARIOS:
            os.chdir(scenario)
            try:
                planned = plan_scenario(scenario, Path(scratch) / f"{scenario.name}.db")
                (scenario / "expected.txt").write_text(render_text(planned.plan))
                if scenario == JSON_GOLDEN.parent:
                    JSON_GOLDEN.write_text(json.dumps(plan_to_json(planned.plan), indent=2) + "\n")
                planned.emulator.close()
            finally:
                os.chdir(home)
            print(f"regenerated {scenario.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
