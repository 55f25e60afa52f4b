"""Provenance from git: the commit, author, date and subject that last changed each line;
"uncommitted" for a line edited since; "not in git" outside a work tree. One `git blame`
per file, never one per line."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from reconciler.review.git_blame import SHALLOW_NOTE, blame_files, parse_porcelain
from reconciler.review.value import AccessReport
from tests.review.conftest import ADA, BEN, FleetRepo, git, review, write
from tests.review.test_review_contents import member


def test_each_declared_line_names_the_commit_and_author_that_last_changed_it(
    report: AccessReport, fleet_repo: FleetRepo
) -> None:
    alice = member(report, "org-demo", "user-alice").declared
    bob = member(report, "org-demo", "user-bob").declared
    assert alice is not None and bob is not None
    assert alice.origin.state == bob.origin.state == "committed"
    # alice's line is Ada's, from the first commit; bob's line was rewritten by Ben.
    assert (alice.origin.commit, alice.origin.author, alice.origin.email) == (
        fleet_repo.first,
        *ADA,
    )
    assert alice.origin.subject == "Add the demo and lab orgs"
    assert alice.origin.date == "2026-10-01T10:00:00+02:00"
    assert (bob.origin.commit, bob.origin.author, bob.origin.email) == (fleet_repo.second, *BEN)
    assert bob.origin.subject == "Offboard eve; bob to VIEW"
    assert bob.origin.date == "2026-11-20T16:45:00-05:00"
    # Lines of the defaults file too: the member default (Ada) and the departure (Ben).
    carol = member(report, "org-demo", "user-carol")
    [app_access] = [f for f in carol.flags if f.name == "appAccess"]
    assert app_access.where is not None and app_access.where.origin.author == ADA[0]
    eve = member(report, "org-lab", "user-eve")
    assert eve.departed is not None and eve.departed.where is not None
    assert eve.departed.where.origin.commit == fleet_repo.second
    assert report.git.roots == (str(fleet_repo.root.resolve()),) and not report.git.shallow
    assert report.git.note is None


def test_a_line_edited_since_the_last_commit_is_uncommitted(report: AccessReport) -> None:
    grace = member(report, "org-lab", "user-grace").declared
    alice = member(report, "org-lab", "user-alice").declared
    assert grace is not None and grace.origin.state == "uncommitted"
    assert grace.origin.commit is None and grace.origin.describe() == "uncommitted"
    assert alice is not None and alice.origin.state == "committed"


def test_an_untracked_file_is_uncommitted_and_outside_git_is_not_in_git(
    fleet_repo: FleetRepo, read_client, tmp_path: Path
) -> None:
    write(fleet_repo.orgs, {"org-new.yaml": "org: org-lab\n"})  # never added to git
    history, summary = blame_files([fleet_repo.orgs / "org-new.yaml"])
    assert history[str(fleet_repo.orgs / "org-new.yaml")].origin(1).state == "uncommitted"
    assert summary.roots == (str(fleet_repo.root.resolve()),)

    outside = tmp_path / "plain" / "orgs"
    write(
        outside,
        {"org-lab.yaml": "org: org-lab\nmembers: {mode: additive, users: {alice: ADMIN}}\n"},
    )
    report = review([outside], read_client)
    alice = member(report, "org-lab", "user-alice").declared
    assert alice is not None and alice.origin.state == "not-in-git"
    assert alice.origin.describe() == "not in git"
    assert report.git.roots == () and report.git.note == "the manifests are not in a git work tree"
    # A fleet partly in git says which directories are not.
    _, mixed = blame_files([fleet_repo.orgs / "org-demo.yaml", outside / "org-lab.yaml"])
    assert mixed.roots == (str(fleet_repo.root.resolve()),)
    assert mixed.note == f"not in a git work tree: {outside}"


def test_without_git_every_line_says_so(
    fleet_repo: FleetRepo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    history, summary = blame_files([fleet_repo.orgs / "org-demo.yaml"])
    origin = history[str(fleet_repo.orgs / "org-demo.yaml")].origin(3)
    assert origin.state == "not-in-git" and origin.note == "git is not installed"
    assert summary.note == "git is not installed"


def test_one_git_blame_per_file(
    fleet_repo: FleetRepo, read_client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A `git` first on PATH that logs its arguments, then runs the real one.
    real = shutil.which("git")
    log = tmp_path / "git-calls.log"
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}:{os.environ['PATH']}")
    review([fleet_repo.orgs], read_client)
    calls = log.read_text().splitlines()
    blames = sorted(call.split()[-1] for call in calls if call.startswith("blame"))
    assert blames == ["_defaults.yaml", "org-demo.yaml", "org-lab.yaml"]
    assert sum(1 for call in calls if call.startswith("rev-parse")) == 1  # one directory
    assert len(calls) == 4


def test_a_shallow_clone_says_older_history_is_hidden(
    fleet_repo: FleetRepo, tmp_path: Path
) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{fleet_repo.root}", str(clone))
    history, summary = blame_files([clone / "orgs" / "org-demo.yaml"])
    origin = history[str(clone / "orgs" / "org-demo.yaml")].origin(1)
    assert summary.shallow
    # Every line is attributed to the one fetched commit, and says what that means.
    assert (origin.commit, origin.author, origin.note) == (fleet_repo.second, BEN[0], SHALLOW_NOTE)


def test_porcelain_parsing_of_repeated_commits_and_uncommitted_lines() -> None:
    sha = "a" * 40
    text = (
        f"{sha} 1 1 2\nauthor Ada\nauthor-mail <ada@x>\nauthor-time 1790000000\n"
        "author-tz +0530\nsummary first\nfilename f.yaml\n\tline one\n"
        f"{sha} 2 2\n\t\tindented line two\n"
        f"{'0' * 40} 3 3 1\nauthor Not Committed Yet\nsummary Version of f.yaml\n"
        "filename f.yaml\n\tline three\n"
    )
    origins = parse_porcelain(text)
    assert origins[1] is origins[2]  # one origin per commit
    assert (origins[1].author, origins[1].email, origins[1].subject) == ("Ada", "ada@x", "first")
    assert origins[1].date == "2026-09-21T19:43:20+05:30"
    assert origins[3].state == "uncommitted"
