"""Provisioning resumes across runs in the shipped workflows, through the journal branch.

An apply stops after `/user/new` answered and before the org invite took effect. Its
journal is committed to the `dxorg-journal` branch by apply.yml's own keep-journals
script. The next runs start from nothing (a fresh checkout, a fresh state directory, a
fresh journal), restore the branch's journals (the `journal-branch` input), plan the
invite of the account dxorg is shown to have created, and apply it: one account, one
invite, converged. The git remote is a local bare repository behind a file:// server URL.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.errors import DxorgError
from reconciler.github.journal_branch import restore_journals

ROOT = Path(__file__).resolve().parents[2]
PROVISION = (
    "org: org-demo\nprovisioning:\n"
    "  - {username: newbie, email: newbie@example.com, first: New, last: Bie}\n"
)
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60
    )
    return done.stdout


@pytest.fixture
def remote(tmp_path: Path, github) -> tuple[str, Path]:
    """(GITHUB_SERVER_URL, the bare repository it serves as GITHUB_REPOSITORY), with main."""
    server = tmp_path / "git-server"
    origin = server / github.repository
    origin.mkdir(parents=True)
    git("init", "-q", "--bare", str(origin))
    seed = tmp_path / "seed"
    git("init", "-q", "-b", "main", str(seed))
    (seed / "README.md").write_text("config\n")
    git("add", "-A", cwd=seed)
    git("commit", "-qm", "main", cwd=seed)
    git("push", "-q", f"file://{origin}", "main", cwd=seed)
    return f"file://{server}", origin


def keep_journals(tmp_path: Path, origin: Path, run_id: str, journals: dict[str, Path]) -> None:
    """apply.yml's keep-journals job: its script, run in a fresh clone."""
    workflow = yaml.safe_load((ROOT / "examples" / "workflows" / "apply.yml").read_text())
    script = next(s["run"] for s in workflow["jobs"]["keep-journals"]["steps"] if "run" in s)
    work = tmp_path / f"keep-{run_id}"
    git("clone", "-q", f"file://{origin}", str(work))
    directory = tmp_path / f"artifacts-{run_id}"
    directory.mkdir()
    for name, path in journals.items():
        (directory / name).write_bytes(path.read_bytes())
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "JOURNALS": str(directory),
        "GITHUB_RUN_ID": run_id,
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_SHA": "abc123",
    }
    subprocess.run(["bash", "-c", script], cwd=work, env=env, check=True, timeout=60)


def newbie_calls(platform) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    calls = platform.calls()
    created = [c for c in calls if c["route"] == "/user/new" and c["status"] == 200]
    invited = [
        c
        for c in calls
        if c["route"] == "/org-demo/invite"
        and (c.get("body") or {}).get("invitee") == "user-newbie"
        and c["status"] == 200
    ]
    return created, invited


def test_an_apply_stopped_after_user_new_is_resumed_by_the_next_runs_through_the_branch(
    action, platform, remote, tmp_path
):
    server_url, origin = remote
    action.write_manifest(PROVISION)
    # /user/new goes to the auth server, which the emulator serves too.
    auth = {"DX_AUTHSERVER_HOST": "http://127.0.0.1", "DX_AUTHSERVER_PORT": str(platform.port)}

    def run(command: str, n: str, **inputs: str):
        # Every run: a fresh state directory and a fresh journal, as on a new runner.
        fresh = {
            **auth,
            "GITHUB_SERVER_URL": server_url,
            "DXORG_STATE_DIR": str(tmp_path / f"state-{n}"),
        }
        journal = str(tmp_path / f"run-{n}" / "org-demo.jsonl")
        return action.run(
            command,
            fresh,
            event="push",
            journal=journal,
            **{"journal-branch": "dxorg-journal"},
            **inputs,
        )

    planned = run("plan", "1", comment="false")
    assert planned.code == 0, planned.log
    assert "0 apply journal(s) restored from the dxorg-journal branch" in planned.log  # none yet
    # The org invite fails on every try: the run ends after /user/new answered.
    platform.control.post(
        "/rules",
        json={"route": "/org-demo/invite", "fault": "500", "count": 1000, "retryAfter": 0},
    ).raise_for_status()
    stopped = run("apply", "2", **{"plan-file": planned.outputs["plan-file"]})
    platform.control.post("/faults/clear").raise_for_status()
    assert stopped.code == 1, stopped.log
    created, invited = newbie_calls(platform)
    assert len(created) == 1 and invited == []
    keep_journals(tmp_path, origin, "2", {"org-demo.jsonl": tmp_path / "run-2" / "org-demo.jsonl"})

    # Without the journals of record, the next plan cannot show whose account it is.
    blind = action.run(
        "plan", {**auth, "DXORG_STATE_DIR": str(tmp_path / "blind")}, event="push", comment="false"
    )
    assert blind.code == 1, blind.log
    assert "move the entry to members.users" in blind.log

    resumed_plan = run("plan", "3", comment="false")
    assert resumed_plan.code == 0, resumed_plan.log
    assert "1 apply journal(s) restored from the dxorg-journal branch" in resumed_plan.log
    plan = json.loads(Path(resumed_plan.outputs["plan-file"]).read_text())
    [org] = plan["orgs"]
    assert [a["kind"] for a in org["actions"]] == ["invite-member"]
    assert "dxorg's journal has the answer /user/new gave" in org["actions"][0]["reason"]

    resumed = run("apply", "4", **{"plan-file": resumed_plan.outputs["plan-file"]})
    assert resumed.code == 0, resumed.log
    assert "Verified: converged" in resumed.outputs["summary"]
    created, invited = newbie_calls(platform)
    assert len(created) == 1 and len(invited) == 1
    assert "user-newbie" in platform.members()


def test_restore_replaces_what_was_there_with_the_branch_journals_only(remote, tmp_path):
    server_url, origin = remote
    url = f"{server_url}/{origin.relative_to(Path(server_url.removeprefix('file://')))}"
    into = tmp_path / "state" / "journals"
    into.mkdir(parents=True)
    forged = into / "2026" / "forged.jsonl"
    forged.parent.mkdir()
    forged.write_text('{"event": "run-start"}\n')
    # No branch yet: nothing restored, and what was there (no journal of record) is gone.
    assert restore_journals(url=url, branch="dxorg-journal", token="", into=into) == 0
    assert list(into.iterdir()) == []

    work = tmp_path / "branch"
    git("clone", "-q", f"file://{origin}", str(work))
    git("switch", "-q", "--orphan", "dxorg-journal", cwd=work)
    (work / "journal" / "2026").mkdir(parents=True)
    (work / "journal" / "2026" / "a-org-demo.jsonl").write_text("{}\n")
    (work / "journal" / "2026" / "notes.txt").write_text("not a journal\n")
    (work / "journal" / "2026" / "link.jsonl").symlink_to("/etc/passwd")
    (work / "elsewhere.jsonl").write_text("{}\n")
    git("add", "-A", cwd=work)
    git("commit", "-qm", "journals", cwd=work)
    git("push", "-q", "origin", "HEAD:dxorg-journal", cwd=work)

    assert restore_journals(url=url, branch="dxorg-journal", token="", into=into) == 1
    restored = sorted(p.relative_to(into).as_posix() for p in into.rglob("*"))
    assert restored == ["2026", "2026/a-org-demo.jsonl"]

    with pytest.raises(DxorgError, match="could not be read"):
        restore_journals(url=f"{url}-missing", branch="dxorg-journal", token="", into=into)
