"""Export live orgs as manifests: the I/O side of `dxorg export` (rendering is pure)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.live import read_org
from reconciler.manifest import load_defaults
from reconciler.manifest.export import render_manifest
from reconciler.model import Departure, DesiredOrg

if TYPE_CHECKING:
    from reconciler.platform.client import ReadClient


def export_org(client: ReadClient, org_id: str, *, caller: str, out: Path | None = None) -> str:
    """The manifest for one org as it is live. Reads only what a manifest can declare here:
    the org, its policies, members and forwarding (never a token: the platform keeps only
    its signature).

    Written into a directory with a fleet defaults file, the members that file lists as
    departed are left out: that file applies to the exported one, which must load beside
    it (a departed user listed in an org file is an error), and export must never undo
    an offboarding. Written to stdout there is no directory to look in; a departed user
    pasted into the fleet is then a validation error naming both lines.
    """
    departed: dict[str, Departure] = {}
    if out is not None:
        defaults = load_defaults(out.parent) if out.parent.is_dir() else None
        departed = dict(defaults.departed) if defaults else {}
    live = read_org(client, DesiredOrg(org_id=org_id, source="(export)"), caller)
    schema_ref = "../../schemas/org.schema.json"
    if out is not None:
        schema = Path(__file__).resolve().parents[1] / "schemas" / "org.schema.json"
        schema_ref = os.path.relpath(schema, out.resolve().parent)
    return render_manifest(live, schema_ref=schema_ref, departed=departed)


def administered_orgs(client: ReadClient) -> list[str]:
    """Every org the token's user administers, sorted."""
    return sorted(str(row["id"]) for row in client.find_orgs("ADMIN", describe=False))
