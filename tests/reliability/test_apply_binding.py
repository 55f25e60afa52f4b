"""A plan bound to its platform, one apply at a time, a journal that fails cleanly, and
SIGTERM handled like Ctrl-C: real `dxorg` processes against an emulator on loopback."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from reconciler.apply.lock import ApplyLocked, apply_lock
from reconciler.emulator import Emulator
from tests.emulator_harness import EmulatorControl, is_write
from tests.integration.conftest import CONTROL_TOKEN, base_seed

DXORG = str(Path(sys.executable).parent / "dxorg")
INVITEES = [f"user-u{i}" for i in range(10)]
MANIFEST = "org: org-demo\nmembers:\n  mode: additive\n  users:\n" + "".join(
    f"    {u.removeprefix('user-')}: MEMBER\n" for u in INVITEES
)


def seed() -> dict:
    data = base_seed()
    data["users"] += [{"id": u, "first": "U", "last": u, "email": f"{u}@x.test"} for u in INVITEES]
    return data


class Served:
    """An emulator served on loopback, with its control plane."""

    def __init__(self, url: str, port: int) -> None:
        self.url, self.port = url, port
        self.control = httpx.Client(
            base_url=f"{url}/_emulator",
            headers={"Authorization": f"Bearer {CONTROL_TOKEN}"},
            timeout=60,
        )

    def env(self, token: str = "alice-token") -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DX_", "SPLUNK"))}
        env.update(
            DX_APISERVER_PROTOCOL="http",
            DX_APISERVER_HOST="127.0.0.1",
            DX_APISERVER_PORT=str(self.port),
            DX_SECURITY_CONTEXT=json.dumps({"auth_token_type": "Bearer", "auth_token": token}),
            DX_USER_CONF_DIR=tempfile.mkdtemp(),
            DXORG_MAX_RETRY_SECONDS="10",
        )
        return env

    def requests(self) -> list[dict]:
        return list(self.control.get("/requests").json()["requests"])

    def writes(self) -> list[dict]:
        return [r for r in self.requests() if is_write(r["route"])]

    def invited(self) -> list[str]:
        return [
            r["body"]["invitee"]
            for r in self.writes()
            if r["route"] == "/org-demo/invite" and r["status"] == 200
        ]

    def slow_invites(self, ms: int = 300) -> None:
        """Invites take `ms` each, so that a signal or a second apply lands mid-run."""
        self.control.post(
            "/rules",
            json={"route": "/org-demo/invite", "count": 100, "fault": "latency", "latencyMs": ms},
        ).raise_for_status()

    def clear_rules(self) -> None:
        self.control.post("/faults/clear").raise_for_status()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    emulator = Emulator(state_path=tmp_path / "served.db", seed=seed(), control_token=CONTROL_TOKEN)
    with emulator.serve(port=0) as server:
        yield Served(server.url, server.port)
    emulator.close()


@pytest.fixture
def orgs(tmp_path: Path) -> Path:
    directory = tmp_path / "orgs"
    directory.mkdir()
    (directory / "org-demo.yaml").write_text(MANIFEST)
    return directory


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "seed.yaml"
    path.write_text(yaml.safe_dump(seed()))
    return path


def dxorg(*args: str, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DXORG, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


def journal_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def wait_for_lines(path: Path, lines: int, process: subprocess.Popen) -> None:
    """The latch: until the journal has `lines` lines (or the process ended)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") >= lines:
            return
        time.sleep(0.005)
    raise AssertionError(f"the journal never reached {lines} lines")


# ---------------------------------------------------------------- 18.9: plans bound to a platform


def test_a_sandbox_plan_is_refused_on_the_served_emulator_with_nothing_sent(
    served, orgs, seed_file, tmp_path
):
    plan = tmp_path / "plan.json"
    state = tmp_path / "sandbox" / "sandbox.db"
    sandbox = ["--sandbox", "--sandbox-state", str(state), "--sandbox-seed", str(seed_file)]
    made = dxorg("plan", str(orgs), "--out", str(plan), *sandbox, env=served.env())
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"Platform: the sandbox {state.resolve()} as user-alice\n")
    saved = json.loads(plan.read_text())
    assert saved["platform"] == {
        "apiServer": "sandbox",
        "sandboxState": str(state.resolve()),
        "user": "user-alice",
    }
    assert "alice-token" not in plan.read_text()

    # The same org ids, the same user, on another platform: DX_* still exported.
    applied = dxorg(
        "apply", "--plan", str(plan), "--auto-approve", "--journal", str(tmp_path / "j.jsonl"),
        env=served.env(),
    )  # fmt: skip
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert f"the plan was read from the sandbox {state.resolve()}" in applied.stderr
    assert f"this apply is on http://127.0.0.1:{served.port}" in applied.stderr
    assert "Traceback" not in applied.stderr
    assert served.writes() == []


