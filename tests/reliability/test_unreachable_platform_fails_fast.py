"""A platform address nothing listens on fails the first call at once, not after the whole
retry budget, and the error names the URL and the setting that put it there. Once the
server has answered, a refused connection is a blip and is retried as before.
"""

from __future__ import annotations

import io
import json
import logging
import socket
from pathlib import Path

import pytest

from reconciler.emulator import Emulator
from reconciler.errors import PlatformOutage
from reconciler.github_action import main as action_main
from reconciler.platform import PlatformConfig, PlatformLimits, ReadClient, RetryPolicy
from tests.action.conftest import Action
from tests.action.conftest import Platform as ActionPlatform
from tests.action.fake_github import FakeGitHub, serve
from tests.integration.conftest import CONTROL_TOKEN, base_seed
from tests.reliability.conftest import CliRunner, Served

MANIFEST = """\
org: org-demo
members:
  mode: additive
  users:
    alice: ADMIN
"""


def closed_port() -> int:
    """A loopback port that refuses connections: bound, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def orgs(tmp_path: Path) -> Path:
    directory = tmp_path / "orgs"
    directory.mkdir()
    (directory / "org-demo.yaml").write_text(MANIFEST)
    return directory


def retries_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]


def test_plan_against_a_closed_port_fails_at_once_naming_the_variable(
    served: Served, cli: CliRunner, orgs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.platform")
    port = closed_port()
    # A budget long enough that waiting it out would be the old behaviour, not a blip.
    env = served.env(DX_APISERVER_PORT=str(port), DXORG_MAX_RETRY_SECONDS="3")
    for command in (["plan", str(orgs)], ["export", "org-demo"]):
        result = cli(*command, env=env)
        assert result.code == 1, result.text
        assert f"cannot connect to the API server at http://127.0.0.1:{port}" in result.err
        assert "port from the environment variable DX_APISERVER_PORT" in result.err
        assert "host from the environment variable DX_APISERVER_HOST" in result.err
        assert "Connection refused" in result.err and "Traceback" not in result.text
    assert retries_logged(caplog) == []


def test_a_port_from_a_config_file_is_named_with_the_file(
    cli: CliRunner, orgs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    conf = tmp_path / "dxconf"
    conf.mkdir()
    (conf / "environment.json").write_text(
        json.dumps(
            {
                "DX_APISERVER_PROTOCOL": "http",
                "DX_APISERVER_HOST": "127.0.0.1",
                "DX_APISERVER_PORT": str(port),
                "DX_SECURITY_CONTEXT": json.dumps(
                    {"auth_token_type": "Bearer", "auth_token": "alice-token"}
                ),
            }
        )
    )
    for name in ("DX_APISERVER_HOST", "DX_APISERVER_PORT", "DX_APISERVER_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("DX_SECURITY_CONTEXT", raising=False)
    result = cli(
        "plan", str(orgs), env={"DX_USER_CONF_DIR": str(conf), "DXORG_MAX_RETRY_SECONDS": "3"}
    )
    assert result.code == 1
    assert f"http://127.0.0.1:{port}" in result.err
    assert f"port from DX_APISERVER_PORT in {conf / 'environment.json'}" in result.err


def test_an_option_is_named_as_the_option(served: Served, cli: CliRunner, orgs: Path) -> None:
    port = closed_port()
    result = cli(
        "plan", str(orgs), "--apiserver-port", str(port),
        env=served.env(DXORG_MAX_RETRY_SECONDS="3"),
    )  # fmt: skip
    assert result.code == 1
    assert f"http://127.0.0.1:{port} (" in result.err
    assert "port from the --apiserver-port option" in result.err


def test_the_action_names_its_input(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "checkout"
    root.mkdir()
    monkeypatch.chdir(root)
    port = closed_port()
    with serve(FakeGitHub(token="ghs_unreachableTest")) as github:
        action = Action(root, ActionPlatform(served.url, port), github)
        action.write_manifest(MANIFEST)
        env = action.env("plan", event="push", sha="a1b2c3d4e5f6a7b8", inputs={})
        env["DXORG_MAX_RETRY_SECONDS"] = "3"
        out = io.StringIO()
        assert action_main(env=env, stdout=out) == 1
    log = out.getvalue()
    assert f"cannot connect to the API server at http://127.0.0.1:{port}" in log
    assert "port from the apiserver-port input" in log


def test_after_a_first_answer_a_refused_connection_is_retried(tmp_path: Path) -> None:
    """The server answers, then goes away: its port now refuses. That is retried like a
    503 (not counted against the call's attempts) until the circuit breaker ends it, as
    any failure to connect is once the address has proved right."""
    clock = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    policy = RetryPolicy(
        max_attempts=2, backoff_base=0.5, backoff_cap=1, sleep=sleep, clock=lambda: clock[0],
        jitter=lambda upper: upper,
    )  # fmt: skip
    with Emulator(
        state_path=tmp_path / "s.db", seed=base_seed(), control_token=CONTROL_TOKEN
    ) as emu:
        with emu.serve(port=0) as server:
            config = PlatformConfig(
                protocol="http", host="127.0.0.1", port=server.port, token="alice-token"
            )
            client = ReadClient(config, retry=policy, limits=PlatformLimits(outage_seconds=5))
            assert client.whoami() == "user-alice"
        # The server has stopped: its port refuses connections now.
        with pytest.raises(PlatformOutage, match="Connection refused") as info:
            client.describe_org("org-demo")
        client.close()
    # More attempts than the call's budget of 2, until 5 s of silence opened the breaker.
    assert sleeps == [0.5, 1.0, 1.0, 1.0, 1.0, 0.5]
    # 6 requests sent; the 7th attempt, refused once the breaker opened, never went out.
    assert info.value.attempts == 6
    assert "DXORG_OUTAGE_SECONDS" in str(info.value)
    assert "does not retry" not in str(info.value)
