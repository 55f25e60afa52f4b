"""The fixtures doctor's tests share with the others: the in-process emulator
(tests/integration) and the emulator served on loopback with the CLI run in-process
(tests/reliability)."""

from __future__ import annotations

from tests.integration.conftest import emulator
from tests.reliability.conftest import cli, served, served_seed

__all__ = ["cli", "emulator", "served", "served_seed"]
