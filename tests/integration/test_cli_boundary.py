"""The CLI's error boundary, in-process (`reconciler.cli.main`): exit codes, usage errors,
path mistakes, the packaged data, --version and -h (issue 12, cases 1, 2 and 4)."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pytest

from reconciler import __version__
from reconciler.emulator import Emulator
from reconciler.manifest import load_fleet
from reconciler.manifest.schema import ORG_SCHEMA, SCHEMA_DIR
from reconciler.platform import ReadClient
from reconciler.read_and_plan import plan_fleet
from reconciler.render.text import render_text
from reconciler.sandbox import DEMO_SEED, demo_seed_file
from tests.integration.conftest import FAST_RETRY, config_for

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def run(run_cli):
    return run_cli


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory with only a copy of the example manifests: no checkout around."""
    monkeypatch.delenv("DXORG_STATE_DIR", raising=False)  # the default state directory
    work = tmp_path / "work"
    shutil.copytree(REPO / "examples" / "orgs", work / "orgs")
    monkeypatch.chdir(work)
    for name in list(os.environ):
        if name.startswith("DX_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SPLUNK_HEC_TOKEN", "demo-hec-token")
    return work


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(root.rglob("*"))
    }


# ---------------------------------------------------------------- case 1: packaged data


def test_sandbox_validate_plan_apply_and_export_work_from_an_empty_directory(run, workdir):
    assert DEMO_SEED.is_file() and (SCHEMA_DIR / ORG_SCHEMA).is_file()
    assert run("validate", "orgs").code == 0
    planned = run("plan", "orgs", "--sandbox", "--detailed-exitcode")
    assert planned.code == 2, planned.err
    assert "Plan: 6 to add, 10 to change, 4 to remove." in planned.out
    # The demo shows the flags beyond the first three, and samlIdP (the README's quick start).
    assert "~ promote user-dave to ADMIN (treManagement false -> true)" in planned.out
    assert '{"user-dave":{"level":"ADMIN","treManagement":true}}' in planned.out
    assert "~ set samlIdP: (unset) -> demo-idp" in planned.out
    assert "warning:" not in planned.out
    assert (workdir / ".dxorg" / "sandbox.db").is_file()
    applied = run("apply", "orgs", "--sandbox", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert "Verified: converged." in applied.out
    assert run("plan", "orgs", "--sandbox", "--detailed-exitcode").code == 0
    exported = run("export", "org-demo", "--sandbox")
    assert exported.code == 0
    assert exported.out.startswith(f"# yaml-language-server: $schema={ORG_SCHEMA}\n")


def test_export_writes_the_schema_its_reference_names_beside_the_files(run, workdir):
    assert run("export", "--all", "--sandbox", "-o", "exported").code == 0
    exported = workdir / "exported"
    assert sorted(p.name for p in exported.iterdir()) == [
        "org-clinical.yaml",
        "org-demo.yaml",
        ORG_SCHEMA,
    ]
    for manifest in exported.glob("*.yaml"):
        ref = manifest.read_text().splitlines()[0].split("$schema=", 1)[1]
        assert (manifest.parent / ref).read_bytes() == (SCHEMA_DIR / ORG_SCHEMA).read_bytes()
    assert run("validate", "exported").code == 0
    assert run("export", "org-demo", "--sandbox", "-o", "one/org-demo.yaml").code == 0
    assert (workdir / "one" / ORG_SCHEMA).is_file()


# ---------------------------------------------------------------- case 2: exit codes


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "orgs", "--detailed-exitcode", "--formt", "json"], "No such option: --formt"),
        (["plan", "orgs", "--detailed-exitcode", "--concurrency", "0"], "'--concurrency'"),
        (["plan", "--detailed-exitcode"], "Missing argument"),
        (["plan", "orgs", "--detailed-exitcode", "--format", "jsn"], "'--format'"),
        (["apply", "orgs", "--auto-approve", "--concurrency", "0"], "'--concurrency'"),
        (["apply", "orgs", "--bogus"], "No such option: --bogus"),
        (["validate"], "Missing argument"),
        (["validate", "orgs", "--strict"], "No such option: --strict"),
        (["export", "org-demo", "--port", "1"], "No such option: --port"),
        (["emulator", "serve", "--port", "http"], "'--port'"),
        (["emulator", "serve", "--state"], "requires an argument"),
        (["emulator", "start"], "No such command"),
        (["plna", "orgs"], "No such command"),
    ],
)
def test_a_usage_error_exits_1_with_the_parsers_message_never_2(run, workdir, args, message):
    result = run(*args)
    assert result.code == 1
    assert message in result.err
    assert result.err.splitlines()[-1].startswith("Error: ")
    assert not (workdir / ".dxorg").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "orgs", "--sandbox", "--detailed-exitcode", "--org", "org-nope"], "org-nope"),
        (["plan", "no/such/dir", "--sandbox", "--detailed-exitcode"], "no such file"),
        (["plan", "orgs", "--sandbox", "--override", "caller"], "not an overridable rule"),
        (["export", "--sandbox"], "give one ORG, or --all"),
    ],
)
def test_an_error_dxorg_finds_itself_exits_1_too(run, workdir, args, message):
    result = run(*args)
    assert result.code == 1
    assert message in result.err


