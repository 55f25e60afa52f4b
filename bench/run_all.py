"""Every benchmark in one command, with the figures written to bench/RESULTS.md.

    .venv/bin/python bench/run_all.py            # the recorded run (~15 min: the dx loop is 1,400 launches)
    .venv/bin/python bench/run_all.py --quick    # a smoke run in about a minute; prints, writes nothing

The full run measures, each against its own emulator process:
- plan of one org of 1,000 / 10,000 / 50,000 members (5 runs each, each a fresh process);
- plan of a fleet of 100 orgs of 500 members, with --concurrency 1 and the default 8, against
  the emulator as is and with 50 ms added to every call (a platform across a network);
- apply of 1,000 access changes, 200 invites and 200 removals, and the same with a `dx` loop;
- `dxorg report` in each format beside `dxorg plan`, on the fleet of 100 orgs (report_bench.py).

It replaces the parts of RESULTS.md between the `bench:results` markers and between the
`bench:report` markers, and keeps the rest (the notes written by hand). `--quick` uses small sizes, samples the dx loop and
extrapolates; it writes only when given `--out`.
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.apply_bench import ApplyResult, measure_apply
from bench.harness import load_average, machine
from bench.plan_bench import PlanResult, measure_plan
from bench.report_bench import measure_report, results_section, write_section

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
START = "<!-- bench:results:start (written by bench/run_all.py; edit outside the markers) -->"
END = "<!-- bench:results:end -->"
PYTHON = ".venv/bin/python"


@dataclass(frozen=True)
class Settings:
    sizes: tuple[int, ...]
    size_runs: int
    fleet_orgs: int
    fleet_members: int
    fleet_runs: int
    concurrencies: tuple[int | None, ...]
    latencies: tuple[int, ...]
    access: int
    invites: int
    removals: int
    dx_sample: int  # 0: the whole loop

    def commands(self) -> list[str]:
        sizes = " ".join(str(s) for s in self.sizes)
        levels = " ".join(str(c) for c in self.concurrencies if c is not None)
        latencies = " ".join(str(lat) for lat in self.latencies)
        sample = f" --dx-sample {self.dx_sample}" if self.dx_sample else ""
        return [
            f"{PYTHON} bench/plan_bench.py --members {sizes} --runs {self.size_runs}",
            f"{PYTHON} bench/plan_bench.py --orgs {self.fleet_orgs} --members {self.fleet_members} "
            f"--runs {self.fleet_runs} --concurrency {levels} --latency-ms {latencies}",
            f"{PYTHON} bench/apply_bench.py --access {self.access} --invites {self.invites} "
            f"--removals {self.removals}{sample}",
            self.report_command(),
        ]

    def report_command(self) -> str:
        return (
            f"{PYTHON} bench/report_bench.py --orgs {self.fleet_orgs} "
            f"--members {self.fleet_members} --runs {self.fleet_runs}"
        )


FULL = Settings(
    sizes=(1_000, 10_000, 50_000),
    size_runs=5,
    fleet_orgs=100,
    fleet_members=500,
    fleet_runs=3,
    concurrencies=(1, 8),
    latencies=(0, 50),
    access=1000,
    invites=200,
    removals=200,
    dx_sample=0,
)
QUICK = Settings(
    sizes=(1_000, 5_000),
    size_runs=2,
    fleet_orgs=10,
    fleet_members=500,
    fleet_runs=1,
    concurrencies=(1, 8),
    latencies=(0,),
    access=100,
    invites=20,
    removals=20,
    dx_sample=3,
)

# (members, seconds, MB) an org of this size must plan within; None: no target.
PLAN_TARGETS = {10_000: (3.0, 200.0), 50_000: (15.0, 500.0)}
FLEET_TARGET_SECONDS = 10.0
APPLY_TARGET_RATIO = 100.0


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def plan_table(results: Sequence[PlanResult]) -> list[str]:
    lines = [
        "| members | projects | apps | wall s, median (min-max) | per member | dxorg CPU | "
        "peak RSS | API calls (minimum) | emulator CPU | target |",
        "|---:|---:|---:|---|---:|---:|---:|---|---:|---|",
    ]
    for r in results:
        target = "-"
        if r.members in PLAN_TARGETS:
            seconds, mb = PLAN_TARGETS[r.members]
            ok = r.median < seconds and r.rss_mb < mb and r.calls == r.minimum
            target = f"< {seconds:g} s, < {mb:g} MB, calls = minimum: {verdict(ok)}"
        lines.append(
            f"| {r.members:,} | {r.members // 2:,} | {max(1, r.members // 20):,} | "
            f"{r.median:.2f} ({min(r.seconds):.2f}-{max(r.seconds):.2f}) | "
            f"{r.microseconds_per_member:.0f} µs | {r.cpu_median:.2f} s | {r.rss_mb:.0f} MB | "
            f"{r.calls} ({r.minimum}) | "
            f"{r.emulator_cpu:.2f} s | {target} |"
        )
    lines.append("")
    lines.append(
        "Growth: the cost of each added member between consecutive sizes "
        "(difference of the medians over difference of the sizes), which leaves out "
        "the fixed cost of starting the process:"
    )
    lines.append("")
    for smaller, larger in itertools.pairwise(results):
        slope = (larger.median - smaller.median) / (larger.members - smaller.members) * 1e6
        memory = (larger.rss_mb - smaller.rss_mb) / (larger.members - smaller.members) * 1e3
        lines.append(
            f"- {smaller.members:,} -> {larger.members:,} members: {slope:.0f} µs and "
            f"{memory:.1f} KB of peak RSS per added member"
        )
    if len(results) >= 2:
        small, next_size = results[0], results[1]
        slope = (next_size.median - small.median) / (next_size.members - small.members)
        lines.append(
            f"- fixed cost (the line through the two smallest sizes, at 0 members): "
            f"{small.median - slope * small.members:.2f} s: interpreter start, imports, "
            "client set-up"
        )
    return lines


def fleet_table(results: Sequence[PlanResult]) -> list[str]:
    lines = [
        "| --concurrency | emulator latency per call | wall s, median (min-max) | dxorg CPU | "
        "peak RSS | API calls (minimum) | emulator CPU | target |",
        "|---:|---:|---|---:|---:|---|---:|---|",
    ]
    for r in results:
        level = "8 (default)" if r.concurrency in (None, 8) else str(r.concurrency)
        target = "-"
        full_size = (r.orgs, r.members) == (FULL.fleet_orgs, FULL.fleet_members)
        if full_size and r.latency_ms == 0 and r.concurrency in (None, 8):
            target = f"< {FLEET_TARGET_SECONDS:g} s: {verdict(r.median < FLEET_TARGET_SECONDS)}"
        lines.append(
            f"| {level} | {r.latency_ms} ms | {r.median:.2f} ({min(r.seconds):.2f}-"
            f"{max(r.seconds):.2f}) | {r.cpu_median:.2f} s | {r.rss_mb:.0f} MB | "
            f"{r.calls} ({r.minimum}) | "
            f"{r.emulator_cpu:.2f} s | {target} |"
        )
    return lines


def apply_table(result: ApplyResult) -> list[str]:
    loop = result.dx
    sampled = (
        f" Extrapolated from {loop.timed} of the {loop.commands} commands (each kind scaled "
        "to its full count)."
        if loop.extrapolated
        else ""
    )
    methods = ", ".join(f"{n} {m}" for m, n in sorted(result.apply_by_method.items()))
    same = {None: "not checked (sampled)", True: "yes", False: "**no**"}[result.same_end_state]
    target = f"target >= {APPLY_TARGET_RATIO:g}x: {verdict(result.ratio >= APPLY_TARGET_RATIO)}"
    if (result.access, result.invites, result.removals) != (
        FULL.access,
        FULL.invites,
        FULL.removals,
    ):
        target = "the target is for the full sizes, where dxorg's fixed start-up cost matters less"
    return [
        "| | wall time | API calls | notes |",
        "|---|---:|---:|---|",
        f"| `dxorg apply --plan` | {result.apply_seconds:.2f} s | {result.apply_calls} | "
        f"{methods}; dxorg CPU {result.apply_cpu:.2f} s; peak RSS {result.apply_rss_mb:.0f} MB; "
        "emulator CPU "
        f"{result.emulator_cpu:.2f} s |",
        f"| `dx` loop | {loop.seconds:.1f} s | {loop.calls} | {loop.commands} launches, "
        f"{loop.median_command:.2f} s each (median) |",
        "",
        f"Ratio: dxorg is **{result.ratio:.0f}x** faster ({target}). The plan before it (`dxorg plan --out`) took "
        f"{result.plan_seconds:.2f} s. Same members after the dx loop as after dxorg: "
        f"{same}.{sampled}",
    ]


def emulator_lines(sizes: Sequence[PlanResult]) -> list[str]:
    pages = [r.page_seconds for r in sizes]
    describes = [r.describe_seconds for r in sizes]
    return [
        "Asked directly over HTTP, one call at a time, without dxorg (median of the sizes' "
        "medians): "
        f"{statistics.median(pages) * 1000:.1f} ms per `findMembers` page of 1,000 with "
        f"describe, {statistics.median(describes) * 1000:.1f} ms per org `describe`. "
        "The *emulator CPU* columns are the CPU time the emulator process used during one "
        "run (median over the runs); the rest of the wall time is dxorg's. The emulator "
        "answers each call on a fresh connection (werkzeug's server sends "
        "`Connection: close`), which a real platform would not.",
    ]


def report(
    settings: Settings,
    quick: bool,
    started_load: str,
    seconds: float,
    sizes: Sequence[PlanResult],
    fleet: Sequence[PlanResult],
    applied: ApplyResult,
) -> str:
    info = machine()
    info["load average at start (1/5/15 min)"] = started_load
    info["load average at end (1/5/15 min)"] = load_average()
    lines = [
        START,
        "",
        f"## Figures{' (QUICK smoke run: small sizes, sampled dx loop)' if quick else ''}",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in info.items()),
        f"| suite wall time | {seconds / 60:.1f} min |",
        "",
        "Commands (`bench/run_all.py` runs all of them in one process):",
        "",
        "```sh",
        f"{PYTHON} bench/run_all.py{' --quick' if quick else ''}",
        *(f"# = {command}" for command in settings.commands()),
        "```",
        "",
        "### Plan, one org",
        "",
        "5 projects per 10 members, 1 app per 20; the manifest changes the access of 1% of "
        "the members, invites 0.1% more users and removes 0.1%. Each run is a fresh "
        "`dxorg plan --format json --out plan.json` process; peak RSS and CPU are its own (wait4 in a small launcher, see `harness.py`).",
        "",
        *plan_table(sizes),
        "",
        f"### Plan, a fleet of {settings.fleet_orgs} orgs of {settings.fleet_members:,} members",
        "",
        "One `dxorg plan` run over every org. The latency rows add that many milliseconds to "
        "every API call in the emulator (its control plane's `latencyMs`), as a platform "
        "across a network would: that is where concurrency pays.",
        "",
        *fleet_table(fleet),
        "",
        f"### Apply: {settings.access:,} access changes, {settings.invites} invites, "
        f"{settings.removals} removals",
        "",
        *apply_table(applied),
        "",
        "### The emulator's own cost",
        "",
        *emulator_lines(sizes),
        "",
        END,
    ]
    return "\n".join(lines)


def write_results(path: Path, section: str) -> None:
    """Replace the generated section of `path`, keeping what is written around it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in text and END in text:
        before = text[: text.index(START)]
        after = text[text.index(END) + len(END) :]
        text = before + section + after
    else:
        text = "# dxorg benchmark results\n\n" + section + "\n" + text
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, sampled dx loop")
    parser.add_argument(
        "--out", type=Path, help=f"write the figures here (default: {RESULTS} unless --quick)"
    )
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    out = args.out if args.out is not None else (None if args.quick else RESULTS)

    started, started_load = time.perf_counter(), load_average()
    sizes: list[PlanResult] = []
    for members in settings.sizes:
        sizes += measure_plan(orgs=1, members=members, runs=settings.size_runs)
        print(sizes[-1].report(), flush=True)
    fleet = measure_plan(
        orgs=settings.fleet_orgs,
        members=settings.fleet_members,
        runs=settings.fleet_runs,
        concurrencies=settings.concurrencies,
        latencies=settings.latencies,
    )
    for result in fleet:
        print(result.report(), flush=True)
    applied = measure_apply(
        access=settings.access,
        invites=settings.invites,
        removals=settings.removals,
        dx_sample=settings.dx_sample,
    )
    print(applied.report(), flush=True)
    reported = measure_report(
        orgs=settings.fleet_orgs, members=settings.fleet_members, runs=settings.fleet_runs
    )
    print(reported.report(), flush=True)

    section = report(
        settings,
        args.quick,
        started_load,
        time.perf_counter() - started,
        sizes,
        fleet,
        applied,
    )
    print()
    print(section)
    if out is not None:
        write_results(out, section)
        write_section(out, results_section(reported, settings.report_command()))
        print(f"\nwrote {out}")
    command = " ".join(shlex.quote(a) for a in sys.argv)
    print(f"({command} finished in {(time.perf_counter() - started) / 60:.1f} min)")


if __name__ == "__main__":
    main()