def test_a_served_plan_is_refused_on_the_sandbox(served, orgs, seed_file, tmp_path):
    plan = tmp_path / "plan.json"
    made = dxorg("plan", str(orgs), "--out", str(plan), env=served.env())
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"Platform: http://127.0.0.1:{served.port} as user-alice\n")
    state = tmp_path / "sandbox.db"
    sandbox = ["--sandbox", "--sandbox-state", str(state), "--sandbox-seed", str(seed_file)]
    applied = dxorg(
        "apply", "--plan", str(plan), "--auto-approve", "--journal", str(tmp_path / "j.jsonl"),
        *sandbox, env=served.env(),
    )  # fmt: skip
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert f"the plan was read from http://127.0.0.1:{served.port}" in applied.stderr
    assert f"this apply is on the sandbox {state.resolve()}" in applied.stderr
    # Nothing was written to the sandbox: it still differs from the manifest as before.
    again = dxorg("plan", str(orgs), "--detailed-exitcode", *sandbox, env=served.env())
    assert again.returncode == 2, again.stdout + again.stderr
    assert "Plan: 10 to add" in again.stdout


def test_a_plan_from_one_sandbox_is_refused_on_another(served, orgs, seed_file, tmp_path):
    plan = tmp_path / "plan.json"
    first, second = tmp_path / "a" / "sandbox.db", tmp_path / "b" / "sandbox.db"
    made = dxorg(
        "plan", str(orgs), "--out", str(plan), "--sandbox", "--sandbox-state", str(first),
        "--sandbox-seed", str(seed_file), env=served.env(),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    applied = dxorg(
        "apply", "--plan", str(plan), "--auto-approve", "--journal", str(tmp_path / "j.jsonl"),
        "--sandbox", "--sandbox-state", str(second), "--sandbox-seed", str(seed_file),
        env=served.env(),
    )  # fmt: skip
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert f"read from the sandbox {first.resolve()}" in applied.stderr
    assert f"this apply is on the sandbox {second.resolve()}" in applied.stderr


def test_a_plan_made_as_another_user_is_refused_naming_both(served, orgs, tmp_path):
    plan = tmp_path / "plan.json"
    made = dxorg("plan", str(orgs), "--out", str(plan), env=served.env("alice-token"))
    assert made.returncode == 0, made.stderr
    applied = dxorg(
        "apply", "--plan", str(plan), "--auto-approve", "--journal", str(tmp_path / "j.jsonl"),
        env=served.env("root-token"),
    )  # fmt: skip
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "the plan was made as user-alice; this apply's token is user-root's" in applied.stderr
    assert served.writes() == []
    # The same plan on the platform and as the user it was made for applies.
    ok = dxorg(
        "apply", "--plan", str(plan), "--auto-approve", "--journal", str(tmp_path / "j.jsonl"),
        env=served.env("alice-token"),
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert sorted(served.invited()) == INVITEES


# ---------------------------------------------------------------- 18.10: one apply at a time


def test_a_second_apply_on_one_state_directory_refuses_at_once(served, orgs, tmp_path):
    journal = tmp_path / ".dxorg" / "journal.jsonl"
    # Ten seconds of invites: the second apply starts (and refuses) well inside them.
    served.slow_invites(1000)
    command = [DXORG, "apply", str(orgs), "--auto-approve", "--journal", str(journal)]
    first = subprocess.Popen(
        [*command, "--concurrency", "1"],
        env=served.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # The first apply is writing: its first invite is journaled as sent.
        wait_for_lines(journal, 2, first)
        assert first.poll() is None
        # The second, with another admin's token so that the log tells its requests apart.
        second = dxorg(*command[1:], env=served.env("root-token"))
        assert first.poll() is None, "the second apply waited for the first"
    finally:
        first.send_signal(signal.SIGTERM)  # the first stops cleanly: its calls all landed
        first.wait()
    assert second.returncode == 1, second.stdout + second.stderr
    assert (
        f"another dxorg apply is running with this state directory (pid {first.pid} on "
        f"{socket.gethostname()}, started " in second.stderr
    )
    assert "kill" in second.stderr and str(journal.parent / "apply.lock") in second.stderr
    assert "Traceback" not in second.stderr
    assert [r for r in served.requests() if r["caller"] == "user-root"] == []

    # Released: the next apply runs and converges, each user invited exactly once.
    served.clear_rules()
    rerun = dxorg(*command[1:], env=served.env())
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert sorted(served.invited()) == INVITEES


def lock_holder(state_dir: Path) -> subprocess.Popen[str]:
    """Another process holding `state_dir`'s apply lock (until killed), once it holds it."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from reconciler.apply.lock import apply_lock\n"
            f"with apply_lock(Path({str(state_dir)!r})):\n"
            "    print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    if holder.stdout.readline() != "held\n":
        holder.kill()
        holder.wait()
        pytest.fail("the lock holder never held the lock")
    return holder


def test_a_holder_killed_with_sigkill_leaves_no_stale_lock(tmp_path):
    holder = lock_holder(tmp_path)
    try:
        with pytest.raises(ApplyLocked, match=f"pid {holder.pid} on "), apply_lock(tmp_path):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with apply_lock(tmp_path) as lock:  # taken at once: the kernel released the dead holder's
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert lock.read_text() == ""  # released: no holder left in the file


def test_deleting_the_lock_file_does_not_let_a_second_apply_in(tmp_path):
    holder = lock_holder(tmp_path)
    try:
        (tmp_path / "apply.lock").unlink()  # what the refusal says does not release it
        refused = pytest.raises(ApplyLocked, match="Deleting files does not release the lock")
        with refused, apply_lock(tmp_path):
            pass
        assert not (tmp_path / "apply.lock").exists()  # the refused one wrote nothing
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with apply_lock(tmp_path) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()


@pytest.mark.parametrize("entry", ["apply.lock", "journal.jsonl"])
def test_a_state_directory_entry_that_is_a_link_is_refused_untouched(served, orgs, tmp_path, entry):
    """A checkout can plant links in the state directory: apply must not write through
    them (an emptied or appended-to file elsewhere)."""
    state = tmp_path / ".dxorg"
    state.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("precious content\n")
    (state / entry).symlink_to(target)
    applied = dxorg(
        "apply", str(orgs), "--auto-approve", "--journal", str(state / "journal.jsonl"),
        env=served.env(),
    )  # fmt: skip
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert f"error: {state / entry}: is a symbolic link" in applied.stderr
    assert "Traceback" not in applied.stderr
    assert target.read_text() == "precious content\n"
    assert (state / entry).is_symlink()
    assert served.writes() == []


def test_a_journal_that_is_not_a_regular_file_is_refused(served, orgs, tmp_path):
    journal = tmp_path / "journal.jsonl"
    os.mkfifo(journal)  # opening it to append would block, or feed a reader elsewhere
    applied = dxorg(
        "apply", str(orgs), "--auto-approve", "--journal", str(journal), env=served.env()
    )
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert f"error: {journal}: is not a regular file" in applied.stderr
    assert served.writes() == []


# ---------------------------------------------------------------- 19.8: a journal that fails


def test_a_journal_that_cannot_grow_stops_the_apply_cleanly(served, orgs, tmp_path):
    journal = tmp_path / "journal.jsonl"
    limit = 2500  # bytes: the run-start record and a few calls fit, the apply does not

    def small_files() -> None:  # a file-size limit, as `ulimit -f` sets; SIGXFSZ ignored
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    command = [
        "apply",
        str(orgs),
        "--auto-approve",
        "--journal",
        str(journal),
        "--concurrency",
        "1",
    ]
    stopped = dxorg(*command, env=served.env(), preexec_fn=small_files)
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert "error: the journal could not be written" in stopped.stderr
    assert "File too large" in stopped.stderr
    raw = journal.read_bytes()
    assert raw.endswith(b"\n") and len(raw) <= limit
    records = journal_records(journal)  # every line whole: no torn line
    sent = [r for r in records if r["event"] == "call"]
    assert sent, "the limit should leave room for some calls"
    last = records[-1] if records[-1]["event"].startswith("call") else None
    assert last is not None
    assert f"The last call journaled: {last['step']} {last['route']}" in stopped.stderr
    # Every call the platform received is one the journal recorded before it was sent.
    invited = served.invited()
    journaled = [r["body"]["invitee"] for r in sent if r["route"] == "/org-demo/invite"]
    assert invited and set(invited) <= set(journaled)
    assert len(invited) < len(INVITEES)

    rerun = dxorg(*command, env=served.env())
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert sorted(served.invited()) == INVITEES


def test_a_journal_stop_is_a_stop_and_blames_no_admin(served, tmp_path):
    """Found by an adversarial review: after the journal failed, the admin guard still
    read the org's admins and reported the required admin whose promotion was never sent
    as "not ADMIN any more", held the demotion back as "skipped: admin guard", and the
    never-sent calls were counted failed. A journal stop is a stop, as a signal's is."""
    orgs = tmp_path / "orgs"
    orgs.mkdir()
    (orgs / "org-demo.yaml").write_text(
        MANIFEST
        + "    alice: ADMIN\n    bob: ADMIN\n    root: MEMBER\n  requiredAdmins: [alice, bob]\n"
    )
    journal = tmp_path / "journal.jsonl"
    limit = 2500  # bytes: the run-start record and a few invites fit, the promotion does not

    def small_files() -> None:  # a file-size limit, as `ulimit -f` sets; SIGXFSZ ignored
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    stopped = dxorg(
        "apply", str(orgs), "--auto-approve", "--journal", str(journal), "--concurrency", "1",
        env=served.env(), preexec_fn=small_files,
    )  # fmt: skip
    out, err = stopped.stdout, stopped.stderr
    assert stopped.returncode == 1, out + err
    assert "error: the journal could not be written" in err
    records = journal_records(journal)
    last = next(r for r in reversed(records) if r["event"].startswith("call"))
    assert f"The last call journaled: {last['step']} {last['route']}" in err
    # Neither the promotion nor the demotion was sent, and no admin is blamed.
    assert not [w for w in served.writes() if w["route"] == "/org-demo/setMemberAccess"]
    assert "admins changed" not in out + err and "not ADMIN any more" not in out + err
    assert "admin guard" not in out + err
    # No fresh read of the admins after the stop.
    assert not [
        r for r in served.requests() if r["route"] == "/org-demo/findMembers" and
        (r.get("body") or {}).get("level") == "ADMIN"
    ]  # fmt: skip
    # What was never sent is counted not sent, never failed.
    (summary,) = [line for line in out.splitlines() if line.startswith("Apply:")]
    assert ", 0 failed, 0 skipped, " in summary and " not sent" in summary, summary


def test_a_state_directory_that_cannot_grow_is_a_clean_error_before_any_read(
    served, orgs, tmp_path
):
    # The apply lock's holder file is the first thing written: a file-size limit of 0 (a
    # full disk does the same) is one error line naming it, never a traceback.
    def no_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    state = tmp_path / "state"
    command = ["apply", str(orgs), "--auto-approve", "--journal", str(state / "journal.jsonl")]
    refused = dxorg(*command, env=served.env(), preexec_fn=no_files)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
    assert f"{state / 'apply.lock'}: cannot be written: File too large" in refused.stderr
    assert served.writes() == []


# ---------------------------------------------------------------- 19.8: SIGTERM


@pytest.mark.parametrize("concurrency", [1, 2])
def test_sigterm_finishes_the_calls_in_flight_and_ends_the_run(served, orgs, tmp_path, concurrency):
    journal = tmp_path / "journal.jsonl"
    control = EmulatorControl(url=served.url, token=CONTROL_TOKEN, timeout=60)
    # The latch: every invite waits at the emulator until released, so SIGTERM comes
    # while `concurrency` calls are in flight, whatever the machine's speed.
    control.rule("/org-demo/invite", "hold", count=100)
    command = [DXORG, "apply", str(orgs), "--auto-approve", "--journal", str(journal)]
    process = subprocess.Popen(
        [*command, "--concurrency", str(concurrency)],
        env=served.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr: list[str] = []
    told = threading.Event()

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            stderr.append(line)
            if "SIGTERM received" in line:
                told.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        control.wait_until_held(concurrency)
        process.send_signal(signal.SIGTERM)
        assert told.wait(60), "dxorg never said it received SIGTERM"
        control.clear_faults()  # the calls in flight are answered only now
        out, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(10)
    err = "".join(stderr)
    assert process.returncode == 143, out + err
    assert "Traceback" not in err
    records = journal_records(journal)
    assert records[-1]["event"] == "run-end"
    # Every call sent has its answer journaled: none left in flight unaccounted for (one
    # the stop caught between its record and its send: `not-sent`).
    sent = [r["step"] for r in records if r["event"] == "call"]
    ended = {r["step"] for r in records if r["event"] in ("call-done", "call-failed", "not-sent")}
    assert sent and set(sent) <= ended
    done = [r for r in records if r["event"] == "call-done"]
    # The calls in flight landed; no other was sent after the signal.
    assert len(served.invited()) == len(done) == concurrency < len(INVITEES)
    assert "not sent" in out

    rerun = dxorg(*command[1:], env=served.env())
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert sorted(served.invited()) == INVITEES


def test_sigterm_ends_a_call_in_flight_with_its_attempt_not_its_retries(served, orgs, tmp_path):
    """A call hanging when SIGTERM comes is not tried again (its retries could outlast the
    runner's grace before SIGKILL): nothing more is sent, the call is unknown, exit 143."""
    journal = tmp_path / "journal.jsonl"
    served.control.post(
        "/rules", json={"route": "/org-demo/invite", "count": 100, "fault": "hang"}
    ).raise_for_status()
    env = {**served.env(), "DXORG_REQUEST_DEADLINE_SECONDS": "2"}
    command = [DXORG, "apply", str(orgs), "--auto-approve", "--journal", str(journal)]
    process = subprocess.Popen(
        [*command, "--concurrency", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not [r for r in served.requests() if r["route"] == "/org-demo/invite"]:
        assert process.poll() is None and time.monotonic() < deadline, "no invite was sent"
        time.sleep(0.01)
    last_seen = max(r["seq"] for r in served.requests())
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143, out + err
    assert [r for r in served.writes() if r["seq"] > last_seen] == []
    records = journal_records(journal)
    calls = [r["event"] for r in records if r["event"].startswith("call-")]
    assert calls[0] == "call-unknown" and set(calls[1:]) <= {"call-resolved"}, calls
    assert records[-1]["event"] == "run-end" and records[-1]["exitCode"] == 143

    served.clear_rules()
    rerun = dxorg(*command[1:], env=served.env())
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert sorted(served.invited()) == INVITEES


def test_sigterm_ends_the_journal_as_the_process_ends_and_blames_no_admin(served, tmp_path):
    """The run-end record says what the process says: exit 143, the calls never sent as
    not sent (not failed); and the promotion that was not sent is not reported as an
    admin someone took away (the demotion after it is simply not sent either)."""
    orgs = tmp_path / "orgs"
    orgs.mkdir()
    (orgs / "org-demo.yaml").write_text(
        MANIFEST
        + "    alice: ADMIN\n    bob: ADMIN\n    root: MEMBER\n  requiredAdmins: [alice, bob]\n"
    )
    journal = tmp_path / "journal.jsonl"
    # 2 s an invite: the run cannot end in the latch's lag on a busy machine.
    served.slow_invites(2000)
    process = subprocess.Popen(
        [DXORG, "apply", str(orgs), "--auto-approve", "--journal", str(journal),
         "--concurrency", "1"],
        env=served.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    wait_for_lines(journal, 2, process)  # run-start, then the first call is out
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143, out + err
    assert not [w for w in served.writes() if w["route"] == "/org-demo/setMemberAccess"]
    records = journal_records(journal)
    end = records[-1]
    assert end["event"] == "run-end" and end["exitCode"] == 143, end
    done = len([r for r in records if r["event"] == "call-done"])
    assert end["summary"].startswith(f"Apply: {done} action(s) done, 0 failed, 0 skipped, ")
    assert "not sent. Interrupted (SIGTERM): no more calls were sent." in end["summary"]
    # The CLI's line is the journal's (actions), with the calls it listed in brackets.
    assert end["summary"].split(" not sent")[0] in out
    assert f"({done} of 12 API call(s) made, {12 - done} not sent)." in out
    assert "admins changed" not in out + err
    assert not [r for r in records if r["event"] == "admin-guard"]
    assert "Traceback" not in err
