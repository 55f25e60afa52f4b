"""Provisioning never adopts a stranger, never launders a member, and resumes honestly.

An account is the one a provisioning entry asks for only when the platform shows the
entry's email for it (it shows an email only to the account itself), or when dxorg holds
the answer `/user/new` gave it. That a username exists never counts.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.apply.journal import Journal, created_accounts
from reconciler.apply.run import apply_reviewed
from reconciler.emulator import Emulator
from reconciler.manifest import load_fleet
from reconciler.platform import Connection, ReadClient
from reconciler.read_and_plan import plan_fleet, platform_where
from tests.integration.conftest import CONTROL_TOKEN, FAST_RETRY, base_seed, config_for
from tests.reliability.conftest import CliRunner, Served
from tests.reliability.test_crash import DXORG, journal_lines

ENTRY = "  - {username: newbie, email: newbie@example.com, first: New, last: Bie}\n"
PROVISION = "org: org-demo\nprovisioning:\n" + ENTRY
HERE = platform_where(config_for())  # where the in-process emulator is, as the journal says
STRANGER = {"username": "Newbie", "email": "stranger@example.com", "first": "Not", "last": "Us"}


def write_orgs(root: Path, text: str) -> Path:
    orgs = root / "orgs"
    orgs.mkdir(parents=True, exist_ok=True)
    (orgs / "org-demo.yaml").write_text(text)
    return orgs


class StrangerRegistersFirst(httpx.BaseTransport):
    """The emulator's own transport; the moment dxorg's `/user/new` goes out, a stranger
    (frank, signing up for himself) registers the same username, just before it."""

    def __init__(self, emulator: Emulator) -> None:
        self.inner = emulator.transport()
        self.stranger = httpx.Client(
            transport=emulator.transport(),
            base_url="http://emulator.invalid",
            headers={"Authorization": "Bearer frank-token"},
        )
        self.registered = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/user/new" and not self.registered:
            self.stranger.post("/user/new", json=STRANGER).raise_for_status()
            self.registered = True
        return self.inner.handle_request(request)


@pytest.fixture
def emulator() -> Any:
    emu = Emulator(seed=base_seed(), control_token=CONTROL_TOKEN)
    yield emu
    emu.close()


def apply_once(
    emu: Emulator, orgs: Path, journal: Path, transport: httpx.BaseTransport | None = None
) -> Any:
    fleet = load_fleet([orgs])
    with ReadClient(config_for(), transport=emu.transport(), retry=FAST_RETRY) as reader:
        plan = plan_fleet(fleet, reader, created_accounts=created_accounts(journal, HERE))
    connection = Connection(config_for(), transport=transport or emu.transport(), retry=FAST_RETRY)
    return apply_reviewed(
        plan,
        fleet,
        connection,
        journal=Journal(journal),
        env={},
        created_accounts=created_accounts(journal, HERE),
    )


def newbie_invites(emu: Emulator) -> list[dict[str, Any]]:
    return [
        r
        for r in emu.control.requests()
        if r["route"] == "/org-demo/invite"
        and (r.get("body") or {}).get("invitee") == "user-newbie"
    ]


def is_member(emu: Emulator, user_id: str) -> bool:
    org = next(o for o in emu.control.state()["orgs"] if o["id"] == "org-demo")
    return user_id in org["members"]


# ---------------------------------------------------------------- 19.2: the race


@pytest.mark.parametrize("fault", ["drop-before", "drop-after"])
def test_a_lost_user_new_answer_while_a_stranger_registers_never_invites_the_stranger(
    tmp_path: Path, emulator: Emulator, fault: str
) -> None:
    """The answer to dxorg's /user/new is lost (dropped before or after it was processed)
    while a stranger registers the username: the "did it land?" check finds an account
    but cannot show it is dxorg's, so it is not invited, the apply fails and says why."""
    orgs = write_orgs(tmp_path, PROVISION)
    emulator.control.add_rule("/user/new", fault, count=1, retry_after=0)
    journal = tmp_path / "journal.jsonl"
    report = apply_once(emulator, orgs, journal, StrangerRegistersFirst(emulator))
    assert report.exit_code != 0
    (outcome,) = report.orgs[0].outcomes[:1]
    # Dropped after processing, whether this request made the account is unknown, and
    # verification cannot settle it (the plan holds the account back as a stranger's): it is
    # never counted as landed. Dropped before, a read showed no account yet: it failed.
    if fault == "drop-after":
        assert outcome.status == "unknown"
        assert [c.resolution for c in report.orgs[0].unknown_calls] == [None]
    else:
        assert outcome.status == "failed" and report.orgs[0].unknown_calls == ()
    assert "cannot tell whether this request created it" in (outcome.detail or "")
    assert newbie_invites(emulator) == [] and not is_member(emulator, "user-newbie")
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert not any(r.get("landedByCheck") for r in records)
    # The next plan does not take the account for dxorg's either: a violation, no invite.
    fleet = load_fleet([orgs])
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as reader:
        plan = plan_fleet(fleet, reader, created_accounts=created_accounts(journal, HERE))
    assert plan.orgs[0].actions == ()
    (violation,) = plan.orgs[0].violations
    assert violation.rule == "provisioning" and "members.users" in violation.message


