"""Apply member access changes with dxorg, and the same changes with a loop of `dx` commands.

Both run against the same emulator (its own process), from the same seeded state, in
one run of this script. Prints both wall times, their ratio and both API call counts.

    .venv/bin/python bench/apply_bench.py [--changes 1000] [--dx-sample N]

`--dx-sample N` times only N of the `dx update member` commands and extrapolates
(the full loop takes minutes); the output says when it did.
Target: dxorg at least 100 times faster; no more setMemberAccess calls than batching needs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import BIN, cleanup, emulator_server, timed_rss, workdir
from bench.synthetic import Drift, make_fleet


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument(
        "--dx-sample", type=int, default=0, help="time only this many dx commands (0: all)"
    )
    args = parser.parse_args()

    work = workdir("apply")
    try:
        fleet = make_fleet(members=args.changes, drift=Drift(access=1.0), self_grants=False)
        seed_path, orgs_dir = fleet.write(work)
        with emulator_server(work / "state.db", seed_path) as server:
            env = server.env()
            plan_file = work / "plan.json"
            plan_run = timed_rss(
                [
                    str(BIN / "dxorg"),
                    "plan",
                    str(orgs_dir),
                    "--out",
                    str(plan_file),
                    "--format",
                    "json",
                ],
                env,
            )
            assert plan_run.returncode == 0, plan_run.stdout.decode()[-2000:]
            plan = json.loads(plan_file.read_text())
            steps = plan["orgs"][0]["steps"]
            changes = [(user, spec) for s in steps for user, spec in s["call"]["body"].items()]
            assert len(changes) == args.changes, len(changes)

            server.clear()
            run = timed_rss(
                [
                    str(BIN / "dxorg"),
                    "apply",
                    "--plan",
                    str(plan_file),
                    "--auto-approve",
                    "--journal",
                    str(work / "journal.jsonl"),
                ],
                env,
            )
            assert run.returncode == 0, run.stdout.decode()[-3000:]
            counters = server.counters()
            dxorg_calls = counters["total"]
            set_member_access = counters["byRoute"].get("/org-bench0000/setMemberAccess", 0)

            # Same starting state for the dx loop.
            server.control("POST", "reset", {"seed": fleet.seed})
            server.clear()
            sample = changes[: args.dx_sample] if args.dx_sample else changes
            started = time.perf_counter()
            for user, spec in sample:
                command = [
                    str(BIN / "dx"),
                    "update",
                    "member",
                    "org-bench0000",
                    user,
                    "--level",
                    "MEMBER",
                    "--project-access",
                    spec["projectAccess"],
                ]
                result = timed_rss(command, env)
                assert result.returncode == 0, result.stdout.decode()[-1000:]
            dx_seconds = time.perf_counter() - started
            dx_calls = server.counters()["total"]
        extrapolated = len(sample) < len(changes)
        scale = len(changes) / len(sample)
        dx_total = dx_seconds * scale
        batches = math.ceil(args.changes / 1000)
        print(f"apply: {args.changes} member access changes in org-bench0000")
        print(
            f"  dxorg apply --plan: {run.seconds:.2f} s, {dxorg_calls} API calls, {set_member_access} setMemberAccess (batching needs {batches}), peak RSS {run.max_rss_mb:.0f} MB"
        )
        print(
            f"  dx update member loop: {dx_total:.1f} s, {int(dx_calls * scale)} API calls"
            + (f" (extrapolated from {len(sample)} commands)" if extrapolated else "")
        )
        print(f"  ratio: dxorg is {dx_total / run.seconds:.0f}x faster")
    finally:
        cleanup(work)


if __name__ == "__main__":
    main()
