"""The HTML access review of a big fleet, in Chromium: how long it takes to load, to
filter and to sort, and the peak memory of `dxorg report` writing it (and the JSON).

The fleet (see `synthetic.make_fleet`) is committed to git and served by the emulator,
as in report_bench.py; `dxorg report --format html|json --out` runs as a fresh process
(peak RSS from its rusage). The page is then opened from its file in Debian's Chromium
(playwright, /usr/bin/chromium), at 1400 x 900:

- load: from navigation to the page's script having drawn every table (`data-ready`);
- each filter and sort: from the change to the next frame drawn, in the page's own clock.

    .venv/bin/python bench/report_browser_bench.py --orgs 100 --members 500 [--write]

Targets: usable within 3 s, a filter or a sort within 300 ms, each report under 250 MB.
`--write` replaces the section of bench/RESULTS.md between its `bench:report-html` markers,
next to the figures from before (issue 21, measured on the one-row-per-<tr> page).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import DXORG, cleanup, emulator_server, timed_rss, workdir
from bench.plan_bench import drift_for
from bench.report_bench import _commit, write_section
from bench.synthetic import make_fleet

CHROMIUM = "/usr/bin/chromium"
LOAD_TARGET, ACTION_TARGET, MEMORY_TARGET = 3.0, 0.3, 250.0
START = "<!-- bench:report-html:start (written by bench/report_browser_bench.py --write) -->"
END = "<!-- bench:report-html:end -->"
# Before the change (issue 21, 100 x 500, same machine class): one <tr> per member.
BEFORE = {
    "load": "64-74 s",
    "filter": "4-8 s",
    "sort": "28 s",
    "html_mb": "52-58 MB, 1.46 M DOM nodes",
    "json_rss": "473 MB",
    "html_rss": "451 MB",
}

# Changes one control and waits for the frame after it: the time a reviewer waits.
ACT = """async ([kind, selector, value]) => {
  const el = document.querySelector(selector);
  const start = performance.now();
  if (kind === "click") el.click();
  else {
    if (kind === "check") el.checked = value; else el.value = value;
    el.dispatchEvent(new Event("change"));
  }
  await new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)));
  return [performance.now() - start, document.getElementById("shown").textContent];
}"""

ACTIONS: tuple[tuple[str, str, str, str, object], ...] = (
    ("filter", "text `u0001234`", "value", "#q", "u0001234"),
    ("filter", "text cleared", "value", "#q", ""),
    ("filter", "org select", "value", "#org", "org-bench0042"),
    ("filter", "org select cleared", "value", "#org", ""),
    ("filter", "status select: drifted", "value", "#status", "drifted"),
    ("filter", "status cleared", "value", "#status", ""),
    ("filter", "needs attention only", "check", "#attention-only", True),
    ("filter", "needs attention cleared", "check", "#attention-only", False),
    ("filter", "every column", "check", "#all-columns", True),
    ("sort", "by User", "click", "#member-grid th:nth-child(1) button", None),
    ("sort", "by User, descending", "click", "#member-grid th:nth-child(1) button", None),
    ("sort", "by Name", "click", "#member-grid th:nth-child(3) button", None),
    ("sort", "by Last change", "click", "#member-grid th:nth-child(7) button", None),
    ("filter", "matrix cell click", "click", "#matrix-grid td button", None),
)


@dataclass
class BrowserResult:
    orgs: int
    members: int
    rss: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    load: list[float] = field(default_factory=list)
    dom_nodes: int = 0
    actions: list[tuple[str, str, float, str]] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"HTML report in Chromium: {self.orgs} orgs x {self.members} members"]
        for fmt, rss in self.rss.items():
            lines.append(
                f"  dxorg report --format {fmt}: peak RSS {rss:.0f} MB, "
                f"{self.sizes[fmt] / 1e6:.1f} MB written (target < {MEMORY_TARGET:.0f} MB)"
            )
        lines.append(
            f"  load: {statistics.median(self.load):.2f} s median of {len(self.load)} "
            f"(target < {LOAD_TARGET:g} s), {self.dom_nodes:,} DOM nodes"
        )
        for kind, label, seconds, shown in self.actions:
            lines.append(f"  {kind:<6} {label:<26} {seconds * 1000:6.0f} ms  ({shown})")
        return "\n".join(lines)


def _browse(html: Path, result: BrowserResult, loads: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            for _ in range(loads):
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                start = time.perf_counter()
                page.goto(html.as_uri(), timeout=300_000)
                page.wait_for_selector("html[data-ready]", timeout=300_000)
                result.load.append(time.perf_counter() - start)
                result.dom_nodes = int(page.evaluate("document.getElementsByTagName('*').length"))
                page.close()
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(html.as_uri(), timeout=300_000)
            page.wait_for_selector("html[data-ready]", timeout=300_000)
            for kind, label, how, selector, value in ACTIONS:
                ms, shown = page.evaluate(ACT, [how, selector, value])
                result.actions.append((kind, label, float(ms) / 1000, str(shown)))
        finally:
            browser.close()


def measure(orgs: int, members: int, loads: int) -> BrowserResult:
    work = workdir("report-html")
    try:
        fleet = make_fleet(orgs=orgs, members=members, drift=drift_for(members))
        seed_path, orgs_dir = fleet.write(work)
        del fleet
        _commit(work)
        result = BrowserResult(orgs=orgs, members=members)
        with emulator_server(work / "state.db", seed_path) as server:
            for fmt in ("json", "html"):
                out = work / f"report.{fmt}"
                done = timed_rss(
                    [DXORG, "report", str(orgs_dir), "--format", fmt, "--out", str(out)],
                    server.env(),
                )
                if done.returncode != 0:
                    raise SystemExit(f"dxorg report --format {fmt} exited {done.returncode}")
                result.rss[fmt] = done.max_rss_mb
                result.sizes[fmt] = out.stat().st_size
        _browse(work / "report.html", result, loads)
        return result
    finally:
        cleanup(work)


def _worst(result: BrowserResult, kind: str) -> float:
    return max(seconds for k, _, seconds, _ in result.actions if k == kind)


def results_section(result: BrowserResult, command: str) -> str:
    load = statistics.median(result.load)
    ok = {True: "met", False: "**missed**"}
    lines = [
        START,
        "",
        f"## The HTML report in Chromium: {result.orgs} orgs of {result.members:,} members",
        "",
        "Debian's Chromium 1400 x 900 via playwright, the page opened from its file. Load: "
        "navigation to every table drawn; a filter or sort: the change to the next frame. "
        "Peak RSS of `dxorg report --out` (a fresh process). Before: the one-`<tr>`-per-member "
        "page and the in-memory writers, as measured for issue 21.",
        "",
        "```sh",
        command,
        "```",
        "",
        "| measure | before | now | target |",
        "|---|---|---|---|",
        f"| load until usable | {BEFORE['load']} | {load:.2f} s (median of {len(result.load)}) "
        f"| < {LOAD_TARGET:g} s: {ok[load < LOAD_TARGET]} |",
        f"| slowest filter | {BEFORE['filter']} | {_worst(result, 'filter') * 1000:.0f} ms "
        f"| < {ACTION_TARGET * 1000:.0f} ms: {ok[_worst(result, 'filter') < ACTION_TARGET]} |",
        f"| slowest sort | {BEFORE['sort']} | {_worst(result, 'sort') * 1000:.0f} ms "
        f"| < {ACTION_TARGET * 1000:.0f} ms: {ok[_worst(result, 'sort') < ACTION_TARGET]} |",
        f"| HTML file, DOM nodes after load | {BEFORE['html_mb']} | "
        f"{result.sizes['html'] / 1e6:.1f} MB, {result.dom_nodes:,} nodes | |",
        f"| `report --format json` peak RSS | {BEFORE['json_rss']} | {result.rss['json']:.0f} MB "
        f"| < {MEMORY_TARGET:.0f} MB: {ok[result.rss['json'] < MEMORY_TARGET]} |",
        f"| `report --format html` peak RSS | {BEFORE['html_rss']} | {result.rss['html']:.0f} MB "
        f"| < {MEMORY_TARGET:.0f} MB: {ok[result.rss['html'] < MEMORY_TARGET]} |",
        "",
        "Each control, in order (the members shown after it):",
        "",
        "| control | ms | shown |",
        "|---|---:|---|",
        *(
            f"| {kind}: {label} | {seconds * 1000:.0f} | {shown} |"
            for kind, label, seconds, shown in result.actions
        ),
        "",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orgs", type=int, default=100)
    parser.add_argument("--members", type=int, default=500, help="per org")
    parser.add_argument("--loads", type=int, default=3, help="page loads to time")
    parser.add_argument("--write", action="store_true", help="record the figures in RESULTS.md")
    args = parser.parse_args()
    result = measure(args.orgs, args.members, args.loads)
    print(result.report(), flush=True)
    if args.write:
        from bench.run_all import PYTHON, RESULTS

        command = (
            f"{PYTHON} bench/report_browser_bench.py --orgs {args.orgs} --members {args.members} "
            f"--loads {args.loads} --write"
        )
        write_section(RESULTS, results_section(result, command), START, END)
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