def test_a_user_new_refused_as_taken_is_never_read_as_created(
    tmp_path: Path, emulator: Emulator
) -> None:
    """A stranger takes the username between plan and the /user/new: the platform refuses
    it ("already taken"). The journal's `call` line for it is not evidence that dxorg
    created the account, so the next plan never invites it."""
    orgs = write_orgs(tmp_path, PROVISION)
    journal = tmp_path / "journal.jsonl"
    report = apply_once(emulator, orgs, journal, StrangerRegistersFirst(emulator))
    assert report.exit_code != 0
    assert "already taken" in (report.orgs[0].outcomes[0].detail or "")
    assert created_accounts(journal, HERE) == {}
    fleet = load_fleet([orgs])
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as reader:
        plan = plan_fleet(fleet, reader, created_accounts=created_accounts(journal, HERE))
    assert plan.orgs[0].actions == () and not plan.applyable
    assert [v.rule for v in plan.orgs[0].violations] == ["provisioning"]
    assert newbie_invites(emulator) == []


# ---------------------------------------------------------------- 18.6: members


def test_a_provisioning_entry_for_an_existing_member_is_refused_and_not_reported_provisioned(
    tmp_path: Path, served: Served, cli: CliRunner
) -> None:
    """root is a live ADMIN; an entry provisioning "root" (another email) must neither pass
    in silence nor make the access review call root a MEMBER "provisioned" with no drift."""
    orgs = write_orgs(
        tmp_path,
        "org: org-demo\nprovisioning:\n"
        "  - {username: root, email: someone@example.com, first: R, last: Oot}\n",
    )
    env = served.env()
    planned = cli("plan", str(orgs), env=env)
    assert planned.code == 1, planned.text
    assert "user-root" in planned.text and "already a member of org-demo (ADMIN)" in planned.text
    applied = cli("apply", str(orgs), "--auto-approve", env=env)
    assert applied.code == 1 and "provisioning" in applied.text
    assert [w for w in served.writes() if w["httpMethod"] == "POST"] == []  # GET: auth probe
    out = tmp_path / "review.json"
    reviewed = cli("report", str(orgs), "--format", "json", "--out", str(out), env=env)
    assert reviewed.code == 0, reviewed.text
    demo = next(o for o in json.loads(out.read_text())["orgs"] if o["org"] == "org-demo")
    root = next(m for m in demo["members"] if m["user"] == "user-root")
    assert root["status"] == "unmanaged" and root["live"]["level"] == "ADMIN"
    assert root["provisioned"] is None and root["declared"] is None
    assert [(a["user"], a["state"]) for a in demo["provisioned"]] == [("user-root", "unverified")]


def test_an_entry_for_a_member_the_platform_shows_with_that_email_is_adopted_with_a_warning(
    tmp_path: Path, served: Served, cli: CliRunner
) -> None:
    """The platform shows alice's email to alice's own token: that entry is hers, adopted,
    and the plan says so."""
    orgs = write_orgs(
        tmp_path,
        "org: org-demo\nprovisioning:\n"
        "  - {username: alice, email: Alice@Example.com, first: A, last: Lice}\n",
    )
    planned = cli("plan", str(orgs), "--detailed-exitcode", env=served.env())
    assert planned.code == 0, planned.text
    assert "user-alice" in planned.text and "adopted as this entry's account" in planned.text


# ---------------------------------------------------------------- 19.3: kill, then resume


def kill_once_invite_is_out(
    command: list[str], env: dict[str, str], journal: Path, control: httpx.Client
) -> None:
    """Run `command`; SIGKILL it once its journal shows the org invite sent, which the
    emulator holds (and then drops unprocessed), so the kill lands after `/user/new`
    answered and before any invite took effect."""
    control.post(
        "/rules",
        json={
            "route": "/org-demo/invite",
            "fault": "drop-before",
            "latencyMs": 2000,
            "count": 1000,
            "retryAfter": 0,
        },
    ).raise_for_status()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if journal_lines(journal) and '"/org-demo/invite"' in journal.read_text():
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.001)
        process.wait()
    finally:
        control.post("/faults/clear").raise_for_status()
    assert process.returncode == -signal.SIGKILL, "apply ended before the invite went out"


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


