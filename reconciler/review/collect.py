"""The I/O side of `dxorg report`: read the live orgs (read-only client) and the git history
of the manifest files, side by side, then hand both to the pure builder.

Each org is read as plan reads it (`read_live.read_org`), failing closed: an org whose read
fails is reported as not read, never as an org with nobody in it. With a GitHub client,
the approval evidence of the lines' commits is gathered too (`review.evidence`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import __version__
from reconciler.errors import ReadIncompleteError
from reconciler.model import DesiredOrg, LiveOrg
from reconciler.read_and_plan import platform_time, select_orgs
from reconciler.read_live import read_org
from reconciler.review.approvals import ApprovalInput, evidence_commits
from reconciler.review.build import ReviewInput, build_report
from reconciler.review.evidence import gather_commits, journaled_removals
from reconciler.review.git_blame import blame_files
from reconciler.review.value import AccessReport, CommitEvidence, FileHistory, GitSummary
from reconciler.worker_threads import wait_all

if TYPE_CHECKING:
    from reconciler.github.api import GitHubClient
    from reconciler.manifest import Fleet
    from reconciler.platform.client import ReadClient


@dataclass(frozen=True)
class EvidenceSources:
    """Where the approval evidence comes from: GitHub (None: not on GitHub), the apply
    journals to time removals by, and the user-to-login mapping (None: not given)."""

    github: GitHubClient | None = None
    journals: Sequence[Path] = ()
    logins: Mapping[str, str] | None = None


def collect(
    fleet: Fleet,
    client: ReadClient,
    *,
    only: Collection[str] | None = None,
    sources: EvidenceSources | None = None,
) -> ReviewInput:
    orgs = select_orgs(fleet, only)
    files = [Path(org.source) for org in orgs] + list(fleet.defaults_files)
    sources = sources or EvidenceSources()
    removals = journaled_removals(sources.journals)  # a bad --journal fails before any read

    def history() -> tuple[
        dict[str, FileHistory], GitSummary, dict[str, CommitEvidence] | None, str | None
    ]:
        histories, git = blame_files(files)
        if sources.github is None:
            return histories, git, None, None
        commits, note = gather_commits(sources.github, evidence_commits(orgs, histories))
        return histories, git, commits, note

    with ThreadPoolExecutor(max_workers=1) as side:
        # git and GitHub run while the platform answers: neither waits for the other.
        blamed = side.submit(history)

        def one(desired: DesiredOrg) -> LiveOrg | str:
            try:
                # Whether accounts to invite exist only matters to plan's unknown-user rail.
                return read_org(client, desired, caller, check_invitees=False)
            except ReadIncompleteError as exc:
                return str(exc)

        try:
            caller = client.whoami()
            # On the client's threads, as plan reads: a Ctrl-C or SIGTERM stops them (each
            # read's next request is refused) instead of waiting for every org to be read.
            reads = dict(zip((o.org_id for o in orgs), client.map(one, orgs), strict=True))
            wait_all([blamed])  # a Ctrl-C or SIGTERM is handled while git or GitHub runs
        except BaseException:
            # The side thread may be waiting out GitHub's rate limit: end that wait too, or
            # the exit waits for it.
            if sources.github is not None:
                sources.github.interrupt()
            raise
        histories, git, commits, note = blamed.result()
    return ReviewInput(
        orgs=orgs,
        live={k: v for k, v in reads.items() if isinstance(v, LiveOrg)},
        errors={k: v for k, v in reads.items() if isinstance(v, str)},
        histories=histories,
        git=git,
        caller=caller,
        approvals=ApprovalInput(
            repository=sources.github.repository if sources.github else None,
            commits=commits,
            logins=sources.logins,
            removals=removals,
            journals=tuple(str(p) for p in sources.journals),
            note=note,
        ),
    )


def review_fleet(
    fleet: Fleet,
    client: ReadClient,
    *,
    only: Collection[str] | None = None,
    now: datetime | None = None,
    sources: EvidenceSources | None = None,
) -> AccessReport:
    """Read everything the report needs and build it."""
    collected = collect(fleet, client, only=only, sources=sources)
    # Expiry is judged by the platform's clock, read from its answers just now.
    moment = (now or platform_time(client)).astimezone(UTC)
    return build_report(
        collected,
        today=moment.date(),
        generated_at=moment.isoformat(timespec="seconds"),
        tool_version=__version__,
    )
