"""`export`: the manifest of a live org (deterministic: a re-export makes no git diff),
and `init`: a config repository started from every org the token administers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from reconciler.commands.platform import PlatformRequest
from reconciler.config_repo import config_root
from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from reconciler.platform import ReadClient

# What a written file is, for the presenter's line about it.
FileKind = Literal["manifest", "schema", "scaffold"]
Wrote = Callable[[Path, FileKind], None]


@dataclass(frozen=True)
class ExportRequest:
    platform: PlatformRequest
    org: str | None  # None: every org the token administers, one file each in `out`
    out: Path | None  # None: the one org's manifest is returned, not written
    force: bool = False  # replace manifests that already exist
    wrote: Wrote | None = None  # told of each file as it is written


@dataclass(frozen=True)
class Exported:
    text: str | None  # the manifest, when it was not written (`out` None)
    files: tuple[Path, ...] = ()


def export(request: ExportRequest) -> Exported:
    """A manifest that already exists is never replaced without `force`: it holds what a
    person wrote, which the platform cannot give back."""
    out, every = request.out, request.org is None
    if out is not None and not every and not request.force:
        refuse_overwrite([out])
    # The repository the manifests go to (a file in the directory --all writes into).
    root = config_root([] if out is None else [out / "org.yaml" if every else out])
    with request.platform.read_client(root) as client:
        caller = client.whoami()
        if request.org is not None and out is None:
            from reconciler.read_and_export import export_org

            return Exported(export_org(client, request.org, caller=caller))
        assert out is not None
        texts = export_orgs(client, caller, None if every else [request.org or ""], out)
    if every and not request.force:
        refuse_overwrite(list(texts))
    write_exported(texts, out if every else out.parent, request.wrote)
    return Exported(None, tuple(texts))


def export_orgs(
    client: ReadClient, caller: str, orgs: list[str] | None, out: Path, *, keep_caller: bool = False
) -> dict[Path, str]:
    """Each org's manifest text by target file (`orgs` None: every org the token
    administers, into the directory `out`). Every org is read before the first file is
    written: a failed read writes nothing. Written beside a fleet defaults file, its
    departed users are left out."""
    from reconciler.manifest.export import token_env_names
    from reconciler.read_and_export import administered_orgs, export_org

    if orgs is not None and len(orgs) == 1 and not out.is_dir():
        return {out: export_org(client, orgs[0], caller=caller, out=out, keep_caller=keep_caller)}
    ids = orgs if orgs is not None else administered_orgs(client)
    token_envs = token_env_names(ids)  # distinct across the orgs written together
    return {
        out / f"{org_id}.yaml": export_org(
            client,
            org_id,
            caller=caller,
            out=out / f"{org_id}.yaml",
            keep_caller=keep_caller,
            token_env=token_envs[org_id],
        )
        for org_id in ids
    }


def refuse_overwrite(targets: list[Path]) -> None:
    existing = [str(t) for t in targets if t.exists()]
    if existing:
        raise ConfigError(
            f"{', '.join(existing)}: already exists; export would replace what a person "
            "wrote there (requiredAdmins, protected, provisioning, self-grants, comments), "
            "which the platform cannot give back. Nothing was written: give --force to "
            "replace it, or export to stdout and merge by hand"
        )


def write_exported(texts: dict[Path, str], directory: Path, wrote: Wrote | None) -> None:
    """The manifests, then org.schema.json beside them (the schema their `$schema` names);
    none through a symbolic link (every target checked before the first is written)."""
    from reconciler.manifest.schema import ORG_SCHEMA
    from reconciler.read_and_export import refuse_links, write_files, write_schema_beside

    refuse_links([*texts, directory / ORG_SCHEMA], directory)
    directory.mkdir(parents=True, exist_ok=True)
    for target in write_files(texts, directory):
        if wrote is not None:
            wrote(target, "manifest")
    schema = write_schema_beside(directory)
    if wrote is not None:
        wrote(schema, "schema")


@dataclass(frozen=True)
class InitRequest:
    platform: PlatformRequest
    directory: Path  # the config repository to create
    action: str  # the dxorg Action the workflows use, pinned
    force: bool = False  # write into a directory that is not empty
    wrote: Wrote | None = None


@dataclass(frozen=True)
class Initialised:
    orgs: int
    notes: tuple[str, ...] = ()  # what init did besides writing files (git init, kept files)


def init(request: InitRequest) -> Initialised:
    """Every org the token administers exported into DIR/orgs/ (the token's user
    protected and a required admin in each), with the workflows, a pre-commit config, a
    .gitignore for the state directory and a README beside them. A directory that is not
    empty (a lone .git aside) is refused unless `force`."""
    from reconciler.read_and_export import write_files
    from reconciler.scaffold import (
        check_target,
        make_repository_root,
        scaffold_files,
        scaffold_targets,
    )

    directory = request.directory
    if not request.force:
        check_target(directory)
    elif directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory}: not a directory")
    orgs_dir = directory / "orgs"
    # DIR is the config repository's root (its state directory DIR/.dxorg) from the first
    # run, even inside another checkout: made a git repository once the orgs are read.
    with request.platform.read_client(directory.absolute()) as client:
        caller = client.whoami()
        texts = export_orgs(client, caller, None, orgs_dir, keep_caller=True)
    files = scaffold_files(texts.values(), action=request.action)
    targets, kept = scaffold_targets(directory, texts, files)
    notes = make_repository_root(directory)
    write_exported(texts, orgs_dir, request.wrote)
    for target in write_files(targets, directory):
        if request.wrote is not None:
            request.wrote(target, "scaffold")
    return Initialised(len(texts), (*notes, *kept))
