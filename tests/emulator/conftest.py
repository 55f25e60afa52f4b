"""Fixtures: an emulator seeded with the sandbox example, reached in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.emulator import Emulator
from tests.emulator.sandbox import CONTROL_TOKEN, SANDBOX_SEED, Api


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(seed=SANDBOX_SEED, control_token=CONTROL_TOKEN) as emulator:
        yield emulator


@pytest.fixture
def api(emu: Emulator) -> Iterator[Api]:
    client = Api(emu)
    yield client
    client.http.close()
