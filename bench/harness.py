"""Shared plumbing for the benchmarks: an emulator server process, timed child runs,
the emulator's own share of the time, and a description of the machine."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

CONTROL_TOKEN = "bench-control-token"
BIN = Path(sys.executable).parent
DXORG = str(BIN / "dxorg")
DX = str(BIN / "dx")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    started_in: float = 0.0  # seconds from launch (including seeding) to the first answer
    conf_dirs: list[str] = field(default_factory=list)

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(
            method,
            f"{self.url}/_emulator/{path}",
            json=body if method == "POST" else None,
            headers={"Authorization": f"Bearer {CONTROL_TOKEN}"},
            timeout=120,
        )
        response.raise_for_status()
        return response.json()

    def counters(self) -> dict[str, Any]:
        return dict(self.control("GET", "counters"))

    def clear(self) -> None:
        self.control("POST", "requests/clear")

    def cpu_seconds(self) -> float:
        """CPU time (user + system, all threads) the emulator process has used so far.

        The difference across a run is the emulator's own cost in it, whatever the
        concurrency (summed request durations would count time spent queueing)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def env(self, token: str = "bench-token") -> dict[str, str]:
        """The environment for `dxorg` and `dx`: this server, `token`, no user config."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DX_")}
        if not self.conf_dirs:
            self.conf_dirs.append(tempfile.mkdtemp(prefix="dxconf-"))
        env.update(
            DX_APISERVER_PROTOCOL="http",
            DX_APISERVER_HOST="127.0.0.1",
            DX_APISERVER_PORT=str(self.port),
            DX_SECURITY_CONTEXT=json.dumps({"auth_token_type": "Bearer", "auth_token": token}),
            DX_USER_CONF_DIR=self.conf_dirs[0],
            DX_AUTHSERVER_HOST="http://127.0.0.1",
            DX_AUTHSERVER_PORT=str(self.port),
        )
        return env


@contextmanager
def emulator_server(state: Path, seed: Path | None) -> Iterator[Server]:
    """`dxorg emulator serve` in its own process, so its CPU is not counted as dxorg's."""
    port = free_port()
    command = [DXORG, "emulator", "serve", "--port", str(port), "--state", str(state)]
    command += ["--control-token", CONTROL_TOKEN]
    if seed is not None:
        command += ["--seed", str(seed)]
    started = time.perf_counter()
    # Its log goes to a file: a pipe nobody reads fills up and blocks the server mid-run.
    log_path = state.with_name(state.name + ".log")
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", port, process)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                server.counters()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    err = log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"emulator did not start: {err}") from None
                time.sleep(0.05)
        server.started_in = time.perf_counter() - started
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)
        for directory in server.conf_dirs:
            shutil.rmtree(directory, ignore_errors=True)


def request_seconds(url: str, route: str, body: dict[str, Any], repeat: int) -> float:
    """Median round trip of one API call, asked directly over one keep-alive connection:
    what the emulator (and loopback HTTP) costs per request, without dxorg."""
    headers = {"Authorization": "Bearer bench-token"}
    times = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        client.post(route, json=body).raise_for_status()  # warm the connection
        for _ in range(repeat):
            start = time.perf_counter()
            client.post(route, json=body).raise_for_status()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class Run:
    seconds: float
    max_rss_mb: float
    returncode: int
    stdout: bytes
    cpu_seconds: float = 0.0  # user + system: steadier than wall time on a shared machine


# Runs the command as its own child and reports that child's rusage. Linux keeps a
# process's peak RSS across exec, and a child forked (or vforked) straight from this
# harness starts with the harness's peak, hundreds of MB once a 50k fleet was generated:
# a small launcher in between gives the command a clean figure.
LAUNCHER = """
import json, os, sys, time
out, command = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(command[0], command)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(out, "w") as handle:
    json.dump({"seconds": seconds, "maxrss_kb": usage.ru_maxrss,
               "cpu": usage.ru_utime + usage.ru_stime,
               "code": os.waitstatus_to_exitcode(status)}, handle)
"""


def timed_rss(command: Sequence[str], env: dict[str, str]) -> Run:
    """Run a command to completion: its wall time, and its own peak RSS and CPU time
    (from wait4 in a launcher, so they are the command's alone)."""
    with tempfile.NamedTemporaryFile(prefix="dxorg-bench-rusage-", suffix=".json") as report:
        process = subprocess.run(
            [sys.executable, "-S", "-c", LAUNCHER, report.name, *command],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if process.returncode != 0:
            raise RuntimeError(f"the launcher failed: {process.stdout.decode()[-2000:]}")
        usage = json.loads(Path(report.name).read_text())
    return Run(
        usage["seconds"], usage["maxrss_kb"] / 1024, usage["code"], process.stdout, usage["cpu"]
    )


def summarise(values: Sequence[float]) -> str:
    return f"median {statistics.median(values):.3f}  min {min(values):.3f}  max {max(values):.3f}"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> dict[str, str]:
    """What the figures came from."""
    memory = "unknown"
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "load average at start (1/5/15 min)": load_average(),
    }


def workdir(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"dxorg-bench-{name}-"))


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
