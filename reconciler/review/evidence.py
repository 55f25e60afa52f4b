"""The I/O side of the report's approval evidence: GitHub's pull requests and reviews of
the commits that last set the manifest lines, the removals apply journals record, and the
DNAnexus-user-to-GitHub-login mapping file. `review.approvals` matches them to lines.

GitHub is asked once per commit and once per pull request (a fleet has many lines per
commit, and many commits per pull request), read-only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from reconciler.errors import DxorgError
from reconciler.github.api import GitHubClient, GitHubError, PullSummary
from reconciler.model import normalise_user_id
from reconciler.review.approvals import JournaledRemoval
from reconciler.review.value import CommitEvidence, PullRequest, PullReview

# Answers that will be the same for every other commit: stop asking after the first.
_FATAL_STATUSES = frozenset({401, 403, 404})


def _chosen(pulls: Sequence[PullSummary]) -> PullSummary | None:
    """The pull request that brought the commit in: the first merged, else an open one;
    a closed, unmerged one brought nothing in."""
    merged = sorted((p for p in pulls if p.merged_at), key=lambda p: (p.merged_at, p.number))
    if merged:
        return merged[0]
    open_ = sorted((p for p in pulls if p.state == "open"), key=lambda p: p.number)
    return open_[0] if open_ else None


def gather_commits(
    client: GitHubClient, commits: Iterable[str]
) -> tuple[dict[str, CommitEvidence], str | None]:
    """What GitHub says about each commit, and a note when some could not be looked up."""
    found: dict[str, CommitEvidence] = {}
    pulls: dict[int, PullRequest] = {}
    failed: list[str] = []
    fatal: str | None = None
    for sha in sorted(set(commits)):
        if fatal is not None:
            found[sha] = CommitEvidence(error=fatal)
            continue
        try:
            listed = client.commit_pulls(sha)
            if listed is None:
                found[sha] = CommitEvidence(known=False)
                continue
            chosen = _chosen(listed)
            if chosen is not None and chosen.number not in pulls:
                reviews = client.pull_reviews(chosen.number)
                pulls[chosen.number] = PullRequest(
                    number=chosen.number,
                    url=chosen.url,
                    author=str(chosen.author),
                    state=chosen.state,
                    merged_at=chosen.merged_at,
                    reviews=tuple(
                        PullReview(str(r.author), r.state, r.submitted_at) for r in reviews
                    ),
                )
            found[sha] = CommitEvidence(pull=pulls[chosen.number] if chosen else None)
        except GitHubError as exc:
            found[sha] = CommitEvidence(error=str(exc))
            failed.append(sha)
            if exc.status in _FATAL_STATUSES:
                fatal = str(exc)
    note = None
    if failed or fatal:
        missing = sum(1 for e in found.values() if e.error)
        note = f"{missing} commit(s) could not be looked up on GitHub: {found[failed[0]].error}"
    return found, note


def journaled_removals(paths: Iterable[Path]) -> list[JournaledRemoval]:
    """Every `removeMember` the platform answered, in these apply journals.

    A `call-done` carries no body; its `call` line (same run and step) names the user.
    A call alone (a run killed while it was out) or a failed one removed nobody.
    Unreadable lines (a torn write) are skipped, as plan's journal reader does.
    """
    out: list[JournaledRemoval] = []
    for path in paths:
        asked: dict[tuple[object, object], tuple[str, str]] = {}
        try:
            handle = path.open(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise DxorgError(f"{path}: cannot read the journal: {exc.strerror or exc}") from None
        with handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if not isinstance(record, dict):
                    continue
                route, org = record.get("route"), record.get("org")
                if not (isinstance(route, str) and route.endswith("/removeMember")):
                    continue
                key = (record.get("run"), record.get("step"))
                body = record.get("body")
                if record.get("event") == "call" and isinstance(body, dict):
                    user = body.get("user")
                    if isinstance(user, str) and isinstance(org, str):
                        asked[key] = (normalise_user_id(user), org)
                elif record.get("event") == "call-done" and key in asked:
                    user_id, org_id = asked.pop(key)
                    if isinstance(record.get("time"), str):
                        out.append(JournaledRemoval(user_id, org_id, record["time"]))
    return out


def load_logins(path: Path) -> dict[str, str]:
    """The mapping file: `user-id: github-login` per line. Errors name file:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DxorgError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise DxorgError(f"{where}: not YAML: {getattr(exc, 'problem', exc)}") from None
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise DxorgError(f"{path}:{node.start_mark.line + 1}: expected `user-id: github-login`")
    logins: dict[str, str] = {}
    for key, value in node.value:
        line = f"{path}:{key.start_mark.line + 1}"
        if not (isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.ScalarNode)):
            raise DxorgError(f"{line}: expected `user-id: github-login`")
        if not key.value.strip() or not value.value.strip():
            raise DxorgError(f"{line}: {key.value!r}: a user id and a GitHub login are both needed")
        user_id = normalise_user_id(key.value)
        if user_id in logins:
            raise DxorgError(f"{line}: {user_id}: listed twice")
        logins[user_id] = value.value.strip()
    return logins
