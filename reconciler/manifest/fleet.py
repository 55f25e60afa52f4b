"""Load a fleet: org manifest files and directories -> validated DesiredOrgs, or every problem.

A directory contributes each `*.yaml` / `*.yml` file directly inside it (sorted by name,
hidden files skipped, not recursive) except its fleet defaults file, `_defaults.yaml` (or
`_defaults.yml`). A symbolic link (an org file, a defaults file, or the path given) that
resolves outside the directory holding it is an error naming both paths, and is not read. The defaults file of an org file's own directory applies to it however
the file was named, so `dxorg plan dir/` and `dxorg plan dir/org.yaml` agree.

Nothing here contacts the platform.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from reconciler.errors import ManifestError, Problem
from reconciler.manifest.build import FleetDefaults, build_org, fleet_defaults
from reconciler.manifest.document import Document, parse_text, read_document
from reconciler.manifest.schema import SHARED_VALUE_MAPS, Schemas, check
from reconciler.model import DesiredOrg

DEFAULTS_FILE_NAMES: tuple[str, ...] = ("_defaults.yaml", "_defaults.yml")
MANIFEST_SUFFIXES: tuple[str, ...] = (".yaml", ".yml")


@dataclass(frozen=True)
class Fleet:
    """Every org the manifests declare, keyed by org id, and the files they came from."""

    orgs: dict[str, DesiredOrg]
    files: list[Path]
    defaults_files: list[Path] = field(default_factory=list)


class _FleetLoader:
    """The state of one load_fleet call: files found, defaults read, problems so far."""

    def __init__(self) -> None:
        self.schemas = Schemas.load()
        self.problems: list[Problem] = []
        self.org_files: list[Path] = []
        self.seen: set[Path] = set()
        self.defaults_by_dir: dict[Path, FleetDefaults | None] = {}
        # The defaults file of each directory and its digest, for the orgs built with it.
        self.defaults_digests: dict[Path, dict[str, str]] = {}
        self.defaults_files: list[Path] = []
        self.org_lines: dict[str, tuple[int, int]] = {}  # file -> where its `org:` value is
        self.token_env_lines: dict[str, tuple[int, int]] = {}  # file -> where its tokenEnv is

    def escapes(self, path: Path, root: Path) -> bool:
        """True (and a problem recorded) when `path` is a symbolic link that resolves
        outside `root`: a manifest tree may not pull in files from elsewhere on the
        machine, and nothing of such a file is read, not even for an error message."""
        if not path.is_symlink():
            return False
        target, inside = path.resolve(), root.resolve()
        if target.is_relative_to(inside):
            return False
        self.problems.append(
            Problem(
                str(path),
                1,
                1,
                f"a symbolic link to {target}, outside the manifest directory {inside}: "
                "not read (a link may only point within its directory)",
            )
        )
        return True

    def collect(self, paths: Sequence[Path]) -> None:
        for path in paths:
            # The path given may be a link too (a pull request can replace `orgs/` by
            # one): it must stay within the directory that holds it.
            if self.escapes(path, path.absolute().parent):
                continue
            if path.is_dir():
                self.defaults_for(path)
                found = sorted(
                    child
                    for child in path.iterdir()
                    if child.suffix in MANIFEST_SUFFIXES
                    and not child.name.startswith(".")
                    and child.name not in DEFAULTS_FILE_NAMES
                    and not self.escapes(child, path)
                    and child.is_file()
                )
                if not found:
                    self.problems.append(
                        Problem(
                            str(path), 1, 1, "no org manifests (*.yaml, *.yml) in this directory"
                        )
                    )
                for child in found:
                    self.add(child)
            elif path.name in DEFAULTS_FILE_NAMES and path.is_file():
                self.defaults_for(path.parent)
            elif path.exists():
                self.add(path)
            else:
                self.problems.append(Problem(str(path), 1, 1, "no such file or directory"))

    def add(self, path: Path) -> None:
        resolved = path.resolve()
        if resolved not in self.seen:
            self.seen.add(resolved)
            self.org_files.append(path)

    def defaults_for(self, directory: Path) -> FleetDefaults | None:
        key = directory.resolve()
        if key in self.defaults_by_dir:
            return self.defaults_by_dir[key]
        present = [
            directory / name
            for name in DEFAULTS_FILE_NAMES
            if not self.escapes(directory / name, directory) and (directory / name).is_file()
        ]
        result: FleetDefaults | None = None
        if len(present) > 1:
            self.problems.append(
                Problem(
                    str(present[1]),
                    1,
                    1,
                    f"two fleet defaults files here; keep only {present[0].name}",
                )
            )
        elif present:
            self.defaults_files.append(present[0])
            doc = read_document(present[0], str(present[0]))
            if isinstance(doc, Document):
                self.defaults_digests[key] = {doc.file: doc.digest}
                found = check(doc, self.schemas.defaults_validator)
                self.problems.extend(item.problem for item in found)
                if not found:
                    result, problems = fleet_defaults(doc)
                    self.problems.extend(problems)
            else:
                self.problems.extend(doc)
        self.defaults_by_dir[key] = result
        return result

    def load_org(self, path: Path) -> DesiredOrg | None:
        defaults = self.defaults_for(path.parent)
        doc = read_document(path, str(path))
        if not isinstance(doc, Document):
            self.problems.extend(doc)
            return None
        inputs = {doc.file: doc.digest, **self.defaults_digests.get(path.parent.resolve(), {})}
        return self.build(doc, defaults, inputs)

    def build(
        self, doc: Document, defaults: FleetDefaults | None, inputs: dict[str, str] | None = None
    ) -> DesiredOrg | None:
        found = check(doc, self.schemas.org_validator, shared=SHARED_VALUE_MAPS)
        self.problems.extend(item.problem for item in found)
        org, problems = build_org(doc, {item.path for item in found}, defaults)
        self.problems.extend(problems)
        if org is None:
            return None
        self.org_lines[doc.file] = doc.at(("org",))
        if org.forwarding is not None and org.forwarding.token_env:
            self.token_env_lines[doc.file] = doc.at(("jobLogsForwarding", "tokenEnv"))
        return replace(org, manifests=inputs or {doc.file: doc.digest})

    def check_token_envs(self, orgs: Iterable[DesiredOrg]) -> None:
        """One forwarding token variable for two forwarding URLs is a problem at each later
        one: the platform would send the token to a URL it was not issued for."""
        first: dict[str, DesiredOrg] = {}
        for org in orgs:
            forwarding = org.forwarding
            if forwarding is None or not forwarding.token_env:
                continue
            seen = first.setdefault(forwarding.token_env, org)
            if seen.forwarding is None or seen.forwarding.url == forwarding.url:
                continue
            line, column = self.token_env_lines[org.source]
            self.problems.append(
                Problem(
                    org.source,
                    line,
                    column,
                    f"jobLogsForwarding.tokenEnv: {forwarding.token_env} is also the token of "
                    f"{seen.source}:{self.token_env_lines[seen.source][0]}, which forwards to "
                    f"{seen.forwarding.url}, not {forwarding.url}: its token would be sent to "
                    "a URL it was not issued for. Give each forwarding URL its own variable",
                )
            )


def load_fleet(paths: Sequence[Path], *, allowed_orgs: Collection[str] | None = None) -> Fleet:
    """Load and validate every manifest under `paths`; raise ManifestError with every problem.

    `allowed_orgs`, when given, are the only org ids the manifests may name (the Action's
    `allowed-orgs` input): a manifest naming another is a problem at its `org:` field, so
    a branch cannot point the token at an org it happens to administer besides these.
    Problems are sorted by file, line and column. Contacts nothing.
    """
    loader = _FleetLoader()
    loader.collect(paths)
    orgs: dict[str, DesiredOrg] = {}
    for path in loader.org_files:
        org = loader.load_org(path)
        if org is None:
            continue
        if org.org_id in orgs:
            first = orgs[org.org_id]
            line, column = loader.org_lines[org.source]
            loader.problems.append(
                Problem(
                    org.source,
                    line,
                    column,
                    f"org: {org.org_id} is also declared in {first.source}:"
                    f"{loader.org_lines[first.source][0]}; keep one file per org",
                )
            )
            continue
        if allowed_orgs is not None and org.org_id not in allowed_orgs:
            line, column = loader.org_lines[org.source]
            loader.problems.append(
                Problem(
                    org.source,
                    line,
                    column,
                    f"org: {org.org_id} is not one of the orgs this repository manages "
                    f"(allowed-orgs: {', '.join(sorted(allowed_orgs)) or 'none'}); add it "
                    "there on the base branch first",
                )
            )
            continue
        orgs[org.org_id] = org
    loader.check_token_envs(orgs.values())
    if loader.problems:
        raise ManifestError(sorted(loader.problems, key=_order))
    return Fleet(orgs=orgs, files=list(loader.org_files), defaults_files=loader.defaults_files)


def load_defaults(directory: Path) -> FleetDefaults | None:
    """The fleet defaults file of `directory` (None if it has none); raise ManifestError."""
    loader = _FleetLoader()
    defaults = loader.defaults_for(directory)
    if loader.problems:
        raise ManifestError(sorted(loader.problems, key=_order))
    return defaults


def load_org(path: Path) -> DesiredOrg:
    """Load one org manifest (with its directory's fleet defaults); raise ManifestError."""
    fleet = load_fleet([path])
    if len(fleet.orgs) != 1:
        raise ManifestError([Problem(str(path), 1, 1, "not an org manifest")])
    return next(iter(fleet.orgs.values()))


def loads_org(text: str, source: str = "<string>") -> DesiredOrg:
    """Load one org manifest from text, without fleet defaults; raise ManifestError."""
    loader = _FleetLoader()
    doc = parse_text(text, source)
    org = loader.build(doc, None) if isinstance(doc, Document) else None
    if not isinstance(doc, Document):
        loader.problems.extend(doc)
    if loader.problems or org is None:
        raise ManifestError(sorted(loader.problems, key=_order))
    return org


def _order(problem: Problem) -> tuple[str, int, int, str]:
    return (problem.file, problem.line, problem.column, problem.message)
