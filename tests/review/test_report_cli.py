"""`dxorg report` end to end: a real process talking HTTP to an emulator on loopback."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from reconciler.emulator import Emulator
from reconciler.review.as_json import report_schema
from tests.action.fake_github import FakeGitHub, serve
from tests.integration.conftest import CONTROL_TOKEN
from tests.integration.test_cli import API_TOKEN, Platform, dxorg
from tests.review.conftest import FleetRepo, review_seed


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    emulator = Emulator(
        state_path=tmp_path / "state.db", seed=review_seed(), control_token=CONTROL_TOKEN
    )
    with emulator.serve(port=0) as server:
        yield Platform(server.url, server.port)
    emulator.close()


def test_report_in_every_format_exits_0_and_writes_nothing(
    platform: Platform, fleet_repo: FleetRepo, tmp_path: Path
) -> None:
    env = platform.env()
    markdown = dxorg("report", str(fleet_repo.orgs), env=env, cwd=fleet_repo.root)
    assert markdown.returncode == 0, markdown.stderr
    assert markdown.stdout.startswith("## dxorg access review")
    assert "Ben Reviewer" in markdown.stdout
    for fmt in ("csv", "json", "html"):
        out = tmp_path / f"review.{fmt}"
        result = dxorg(
            "report", "orgs", "--format", fmt, "--out", str(out), env=env, cwd=fleet_repo.root
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == "" and f"wrote {out}" in result.stderr
    data = json.loads((tmp_path / "review.json").read_text())
    jsonschema.validate(data, report_schema())
    assert data["orgs"][0]["members"][1]["declared"]["file"] == "orgs/org-demo.yaml"
    rows = list(csv.DictReader(io.StringIO((tmp_path / "review.csv").read_text())))
    assert len(rows) == 11
    assert (tmp_path / "review.html").read_text().startswith("<!DOCTYPE html>")
    assert platform.writes() == []
    for text in (
        markdown.stdout,
        markdown.stderr,
        *(p.read_text() for p in tmp_path.glob("review.*")),
    ):
        assert API_TOKEN not in text


def test_report_exits_1_when_an_org_cannot_be_read_and_still_writes_the_report(
    platform: Platform, fleet_repo: FleetRepo, tmp_path: Path
) -> None:
    (fleet_repo.orgs / "org-ghost.yaml").write_text("org: org-ghost\n")
    out = tmp_path / "review.json"
    result = dxorg(
        "report", str(fleet_repo.orgs), "--format", "json", "--out", str(out), env=platform.env()
    )
    assert result.returncode == 1
    assert "org-ghost: not read:" in result.stderr and "Traceback" not in result.stderr
    data = json.loads(out.read_text())
    assert [o["org"] for o in data["orgs"] if o["error"]] == ["org-ghost"]


def test_report_usage_and_manifest_errors_exit_1_without_a_traceback(
    platform: Platform, fleet_repo: FleetRepo, tmp_path: Path
) -> None:
    env = platform.env()
    bad_format = dxorg("report", str(fleet_repo.orgs), "--format", "pdf", env=env)
    assert bad_format.returncode == 1
    # A usage error, from the parser: exit 1 (never 2), naming the choices.
    assert "Invalid value for '--format'" in bad_format.stderr
    assert "'markdown', 'csv', 'json', 'html'" in bad_format.stderr
    assert "Traceback" not in bad_format.stderr
    (fleet_repo.orgs / "org-lab.yaml").write_text(
        "org: org-lab\nmembers: {mode: additive, users: {eve: MEMBER}}\n"
    )
    conflict = dxorg("report", str(fleet_repo.orgs), env=env)
    assert conflict.returncode == 1
    assert "org-lab.yaml:2:" in conflict.stderr and "user-eve has departed (" in conflict.stderr
    assert "_defaults.yaml:5" in conflict.stderr
    unreachable = dxorg(
        "report",
        str(fleet_repo.orgs / "org-demo.yaml"),
        env=Platform("http://127.0.0.1:9", 9).env(DXORG_MAX_RETRY_SECONDS="1"),
    )
    assert unreachable.returncode == 1 and "Traceback" not in unreachable.stderr
    assert "/system/whoami" in unreachable.stderr


def test_report_with_github_evidence_and_journals_from_the_command_line(
    platform: Platform, fleet_repo: FleetRepo, tmp_path: Path
) -> None:
    """`--github-repo` with GITHUB_TOKEN and GITHUB_API_URL, `--github-logins`, `--journal`
    twice: the evidence in the JSON, and the token nowhere."""
    token = "ghp_commandLineToken4Rt"
    logins = tmp_path / "logins.yaml"
    logins.write_text("alice: alice-gh\n")  # a handle, normalised as `dx` does
    journals = []
    for index, (org, done) in enumerate(
        (("org-lab", "2026-11-21T10:00:00Z"), ("org-x", "2026-11-22T10:00:00Z"))
    ):
        common = {"run": f"r{index}", "step": "s1", "org": org, "route": f"/{org}/removeMember"}
        path = tmp_path / f"journal-{index}.jsonl"
        path.write_text(
            json.dumps({"event": "call", "time": done, **common, "body": {"user": "user-eve"}})
            + "\n"
            + json.dumps({"event": "call-done", "time": done, **common})
            + "\n"
        )
        journals += ["--journal", str(path)]
    with serve(FakeGitHub(token=token, repository="acme/fleet")) as github:
        github.add_pull(
            3,
            "ben-gh",
            [fleet_repo.second],
            merged_at="2026-11-21T09:00:00Z",
            reviews=[("ada-gh", "APPROVED", "2026-11-21T08:00:00Z")],
        )
        github.add_pull(1, "ada-gh", [fleet_repo.first], merged_at="2026-10-01T09:00:00Z")
        env = {**platform.env(), "GITHUB_TOKEN": token, "GITHUB_API_URL": github.url}
        out = tmp_path / "review.json"
        result = dxorg(
            "report", "orgs", "--format", "json", "--out", str(out), "--github-repo",
            "acme/fleet", "--github-logins", str(logins), *journals,
            env=env, cwd=fleet_repo.root,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    jsonschema.validate(data, report_schema())
    assert data["evidence"]["repository"] == "acme/fleet" and data["evidence"]["loginsKnown"]
    demo = next(o for o in data["orgs"] if o["org"] == "org-demo")
    members = {m["user"]: m["approval"] for m in demo["members"]}
    assert members["user-bob"]["state"] == "approved"  # PR #3, approved by ada-gh
    assert members["user-alice"]["state"] == "no-approval"  # PR #1: no review
    assert members["user-alice"]["granteeLogin"] == "alice-gh"
    [eve] = data["departed"]
    assert eve["mergedAt"] == "2026-11-21T09:00:00Z"
    assert {r["org"]: r["delaySeconds"] for r in eve["removals"]} == {
        "org-demo": None,  # still a member
        "org-lab": None,  # still a member: the journal's removal did not last
        "org-x": 90000,
    }
    for text in (result.stdout, result.stderr, out.read_text()):
        assert token not in text


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        (
            ["--github-repo", "acme/fleet"],
            {},
            "--github-repo needs a GitHub token: set GITHUB_TOKEN",
        ),
        (["--github-repo", "acme"], {"GITHUB_TOKEN": "ghp_x"}, "expected owner/name"),
        (["--journal", "missing.jsonl"], {}, "missing.jsonl: cannot read the journal"),
        (["--github-logins", "logins.yaml"], {}, "logins.yaml:2: expected `user-id: github-login`"),
    ],
)
def test_bad_evidence_options_are_a_clear_error(
    platform: Platform, fleet_repo: FleetRepo, args: list[str], extra: dict[str, str], message: str
) -> None:
    (fleet_repo.root / "logins.yaml").write_text("alice: alice-gh\nbob: [b, c]\n")
    env = platform.env()
    env.pop("GITHUB_TOKEN", None)  # only what the case gives
    env.update(extra)
    result = dxorg("report", "orgs", *args, env=env, cwd=fleet_repo.root)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""
    assert platform.writes() == []
