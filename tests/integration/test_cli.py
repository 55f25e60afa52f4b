"""The `dxorg` command end to end: a real process talking HTTP to an emulator on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest

from reconciler.emulator import Emulator
from reconciler.plan_file import plan_schema
from tests.emulator_harness import EmulatorControl
from tests.integration.conftest import CONTROL_TOKEN, base_seed

DXORG = str(Path(sys.executable).parent / "dxorg")
API_TOKEN = "alice-token"
HEC_TOKEN = "hec-4f1c-very-secret"

MANIFEST = """\
org: org-demo
policies: {memberListVisibility: MEMBER}
members:
  mode: authoritative
  users:
    alice: ADMIN
    root: ADMIN
    bob: {level: MEMBER, projectAccess: VIEW}
    carol: MEMBER
    dave: MEMBER
    eve: {level: MEMBER, projectAccess: VIEW}
jobLogsForwarding:
  url: https://splunk.example.com/services/collector/event
  tokenEnv: SPLUNK_HEC_TOKEN
"""


class Platform(EmulatorControl):
    """A served emulator: its control plane, and the environment that points dxorg at it."""

    def __init__(self, url: str, port: int) -> None:
        super().__init__(url=url, token=CONTROL_TOKEN)
        self.url, self.port = url, port
        self.control = self.http  # the raw control plane, as some tests here use it

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DX_", "SPLUNK"))}
        env.update(
            DX_APISERVER_PROTOCOL="http",
            DX_APISERVER_HOST="127.0.0.1",
            DX_APISERVER_PORT=str(self.port),
            DX_SECURITY_CONTEXT=json.dumps({"auth_token_type": "Bearer", "auth_token": API_TOKEN}),
            DX_USER_CONF_DIR=tempfile.mkdtemp(),
            SPLUNK_HEC_TOKEN=HEC_TOKEN,
        )
        env.update(extra)
        return env


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    emulator = Emulator(
        state_path=tmp_path / "state.db", seed=base_seed(), control_token=CONTROL_TOKEN
    )
    with emulator.serve(port=0) as server:
        yield Platform(server.url, server.port)
    emulator.close()


@pytest.fixture
def orgs(tmp_path: Path) -> Path:
    directory = tmp_path / "orgs"
    directory.mkdir()
    (directory / "org-demo.yaml").write_text(MANIFEST)
    return directory


def dxorg(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DXORG, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_plan_exit_codes_and_formats(platform, orgs, tmp_path):
    env = platform.env()
    plain = dxorg("plan", str(orgs), env=env)
    assert plain.returncode == 0, plain.stderr
    assert "Plan: 2 to add, 2 to change, 0 to remove." in plain.stdout
    detailed = dxorg("plan", str(orgs), "--detailed-exitcode", "--format", "markdown", env=env)
    assert detailed.returncode == 2
    assert detailed.stdout.startswith("## dxorg plan")
    out = tmp_path / "plan.json"
    as_json = dxorg("plan", str(orgs), "--format", "json", "--out", str(out), env=env)
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == json.loads(out.read_text())
    jsonschema.validate(json.loads(out.read_text()), plan_schema())
    assert platform.writes() == []


def test_plan_of_a_bad_manifest_is_a_clear_error_without_a_traceback(platform, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("org: org-demo\nmembers:\n  mode: authoritative\n  users: {alice: BOSS}\n")
    result = dxorg("plan", str(bad), env=platform.env())
    assert result.returncode == 1
    assert f"{bad}:4:" in result.stderr and "BOSS" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_plan_with_an_unreachable_platform_fails_closed(orgs):
    env = Platform("http://127.0.0.1:9", 9).env(DXORG_MAX_RETRY_SECONDS="1")
    result = dxorg("plan", str(orgs), env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "/system/whoami" in result.stderr


def test_apply_refuses_without_a_terminal_or_auto_approve(platform, orgs):
    result = dxorg("apply", str(orgs), env=platform.env())
    assert result.returncode == 1
    assert "--auto-approve" in result.stderr
    assert platform.writes() == []


def test_apply_converges_then_plan_is_empty(platform, orgs, tmp_path):
    env = platform.env()
    journal = tmp_path / "journal.jsonl"
    result = dxorg("apply", str(orgs), "--auto-approve", "--journal", str(journal), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verified: converged." in result.stdout
    again = dxorg("plan", str(orgs), "--detailed-exitcode", env=env)
    assert again.returncode == 0, again.stdout


def test_a_saved_plan_is_refused_when_stale_and_nothing_is_written(platform, orgs, tmp_path):
    env = platform.env()
    plan_file = tmp_path / "plan.json"
    assert dxorg("plan", str(orgs), "--out", str(plan_file), env=env).returncode == 0
    # Someone changes bob by hand between review and apply.
    httpx.post(
        f"{platform.url}/org-demo/setMemberAccess",
        json={"user-bob": {"level": "MEMBER", "projectAccess": "UPLOAD"}},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    ).raise_for_status()
    before = len(platform.writes())
    result = dxorg("apply", "--plan", str(plan_file), "--auto-approve", env=env)
    assert result.returncode == 1
    assert "stale" in result.stderr and "member:user-bob" in result.stderr
    assert len(platform.writes()) == before


def test_no_token_appears_in_any_output_plan_file_or_journal(platform, orgs, tmp_path):
    env = platform.env()
    plan_file, journal = tmp_path / "plan.json", tmp_path / "journal.jsonl"
    outputs = []
    for fmt in ("text", "markdown", "json"):
        outputs.append(dxorg("plan", str(orgs), "--format", fmt, "--out", str(plan_file), env=env))
    outputs.append(
        dxorg(
            "apply", "--plan", str(plan_file), "--auto-approve", "--journal", str(journal), env=env
        )
    )
    outputs.append(
        dxorg("plan", str(orgs), env=platform.env(SPLUNK_HEC_TOKEN=""))
    )  # unset: forwarding unchecked, a warning naming the variable
    texts = [o.stdout + o.stderr for o in outputs] + [plan_file.read_text(), journal.read_text()]
    assert "SPLUNK_HEC_TOKEN (jobLogsForwarding.tokenEnv" in outputs[-1].stdout + outputs[-1].stderr
    for text in texts:
        assert HEC_TOKEN not in text
        assert API_TOKEN not in text
    # It did reach the platform, as its signature.
    state = platform.control.get("/state").json()
    forwarding = state["orgs"][0].get("jobLogsForwarding") or {}
    assert forwarding.get("url") == "https://splunk.example.com/services/collector/event"


def test_a_killed_apply_converges_on_rerun(orgs, tmp_path):
    """kill -9 an apply after its first call; the re-run converges and nothing is doubled."""
    seed = base_seed()
    seed["users"] += [
        {"id": f"user-u{i}", "first": "U", "last": str(i), "email": f"u{i}@x.test"}
        for i in range(10)
    ]
    (orgs / "org-demo.yaml").write_text(
        "org: org-demo\nmembers:\n  mode: additive\n  users:\n"
        + "".join(f"    u{i}: MEMBER\n" for i in range(10))
    )
    emulator = Emulator(state_path=tmp_path / "killed.db", seed=seed, control_token=CONTROL_TOKEN)
    with emulator.serve(port=0) as server:
        platform = Platform(server.url, server.port)
        # The first invite goes through; the second is held in the platform (a latch), so
        # the kill lands mid-run, with that call in flight, however busy the machine is.
        platform.rule("/org-demo/invite", "latency", latencyMs=0)
        platform.rule("/org-demo/invite", "hold")
        journal = tmp_path / "journal.jsonl"
        # One call at a time.
        process = subprocess.Popen(
            [
                DXORG,
                "apply",
                str(orgs),
                "--auto-approve",
                "--journal",
                str(journal),
                "--concurrency",
                "1",
            ],
            env=platform.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        platform.wait_until_held()
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed = [json.loads(x) for x in journal.read_text().splitlines()]
        assert any(r["event"] == "call-done" for r in killed)
        assert not any(r["event"] == "run-end" for r in killed), "the run should have died mid-way"
        # The platform finishes the call the killed run had in flight, as an operator
        # re-running after a crash would find it. (A re-run that reads before such a call
        # lands is a separate case for apply itself.)
        platform.clear_faults()
        journaled = sum(1 for r in killed if r["event"] == "call")
        assert journaled == 2, "the first invite done, the second in flight"
        invites = platform.wait_for_requests("/org-demo/invite", journaled)
        assert [r["status"] for r in invites] == [200] * journaled
        rerun = dxorg(
            "apply", str(orgs), "--auto-approve", "--journal", str(journal), env=platform.env()
        )
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        invited = [
            r["body"]["invitee"]
            for r in platform.writes()
            if r["route"] == "/org-demo/invite" and r["status"] == 200
        ]
        # invite is retryable: the platform accepts a repeat of the one the kill left in
        # flight, so a repeat may be sent; each user must end up invited, as asked, once.
        assert sorted(set(invited)) == sorted(f"user-u{i}" for i in range(10))
        state = platform.control.get("/state").json()
        members = next(o for o in state["orgs"] if o["id"] == "org-demo")["members"]
        assert all(members[f"user-u{i}"]["level"] == "MEMBER" for i in range(10))
    emulator.close()


def test_an_overridden_plan_applies_only_with_the_same_overrides(platform, tmp_path):
    orgs = tmp_path / "big-removal"
    orgs.mkdir()
    (orgs / "org-demo.yaml").write_text(
        "org: org-demo\nmembers:\n  mode: authoritative\n  users: {alice: ADMIN, root: ADMIN}\n"
        "safety: {removalBudget: {members: {count: 2}}}\n"
    )
    env = platform.env()
    refused = dxorg("plan", str(orgs), env=env)
    assert refused.returncode == 1 and "budget.members" in refused.stdout
    plan_file = tmp_path / "plan.json"
    planned = dxorg(
        "plan", str(orgs), "--override", "budget.members", "--out", str(plan_file), env=env
    )
    assert planned.returncode == 0, planned.stdout
    assert json.loads(plan_file.read_text())["overrides"] == ["budget.members"]
    without = dxorg("apply", "--plan", str(plan_file), "--auto-approve", env=env)
    assert without.returncode == 1 and "give apply exactly the plan's --override" in without.stderr
    assert platform.writes() == []
    bogus = dxorg("plan", str(orgs), "--override", "caller", env=env)
    assert bogus.returncode == 1 and "not an overridable rule" in bogus.stderr
    applied = dxorg(
        "apply", "--plan", str(plan_file), "--auto-approve", "--override", "budget.members", env=env
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert sorted(platform.control.get("/state").json()["orgs"][0]["members"]) == [
        "user-alice",
        "user-root",
    ]
