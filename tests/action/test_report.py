"""`command: report`: the access review in the job summary, four files for an artifact,
outputs naming them; read-only on the platform and silent on GitHub."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest

from reconciler.review.as_json import report_schema
from tests.action.conftest import MANIFEST, assert_no_secret, seed
from tests.as_seen import blocks


def commit(root: Path, message: str, author: str) -> str:
    """Commit everything in the checkout, as `author` ("Name <email>")."""
    name, email = author.removesuffix(">").split(" <")
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", message]):
        if args[0] == "init" and (root / ".git").exists():
            continue
        subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=root, env=env, check=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_report_writes_the_summary_the_files_and_the_outputs(action, github, platform):
    (action.root / "orgs" / "_defaults.yaml").write_text(
        "departed:\n  - {user: eve, since: 2026-11-20, reason: left the company}\n"
    )
    action.write_manifest(MANIFEST.replace("mode: authoritative", "mode: additive"))
    sha = commit(action.root, "Manage org-demo", "Ada Admin <ada@example.com>")
    github.requests.clear()
    result = action.run("report", event="schedule", sha=sha)
    assert result.code == 0, result.log
    out = result.outputs
    assert out["summary"].startswith("Access review of 1 org(s): ")
    assert "1 departed user(s) still present" in out["summary"]
    assert out["has-changes"] == "true"  # bob's access and the policy differ; dave is invited
    directory = Path(out["report-dir"])
    assert directory.parent == action.root / "runner" / f"step-{action.runs}"
    files = {fmt: Path(out[f"report-{fmt}"]) for fmt in ("markdown", "csv", "json", "html")}
    assert {p.name for p in files.values()} == {
        "access-review.md",
        "access-review.csv",
        "access-review.json",
        "access-review.html",
    }
    assert all(p.parent == directory and p.is_file() for p in files.values())

    assert "## dxorg access review" in result.summary
    assert f"commit `{sha[:12]}`" in result.summary
    assert "⛔ Departed users still present (1)" in result.summary
    assert "Ada Admin" in result.summary  # provenance from the checkout's history
    assert files["markdown"].read_text().startswith("## dxorg access review")
    data = json.loads(files["json"].read_text())
    jsonschema.validate(data, report_schema())
    assert data["git"]["roots"] == [str(action.root.resolve())]
    rows = list(csv.DictReader(io.StringIO(files["csv"].read_text())))
    assert {r["user"] for r in rows} == {
        f"user-{u}" for u in ("alice", "root", "bob", "carol", "dave", "eve")
    }
    assert {r["commit"] for r in rows if r["declared_at"]} == {sha}
    assert '"user-eve"' in files["html"].read_text()  # in the page's embedded data
    assert "::warning::user-eve has departed and is still in org-demo" in result.log

    assert platform.write_calls() == []
    # No comment, no issue: the report goes to the summary and files. GitHub is only
    # read, for the commit's pull request (it has none here: not on GitHub).
    assert github.writes() == []
    assert [r.path for r in github.requests] == [f"/repos/{github.repository}/commits/{sha}/pulls"]
    assert {
        m["approval"]["state"] for o in data["orgs"] for m in o["members"] if m["approval"]
    } == {"not-on-github"}
    assert_no_secret(*result.texts(), *(p.read_text() for p in files.values()))


def test_report_links_each_line_to_its_approval_and_times_the_departure(action, github, platform):
    """On GitHub: the pull request and approvers of each line, a departure's merge time
    and its removal from the journals the report is given (here as artifacts downloaded
    into the checkout), and never the token in any file, summary, output or log."""
    (action.root / "orgs" / "_defaults.yaml").write_text(
        "departed:\n  - {user: eve, since: 2026-11-20, reason: left the company}\n"
    )
    action.write_manifest(MANIFEST.replace("mode: authoritative", "mode: additive"))
    sha = commit(action.root, "Manage org-demo", "Ada Admin <ada@example.com>")
    github.add_pull(
        7,
        "ada-gh",
        [sha],
        merged_at="2026-11-21T09:00:00Z",
        reviews=[("alice-gh", "APPROVED", "2026-11-21T08:00:00Z")],
    )
    artifacts = action.root / "journals" / "run-1"
    artifacts.mkdir(parents=True)
    records = [
        {"time": "2026-11-21T09:05:00Z", "run": "r1", "event": "call", "org": "org-other",
         "step": "s1", "route": "/org-other/removeMember", "body": {"user": "user-eve"}},
        {"time": "2026-11-21T10:15:00.000+00:00", "run": "r1", "event": "call-done",
         "org": "org-other", "step": "s1", "route": "/org-other/removeMember", "response": {}},
    ]  # fmt: skip
    (artifacts / "journal.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (action.root / "logins.yaml").write_text("user-alice: alice-gh\n")
    result = action.run(
        "report",
        event="schedule",
        sha=sha,
        **{"report-journals": "journals/*/journal.jsonl", "github-logins": "logins.yaml"},
    )
    assert result.code == 0, result.log
    data = json.loads(Path(result.outputs["report-json"]).read_text())
    jsonschema.validate(data, report_schema())
    assert data["evidence"] == {
        "repository": github.repository,
        "journals": ["journals/run-1/journal.jsonl"],
        "loginsKnown": True,
        "note": None,
    }
    members = {m["user"]: m for m in data["orgs"][0]["members"]}
    # alice approved the change that makes her ADMIN
    assert members["user-alice"]["approval"]["flags"] == ["approved-by-grantee"]
    assert members["user-bob"]["approval"]["state"] == "approved"
    assert data["commits"][sha]["pullRequest"]["approvers"] == ["alice-gh"]
    [eve] = data["departed"]
    assert eve["mergedAt"] == "2026-11-21T09:00:00Z"
    assert eve["removals"] == [
        {"org": "org-demo", "state": "not-yet-removed", "removedAt": None, "delaySeconds": None},
        {
            "org": "org-other",
            "state": "removed",
            "removedAt": "2026-11-21T10:15:00.000+00:00",
            "delaySeconds": 4500,
        },
    ]
    assert "Changes without an independent approval (1)" in result.summary
    assert result.outputs["summary"].endswith("; 1 change(s) without an independent approval.")
    # As a reader sees it (the renderer's zero-width breaks keep a linkifier off dates).
    shown = "\n".join(b.text for b in blocks(result.summary)).replace("\u200b", "")
    assert "org-other: removed 2026-11-21T10:15:00.000+00:00, 1 h 15 min after the merge" in shown
    rows = list(csv.DictReader(io.StringIO(Path(result.outputs["report-csv"]).read_text())))
    assert {r["pull_request"] for r in rows if r["declared_at"]} == {
        f"https://github.example/{github.repository}/pull/7"
    }
    assert github.writes() == []
    assert platform.write_calls() == []
    files = [Path(result.outputs[f"report-{fmt}"]) for fmt in ("markdown", "csv", "json", "html")]
    assert_no_secret(*result.texts(), *(p.read_text() for p in files))


def test_report_journals_naming_no_file_is_an_input_error(action):
    result = action.run("report", event="schedule", **{"report-journals": "nowhere/*.jsonl"})
    assert result.code == 1
    assert "input report-journals: nowhere/*.jsonl: no such file" in result.log
    assert "Traceback" not in result.log


def test_report_of_an_org_that_cannot_be_read_fails_the_step_and_keeps_the_files(action, tmp_path):
    action.write_manifest(MANIFEST.replace("org-demo", "org-ghost"), name="org-ghost.yaml")
    target = tmp_path / "review"
    result = action.run("report", event="workflow_dispatch", **{"report-dir": str(target)})
    assert result.code == 1
    assert "::error file=orgs/org-ghost.yaml::org-ghost: not read" in result.log
    assert "org(s) not read" in result.outputs["summary"]
    assert Path(result.outputs["report-dir"]) == target.resolve()
    data = json.loads((target / "access-review.json").read_text())
    assert [o["org"] for o in data["orgs"] if o["error"]] == ["org-ghost"]
    assert "Orgs not read (this report is incomplete)" in result.summary


class TestABigFleet:
    MEMBERS = 3600

    @pytest.fixture
    def platform_seed(self):
        data = seed(extra_users=self.MEMBERS)
        org = data["orgs"][0]
        for user in data["users"]:
            if user["id"].startswith("user-u"):
                org["members"][user["id"]] = {
                    "level": "MEMBER",
                    "allowBillableActivities": False,
                    "appAccess": True,
                    "projectAccess": "VIEW",
                }
        return data

    def test_a_report_too_big_for_the_job_summary_puts_the_details_in_the_files(self, action):
        # Every member declared, each flag from the fleet defaults: long rows, over 1 MB.
        (action.root / "orgs" / "_defaults.yaml").write_text(
            "members:\n  defaults: {allowBillableActivities: false, appAccess: true, "
            "projectAccess: VIEW}\n"
        )
        users = "".join(f"    u{i:04d}: MEMBER\n" for i in range(self.MEMBERS))
        action.write_manifest(
            MANIFEST.replace("mode: authoritative", "mode: additive").replace(
                "    alice: ADMIN\n", "    alice: ADMIN\n" + users
            )
        )
        result = action.run("report", event="schedule")
        assert result.code == 0, result.log
        full = Path(result.outputs["report-markdown"]).read_text()
        assert len(full) > 1_000_000
        assert "`user-u0001`" in full and f"`user-u{self.MEMBERS - 1:04d}`" in full
        assert len(result.summary) < 1_000_000
        assert "Member tables left out to fit the job summary" in result.summary
        assert "`user-u0001`" not in result.summary
        assert "### Needs attention" in result.summary


def test_the_reports_default_journals_are_the_state_directorys(action, tmp_path, monkeypatch):
    """No journal input: the report reads apply's journal and the journals of record
    restored under the state directory (.dxorg/ at the root of the repository holding the
    manifests), whatever directory the step runs in."""
    state = action.root / ".dxorg"
    (state / "journals" / "2026").mkdir(parents=True)
    (state / "journal.jsonl").write_text('{"event": "run-start", "run": "local"}\n')
    restored = state / "journals" / "2026" / "2026-11-21-run7-1-org-demo.jsonl"
    restored.write_text('{"event": "run-start", "run": "r7"}\n')
    (state / "journals" / "2026" / "notes.txt").write_text("not a journal\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = action.run(
        "report",
        {"INPUT_JOURNAL": None, "GITHUB_WORKSPACE": str(action.root)},
        event="schedule",
        path=str(action.root / "orgs"),
    )
    assert result.code == 0, result.log
    data = json.loads(Path(result.outputs["report-json"]).read_text())
    assert [Path(p).resolve() for p in data["evidence"]["journals"]] == [
        (state / "journal.jsonl").resolve(),
        restored.resolve(),
    ]


def test_report_files_are_streamed_yet_no_secret_survives_a_piece_boundary(tmp_path):
    """The report files are written piece by piece (a big fleet's HTML is never held
    whole): a secret split between two pieces, or one holding a line break, is still
    scrubbed."""
    from reconciler.github.runner import Secrets
    from reconciler.presenters.github import _write_scrubbed

    secrets = Secrets()
    secrets.add("tok-1234567890", "first-line-of-it\nsecond-line-of-it")
    pieces = ["a: tok-12345", "67890 b\n", "c: first-line-", "of-it\nsecond-line-of-it\n", "end"]
    path = tmp_path / "report.json"
    _write_scrubbed(path, iter(pieces), secrets.scrub)
    written = path.read_text()
    assert written == "a: *** b\nc: ***\nend"
    # Each piece alone would have shown them: the boundary was the risk.
    assert "tok-12345" in pieces[0] and "second-line-of-it" in pieces[3]