def test_version_and_help(run, workdir):
    shown = run("--version")
    assert shown.code == 0
    assert shown.out == f"dxorg {__version__}\n"
    assert version("dxorg") == __version__
    for command in (["plan"], ["apply"], ["export"], ["validate"], ["emulator", "serve"]):
        for flag in ("-h", "--help"):
            helped = run(*command, flag)
            assert helped.code == 0
            assert helped.out.startswith(f"Usage: dxorg {' '.join(command)} ")
    assert run("-h").code == 0


PLATFORM_OPTIONS = (
    "--concurrency",
    "--sandbox",
    "--sandbox-state",
    "--sandbox-seed",
    "--apiserver-host",
    "--apiserver-port",
    "--apiserver-protocol",
)


@pytest.mark.parametrize(
    ("command", "rest"),
    [
        (["plan"], ["orgs"]),
        (["apply"], ["orgs"]),
        (["export"], ["org-demo"]),
        (["report"], ["orgs"]),
    ],
)
def test_every_command_that_reads_the_platform_takes_the_same_platform_options(
    run, workdir, command, rest
):
    helped = run(*command, "--help")
    assert helped.code == 0
    listed = [line.split()[0] for line in helped.out.splitlines() if line.startswith("  --")]
    assert [option for option in listed if option in PLATFORM_OPTIONS] == list(PLATFORM_OPTIONS)
    refused = run(*command, *rest, "--concurrency", "0")
    assert refused.code == 1 and "'--concurrency'" in refused.err
    # They reach the platform: the sandbox named is the one created and read.
    state = workdir / "elsewhere" / "sandbox.db"
    args = [*command, *rest, "--sandbox", "--sandbox-state", str(state), "--concurrency", "1"]
    used = run(*args, *(["--auto-approve"] if command == ["apply"] else []))
    assert used.code in (0, 2), used.err
    assert state.is_file()
    assert not (workdir / ".dxorg" / "sandbox.db").exists()


def test_plan_codes_follow_the_readme_table(run, workdir):
    # 2: changes present (with --detailed-exitcode); 0 without it; 0 once converged.
    assert run("plan", "orgs", "--sandbox", "--detailed-exitcode").code == 2
    assert run("plan", "orgs", "--sandbox").code == 0
    # 1: a safety violation (dave is a required admin; dropping him is refused).
    demo = workdir / "orgs" / "org-demo.yaml"
    demo.write_text(
        demo.read_text()
        .replace("requiredAdmins: [alice, dave]", "requiredAdmins: [alice]")
        .replace(
            "    user-dave: {level: ADMIN, treManagement: true}  # a user id works too; ADMINs "
            "may have treManagement\n",
            "",
        )
    )
    violated = run("plan", "orgs", "--sandbox", "--detailed-exitcode")
    assert violated.code == 1
    assert "! min-admins" in violated.out
    # The org that breaks the rail is refused on its own (the others are applied): still 1.
    refused = run("apply", "orgs", "--sandbox", "--auto-approve")
    assert refused.code == 1 and "org-demo: refused" in refused.err
    assert "min-admins" in refused.err


# ---------------------------------------------------------------- case 4: path mistakes


