"""A local emulator of the DNAnexus API (org, project, app and user methods).

It speaks only the wire protocol and imports nothing from the rest of `reconciler`.

    from reconciler.emulator import Emulator
    emu = Emulator(seed=Path("reconciler/demo/seed.yaml"))
    client = httpx.Client(transport=emu.transport(), base_url="http://emulator")
    with emu.serve(port=0) as server:
        print(server.url)
"""

from __future__ import annotations

from reconciler.emulator.emulator import DEFAULT_CONTROL_TOKEN, Emulator, RunningServer
from reconciler.emulator.seed import SeedError

__all__ = ["DEFAULT_CONTROL_TOKEN", "Emulator", "RunningServer", "SeedError"]
