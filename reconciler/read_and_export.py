"""Export live orgs as manifests: the I/O side of `dxorg export` (rendering is pure).

An exported manifest's `$schema` comment names `org.schema.json` in its own directory, and
`write_schema_beside` puts the schema this dxorg validates with there: the reference works
in any repository, offline, and matches the version that wrote the file (dxorg has no
published schema URL to point at).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import ConfigError, DxorgError, ReadIncompleteError
from reconciler.manifest import load_defaults
from reconciler.manifest.export import render_manifest
from reconciler.manifest.schema import ORG_SCHEMA, SCHEMA_DIR, read_schema
from reconciler.model import Departure, DesiredOrg
from reconciler.read_live import read_org

if TYPE_CHECKING:
    from reconciler.platform.client import ReadClient


def export_org(
    client: ReadClient,
    org_id: str,
    *,
    caller: str,
    out: Path | None = None,
    keep_caller: bool = False,
    token_env: str | None = None,
) -> str:
    """The manifest for one org as it is live. Reads only what a manifest can declare here:
    the org, its policies and samlIdP, its members with every permission flag, and
    forwarding (never a token: the platform keeps only its signature).

    Written into a directory with a fleet defaults file, the members that file lists as
    departed are left out: that file applies to the exported one, which must load beside
    it (a departed user listed in an org file is an error), and export must never undo
    an offboarding. Written to stdout there is no directory to look in; a departed user
    pasted into the fleet is then a validation error naming both lines.

    `keep_caller` (dxorg init): the token's user is `protected` and in `requiredAdmins`.
    """
    departed: dict[str, Departure] = {}
    if out is not None:
        defaults = load_defaults(out.parent) if out.parent.is_dir() else None
        departed = dict(defaults.departed) if defaults else {}
    live = read_org(client, DesiredOrg(org_id=org_id, source="(export)"), caller)
    return render_manifest(
        live,
        schema_ref=ORG_SCHEMA,
        departed=departed,
        keep_admin=caller if keep_caller else None,
        token_env=token_env,
    )


def refuse_links(targets: Iterable[Path], under: Path) -> None:
    """Refuse, naming it, a symbolic link at any of `targets` or at a directory between
    `under` and one of them: written through, a link (a dangling one too) would create or
    replace a file wherever it points, outside `under`."""
    for target in targets:
        relative = target.absolute().relative_to(under.absolute())
        path = under
        for part in relative.parts:
            path = path / part
            if path.is_symlink():
                raise ConfigError(
                    f"{path}: a symbolic link; dxorg never writes through one (it could point "
                    f"outside {under}). Nothing was written: remove it, then run again"
                )


def _write_file(target: Path, data: bytes) -> None:
    """Write `target` as a new file beside it, renamed over it: a link that appeared at
    `target` since `refuse_links` is replaced, never written through."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}.dxorg-{os.getpid()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(scratch, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(scratch, target)
    except BaseException:
        scratch.unlink(missing_ok=True)
        raise


def write_files(files: Mapping[Path, str | bytes], under: Path) -> list[Path]:
    """Write each file (text as UTF-8) under the directory `under`, none through a
    symbolic link: every target is checked before the first is written. The paths written."""
    refuse_links(files, under)
    for target, content in files.items():
        _write_file(target, content.encode("utf-8") if isinstance(content, str) else content)
    return list(files)


def write_schema_beside(directory: Path, name: str = ORG_SCHEMA) -> Path:
    """Write a schema (the org's by default) into `directory`, where the files naming it
    go, never through a symbolic link; its path."""
    target = directory / name
    write_files({target: (SCHEMA_DIR / name).read_bytes()}, directory)
    return target


class NoOrgsAdministered(DxorgError):
    """`export --all` or `init` with a token whose user is an ADMIN of no org."""


def administered_orgs(client: ReadClient) -> list[str]:
    """Every org the token's user administers, sorted.

    Each id becomes a file name (`<id>.yaml`), so an id the platform returns that is not
    an org id as a manifest may name it (`../x`, `/etc/y`) fails the export before any
    file is written.
    """
    org_id = re.compile(read_schema(ORG_SCHEMA)["$defs"]["orgId"]["pattern"])
    ids = sorted(str(row["id"]) for row in client.find_orgs("ADMIN", describe=False))
    if not ids:
        raise NoOrgsAdministered(
            "the token's user administers no org on this platform: nothing to export "
            "(dxorg manages the orgs its token's user is an ADMIN of)"
        )
    for bad in (i for i in ids if not org_id.fullmatch(i)):
        raise ReadIncompleteError(
            f"/system/findOrgs returned {bad!r}, which is not an org id: nothing written"
        )
    return ids
