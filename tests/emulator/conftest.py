"""Fixtures: an emulator seeded with the tests' sandbox, reached in-process or, for the
`dx` CLI tests, over loopback (one server per module, its state reset for each test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.emulator import Emulator
from tests.emulator.dx_sandbox import DxSandbox
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


@pytest.fixture(scope="module")
def dx_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DxSandbox]:
    conf_dir = tmp_path_factory.mktemp("dx-config")  # empty: no stored credentials leak in
    with (
        Emulator(seed=SANDBOX_SEED, control_token=CONTROL_TOKEN) as emu,
        emu.serve(host="127.0.0.1", port=0) as running,
    ):
        sandbox = DxSandbox(emu, running.url, running.port, conf_dir)
        yield sandbox
        sandbox.close()


@pytest.fixture
def dx(dx_server: DxSandbox) -> DxSandbox:
    for path in ("reset", "faults/clear", "requests/clear"):
        assert dx_server.control.post(f"/_emulator/{path}", json={}).status_code == 200
    return dx_server
