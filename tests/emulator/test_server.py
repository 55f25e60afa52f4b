"""`dxorg emulator serve` (serve_forever): startup lines, secrets, shutdown, bad seeds."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from tests.emulator.sandbox import SANDBOX_SEED

DXORG = [sys.executable, "-c", "from reconciler.cli import main; main()"]


def start(state: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*DXORG, "emulator", "serve", "--port", "0", "--state", str(state), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).parents[2],
    )


def read_banner(process: subprocess.Popen[str]) -> list[str]:
    assert process.stdout is not None
    banner = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        banner.append(line.rstrip("\n"))
        if line.startswith("Ctrl-C"):
            break
    return banner


def test_serve_prints_url_and_token_location_and_stops_on_sigint(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.db"
    process = start(state, "--seed", str(SANDBOX_SEED))
    try:
        banner = read_banner(process)
        url = banner[0].rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")
        assert f"seed: {SANDBOX_SEED}, loaded" in banner
        token_file = Path(f"{state}.control-token")
        assert f"control token: written to {token_file}" in banner
        assert token_file.stat().st_mode & 0o077 == 0
        control_token = token_file.read_text().strip()
        text = "\n".join(banner)
        assert control_token not in text
        for user in yaml.safe_load(SANDBOX_SEED.read_text())["users"]:
            if "token" in user:
                assert user["token"] not in text
        response = httpx.post(
            f"{url}/system/whoami", json={}, headers={"Authorization": "Bearer alice-token"}
        )
        assert response.json() == {"id": "user-alice"}
        counters = httpx.get(
            f"{url}/_emulator/counters", headers={"Authorization": f"Bearer {control_token}"}
        ).json()
        assert counters["total"] == 1
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    assert process.returncode == 0
    # a second start keeps the state and does not load the seed again
    process = start(state, "--seed", str(SANDBOX_SEED), "--control-token", "given")
    try:
        banner = read_banner(process)
        assert any("not loaded, the state already holds data" in line for line in banner)
        assert "control token: as given" in "\n".join(banner)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def test_serve_rejects_a_bad_seed_cleanly(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("users:\n  - {id: alice}\n")
    process = start(tmp_path / "state.db", "--seed", str(seed), "--control-token", "x")
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "users[0].id" in output
    assert "Traceback" not in output
