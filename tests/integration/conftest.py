"""An emulator per test, in-process (no socket): the fake platform for plan and apply."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.emulator import Emulator
from reconciler.manifest import Fleet, load_fleet
from reconciler.platform import Connection, PlatformConfig, ReadClient, RetryPolicy, WriteClient
from tests.emulator_harness import EmulatorControl

CONTROL_TOKEN = "test-control-token"
P1 = "project-" + "A" * 24
P2 = "project-" + "B" * 24
APP1 = "app-" + "C" * 24


def base_seed() -> dict[str, Any]:
    users = ["alice", "root", "bob", "carol", "dave", "eve", "frank"]
    return {
        "users": [
            {
                "id": f"user-{u}",
                "first": u.title(),
                "last": "Tester",
                "email": f"{u}@example.com",
                "token": f"{u}-token",
            }
            for u in users
        ],
        "orgs": [
            {
                "id": "org-demo",
                "name": "Demo Organization",
                "policies": {"memberListVisibility": "ADMIN", "restrictProjectTransfer": "ADMIN"},
                "userProvisioning": True,
                "members": {
                    "user-alice": {"level": "ADMIN"},
                    "user-root": {"level": "ADMIN"},
                    "user-bob": {
                        "level": "MEMBER",
                        "allowBillableActivities": False,
                        "appAccess": True,
                        "projectAccess": "CONTRIBUTE",
                    },
                    "user-carol": {
                        "level": "MEMBER",
                        "allowBillableActivities": False,
                        "appAccess": True,
                        "projectAccess": "CONTRIBUTE",
                    },
                    "user-eve": {
                        "level": "MEMBER",
                        "allowBillableActivities": False,
                        "appAccess": True,
                        "projectAccess": "VIEW",
                    },
                },
            }
        ],
        "projects": [
            {
                "id": P1,
                "name": "clinical-1",
                "billTo": "org-demo",
                "createdBy": "user-root",
                "created": 1700000000000,
                "dataUsage": 1.5,
                "permissions": {"user-root": "ADMINISTER"},
            },
            {
                "id": P2,
                "name": "scratch",
                "billTo": "org-demo",
                "createdBy": "user-root",
                "created": 1700000000000,
                "dataUsage": 0.1,
                "permissions": {"user-root": "ADMINISTER", "user-alice": "VIEW"},
            },
        ],
        "apps": [
            {
                "id": APP1,
                "name": "tool",
                "version": "1.0.0",
                "title": "Tool",
                "billTo": "org-demo",
                "developers": ["user-root"],
            },
        ],
    }


FAST_RETRY = RetryPolicy(max_attempts=8, max_total_seconds=20, backoff_base=0.001, backoff_cap=0.01)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(state_path=tmp_path / "state.db", seed=base_seed(), control_token=CONTROL_TOKEN)
    yield emu
    emu.close()


def config_for(token: str = "alice-token") -> PlatformConfig:
    return PlatformConfig(
        protocol="http",
        host="emulator.invalid",
        port=None,
        token=token,
        auth_server_url="http://emulator.invalid",
    )


def connection_to(emulator: Emulator, token: str = "alice-token") -> Connection:
    """How apply reaches the in-process emulator, as `token`'s user."""
    return Connection(config_for(token), transport=emulator.transport(), retry=FAST_RETRY)


@pytest.fixture
def connection(emulator: Emulator) -> Connection:
    return connection_to(emulator)


@pytest.fixture
def write_client(emulator: Emulator) -> Iterator[WriteClient]:
    with WriteClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        yield client


@pytest.fixture
def read_client(emulator: Emulator) -> Iterator[ReadClient]:
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        yield client


class Control(EmulatorControl):
    """The emulator's control plane, with this folder's control token."""

    def __init__(self, emulator: Emulator) -> None:
        super().__init__(emulator, token=CONTROL_TOKEN)


@pytest.fixture
def control(emulator: Emulator) -> Control:
    return Control(emulator)


def write_manifest(directory: Path, text: str, name: str = "org-demo.yaml") -> Fleet:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(textwrap.dedent(text))
    return load_fleet([directory])


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """`dxorg ARGS` in this process, as the console script runs it: its exit code and
    output, and never a traceback."""

    def run(*args: str) -> CliResult:
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        captured = capsys.readouterr()
        code = exited.value.code
        assert isinstance(code, int), code
        assert "Traceback" not in captured.out + captured.err
        return CliResult(code, captured.out, captured.err)

    return run
