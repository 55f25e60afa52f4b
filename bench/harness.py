"""Shared plumbing for the benchmarks: an emulator server process, timed child runs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

CONTROL_TOKEN = "bench-control-token"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen[bytes]

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(
            method,
            f"{self.url}/_emulator/{path}",
            json=body if method == "POST" else None,
            headers={"Authorization": f"Bearer {CONTROL_TOKEN}"},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()

    def counters(self) -> dict[str, Any]:
        return dict(self.control("GET", "counters"))

    def clear(self) -> None:
        self.control("POST", "requests/clear")

    def env(self, token: str = "bench-token") -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DX_")}
        env.update(
            DX_APISERVER_PROTOCOL="http",
            DX_APISERVER_HOST="127.0.0.1",
            DX_APISERVER_PORT=str(self.port),
            DX_SECURITY_CONTEXT=json.dumps({"auth_token_type": "Bearer", "auth_token": token}),
            DX_USER_CONF_DIR=tempfile.mkdtemp(prefix="dxconf-"),
            DX_AUTHSERVER_HOST="http://127.0.0.1",
            DX_AUTHSERVER_PORT=str(self.port),
        )
        return env


@contextmanager
def emulator_server(state: Path, seed: Path | None) -> Iterator[Server]:
    """`dxorg emulator serve` in its own process, so its CPU is not counted as dxorg's."""
    port = free_port()
    command = [
        str(BIN / "dxorg"),
        "emulator",
        "serve",
        "--port",
        str(port),
        "--state",
        str(state),
        "--control-token",
        CONTROL_TOKEN,
    ]
    if seed is not None:
        command += ["--seed", str(seed)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = Server(f"http://127.0.0.1:{port}", port, process)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                server.counters()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    err = process.stderr.read().decode() if process.stderr else ""
                    raise RuntimeError(f"emulator did not start: {err}") from None
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass
class Run:
    seconds: float
    max_rss_mb: float
    returncode: int
    stdout: bytes


def timed(
    command: Sequence[str], env: dict[str, str], stdin: int | None = subprocess.DEVNULL
) -> Run:
    """Run a command; its wall time and peak resident memory (from wait4)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        list(command), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin
    )
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - start
    # communicate() already reaped it; rusage of the last child comes from RUSAGE_CHILDREN deltas.
    return Run(seconds, 0.0, process.returncode, stdout + stderr)


def timed_rss(command: Sequence[str], env: dict[str, str]) -> Run:
    """Like `timed`, but reaps the child with wait4 to read its own peak RSS."""
    start = time.perf_counter()
    process = subprocess.Popen(
        list(command),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return Run(seconds, usage.ru_maxrss / 1024, process.returncode, output)


def summarise(values: Sequence[float]) -> str:
    return f"median {statistics.median(values):.3f}  min {min(values):.3f}  max {max(values):.3f}"


def workdir(name: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"dxorg-bench-{name}-"))
    return path


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
