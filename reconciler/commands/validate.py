"""`validate`: the manifests checked against the schema and each other; contacts nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.config_repo import config_root

if TYPE_CHECKING:
    from reconciler.commands.platform import PlatformRequest
    from reconciler.manifest import Fleet


@dataclass(frozen=True)
class Manifests:
    """The manifest files and directories a command reads, and the org ids they may name
    (empty: any; the Action's allowed-orgs)."""

    paths: tuple[Path, ...]
    allowed_orgs: tuple[str, ...] = ()
    # Called with the fleet as soon as it is loaded, before the platform is asked anything
    # (the Action masks the forwarding tokens the manifests name).
    loaded: Callable[[Fleet], None] | None = None

    @property
    def root(self) -> Path:
        """The config repository holding the first of them (reconciler.config_repo)."""
        return config_root(list(self.paths[:1]))

    def root_for(self, platform: PlatformRequest) -> Path:
        """The config repository holding them, whose state directory the run keeps its
        journal, lock and evidence in: manifests of two repositories are refused unless
        the platform request names a state directory (--state-dir, DXORG_STATE_DIR)."""
        return config_root(
            list(self.paths), explicit_state_dir=platform.state_dir, env=platform.env
        )

    def load(self) -> Fleet:
        """Every manifest, checked (ManifestError names every problem found)."""
        from reconciler.manifest import load_fleet

        fleet = load_fleet(list(self.paths), allowed_orgs=self.allowed_orgs or None)
        if self.loaded is not None:
            self.loaded(fleet)
        return fleet


@dataclass(frozen=True)
class Validated:
    orgs: int
    files: int

    @property
    def line(self) -> str:
        return f"OK: {self.orgs} org(s) in {self.files} file(s)"


def validate(manifests: Manifests) -> Validated:
    fleet = manifests.load()
    return Validated(len(fleet.orgs), len(fleet.files))
