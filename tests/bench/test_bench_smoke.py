"""The benchmark suite's own code paths, at toy sizes: no timing is asserted here."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bench.plan_bench import drift_for, minimum_calls
from bench.run_all import END, START, write_results
from bench.synthetic import ADMIN_TOKEN, ADMINS, Drift, make_fleet
from reconciler.emulator import Emulator
from reconciler.emulator.seed import read_seed
from reconciler.manifest import load_fleet
from reconciler.platform import PlatformConfig, ReadClient
from reconciler.read_and_plan import plan_fleet

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_the_generator_makes_the_sizes_and_drift_asked_for(tmp_path: Path) -> None:
    fleet = make_fleet(orgs=3, members=40, drift=Drift(access=7, invites=2, removals=3))
    assert len(fleet.seed["orgs"]) == 3
    assert len(fleet.seed["users"]) == len(ADMINS) + 3 * (40 + 2)
    assert len(fleet.seed["projects"]) == 3 * 20 and len(fleet.seed["apps"]) == 3 * 2
    for org in fleet.seed["orgs"]:
        assert len(org["members"]) == len(ADMINS) + 40
        changes = fleet.changes[org["id"]]
        assert (len(changes.access), len(changes.invites), len(changes.removals)) == (7, 2, 3)
        assert not set(changes.invites) & set(org["members"])
        assert set(changes.removals) <= set(org["members"])

    seed_path, orgs_dir = fleet.write(tmp_path)
    assert seed_path.suffix == ".json"
    read_seed(seed_path)  # the emulator accepts it, schema and references
    assert len(load_fleet([orgs_dir]).orgs) == 3


def test_a_toy_fleet_plans_at_the_minimum_calls_with_the_drift_as_actions(tmp_path: Path) -> None:
    members, orgs = 60, 2
    drift = drift_for(members)
    fleet = make_fleet(orgs=orgs, members=members, drift=drift)
    seed_path, orgs_dir = fleet.write(tmp_path)
    emulator = Emulator(seed=seed_path)
    config = PlatformConfig(
        protocol="http",
        host="emulator.invalid",
        port=None,
        token=ADMIN_TOKEN,
        auth_server_url="http://emulator.invalid",
    )
    try:
        emulator.control.clear_requests()
        with ReadClient(config, transport=emulator.transport()) as client:
            plan = plan_fleet(load_fleet([orgs_dir]), client, now=NOW, env={})
        assert emulator.control.counters()["total"] == minimum_calls(orgs, members, drift.invites)
    finally:
        emulator.close()
    assert plan.applyable and not plan.has_errors
    for org in plan.orgs:
        kinds = [str(a.kind) for a in org.actions]
        assert kinds.count("update-access") == drift.access
        assert kinds.count("invite-member") == drift.invites
        assert kinds.count("remove-member") == drift.removals


def test_results_keep_what_is_written_around_the_generated_section(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    write_results(results, f"{START}\nfirst\n{END}")
    text = results.read_text().replace(END, END + "\n\n## Notes by hand\n")
    results.write_text(text)
    write_results(results, f"{START}\nsecond\n{END}")
    text = results.read_text()
    assert "second" in text and "first" not in text and "## Notes by hand" in text


def test_the_report_section_is_written_beside_the_rest(tmp_path: Path) -> None:
    from bench.report_bench import END as REPORT_END
    from bench.report_bench import START as REPORT_START
    from bench.report_bench import ReportResult, results_section, write_section

    result = ReportResult(orgs=2, members=10, plan=[1.0, 1.2, 1.1], plan_rss=50.0)
    result.reports = {"csv": [1.5, 1.6, 1.4], "html": [2.6, 2.5, 2.4]}
    result.rss = {"csv": 60.0, "html": 70.0}
    result.sizes = {"csv": 1_000_000, "html": 3_000_000}
    assert result.ratio("csv") == 1.5 / 1.1
    assert not result.met  # html: 2.5 / 1.1 is over twice the plan
    section = results_section(result, "python bench/report_bench.py")
    assert (
        "| `dxorg report --format csv --out` | 1.50 (1.40-1.60) | 60 MB | 1.0 MB | 1.36 |"
        in section
    )
    assert "**missed**" in section
    results = tmp_path / "RESULTS.md"
    write_results(results, f"{START}\nplan figures\n{END}")
    results.write_text(results.read_text() + "\n## Notes by hand\n")
    write_section(results, section)
    write_section(results, section.replace("1.36", "1.37"))  # replaced, not added again
    text = results.read_text()
    assert text.count(REPORT_START) == 1 and text.count(REPORT_END) == 1
    assert "plan figures" in text and "## Notes by hand" in text and "1.37" in text
