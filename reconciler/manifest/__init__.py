"""Manifests: YAML files in git -> validated, normalised DesiredOrgs (and back, by export).

`load_fleet` is the entry point; every problem a user can cause becomes a positioned
`Problem` inside one `ManifestError`, never a traceback.
"""

from __future__ import annotations

from reconciler.manifest.fleet import (
    DEFAULTS_FILE_NAMES,
    Fleet,
    load_defaults,
    load_fleet,
    load_org,
    loads_org,
)

__all__ = ["DEFAULTS_FILE_NAMES", "Fleet", "load_defaults", "load_fleet", "load_org", "loads_org"]
