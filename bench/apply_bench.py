"""Apply member changes with dxorg, and the same changes with a loop of `dx` commands.

One org of 1,200 members plus 200 users to invite; the manifest changes the
projectAccess of 1,000 members, invites the 200 and removes 200 members (its removal
budget is unlimited, so the plan is applyable). Both sides run against the same
emulator (its own process), from the same seeded state, in one run of this script:

- dxorg: `dxorg plan --out plan.json`, then `dxorg apply --plan plan.json --auto-approve`
  (which re-reads the org to refuse a stale plan, applies, and re-reads to verify);
- dx: `dx update member` per access change, `dx add member` per invite and
  `dx remove member -y` per removal: 1,400 process launches.

Prints both wall times, their ratio and both API call counts. `--dx-sample N` times only
N commands of each kind and extrapolates (the full loop takes minutes); the output says so.
After a full loop the org's members must be exactly as dxorg left them.

    .venv/bin/python bench/apply_bench.py [--access 1000 --invites 200 --removals 200] [--dx-sample N]

Target: dxorg at least 100 times faster than the dx loop.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import DX, DXORG, Server, cleanup, emulator_server, timed_rss, workdir
from bench.synthetic import Drift, OrgChanges, make_fleet

ORG = "org-bench0000"
UNCHANGED_MEMBERS = 200  # members the manifest leaves as they are


@dataclass
class DxLoop:
    commands: int  # the loop's full length
    timed: int  # how many of them were run and timed
    seconds: float  # the full loop's (extrapolated when timed < commands)
    calls: int  # API calls of the full loop (extrapolated likewise)
    median_command: float  # seconds per `dx` launch

    @property
    def extrapolated(self) -> bool:
        return self.timed < self.commands


@dataclass
class ApplyResult:
    access: int
    invites: int
    removals: int
    plan_seconds: float
    apply_seconds: float
    apply_cpu: float  # dxorg apply's own CPU time
    apply_rss_mb: float
    apply_calls: int
    apply_by_method: dict[str, int]
    emulator_cpu: float  # CPU seconds the emulator spent on dxorg's apply
    dx: DxLoop
    same_end_state: bool | None  # the org's members after dx = after dxorg; None: sampled

    @property
    def ratio(self) -> float:
        return self.dx.seconds / self.apply_seconds

    def report(self) -> str:
        methods = ", ".join(f"{n} {m}" for m, n in sorted(self.apply_by_method.items()))
        sampled = (
            f" (extrapolated from {self.dx.timed} of {self.dx.commands} commands)"
            if self.dx.extrapolated
            else ""
        )
        check = {
            None: "not checked (sampled loop)",
            True: "yes, member for member",
            False: "NO: the members differ",
        }[self.same_end_state]
        return "\n".join(
            [
                f"apply: {self.access} access changes, {self.invites} invites, "
                f"{self.removals} removals in {ORG}",
                f"  dxorg plan --out: {self.plan_seconds:.2f} s",
                f"  dxorg apply --plan: {self.apply_seconds:.2f} s ({self.apply_cpu:.2f} s CPU), "
                f"{self.apply_calls} API calls "
                f"({methods}), peak RSS {self.apply_rss_mb:.0f} MB; "
                f"emulator CPU {self.emulator_cpu:.2f} s",
                f"  dx loop: {self.dx.seconds:.1f} s, {self.dx.calls} API calls, "
                f"{self.dx.median_command:.2f} s per dx command{sampled}",
                f"  ratio: dxorg apply is {self.ratio:.0f}x faster than the dx loop",
                f"  same end state after the dx loop: {check}",
            ]
        )


def org_members(server: Server) -> dict[str, object]:
    state = server.control("GET", "state")
    return next(org["members"] for org in state["orgs"] if org["id"] == ORG)


def dx_commands(changes: OrgChanges) -> dict[str, list[list[str]]]:
    """The `dx` command lines that make the same changes, by kind."""
    update = [
        [DX, "update", "member", ORG, user, "--level", "MEMBER", "--project-access", access]
        for user, access in changes.access.items()
    ]
    add = [
        [DX, "add", "member", ORG, user, "--level", "MEMBER", "--project-access", access]
        for user, access in changes.invites.items()
    ]
    remove = [[DX, "remove", "member", ORG, user, "-y"] for user in changes.removals]
    return {"update member": update, "add member": add, "remove member": remove}


def run_dx_loop(server: Server, changes: OrgChanges, sample: int) -> DxLoop:
    """Run the loop (or `sample` commands of each kind) and scale each kind to its full count."""
    env = server.env()
    server.clear()
    total_seconds, total_calls, total, timed = 0.0, 0.0, 0, 0
    launches: list[float] = []
    for kind, commands in dx_commands(changes).items():
        chosen = commands[:sample] if sample else commands
        calls_before = server.counters()["total"]
        started = time.perf_counter()
        for command in chosen:
            result = timed_rss(command, env)
            if result.returncode != 0:
                raise SystemExit(f"dx {kind} failed: {result.stdout.decode()[-1000:]}")
            launches.append(result.seconds)
        seconds = time.perf_counter() - started
        calls = server.counters()["total"] - calls_before
        scale = len(commands) / len(chosen) if chosen else 0.0
        total_seconds += seconds * scale
        total_calls += calls * scale
        total += len(commands)
        timed += len(chosen)
    return DxLoop(
        commands=total,
        timed=timed,
        seconds=total_seconds,
        calls=round(total_calls),
        median_command=statistics.median(launches),
    )


def measure_apply(*, access: int, invites: int, removals: int, dx_sample: int) -> ApplyResult:
    work = workdir("apply")
    try:
        members = access + removals + UNCHANGED_MEMBERS
        drift = Drift(access=access, invites=invites, removals=removals)
        fleet = make_fleet(members=members, drift=drift, self_grants=False)
        changes = fleet.changes[ORG]
        seed_path, orgs_dir = fleet.write(work)
        plan_file = work / "plan.json"
        plan_command = [DXORG, "plan", str(orgs_dir), "--out", str(plan_file), "--format", "json"]
        with emulator_server(work / "state.db", seed_path) as server:
            env = server.env()
            plan_run = timed_rss(plan_command, env)
            if plan_run.returncode != 0:
                raise SystemExit(f"dxorg plan failed: {plan_run.stdout.decode()[-2000:]}")
            plan = json.loads(plan_file.read_text())
            kinds = [a["kind"] for o in plan["orgs"] for a in o["actions"]]
            expected = {"update-access": access, "invite-member": invites}
            expected["remove-member"] = removals
            found = {kind: kinds.count(kind) for kind in expected}
            if found != expected or not plan["applyable"]:
                raise SystemExit(f"unexpected plan: {found}, applyable {plan['applyable']}")

            server.clear()
            cpu_before = server.cpu_seconds()
            journal = work / "journal.jsonl"
            apply_command = [DXORG, "apply", "--plan", str(plan_file), "--auto-approve"]
            run = timed_rss([*apply_command, "--journal", str(journal)], env)
            emulator_cpu = server.cpu_seconds() - cpu_before
            if run.returncode != 0:
                raise SystemExit(
                    f"dxorg apply exited {run.returncode}: {run.stdout.decode()[-3000:]}"
                )
            counters = server.counters()
            after_dxorg = org_members(server)

            # The same starting state for the dx loop: the configured seed, loaded again.
            server.control("POST", "reset", {})
            loop = run_dx_loop(server, changes, dx_sample)
            same = None if loop.extrapolated else org_members(server) == after_dxorg
        return ApplyResult(
            access=access,
            invites=invites,
            removals=removals,
            plan_seconds=plan_run.seconds,
            apply_seconds=run.seconds,
            apply_cpu=run.cpu_seconds,
            apply_rss_mb=run.max_rss_mb,
            apply_calls=counters["total"],
            apply_by_method=counters["byMethod"],
            emulator_cpu=emulator_cpu,
            dx=loop,
            same_end_state=same,
        )
    finally:
        cleanup(work)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--access", type=int, default=1000, help="member access changes")
    parser.add_argument("--invites", type=int, default=200)
    parser.add_argument("--removals", type=int, default=200)
    parser.add_argument(
        "--dx-sample", type=int, default=0, help="time only this many dx commands of each kind"
    )
    args = parser.parse_args()
    result = measure_apply(
        access=args.access, invites=args.invites, removals=args.removals, dx_sample=args.dx_sample
    )
    print(result.report())


if __name__ == "__main__":
    main()
