"""Approval evidence, matched to manifest lines: who approved the change that last set a
line, whether that was someone other than its author (or the person it grants), and how
long a departure took to take effect. Pure: the GitHub answers and the journal records
come in as values (`review.evidence` gathers them).

A pull request's approvers are the reviewers whose last review submitted before the merge
is APPROVED: GitHub's own rule (a later CHANGES_REQUESTED or a dismissal takes an approval
back; a COMMENTED review changes nothing), except that an approval given after the merge
approved nothing that was merged. Logins compare case-insensitively, as GitHub's do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from reconciler.model import DesiredOrg, Location
from reconciler.review.value import (
    Approval,
    ApprovalState,
    CommitEvidence,
    FileHistory,
    GranteeCheck,
    LineOrigin,
    PullRequest,
    Removal,
)

# Review states that set (or take back) a reviewer's verdict; COMMENTED and PENDING do not.
_VERDICTS = frozenset({"APPROVED", "CHANGES_REQUESTED", "DISMISSED"})


@dataclass(frozen=True)
class JournaledRemoval:
    """A `removeMember` the platform answered, from an apply journal."""

    user_id: str
    org_id: str
    at: str  # the `call-done` record's time, ISO 8601


@dataclass(frozen=True)
class ApprovalInput:
    """What the evidence step gathered for `review.build`."""

    repository: str | None = None  # owner/name; None: the report does not run on GitHub
    commits: Mapping[str, CommitEvidence] | None = None  # by commit id
    logins: Mapping[str, str] | None = None  # DNAnexus user id -> GitHub login
    removals: Sequence[JournaledRemoval] = ()
    journals: tuple[str, ...] = ()
    note: str | None = None


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def approvers(pull: PullRequest) -> tuple[str, ...]:
    """The logins whose last verdict before the merge (or so far, if not merged) approves."""
    merged = _instant(pull.merged_at)
    verdict: dict[str, tuple[str, str]] = {}  # lowercase login -> (login, state)
    for review in pull.reviews:  # GitHub lists them oldest first
        if review.state not in _VERDICTS:
            continue
        submitted = _instant(review.submitted_at)
        if merged is not None and (submitted is None or submitted > merged):
            continue
        verdict[review.login.lower()] = (review.login, review.state)
    return tuple(sorted(login for login, state in verdict.values() if state == "APPROVED"))


def approval_of(
    origin: LineOrigin,
    evidence: ApprovalInput,
    *,
    grantee: str | None = None,
) -> Approval:
    """The approval of the change that last set a line. `grantee`: the DNAnexus user the
    line grants ADMIN or a self-grant to (None when it grants neither)."""
    if origin.state == "uncommitted":
        return Approval("not-merged", note="uncommitted")
    if origin.state == "not-in-git" or origin.commit is None:
        return Approval("not-in-git")
    if evidence.repository is None or evidence.commits is None:
        return Approval("not-on-github")
    found = evidence.commits.get(origin.commit)
    if found is None or found.error is not None:
        return Approval("unavailable", note=found.error if found else "not looked up")
    if not found.known:
        return Approval("not-on-github", note=f"{evidence.repository} does not have the commit")
    pull = found.pull
    if pull is None:
        return Approval("no-approval", flags=("no-approval",), note="no pull request")
    approved_by = approvers(pull)
    if pull.merged_at is None:
        return Approval("not-merged", pull=pull, approvers=approved_by)
    others = [login for login in approved_by if login.lower() != pull.author.lower()]
    state: ApprovalState
    flags: tuple[str, ...]
    if others:
        state, flags = "approved", ()
    elif approved_by:
        state, flags = "self-approved", ("self-approved",)
    else:
        state, flags = "no-approval", ("no-approval",)
    check, login = _grantee(grantee, approved_by, evidence.logins)
    if check == "approved-by-grantee":
        flags = (*flags, "approved-by-grantee")
    return Approval(
        state,
        pull=pull,
        approvers=approved_by,
        flags=flags,
        grantee=check,
        grantee_login=login,
    )


def _grantee(
    user_id: str | None, approved_by: Sequence[str], logins: Mapping[str, str] | None
) -> tuple[GranteeCheck, str | None]:
    if user_id is None:
        return "not-applicable", None
    login = (logins or {}).get(user_id)
    if login is None:
        return "unknown", None  # no mapping: never guessed from the user id
    if login.lower() in {a.lower() for a in approved_by}:
        return "approved-by-grantee", login
    return "not-the-grantee", login


def removals_of(
    user_id: str,
    merged_at: str | None,
    present_in: Iterable[str],
    journaled: Sequence[JournaledRemoval],
) -> tuple[Removal, ...]:
    """For each org the departed user is still in, or a journal shows them removed from:
    when the removal took effect and how long after the departure was merged.

    The removal a departure caused is the first one journaled at or after its merge;
    without one (or without a merge time), the last one journaled.
    """
    present = set(present_in)
    merged = _instant(merged_at)
    chosen: dict[str, tuple[datetime, JournaledRemoval]] = {}
    for removal in journaled:
        at = _instant(removal.at)
        if removal.user_id != user_id or at is None or removal.org_id in present:
            continue
        kept = chosen.get(removal.org_id)
        if kept is None or _better(at, kept[0], merged):
            chosen[removal.org_id] = (at, removal)
    out: list[Removal] = []
    for org_id in sorted(present | set(chosen)):
        if org_id in present:
            out.append(Removal(org_id, "not-yet-removed"))
            continue
        at, removal = chosen[org_id]
        delay = int((at - merged).total_seconds()) if merged else None
        out.append(Removal(org_id, "removed", removed_at=removal.at, delay_seconds=delay))
    return tuple(out)


def _better(at: datetime, kept: datetime, merged: datetime | None) -> bool:
    if merged is None:
        return at > kept
    if (at >= merged) != (kept >= merged):
        return at >= merged  # after the merge beats before it
    return at < kept if at >= merged else at > kept


def evidence_commits(orgs: Sequence[DesiredOrg], histories: Mapping[str, FileHistory]) -> set[str]:
    """The commits of the lines that carry approval evidence: members', self-grants' and
    departures' lines. Asked once each, however many lines they set."""
    locations: list[Location | None] = []
    for org in orgs:
        if org.membership:
            locations += [m.where for m in org.membership.members.values()]
        if org.self_grants:
            locations += [g.where for g in org.self_grants.projects]
            locations += [g.where for g in org.self_grants.apps]
        locations += [d.where for d in org.departed.values()]
        locations += [a.where for a in org.provisioning]
    found: set[str] = set()
    for location in locations:
        if location is None:
            continue
        history = histories.get(location.file)
        commit = history.origin(location.line).commit if history else None
        if commit:
            found.add(commit)
    return found
