"""The I/O side of `dxorg report`: read the live orgs (read-only client) and the git history
of the manifest files, side by side, then hand both to the pure builder.

Each org is read as plan reads it (`live.read_org`), failing closed: an org whose read
fails is reported as not read, never as an org with nobody in it.
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import __version__
from reconciler.errors import ReadIncompleteError
from reconciler.live import read_org
from reconciler.model import DesiredOrg, LiveOrg
from reconciler.read_and_plan import platform_time, select_orgs
from reconciler.review.build import ReviewInput, build_report
from reconciler.review.git_blame import blame_files
from reconciler.review.value import AccessReport

if TYPE_CHECKING:
    from reconciler.manifest import Fleet
    from reconciler.platform.client import ReadClient


def collect(
    fleet: Fleet, client: ReadClient, *, only: Collection[str] | None = None
) -> ReviewInput:
    orgs = select_orgs(fleet, only)
    files = [Path(org.source) for org in orgs] + list(fleet.defaults_files)
    with ThreadPoolExecutor(max_workers=1) as side:
        # git runs while the platform answers: neither waits for the other.
        blamed = side.submit(blame_files, files)
        caller = client.whoami()

        def one(desired: DesiredOrg) -> LiveOrg | str:
            try:
                # Whether accounts to invite exist only matters to plan's unknown-user rail.
                return read_org(client, desired, caller, check_invitees=False)
            except ReadIncompleteError as exc:
                return str(exc)

        workers = max(1, min(client.concurrency, len(orgs)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            reads = dict(zip((o.org_id for o in orgs), pool.map(one, orgs), strict=True))
        histories, git = blamed.result()
    return ReviewInput(
        orgs=orgs,
        live={k: v for k, v in reads.items() if isinstance(v, LiveOrg)},
        errors={k: v for k, v in reads.items() if isinstance(v, str)},
        histories=histories,
        git=git,
        caller=caller,
    )


def review_fleet(
    fleet: Fleet,
    client: ReadClient,
    *,
    only: Collection[str] | None = None,
    now: datetime | None = None,
) -> AccessReport:
    """Read everything the report needs and build it."""
    collected = collect(fleet, client, only=only)
    # Expiry is judged by the platform's clock, read from its answers just now.
    moment = (now or platform_time(client)).astimezone(UTC)
    return build_report(
        collected,
        today=moment.date(),
        generated_at=moment.isoformat(timespec="seconds"),
        tool_version=__version__,
    )
