"""The installed `dxorg` as a person runs it: on a terminal (the confirmation, the calls
listed after the bar, colours), Ctrl-C, and `emulator serve` driven by the real `dx`."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from reconciler.emulator import Emulator
from tests.integration.conftest import CONTROL_TOKEN, base_seed
from tests.integration.terminal import run_in_terminal
from tests.integration.test_cli import Platform

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DXORG = str(BIN / "dxorg")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|9[0-7]|38;5;\d+)m")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    directory = tmp_path / "work"
    shutil.copytree(REPO / "examples" / "orgs", directory / "orgs")
    return directory


@pytest.fixture
def env() -> dict[str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DX_", "NO_COLOR", "FORCE_COLOR", "TERM", "COLUMNS", "CI"))
        and k != "DXORG_STATE_DIR"  # these tests look for the default: work/.dxorg
    }
    clean.update(SPLUNK_HEC_TOKEN="demo-hec-token", TERM="xterm-256color")
    return clean


def sandbox_differs(work: Path, env: dict[str, str]) -> bool:
    result = subprocess.run(
        [DXORG, "plan", "orgs", "--sandbox", "--detailed-exitcode"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, 2), result.stderr
    return result.returncode == 2


def journal_calls(work: Path) -> list[dict]:
    journal = work / ".dxorg" / "journal.jsonl"
    if not journal.exists():
        return []
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    return [r for r in records if r["event"] == "call"]


@pytest.mark.parametrize("answer", ["no", "y", "Yes", ""])
def test_only_the_word_yes_applies(work, env, answer):
    run = run_in_terminal(
        [DXORG, "apply", "orgs", "--sandbox"], env=env, cwd=work, answers={"Enter a value:": answer}
    )
    screen = ANSI.sub("", run.output)
    assert run.returncode == 1
    assert "Only 'yes' will be accepted to approve." in screen
    assert screen.rstrip().endswith("Apply cancelled.")
    assert journal_calls(work) == []
    assert sandbox_differs(work, env)


def test_a_plan_apply_would_refuse_is_refused_before_asking(work, env):
    demo = work / "orgs" / "org-demo.yaml"
    text = demo.read_text().replace("requiredAdmins: [alice, dave]", "requiredAdmins: [alice]")
    demo.write_text(text.replace("    user-dave: {level: ADMIN", "    # user-dave: {level: ADMIN"))
    # The one org asked for breaks a rail: nothing is left to apply (with the whole fleet,
    # org-demo alone would be refused and org-clinical asked about).
    run = run_in_terminal(
        [DXORG, "apply", "orgs", "--sandbox", "--org", "org-demo"],
        env=env,
        cwd=work,
        answers={"Enter a value:": "yes"},
    )
    assert run.returncode == 1
    assert "min-admins" in run.output and "the plan cannot be applied" in run.output
    assert "Enter a value:" not in run.output
    assert journal_calls(work) == []


def test_an_org_apply_would_refuse_is_named_and_left_out_of_the_question(work, env):
    """With the whole fleet, org-demo (breaking a rail) is refused before the question,
    which counts org-clinical's calls only; answered yes, only org-clinical is written."""
    demo = work / "orgs" / "org-demo.yaml"
    text = demo.read_text().replace("requiredAdmins: [alice, dave]", "requiredAdmins: [alice]")
    demo.write_text(text.replace("    user-dave: {level: ADMIN", "    # user-dave: {level: ADMIN"))
    plan = subprocess.run(
        [DXORG, "plan", "orgs", "--sandbox", "--org", "org-clinical", "--format", "json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    clinical_calls = len(json.loads(plan.stdout)["orgs"][0]["steps"])
    run = run_in_terminal(
        [DXORG, "apply", "orgs", "--sandbox"], env=env, cwd=work, answers={"Enter a value:": "yes"}
    )
    screen = ANSI.sub("", run.output).replace("\r", "")
    assert run.returncode == 1, screen
    asked = screen.index("Enter a value:")
    assert "org-demo: refused: its plan breaks safety rails" in screen[:asked]
    assert f"dxorg will make the {clinical_calls} API call(s) listed above" in screen
    assert {c["org"] for c in journal_calls(work)} == {"org-clinical"}


def test_yes_applies_and_the_calls_are_listed_after_the_bar(work, env):
    run = run_in_terminal(
        [DXORG, "apply", "orgs", "--sandbox"], env=env, cwd=work, answers={"Enter a value:": "yes"}
    )
    screen = ANSI.sub("", run.output).replace("\r", "")
    assert run.returncode == 0, screen
    # The demo plan's 22 calls (its self-grants are each a grant and its record; its
    # revocations back to no access one call each).
    bar_done = screen.rindex("22/22")
    listed = [line.strip() for line in screen[bar_done:].splitlines() if " done " in f" {line}"]
    assert len(listed) == 22
    assert listed[0] == "done org-clinical#1 /org-clinical/invite"
    assert "done org-demo#1 /user/new" in listed
    assert screen.rstrip().endswith(
        "Apply: 20 action(s) done, 0 failed, 0 skipped (22 of 22 API call(s) made). "
        "Verified: converged."
    )
    assert len(journal_calls(work)) == 22
    assert not sandbox_differs(work, env)


def test_colours_only_on_a_terminal_that_wants_them(work, env):
    args = [DXORG, "plan", "orgs", "--sandbox"]
    coloured = run_in_terminal(args, env=env, cwd=work)
    assert coloured.returncode == 0
    assert COLOUR.search(coloured.output)
    no_color = run_in_terminal(args, env={**env, "NO_COLOR": "1"}, cwd=work)
    assert no_color.returncode == 0 and "Plan: 6 to add" in no_color.output
    assert not COLOUR.search(no_color.output)
    dumb = run_in_terminal(args, env={**env, "TERM": "dumb"}, cwd=work)
    assert dumb.returncode == 0 and "Plan: 6 to add" in dumb.output
    assert not ANSI.search(dumb.output)
    piped = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and "Plan: 6 to add" in piped.stdout
    assert not ANSI.search(piped.stdout + piped.stderr)


def test_ctrl_c_at_the_prompt_exits_130_and_applies_nothing(work, env):
    run = run_in_terminal(
        [DXORG, "apply", "orgs", "--sandbox"], env=env, cwd=work, interrupt_at="Enter a value:"
    )
    assert run.returncode == 130
    assert "Interrupted: nothing was applied." in run.output
    assert journal_calls(work) == []
    assert sandbox_differs(work, env)


def test_ctrl_c_during_apply_sends_no_more_calls_and_says_which_were_made(
    orgs_of_invites, tmp_path
):
    orgs, seed = orgs_of_invites
    emulator = Emulator(state_path=tmp_path / "state.db", seed=seed, control_token=CONTROL_TOKEN)
    with emulator.serve(port=0) as server:
        platform = Platform(server.url, server.port)
        # The first invite goes through; the second is held in the platform (a latch):
        # Ctrl-C comes while it is in flight, however busy the machine is.
        platform.rule("/org-demo/invite", "latency", latencyMs=0)
        platform.rule("/org-demo/invite", "hold")
        journal = tmp_path / "journal.jsonl"
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
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        platform.wait_until_held()
        process.send_signal(signal.SIGINT)
        # Once dxorg says it heard the Ctrl-C (it then sends no more), the held call goes on
        # and lands: "finishing the calls in flight".
        assert process.stderr is not None
        heard = ""
        while "Interrupt received" not in heard:
            line = process.stderr.readline()
            assert line, "dxorg ended without hearing the Ctrl-C"
            heard += line
        platform.clear_faults()
        out, err = process.communicate(timeout=60)
        err = heard + err
        assert process.returncode == 130, out + err
        invited = [r for r in platform.writes() if r["route"] == "/org-demo/invite"]
        made = len(invited)
        assert 1 <= made < 10, "the interrupt stopped the run part-way"
        assert "Interrupt received" in err
        assert f"Interrupted: {made} of the plan's 10 API call(s) were made" in err
        assert len([line for line in out.splitlines() if line.strip().startswith("done ")]) == made
        records = [json.loads(line) for line in journal.read_text().splitlines()]
        assert len([r for r in records if r["event"] == "call-done"]) == made
        assert len([r for r in records if r["event"] == "call"]) == made, "no call journaled unsent"
    emulator.close()


@pytest.fixture
def orgs_of_invites(tmp_path: Path) -> tuple[Path, dict]:
    seed = base_seed()
    seed["users"] += [
        {"id": f"user-u{i}", "first": "U", "last": str(i), "email": f"u{i}@x.test"}
        for i in range(10)
    ]
    orgs = tmp_path / "orgs"
    orgs.mkdir()
    (orgs / "org-demo.yaml").write_text(
        "org: org-demo\nmembers:\n  mode: additive\n  users:\n"
        + "".join(f"    u{i}: MEMBER\n" for i in range(10))
    )
    return orgs, seed


# ---------------------------------------------------------------- emulator serve


def serve(work: Path, env: dict[str, str], *extra: str) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        [DXORG, "emulator", "serve", "--port", "0", "--state", "state.db", *extra],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    banner: list[str] = []
    while not banner or not banner[-1].startswith("Ctrl-C"):
        line = process.stdout.readline()
        if not line:
            break
        banner.append(line.rstrip("\n"))
    return process, banner


def dx_env(env: dict[str, str], port: int, conf: Path, token: str) -> dict[str, str]:
    return {
        **env,
        "DX_USER_CONF_DIR": str(conf),
        "DX_APISERVER_PROTOCOL": "http",
        "DX_APISERVER_HOST": "127.0.0.1",
        "DX_APISERVER_PORT": str(port),
        "DX_SECURITY_CONTEXT": json.dumps({"auth_token_type": "Bearer", "auth_token": token}),
    }


def test_serve_without_seed_serves_the_demo_seed_and_dx_talks_to_it(work, env, tmp_path):
    process, banner = serve(work, env)
    try:
        assert "seed: the demo seed (the one --sandbox uses), loaded" in banner, banner
        port = int(banner[0].rsplit(":", 1)[1])
        dx = subprocess.run(
            [str(BIN / "dx"), "find", "org", "members", "org-demo", "--json"],
            env=dx_env(env, port, tmp_path, "alice-token"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert dx.returncode == 0, dx.stderr
        members = {m["id"] for m in json.loads(dx.stdout)}
        assert {"user-alice", "user-carol", "user-grace"} <= members
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert process.returncode == 0


def test_serve_seed_none_is_an_empty_platform(work, env):
    process, banner = serve(work, env, "--seed", "none")
    try:
        assert "seed: none (an empty platform)" in banner, banner
        url = banner[0].rsplit(" ", 1)[-1]
        whoami = httpx.post(
            f"{url}/system/whoami", json={}, headers={"Authorization": "Bearer alice-token"}
        )
        assert whoami.status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_a_change_made_while_the_prompt_is_open_refuses_the_apply(work, env):
    """Apply plans again after the 'yes': an admin who changed the org meanwhile (here,
    while the confirmation waited) makes the plan stale, and nothing is sent."""

    def someone_changes_bob() -> str:
        # Another process on the same sandbox state: the platform as another admin sees it.
        emulator = Emulator(state_path=work / ".dxorg" / "sandbox.db")
        try:
            with httpx.Client(
                transport=emulator.transport(),
                base_url="http://sandbox.invalid",
                headers={"Authorization": "Bearer carol-token"},
            ) as carol:  # an ADMIN of org-demo, by hand
                carol.post(
                    "/org-demo/setMemberAccess",
                    json={"user-bob": {"level": "MEMBER", "projectAccess": "VIEW"}},
                ).raise_for_status()
        finally:
            emulator.close()
        return "yes"

    run = run_in_terminal(
        [DXORG, "apply", "orgs", "--sandbox"],
        env=env,
        cwd=work,
        answers={"Enter a value:": someone_changes_bob},
    )
    screen = ANSI.sub("", run.output).replace("\r", "")
    assert run.returncode == 1, screen
    assert "the plan is stale" in screen
    assert "member:user-bob projectAccess CONTRIBUTE -> VIEW since the plan" in screen
    assert journal_calls(work) == []
