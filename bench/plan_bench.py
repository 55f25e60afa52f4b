"""Plan one org (default 10,000 members, 5,000 projects, 500 apps) against the emulator.

Prints the wall time (median of several runs of `dxorg plan`, a fresh process each),
the peak RSS of that process, and the API calls it made next to the minimum possible
(every find* paged at 1000, no per-member calls). The emulator runs in its own
process; its own cost per request is printed separately.

    .venv/bin/python bench/plan_bench.py [--members 10000] [--orgs 1] [--runs 5]

Targets (2-core machine): 10,000 members under 3 s median and 200 MB; calls = minimum.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import BIN, cleanup, emulator_server, summarise, timed_rss, workdir
from bench.synthetic import Drift, make_fleet


def minimum_calls(orgs: int, members: int, invites: int) -> int:
    per_org = (
        1  # org describe
        + math.ceil((members + 2) / 1000)  # findMembers (plus the two bench admins)
        + math.ceil((members // 2) / 1000)  # findProjects
        + math.ceil(max(1, members // 20) / 1000)  # findApps
        + 1  # listDevelopers for the one app the self-grant names
        + invites  # user describe per user to invite: does the account exist at all?
    )
    return 1 + orgs * per_org  # + whoami


def emulator_cost(url: str, org: str, pages: int) -> float:
    """Mean seconds per findMembers page, asked directly: the emulator's own share."""
    headers = {"Authorization": "Bearer bench-token"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        start = time.perf_counter()
        starting = None
        for _ in range(pages):
            body: dict[str, object] = {"limit": 1000, "describe": True}
            if starting is not None:
                body["starting"] = starting
            starting = client.post(f"/{org}/findMembers", json=body).json()["next"]
            if starting is None:
                break
        return (time.perf_counter() - start) / pages


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--orgs", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    work = workdir("plan")
    try:
        drift = Drift(access=0.01, invites=10, removals=10)
        fleet = make_fleet(orgs=args.orgs, members=args.members, drift=drift)
        seed_path, orgs_dir = fleet.write(work)
        started = time.perf_counter()
        with emulator_server(work / "state.db", seed_path) as server:
            print(f"emulator seeded and up in {time.perf_counter() - started:.1f} s")
            command = [
                str(BIN / "dxorg"),
                "plan",
                str(orgs_dir),
                "--format",
                "json",
                "--out",
                str(work / "plan.json"),
            ]
            runs = []
            calls = []
            for _ in range(args.runs):
                server.clear()
                run = timed_rss(command, server.env())
                if run.returncode != 0:
                    print(run.stdout.decode()[-2000:])
                    raise SystemExit(f"dxorg plan exited {run.returncode}")
                runs.append(run)
                calls.append(server.counters()["total"])
            plan = json.loads((work / "plan.json").read_text())
            pages = math.ceil((args.members + 2) / 1000)
            per_request = emulator_cost(server.url, "org-bench0000", pages)
        minimum = minimum_calls(args.orgs, args.members, drift.invites)
        print(
            f"plan: {args.orgs} org(s) x {args.members} members, {args.members // 2} projects, {max(1, args.members // 20)} apps each"
        )
        print(f"  actions planned: {sum(len(o['actions']) for o in plan['orgs'])}")
        print(f"  wall time (s): {summarise([r.seconds for r in runs])}")
        print(f"  peak RSS (MB): {max(r.max_rss_mb for r in runs):.0f}")
        print(
            f"  API calls: {calls[-1]} (minimum possible {minimum}){'' if calls[-1] == minimum else '  <-- above minimum'}"
        )
        print(
            f"  emulator alone: {per_request * 1000:.1f} ms per findMembers page of 1000 (x{pages} pages = {per_request * pages:.2f} s of the wall time)"
        )
    finally:
        cleanup(work)


if __name__ == "__main__":
    main()
