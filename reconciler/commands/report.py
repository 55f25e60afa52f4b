"""`report`: the access review, read-only: every member of every org, where the manifests
set their access and who last changed that line (git), who approved that change (GitHub),
drift, self-grants held, provisioned accounts, departed users still present and how long
removals took."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.commands.platform import PlatformRequest
from reconciler.commands.validate import Manifests

if TYPE_CHECKING:
    from reconciler.github.api import GitHubClient
    from reconciler.review.value import AccessReport


@dataclass(frozen=True)
class ReportRequest:
    manifests: Manifests
    platform: PlatformRequest
    only: tuple[str, ...] = ()
    # The apply journals to time departures' removals by, exactly; None: the state
    # directory's (`journal`, default journal.jsonl, and those restored beside it) that
    # exist, then `more_journals`.
    journals: tuple[Path, ...] | None = None
    journal: Path | None = None
    more_journals: tuple[Path, ...] = ()
    logins: Path | None = None  # YAML of `user-id: github-login` lines
    # Opens the GitHub client the approval evidence is read through (None: not on GitHub).
    github: Callable[[], GitHubClient] | None = None


def report(request: ReportRequest) -> AccessReport:
    from reconciler.review.collect import EvidenceSources, review_fleet
    from reconciler.review.evidence import load_logins

    fleet = request.manifests.load()
    root = request.manifests.root_for(request.platform)
    logins = load_logins(request.logins) if request.logins is not None else None
    with contextlib.ExitStack() as stack:
        github = stack.enter_context(request.github()) if request.github is not None else None
        sources = EvidenceSources(github=github, journals=_journals(request, root), logins=logins)
        client = stack.enter_context(request.platform.read_client(root))
        return review_fleet(fleet, client, only=request.only or None, sources=sources)


def _journals(request: ReportRequest, root: Path) -> list[Path]:
    from reconciler.config_repo import evidence_journals

    if request.journals is not None:
        return list(request.journals)
    state = request.platform.journals_state(root)
    journal = request.platform.journal(root, request.journal)
    found = [p for p in evidence_journals(state, journal) if p.is_file()]
    return list(dict.fromkeys([*found, *request.more_journals]))
