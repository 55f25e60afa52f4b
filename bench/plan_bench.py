"""Plan orgs of synthetic members against the emulator: wall time, peak RSS, API calls.

Each size gets its own emulator (its own process, seeded from JSON) and several runs of
`dxorg plan`, each a fresh process. Reported per size: the wall time (median, min, max),
the peak RSS of the dxorg process, the API calls next to the minimum possible (every
find* paged at 1000; see `minimum_calls`), the CPU time the emulator process spent on
a run, and the per-member cost.

    .venv/bin/python bench/plan_bench.py --members 1000 10000 50000 [--runs 5]
    .venv/bin/python bench/plan_bench.py --orgs 100 --members 500 --concurrency 1 8 --latency-ms 0 50

`--concurrency N` is passed to `dxorg plan --concurrency N` (at most N API calls in
flight); `--latency-ms L` makes the emulator wait L ms before answering each API call,
as a distant platform would. Several values of each are all combined, on one emulator.
Targets (2-core machine): 10,000 members under 3 s median and 200 MB, calls = minimum;
50,000 under 15 s and 500 MB; 100 orgs of 500 members under 10 s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shlex
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    DXORG,
    cleanup,
    emulator_server,
    request_seconds,
    summarise,
    timed_rss,
    workdir,
)
from bench.synthetic import ADMINS, Drift, make_fleet


def drift_for(members: int) -> Drift:
    """1% of members change access; 0.1% (at least one) are invited and as many removed."""
    few = max(1, members // 1000)
    return Drift(access=members // 100, invites=few, removals=few)


def minimum_calls(orgs: int, members: int, invites: int) -> int:
    """The fewest API calls that can plan the fleet: each listing paged at 1000, and
    nothing per member except one describe per user to invite."""
    per_org = (
        1  # org describe
        + math.ceil((members + len(ADMINS)) / 1000)  # findMembers (plus the two bench admins)
        + math.ceil((members // 2) / 1000)  # findProjects
        + math.ceil(max(1, members // 20) / 1000)  # findApps
        + 1  # listDevelopers for the one app the self-grant names
        + invites  # user describe per user to invite: does the account exist at all?
    )
    return 1 + orgs * per_org  # + whoami


@dataclass
class PlanResult:
    orgs: int
    members: int  # per org
    concurrency: int | None  # None: dxorg's default
    latency_ms: int  # added by the emulator to every API call
    seconds: list[float]
    cpu_seconds: list[float]  # dxorg's own CPU time (user + system) in each run
    rss_mb: float
    calls: int
    minimum: int
    emulator_cpu: float  # median over the runs: CPU seconds the emulator process used
    actions: int
    seeded_in: float
    page_seconds: float  # one findMembers page of 1000, asked directly
    describe_seconds: float  # one org describe, asked directly

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_seconds)

    @property
    def total_members(self) -> int:
        return self.orgs * self.members

    @property
    def microseconds_per_member(self) -> float:
        return self.median / self.total_members * 1e6

    def report(self) -> str:
        knob = "default" if self.concurrency is None else str(self.concurrency)
        if self.latency_ms:
            knob += f", emulator latency {self.latency_ms} ms per call"
        flag = "" if self.calls == self.minimum else "  <-- above minimum"
        return "\n".join(
            [
                f"plan: {self.orgs} org(s) x {self.members} members, {self.members // 2} projects, "
                f"{max(1, self.members // 20)} apps each; --concurrency {knob}",
                f"  emulator seeded and up in {self.seeded_in:.1f} s",
                f"  actions planned: {self.actions}",
                f"  wall time (s), {len(self.seconds)} runs: {summarise(self.seconds)}",
                f"  dxorg CPU (s): {summarise(self.cpu_seconds)}",
                f"  per member: {self.microseconds_per_member:.0f} us",
                f"  peak RSS (MB): {self.rss_mb:.0f}",
                f"  API calls: {self.calls} (minimum possible {self.minimum}){flag}",
                f"  emulator alone: {self.emulator_cpu:.2f} s of its CPU per run; "
                f"{self.page_seconds * 1000:.1f} ms per findMembers page of 1000, "
                f"{self.describe_seconds * 1000:.1f} ms per org describe (asked directly)",
            ]
        )


def measure_plan(
    *,
    orgs: int,
    members: int,
    runs: int,
    concurrencies: Sequence[int | None] = (None,),
    latencies: Sequence[int] = (0,),
    dxorg: Sequence[str] = (DXORG,),
) -> list[PlanResult]:
    """Seed one emulator, then time `dxorg plan` `runs` times for each setting."""
    work = workdir("plan")
    try:
        drift = drift_for(members)
        fleet = make_fleet(orgs=orgs, members=members, drift=drift)
        seed_path, orgs_dir = fleet.write(work)
        results = []
        with emulator_server(work / "state.db", seed_path) as server:
            for latency_ms, concurrency in itertools.product(latencies, concurrencies):
                server.control("POST", "faults", {"rates": {}, "latencyMs": latency_ms})
                command = [*dxorg, "plan", str(orgs_dir), "--format", "json"]
                command += ["--out", str(work / "plan.json")]
                if concurrency is not None:
                    command += ["--concurrency", str(concurrency)]
                runs_done, calls, emulator_cpu = [], [], []
                for _ in range(runs):
                    server.clear()
                    cpu_before = server.cpu_seconds()
                    run = timed_rss(command, server.env())
                    if run.returncode != 0:
                        print(run.stdout.decode()[-2000:])
                        raise SystemExit(f"dxorg plan exited {run.returncode}")
                    emulator_cpu.append(server.cpu_seconds() - cpu_before)
                    runs_done.append(run)
                    calls.append(server.counters()["total"])
                plan = json.loads((work / "plan.json").read_text())
                if len(set(calls)) != 1:
                    raise SystemExit(f"API calls differ between runs: {calls}")
                page = {"limit": 1000, "describe": True}
                results.append(
                    PlanResult(
                        orgs=orgs,
                        members=members,
                        concurrency=concurrency,
                        latency_ms=latency_ms,
                        seconds=[r.seconds for r in runs_done],
                        cpu_seconds=[r.cpu_seconds for r in runs_done],
                        rss_mb=max(r.max_rss_mb for r in runs_done),
                        calls=calls[-1],
                        minimum=minimum_calls(orgs, members, drift.invites),
                        emulator_cpu=statistics.median(emulator_cpu),
                        actions=sum(len(o["actions"]) for o in plan["orgs"]),
                        seeded_in=server.started_in,
                        page_seconds=request_seconds(
                            server.url, "/org-bench0000/findMembers", page, 5
                        ),
                        describe_seconds=request_seconds(
                            server.url, "/org-bench0000/describe", {}, 20
                        ),
                    )
                )
        return results
    finally:
        cleanup(work)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, nargs="+", default=[10_000], help="per org")
    parser.add_argument("--orgs", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--concurrency", type=int, nargs="*", default=[], help="dxorg plan --concurrency values"
    )
    parser.add_argument(
        "--latency-ms", type=int, nargs="*", default=[0], help="emulator latency per call"
    )
    parser.add_argument(
        "--dxorg",
        default=DXORG,
        help="the command to time as `dxorg` (e.g. another checkout's, for a before/after)",
    )
    args = parser.parse_args()
    concurrencies: list[int | None] = list(args.concurrency) or [None]
    for members in args.members:
        for result in measure_plan(
            orgs=args.orgs,
            members=members,
            runs=args.runs,
            concurrencies=concurrencies,
            latencies=args.latency_ms,
            dxorg=shlex.split(args.dxorg),
        ):
            print(result.report(), flush=True)


if __name__ == "__main__":
    main()
