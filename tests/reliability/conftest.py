"""Fixtures: the `dxorg` entry point run in-process, and an emulator served on loopback.

The emulator, its seed and control client come from tests/integration (the same fake
platform); what is added here is running `reconciler.cli.main` as the console script
would, with its argv, environment and exit code.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.cli import main
from reconciler.emulator import Emulator
from reconciler.platform.routes import READ_METHODS
from tests.integration.conftest import CONTROL_TOKEN, base_seed

API_TOKEN = "alice-token"


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


CliRunner = Callable[..., CliResult]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """`dxorg ARGS...` in this process: its exit code, stdout and stderr.

    Anything raised out of `main()` other than SystemExit is a traceback the user would
    have seen, and fails the test by propagating.
    """

    def run(*args: str, env: dict[str, str] | None = None) -> CliResult:
        capsys.readouterr()
        with monkeypatch.context() as patch:
            patch.setattr(sys, "argv", ["dxorg", *args])
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


class Served:
    """An emulator on a loopback port: its URL, the `dx` environment, the control plane."""

    def __init__(self, emulator: Emulator, url: str, port: int) -> None:
        self.emulator, self.url, self.port = emulator, url, port
        self.control = httpx.Client(
            base_url=f"{url}/_emulator",
            headers={"Authorization": f"Bearer {CONTROL_TOKEN}"},
            timeout=60,
        )

    def env(self, token: str = API_TOKEN, **extra: str) -> dict[str, str]:
        env = {
            "DX_APISERVER_PROTOCOL": "http",
            "DX_APISERVER_HOST": "127.0.0.1",
            "DX_APISERVER_PORT": str(self.port),
            "DX_AUTHSERVER_HOST": "http://127.0.0.1",
            "DX_AUTHSERVER_PORT": str(self.port),
            "DX_SECURITY_CONTEXT": json.dumps({"auth_token_type": "Bearer", "auth_token": token}),
            "DX_USER_CONF_DIR": tempfile.mkdtemp(),
            "DXORG_MAX_RETRY_SECONDS": "0.5",
        }
        env.update(extra)
        return env

    def requests(self) -> list[dict[str, Any]]:
        return list(self.control.get("/requests").json()["requests"])

    def writes(self) -> list[dict[str, Any]]:
        """Calls of any method that is not a read (whether or not they succeeded)."""
        return [r for r in self.requests() if r["route"].rsplit("/", 1)[-1] not in READ_METHODS]

    def rule(self, route: str, fault: str, count: int = 1, **extra: Any) -> None:
        body = {"route": route, "fault": fault, "count": count, "retryAfter": 0, **extra}
        self.control.post("/rules", json=body).raise_for_status()


@pytest.fixture
def served_seed() -> dict[str, Any]:
    return base_seed()


@pytest.fixture
def served(tmp_path: Path, served_seed: dict[str, Any]) -> Iterator[Served]:
    emulator = Emulator(
        state_path=tmp_path / "state.db", seed=served_seed, control_token=CONTROL_TOKEN
    )
    with emulator.serve(port=0) as server:
        platform = Served(emulator, server.url, server.port)
        yield platform
        platform.control.close()
    emulator.close()
