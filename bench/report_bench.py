"""`dxorg report` beside `dxorg plan` on the same fleet: the report may take at most twice
as long as the plan (the target of issue 15).

The fleet (see `synthetic.make_fleet`) is committed to a git repository first, so the
report does what it does for real: one `git blame` per manifest, besides reading every
org. Each run is a fresh process; plan and the report formats take turns, run after run,
so a change in the machine's load falls on all of them alike.

    .venv/bin/python bench/report_bench.py --orgs 100 --members 500 [--runs 3] [--write]

`--write` replaces the report section of bench/RESULTS.md (between its `bench:report`
markers); `run_all.py` writes it too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import DXORG, cleanup, emulator_server, summarise, timed_rss, workdir
from bench.plan_bench import drift_for
from bench.synthetic import make_fleet

FORMATS: tuple[str, ...] = ("markdown", "csv", "json", "html")
TARGET_RATIO = 2.0
START = (
    "<!-- bench:report:start (written by bench/report_bench.py --write and bench/run_all.py) -->"
)
END = "<!-- bench:report:end -->"


@dataclass
class ReportResult:
    orgs: int
    members: int
    plan: list[float] = field(default_factory=list)
    plan_rss: float = 0.0
    reports: dict[str, list[float]] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # bytes written per format

    def ratio(self, fmt: str) -> float:
        return statistics.median(self.reports[fmt]) / statistics.median(self.plan)

    @property
    def met(self) -> bool:
        return all(self.ratio(fmt) <= TARGET_RATIO for fmt in self.reports)

    def report(self) -> str:
        lines = [
            f"report vs plan: {self.orgs} org(s) x {self.members} members, in git",
            f"  plan            wall (s): {summarise(self.plan)}  peak RSS {self.plan_rss:.0f} MB",
        ]
        for fmt, seconds in self.reports.items():
            lines.append(
                f"  report {fmt:<8} wall (s): {summarise(seconds)}  peak RSS {self.rss[fmt]:.0f} MB"
                f"  {self.sizes[fmt] / 1e6:.1f} MB written  x{self.ratio(fmt):.2f} of plan"
            )
        lines.append(
            f"  target: every format at most {TARGET_RATIO:g}x the plan: {'met' if self.met else 'MISSED'}"
        )
        return "\n".join(lines)


def _commit(directory: Path) -> None:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@bench.test",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "bench@bench.test",
    }
    for args in (["init", "-q"], ["add", "orgs"], ["commit", "-qm", "bench fleet"]):
        subprocess.run(
            ["git", "-c", "commit.gpgsign=false", *args], cwd=directory, env=env, check=True
        )


def measure_report(
    *,
    orgs: int,
    members: int,
    runs: int,
    formats: Sequence[str] = FORMATS,
    dxorg: Sequence[str] = (DXORG,),
) -> ReportResult:
    work = workdir("report")
    try:
        fleet = make_fleet(orgs=orgs, members=members, drift=drift_for(members))
        seed_path, orgs_dir = fleet.write(work)
        _commit(work)
        result = ReportResult(orgs=orgs, members=members)
        with emulator_server(work / "state.db", seed_path) as server:
            env = server.env()

            def run(command: list[str]) -> tuple[float, float]:
                done = timed_rss(command, env)
                if done.returncode not in (0,):
                    print(done.stdout.decode()[-2000:])
                    raise SystemExit(f"{' '.join(command[:2])} exited {done.returncode}")
                return done.seconds, done.max_rss_mb

            for _ in range(runs):
                seconds, rss = run(
                    [
                        *dxorg,
                        "plan",
                        str(orgs_dir),
                        "--format",
                        "json",
                        "--out",
                        str(work / "plan.json"),
                    ]
                )
                result.plan.append(seconds)
                result.plan_rss = max(result.plan_rss, rss)
                for fmt in formats:
                    out = work / f"report.{fmt}"
                    seconds, rss = run(
                        [*dxorg, "report", str(orgs_dir), "--format", fmt, "--out", str(out)]
                    )
                    result.reports.setdefault(fmt, []).append(seconds)
                    result.rss[fmt] = max(result.rss.get(fmt, 0.0), rss)
                    result.sizes[fmt] = out.stat().st_size
        return result
    finally:
        cleanup(work)


def results_section(result: ReportResult, command: str) -> str:
    lines = [
        START,
        "",
        f"## Report beside plan: {result.orgs} orgs of {result.members:,} members",
        "",
        "The same fleet (committed to git, so the report runs one `git blame` per manifest) and "
        "the same emulator; each run a fresh process, plan and the four formats taking turns. "
        f"Target: each format at most {TARGET_RATIO:g}x the plan's median.",
        "",
        "```sh",
        command,
        "```",
        "",
        "| command | wall s, median (min-max) | peak RSS | written | x plan | target |",
        "|---|---|---:|---:|---:|---|",
        f"| `dxorg plan --format json --out` | {statistics.median(result.plan):.2f} "
        f"({min(result.plan):.2f}-{max(result.plan):.2f}) | {result.plan_rss:.0f} MB | | 1.00 | |",
    ]
    for fmt, seconds in result.reports.items():
        ok = "met" if result.ratio(fmt) <= TARGET_RATIO else "**missed**"
        lines.append(
            f"| `dxorg report --format {fmt} --out` | {statistics.median(seconds):.2f} "
            f"({min(seconds):.2f}-{max(seconds):.2f}) | {result.rss[fmt]:.0f} MB | "
            f"{result.sizes[fmt] / 1e6:.1f} MB | {result.ratio(fmt):.2f} | <= {TARGET_RATIO:g}x: {ok} |"
        )
    lines += ["", END]
    return "\n".join(lines)


def write_section(path: Path, section: str, start: str = START, end: str = END) -> None:
    """Replace the section of `path` between `start` and `end` (or add it at the end),
    keeping the rest."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orgs", type=int, default=100)
    parser.add_argument("--members", type=int, default=500, help="per org")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--write", action="store_true", help="record the figures in RESULTS.md")
    args = parser.parse_args()
    result = measure_report(
        orgs=args.orgs, members=args.members, runs=args.runs, formats=args.formats
    )
    print(result.report(), flush=True)
    if args.write:
        from bench.run_all import PYTHON, RESULTS

        command = (
            f"{PYTHON} bench/report_bench.py --orgs {args.orgs} --members {args.members} "
            f"--runs {args.runs} --write"
        )
        write_section(RESULTS, results_section(result, command))
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