def test_every_path_mistake_is_a_clear_error_and_writes_nothing(run, workdir):
    (workdir / "a-dir").mkdir()
    (workdir / "a-file").write_text("not a directory\n")
    (workdir / "not-a-db").write_text("hello, I am not SQLite\n")
    mistakes = [
        (["plan", "orgs", "--sandbox", "--sandbox-state", "a-dir"], "'--sandbox-state'", "a-dir"),
        (
            ["plan", "orgs", "--sandbox", "--sandbox-state", "not-a-db"],
            "not an emulator state",
            "not-a-db",
        ),
        (
            ["plan", "orgs", "--sandbox", "--sandbox-state", "a-file/s.db"],
            "a-file is not a directory",
            "a-file/s.db",
        ),
        (["plan", "orgs", "--sandbox", "--out", "a-dir"], "'--out'", "a-dir"),
        (
            ["plan", "orgs", "--sandbox", "--out", "a-file/plan.json"],
            "a-file is not a directory",
            "a-file/plan.json",
        ),
        (
            ["apply", "orgs", "--sandbox", "--auto-approve", "--journal", "a-dir"],
            "'--journal'",
            "a-dir",
        ),
        (
            ["apply", "orgs", "--sandbox", "--auto-approve", "--journal", "a-file/j.jsonl"],
            "a-file is not a directory",
            "a-file",
        ),
        (["apply", "--plan", "a-dir", "--auto-approve"], "'--plan'", "a-dir"),
        (["apply", "--plan", "missing.json", "--auto-approve"], "'--plan'", "missing.json"),
        (["export", "org-demo", "--sandbox", "-o", "a-dir"], "is a directory", "a-dir"),
        (["export", "--all", "--sandbox", "-o", "a-file"], "not a directory", "a-file"),
        (["emulator", "serve", "--port", "0", "--state", "a-dir"], "is a directory", "a-dir"),
        (
            ["emulator", "serve", "--port", "0", "--state", "not-a-db"],
            "not an emulator state",
            "not-a-db",
        ),
        (
            ["emulator", "serve", "--port", "0", "--seed", "missing.yaml"],
            "no such file",
            "missing.yaml",
        ),
    ]
    before = tree(workdir)
    for args, what, path in mistakes:
        result = run(*args)
        assert result.code == 1, args
        assert what in result.err, (args, result.err)
        assert path in result.err, (args, result.err)
        assert tree(workdir) == before, f"{args} wrote something"


def test_a_saved_plan_that_is_not_json_names_the_file(run, workdir):
    (workdir / "plan.json").write_text("{not json")
    result = run("apply", "--plan", "plan.json", "--auto-approve")
    assert result.code == 1
    assert "plan.json:1:2: not JSON" in result.err


def test_the_apply_summary_counts_actions_like_the_action_and_the_journal_and_the_calls_listed(
    run, workdir
):
    planned = run("plan", "orgs", "--sandbox", "--format", "json")
    calls = sum(len(org["steps"]) for org in json.loads(planned.out)["orgs"])
    actions = sum(len(org["actions"]) for org in json.loads(planned.out)["orgs"])
    applied = run("apply", "orgs", "--sandbox", "--auto-approve")
    assert applied.code == 0
    lines = applied.out.splitlines()
    call_lines = [line for line in lines if line.lstrip().startswith("done ")]
    assert len(call_lines) == calls
    # One unit for one count everywhere: the actions (as the Action's summary and the
    # journal's run-end say), and the calls listed above it in brackets.
    assert lines[-1] == (
        f"Apply: {actions} action(s) done, 0 failed, 0 skipped ({calls} of {calls} API call(s) "
        "made). Verified: converged."
    )
    run_end = [
        json.loads(line)
        for line in (workdir / ".dxorg" / "journal.jsonl").read_text().splitlines()
        if '"run-end"' in line
    ][-1]
    assert run_end["summary"].startswith(f"Apply: {actions} action(s) done, 0 failed, 0 skipped")


# ---------------------------------------------------------------- the README's demo


@pytest.mark.parametrize(
    "later", [datetime(2027, 1, 1, tzinfo=UTC), datetime(2031, 12, 1, tzinfo=UTC)]
)
def test_the_demo_plan_does_not_change_next_month_or_years_later(tmp_path, later):
    fleet = load_fleet([REPO / "examples" / "orgs"])
    env = {"SPLUNK_HEC_TOKEN": "demo-hec-token"}
    with demo_seed_file() as seed:
        emulator = Emulator(state_path=tmp_path / "demo.db", seed=seed)
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        today = plan_fleet(fleet, client, now=datetime(2026, 12, 1, tzinfo=UTC), env=env)
        then = plan_fleet(fleet, client, now=later, env=env)
    emulator.close()
    assert today.counts() == {"+": 6, "~": 10, "-": 4}
    assert render_text(then) == render_text(today)
