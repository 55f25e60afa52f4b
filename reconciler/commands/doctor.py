"""`doctor`: check, read-only, that the platform can be planned and applied against."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.commands.platform import PlatformRequest
from reconciler.commands.validate import Manifests

if TYPE_CHECKING:
    from reconciler.doctor_verdict import DoctorReport
    from reconciler.manifest import Fleet


@dataclass(frozen=True)
class DoctorRequest:
    platform: PlatformRequest
    manifests: Manifests | None = None  # None: the platform and the orgs in `only` alone
    only: tuple[str, ...] = ()
    # A platform configuration that cannot be used (a malformed DX_SECURITY_CONTEXT, a bad
    # port) as the report's failed check (the CLI), or raised as the error it is.
    config_error_as_check: bool = True


def doctor(request: DoctorRequest) -> DoctorReport:
    fleet = request.manifests.load() if request.manifests is not None else None
    return examine_fleet(request, fleet)


def examine_fleet(request: DoctorRequest, fleet: Fleet | None) -> DoctorReport:
    """The doctor's report on an already loaded fleet (plan checks the platform first)."""
    from reconciler.doctor import doctor_orgs, examine, examine_platform

    orgs = doctor_orgs(fleet, request.only)
    root = request.manifests.root if request.manifests is not None else _here()
    env = request.platform.env
    if not request.config_error_as_check:
        with request.platform.read_client(root) as client:
            return examine(orgs, client, env=env)
    api_server = None
    if request.platform.sandbox:
        state = request.platform.sandbox_file(root)
        api_server = f"the embedded sandbox ({state}, --sandbox)"
    connect = functools.partial(request.platform.read_client, root)
    return examine_platform(orgs, connect, env=env, api_server=api_server)


def _here() -> Path:
    from reconciler.config_repo import config_root

    return config_root([])
