"""The emulator's seed check on a big seed: fastjsonschema, jsonschema, and the hand-written
compiled validator they replaced (issue 14), each timed on the same data.

    .venv/bin/python bench/seed_check_bench.py [--members 50000] [--runs 5] [--jsonschema-runs 1]

The seed is the plan benchmark's one org of `--members` members (5 projects per 10
members, 1 app per 20), passed through JSON as `dxorg emulator serve --seed seed.json`
reads it. Each validator first compiles the seed schema (timed on its own), then says
"valid" on the seed `--runs` times; jsonschema, much slower, runs `--jsonschema-runs`
times. The hand-written validator is read from git at the last commit that had it, so
this runs only in a checkout with its history (it is skipped, saying so, elsewhere).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fastjsonschema
import jsonschema

from bench.plan_bench import drift_for
from bench.synthetic import make_fleet
from reconciler.emulator.seed import SCHEMA_PATH

REPO = Path(__file__).resolve().parents[1]
# The last commit with reconciler/emulator/compiled_schema.py, on main.
HAND_WRITTEN_AT = "3dd5f73"
HAND_WRITTEN_PATH = "reconciler/emulator/compiled_schema.py"

Check = Callable[[Any], bool]


def fastjsonschema_check(schema: dict[str, Any]) -> Check:
    validate = fastjsonschema.compile(schema, use_default=False)

    def check(data: Any) -> bool:
        try:
            validate(data)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    return check


def jsonschema_check(schema: dict[str, Any]) -> Check:
    return jsonschema.Draft202012Validator(schema).is_valid


def hand_written_check(schema: dict[str, Any]) -> Check | None:
    try:
        source = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{HAND_WRITTEN_AT}:{HAND_WRITTEN_PATH}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("compiled_schema")
    exec(compile(source, HAND_WRITTEN_PATH, "exec"), module.__dict__)
    check: Check = module.compile_schema(schema)
    return check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jsonschema-runs", type=int, default=1)
    args = parser.parse_args(argv)

    fleet = make_fleet(orgs=1, members=args.members, drift=drift_for(args.members))
    seed = json.loads(json.dumps(fleet.seed))
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    print(
        f"seed: 1 org of {args.members:,} members, {len(seed['projects']):,} projects, "
        f"{len(seed['apps']):,} apps, {len(seed['users']):,} users"
    )

    makers: list[tuple[str, Callable[[dict[str, Any]], Check | None], int]] = [
        (f"hand-written compiled_schema.py (at {HAND_WRITTEN_AT})", hand_written_check, args.runs),
        (f"fastjsonschema {fastjsonschema.VERSION}", fastjsonschema_check, args.runs),
        (
            f"jsonschema {jsonschema_version()} Draft202012Validator.is_valid",
            jsonschema_check,
            args.jsonschema_runs,
        ),
    ]
    print()
    print("| validator | compile | check, median (min-max) | runs | says |")
    print("|---|---:|---|---:|---|")
    for name, make, runs in makers:
        start = time.perf_counter()
        check = make(schema)
        compile_seconds = time.perf_counter() - start
        if check is None:
            print(f"| {name} | - | not measured: no git history here | 0 | - |")
            continue
        times: list[float] = []
        verdicts: set[bool] = set()
        for _ in range(runs):
            start = time.perf_counter()
            verdicts.add(check(seed))
            times.append(time.perf_counter() - start)
        says = "valid" if verdicts == {True} else f"{sorted(verdicts)}"
        print(
            f"| {name} | {compile_seconds * 1000:.0f} ms | {statistics.median(times):.3f} s "
            f"({min(times):.3f}-{max(times):.3f}) | {runs} | {says} |"
        )
    return 0


def jsonschema_version() -> str:
    from importlib.metadata import version

    return version("jsonschema")


if __name__ == "__main__":
    sys.exit(main())