@pytest.mark.parametrize(
    "journal_kept",
    [False, True, "restored"],
    ids=["fresh-journal", "same-journal", "fresh-state-dir-with-journals-restored"],
)
def test_apply_killed_between_user_new_and_the_invite_resumes_without_a_stranger(
    tmp_path: Path, served: Served, journal_kept: bool | str
) -> None:
    orgs = write_orgs(tmp_path, PROVISION)
    env = served.env(DXORG_MAX_RETRY_SECONDS="10")
    killed_journal = tmp_path / "killed.jsonl"
    kill_once_invite_is_out(
        [DXORG, "apply", str(orgs), "--auto-approve", "--journal", str(killed_journal)],
        env,
        killed_journal,
        served.control,
    )
    done = [json.loads(line) for line in killed_journal.read_text().splitlines()]
    assert any(r["event"] == "call-done" and r["route"] == "/user/new" for r in done)
    assert [r for r in newbie_invites_served(served) if r["status"] == 200] == []
    user = next(u for u in served.control.get("/state").json()["users"] if u["id"] == "user-newbie")
    assert user["email"] == "newbie@example.com"

    journal = killed_journal if journal_kept is True else tmp_path / "fresh.jsonl"
    more: list[str] = []
    if journal_kept == "restored":
        # A new runner: a fresh state directory holding the killed run's journal where the
        # Action restores the dxorg-journal branch's files (journals/<year>/...).
        state = tmp_path / "fresh-state"
        restored = state / "journals" / "2026" / "2026-12-05-run7-1-org-demo.jsonl"
        restored.parent.mkdir(parents=True)
        restored.write_bytes(killed_journal.read_bytes())
        more = ["--state-dir", str(state)]
    again = run(
        [DXORG, "apply", str(orgs), "--auto-approve", "--journal", str(journal), *more], env
    )
    if not journal_kept:
        # The platform cannot show whose account user-newbie is: refused, nobody invited,
        # and the person is told what to verify and how to adopt it.
        assert again.returncode == 1, again.stdout + again.stderr
        said = again.stdout + again.stderr
        assert "user-newbie" in said and "move the entry to members.users" in said
        assert all(r["status"] != 200 for r in newbie_invites_served(served))
        # The person checked (here: the account's email, in the emulator's state) and
        # adopted it: the entry moves to members.users. A fresh journal again.
        write_orgs(
            tmp_path, "org: org-demo\nmembers:\n  mode: additive\n  users:\n    newbie: MEMBER\n"
        )
        journal = tmp_path / "fresh-again.jsonl"
        again = run([DXORG, "apply", str(orgs), "--auto-approve", "--journal", str(journal)], env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Verified: converged" in again.stdout
    assert len([r for r in newbie_invites_served(served) if r["status"] == 200]) == 1
    assert len([r for r in served.requests() if r["route"] == "/user/new"]) == 1
    plan = run(
        [DXORG, "plan", str(orgs), "--detailed-exitcode", "--journal", str(journal), *more], env
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr


def newbie_invites_served(served: Served) -> list[dict[str, Any]]:
    return [
        r
        for r in served.requests()
        if r["route"] == "/org-demo/invite"
        and (r.get("body") or {}).get("invitee") == "user-newbie"
    ]


def test_only_an_answered_user_new_in_the_journal_names_an_account_dxorg_created(
    tmp_path: Path,
) -> None:
    """A `call` line alone (killed while out), a failed call, and "landed by check" are
    what dxorg asked for, never proof that the account there now is the one it got."""
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.write("run-start", platform=HERE)

    def asked(step: str, username: str, outcome: str | None, **fields: Any) -> None:
        body = {"username": username, "email": f"{username.lower()}@example.com"}
        journal.write("call", route="/user/new", step=step, body=body)
        if outcome is not None:
            journal.write(outcome, route="/user/new", step=step, **fields)

    asked("org-demo#1", "Killed", None)
    asked("org-demo#2", "Taken", "call-failed", error="The username 'Taken' is already taken")
    asked("org-demo#3", "Checked", "call-done", response={}, landedByCheck=True)
    asked("org-demo#4", "Answered", "call-done", response={"id": "user-answered"})
    assert created_accounts(path, HERE) == {"user-answered": "answered@example.com"}
    # The same answers from a run against another platform (the sandbox, say) are no
    # evidence about this platform's accounts.
    assert created_accounts(path, "the sandbox /tmp/elsewhere/sandbox.db") == {}
