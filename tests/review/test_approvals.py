"""Approval evidence: each declared line's last commit (git blame of a real repository)
linked to its pull request, author and approvers on GitHub (the fake GitHub over
loopback), flagged when nobody but its author approved it, or when the person an ADMIN
level or a self-grant grants approved it; and each departure's merge time, removal time
(from an apply journal) and delay.

The fleet of tests/review/conftest.py, three more commits, and these pull requests:

    #1 ada-gh: the first commit, approved by ben-gh                    -> approved
    #2 ben-gh: bob's line and eve's departure; ben-gh approved it himself; ada-gh
       approved then asked for changes; cy-gh approved after the merge -> self-approved
    #3 ben-gh: carol to ADMIN, approved by carol-gh (carol)             -> approved-by-grantee
    #4 ada-gh: the `tool` self-grant's reason, merged with no review    -> no-approval
    #5 cy-gh: dave added to org-demo, open                              -> not merged yet
    grace's line in org-lab: uncommitted                                -> not merged yet
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.emulator import Emulator
from reconciler.github.api import GitHubClient
from reconciler.manifest import load_fleet
from reconciler.platform import ReadClient
from reconciler.review.approvals import JournaledRemoval, approvers, removals_of
from reconciler.review.as_csv import render_report_csv
from reconciler.review.as_json import report_schema, report_to_json
from reconciler.review.as_markdown import render_report_markdown
from reconciler.review.collect import EvidenceSources, review_fleet
from reconciler.review.value import AccessReport, PullRequest, PullReview
from tests.action.fake_github import FakeGitHub, serve
from tests.integration.conftest import CONTROL_TOKEN, FAST_RETRY, config_for
from tests.review.conftest import NOW, FleetRepo, git, review_seed
from tests.review.test_review_contents import member

TOKEN = "ghs_reviewEvidenceToken9Xy"
REPO = "acme/org-manifests"
CY = ("Cy Contractor", "cy@example.com")
MERGED_2 = "2026-11-21T09:00:00Z"  # eve's departure merged
REMOVED = "2026-11-22T12:30:00.000+00:00"  # ... and removed from org-lab, 27 h 30 min later


def commit(repo: FleetRepo, name: str, old: str, new: str, message: str, when: str) -> str:
    path = repo.orgs / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    git(repo.root, "add", str(path.relative_to(repo.root)))
    git(repo.root, "commit", "-qm", message, author=CY, when=when)
    return git(repo.root, "rev-parse", "HEAD")


@pytest.fixture
def shas(fleet_repo: FleetRepo) -> dict[int, str]:
    """The commit of each pull request (see the module's docstring)."""
    third = commit(
        fleet_repo,
        "org-demo.yaml",
        "    carol: MEMBER\n",
        "    carol: ADMIN\n",
        "carol to ADMIN",
        "2026-11-23T10:00:00+00:00",
    )
    fourth = commit(
        fleet_repo,
        "org-demo.yaml",
        'reason: "on-call debugging"',
        'reason: "on-call debugging, week 49"',
        "tool: week 49",
        "2026-11-24T10:00:00+00:00",
    )
    fifth = commit(
        fleet_repo,
        "org-demo.yaml",
        "    carol: ADMIN\n",
        "    carol: ADMIN\n    dave: MEMBER\n",
        "dave to demo",
        "2026-11-25T10:00:00+00:00",
    )
    return {1: fleet_repo.first, 2: fleet_repo.second, 3: third, 4: fourth, 5: fifth}


def publish(fake: FakeGitHub, shas: dict[int, str]) -> None:
    fake.add_pull(
        1,
        "ada-gh",
        [shas[1]],
        merged_at="2026-10-01T09:00:00Z",
        reviews=[("ben-gh", "APPROVED", "2026-10-01T08:30:00Z")],
    )
    fake.add_pull(
        2,
        "ben-gh",
        [shas[2]],
        merged_at=MERGED_2,
        reviews=[
            ("ada-gh", "APPROVED", "2026-11-20T22:00:00Z"),
            ("ben-gh", "APPROVED", "2026-11-20T22:10:00Z"),
            ("ada-gh", "COMMENTED", "2026-11-20T22:20:00Z"),  # changes nothing
            ("ada-gh", "CHANGES_REQUESTED", "2026-11-20T23:00:00Z"),  # takes hers back
            ("cy-gh", "APPROVED", "2026-11-22T08:00:00Z"),  # after the merge
        ],
    )
    fake.add_pull(
        3,
        "ben-gh",
        [shas[3]],
        merged_at="2026-11-23T11:00:00Z",
        reviews=[("Carol-GH", "APPROVED", "2026-11-23T10:30:00Z")],
    )
    fake.add_pull(4, "ada-gh", [shas[4]], merged_at="2026-11-24T11:00:00Z")
    # A closed, unmerged pull request also holds the fifth commit: it brought nothing in.
    fake.add_pull(6, "cy-gh", [shas[5]], state="closed")
    fake.add_pull(5, "cy-gh", [shas[5]], reviews=[("ada-gh", "APPROVED", "2026-11-25T11:00:00Z")])


@pytest.fixture
def github(shas: dict[int, str]) -> Iterator[FakeGitHub]:
    # small pages: the reviews of #2 come in three pages
    with serve(FakeGitHub(token=TOKEN, repository=REPO, page_size=2)) as fake:
        publish(fake, shas)
        yield fake


@pytest.fixture
def live(tmp_path: Path) -> Iterator[ReadClient]:
    """The review seed, with eve removed from org-lab (by the apply the journal records)."""
    seed = review_seed()
    lab = next(o for o in seed["orgs"] if o["id"] == "org-lab")
    del lab["members"]["user-eve"]
    emulator = Emulator(state_path=tmp_path / "state.db", seed=seed, control_token=CONTROL_TOKEN)
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        yield client
    emulator.close()


def journal(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"torn": \n')
    return path


def removal(run: str, step: str, org: str, user: str, sent: str, done: str | None) -> list[dict]:
    common = {"run": run, "org": org, "step": step, "route": f"/{org}/removeMember"}
    body = {"user": user, "revokeProjectPermissions": True, "revokeAppPermissions": True}
    records = [{"time": sent, "event": "call", **common, "body": body}]
    if done:
        records.append({"time": done, "event": "call-done", **common, "response": {}})
    return records


@pytest.fixture
def journals(tmp_path: Path) -> list[Path]:
    older = journal(
        tmp_path / "older.jsonl",
        # eve removed from org-lab once before, long before her departure was merged
        removal("r0", "s1", "org-lab", "user-eve", "2026-06-01T10:00:00Z", "2026-06-01T10:00:01Z"),
    )
    newer = journal(
        tmp_path / "newer.jsonl",
        [
            {"time": "2026-11-22T12:29:00Z", "run": "r1", "event": "run-start"},
            *removal("r1", "s1", "org-lab", "eve", "2026-11-22T12:29:59Z", REMOVED),
            # sent, never answered (the run was killed): removed nobody from org-demo
            *removal("r1", "s2", "org-demo", "user-eve", "2026-11-22T12:31:00Z", None),
        ],
    )
    return [older, newer]


def build(
    repo: FleetRepo,
    client: ReadClient,
    fake: FakeGitHub | None,
    journals: list[Path] = (),  # type: ignore[assignment]
    logins: dict[str, str] | None = None,
) -> AccessReport:
    fleet = load_fleet([repo.orgs])
    if fake is None:
        return review_fleet(
            fleet, client, now=NOW, sources=EvidenceSources(journals=journals, logins=logins)
        )
    with GitHubClient(fake.url, TOKEN, REPO, retry=FAST_RETRY) as github:
        sources = EvidenceSources(github=github, journals=journals, logins=logins)
        return review_fleet(fleet, client, now=NOW, sources=sources)


@pytest.fixture
def report(
    fleet_repo: FleetRepo, live: ReadClient, github: FakeGitHub, journals: list[Path]
) -> AccessReport:
    logins = {"user-carol": "carol-gh", "user-alice": "ada-gh-not-alice"}
    return build(fleet_repo, live, github, journals, logins)


def test_a_line_approved_by_someone_else_is_approved(report: AccessReport, shas) -> None:
    alice = member(report, "org-demo", "user-alice")  # ADMIN, from the first commit
    assert alice.declared is not None and alice.declared.origin.commit == shas[1]
    approval = alice.approval
    assert approval is not None and approval.state == "approved" and approval.flags == ()
    assert approval.pull is not None and approval.pull.number == 1
    assert approval.pull.author == "ada-gh" and approval.approvers == ("ben-gh",)
    assert approval.pull.merged_at == "2026-10-01T09:00:00Z"
    # alice's login is mapped, and she did not approve her own ADMIN
    assert (approval.grantee, approval.grantee_login) == ("not-the-grantee", "ada-gh-not-alice")
    assert member(report, "org-demo", "user-root").approval.grantee == "unknown"  # type: ignore[union-attr]


def test_a_change_approved_only_by_its_author_is_self_approved(report: AccessReport) -> None:
    bob = member(report, "org-demo", "user-bob").approval
    assert bob is not None and bob.state == "self-approved" and bob.flags == ("self-approved",)
    # ada-gh's approval was taken back; cy-gh's came after the merge
    assert bob.approvers == ("ben-gh",)
    assert bob.grantee == "not-applicable"  # a MEMBER level grants no ADMIN
    assert report.counts()["selfApproved"] == 2  # bob's line and eve's departure


def test_a_change_merged_without_review_is_flagged_no_approval(report: AccessReport) -> None:
    [tool] = [g for org, g in report.self_grants if g.name == "tool"]
    assert tool.approval is not None and tool.approval.state == "no-approval"
    assert tool.approval.flags == ("no-approval",) and tool.approval.pull.number == 4  # type: ignore[union-attr]
    # The self-grant's holder is alice: her login is mapped, and she did not approve it.
    assert tool.approval.grantee == "not-the-grantee"


def test_an_admin_approved_by_the_person_it_grants_is_flagged(report: AccessReport) -> None:
    carol = member(report, "org-demo", "user-carol").approval
    assert carol is not None and carol.state == "approved"  # by someone other than the author
    assert carol.flags == ("approved-by-grantee",)
    assert (carol.grantee, carol.grantee_login) == ("approved-by-grantee", "carol-gh")
    markdown = "\n".join(render_report_markdown(report))
    assert "Changes without an independent approval (4)" in markdown
    assert "approved-by-grantee" in markdown


def test_without_a_login_mapping_the_grantee_check_is_unknown(
    fleet_repo: FleetRepo, live: ReadClient, github: FakeGitHub, shas
) -> None:
    report = build(fleet_repo, live, github)
    carol = member(report, "org-demo", "user-carol").approval
    assert carol is not None and carol.grantee == "unknown" and carol.flags == ()
    assert "the grantee's GitHub login is unknown" in carol.describe()
    assert not report.evidence.logins_known


def test_lines_not_merged_yet_say_so(report: AccessReport) -> None:
    dave = member(report, "org-demo", "user-dave").approval  # open PR #5 (#6 closed)
    assert dave is not None and dave.state == "not-merged" and dave.flags == ()
    assert dave.pull is not None and dave.pull.number == 5
    grace = member(report, "org-lab", "user-grace").approval  # uncommitted
    assert grace is not None and grace.state == "not-merged" and grace.pull is None
    assert grace.describe() == "not merged yet (uncommitted)"


def test_a_departure_s_merge_removal_and_delay(report: AccessReport) -> None:
    [eve] = report.departed
    assert eve.approval is not None and eve.approval.pull is not None
    assert eve.approval.pull.merged_at == MERGED_2
    by_org = {r.org_id: r for r in eve.removals}
    assert by_org["org-demo"].state == "not-yet-removed"  # the unanswered call removed nobody
    lab = by_org["org-lab"]
    # the removal after the merge counts, not the one months before it
    assert (lab.state, lab.removed_at) == ("removed", REMOVED)
    assert lab.delay_seconds == 27 * 3600 + 30 * 60
    assert lab.describe() == f"org-lab: removed {REMOVED}, 1 d 3 h after the merge"

    rows = list(csv.DictReader(io.StringIO(render_report_csv(report))))
    [removed] = [r for r in rows if r["status"] == "removed"]
    assert (removed["org"], removed["user"]) == ("org-lab", "user-eve")
    assert removed["departure_merged_at"] == MERGED_2 and removed["removed_at"] == REMOVED
    assert removed["removal_delay_seconds"] == str(99000)
    [still] = [r for r in rows if r["user"] == "user-eve" and r["status"] == "departed"]
    assert still["org"] == "org-demo" and still["departure_merged_at"] == MERGED_2

    data = report_to_json(report)
    jsonschema.validate(data, report_schema())
    [departed] = data["departed"]
    assert departed["mergedAt"] == MERGED_2
    assert {"org": "org-lab", "state": "removed", "removedAt": REMOVED, "delaySeconds": 99000} in (
        departed["removals"]
    )
    markdown = "\n".join(render_report_markdown(report))
    assert "1 d 3 h after the merge" in markdown and "org-demo: not yet removed" in markdown


def test_csv_and_json_carry_the_evidence(report: AccessReport, shas) -> None:
    rows = {
        (r["org"], r["user"]): r for r in csv.DictReader(io.StringIO(render_report_csv(report)))
    }
    carol = rows[("org-demo", "user-carol")]
    assert carol["approval"] == "approved" and carol["approval_flags"] == "approved-by-grantee"
    assert carol["pull_request"] == f"https://github.example/{REPO}/pull/3"
    assert (carol["pull_author"], carol["approvers"]) == ("ben-gh", "Carol-GH")
    assert carol["merged_at"] == "2026-11-23T11:00:00Z"
    assert rows[("org-demo", "user-bob")]["approval_flags"] == "self-approved"
    assert rows[("org-lab", "user-grace")]["approval"] == "not-merged"

    data = report_to_json(report)
    jsonschema.validate(data, report_schema())
    assert data["evidence"]["repository"] == REPO and data["evidence"]["loginsKnown"]
    assert data["counts"]["approvedByGrantee"] == 1 and data["counts"]["noApproval"] == 1
    pull = data["commits"][shas[3]]["pullRequest"]
    assert (pull["number"], pull["approvers"], pull["author"]) == (3, ["Carol-GH"], "ben-gh")
    demo = next(o for o in data["orgs"] if o["org"] == "org-demo")
    carol_json = next(m for m in demo["members"] if m["user"] == "user-carol")
    assert carol_json["approval"]["flags"] == ["approved-by-grantee"]
    assert carol_json["approval"]["pullRequest"] == 3
    tool = next(g for g in demo["selfGrants"] if g["name"] == "tool")
    assert tool["approval"]["state"] == "no-approval"


def test_github_is_asked_once_per_commit_and_once_per_pull_request(
    report: AccessReport, github: FakeGitHub, shas
) -> None:
    asked = [r.path for r in github.requests if r.method == "GET"]
    for sha in shas.values():
        assert asked.count(f"/repos/{REPO}/commits/{sha}/pulls") == 1
    reviews = [p for p in asked if p.endswith("/reviews")]
    # #2's five reviews on pages of two: three pages; the others one each; #6 never
    assert sorted(reviews) == sorted(
        [f"/repos/{REPO}/pulls/{n}/reviews" for n in (1, 2, 2, 2, 3, 4, 5)]
    )
    assert github.writes() == []
    assert all(r.authorization == f"Bearer {TOKEN}" for r in github.requests)


def test_outside_github_every_committed_line_is_not_on_github(
    fleet_repo: FleetRepo, live: ReadClient, shas, journals: list[Path]
) -> None:
    report = build(fleet_repo, live, None, journals)
    states = {a.state for a in report.approvals}
    assert states == {"not-on-github", "not-merged"}  # grace's line is uncommitted
    assert member(report, "org-demo", "user-alice").approval.describe() == "not on GitHub"  # type: ignore[union-attr]
    [eve] = report.departed
    # no merge time to count from: the last removal journaled, and no delay
    lab = next(r for r in eve.removals if r.org_id == "org-lab")
    assert (lab.removed_at, lab.delay_seconds) == (REMOVED, None)
    assert report.evidence.repository is None
    markdown = "\n".join(render_report_markdown(report))
    assert "approvals: not on GitHub" in markdown


def test_a_commit_github_does_not_have_is_not_on_github(
    fleet_repo: FleetRepo, live: ReadClient, shas
) -> None:
    with serve(FakeGitHub(token=TOKEN, repository=REPO)) as fake:
        fake.push(shas[2])  # on GitHub, but pushed without a pull request
        report = build(fleet_repo, live, fake)
    alice = member(report, "org-demo", "user-alice").approval
    assert alice is not None and alice.state == "not-on-github"
    assert alice.note == f"{REPO} does not have the commit"
    bob = member(report, "org-demo", "user-bob").approval
    assert bob is not None and bob.state == "no-approval" and bob.note == "no pull request"


def test_github_refusing_makes_the_evidence_unavailable_never_approved(
    fleet_repo: FleetRepo, live: ReadClient, shas
) -> None:
    with serve(FakeGitHub(token="another-token", repository=REPO)) as fake:
        publish(fake, shas)
        report = build(fleet_repo, live, fake)
        asked = [r for r in fake.requests if "/commits/" in r.path]
    assert len(asked) == 1  # a 401 is the same for every commit: asked once
    committed = [a for a in report.approvals if a.state != "not-merged"]
    assert committed and {a.state for a in committed} == {"unavailable"}
    assert report.evidence.note is not None and "Bad credentials" in report.evidence.note
    assert TOKEN not in report.evidence.note


def test_approvers_are_the_last_verdicts_before_the_merge() -> None:
    def pull(*reviews: tuple[str, str, str], merged: str | None = "2026-01-02T00:00:00Z"):
        return PullRequest(
            1, "", "author", "closed", merged, tuple(PullReview(*r) for r in reviews)
        )

    assert approvers(pull(("a", "APPROVED", "2026-01-01T00:00:00Z"))) == ("a",)
    assert approvers(pull(("a", "APPROVED", "2026-01-03T00:00:00Z"))) == ()  # after the merge
    assert (
        approvers(
            pull(
                ("a", "APPROVED", "2026-01-01T00:00:00Z"),
                ("a", "DISMISSED", "2026-01-01T01:00:00Z"),
            )
        )
        == ()
    )
    assert approvers(
        pull(("a", "APPROVED", "2026-01-01T00:00:00Z"), ("A", "COMMENTED", "2026-01-01T01:00:00Z"))
    ) == ("a",)
    # not merged: every verdict so far
    assert approvers(pull(("b", "APPROVED", "2026-05-01T00:00:00Z"), merged=None)) == ("b",)


def test_the_removal_a_departure_caused_is_the_first_after_its_merge() -> None:
    journaled = [
        JournaledRemoval("user-eve", "org-a", "2026-11-01T00:00:00+00:00"),
        JournaledRemoval("user-eve", "org-a", "2026-11-25T00:00:00+00:00"),
        JournaledRemoval("user-eve", "org-a", "2026-11-22T00:00:00+00:00"),
        JournaledRemoval("user-bob", "org-a", "2026-11-21T06:00:00+00:00"),
    ]
    [a] = removals_of("user-eve", "2026-11-21T00:00:00Z", [], journaled)
    assert (a.removed_at, a.delay_seconds) == ("2026-11-22T00:00:00+00:00", 86400)
    # still a member: whatever the journals say, not yet removed
    [b] = removals_of("user-eve", "2026-11-21T00:00:00Z", ["org-a"], journaled)
    assert b.state == "not-yet-removed"
