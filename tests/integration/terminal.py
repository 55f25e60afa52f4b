"""Run a command on a pseudo-terminal, as a person at a keyboard would, and read the screen."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class TerminalRun:
    returncode: int
    output: str  # everything the command wrote to the terminal (stdout and stderr), raw


def run_in_terminal(
    args: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    answers: dict[str, str | Callable[[], str]] | None = None,
    interrupt_at: str | None = None,
    timeout: float = 120,
) -> TerminalRun:
    """Run `args` with stdin, stdout and stderr on a fresh pty (200 columns).

    `answers` maps a prompt to the line typed once that prompt appears (or to a function
    called then, which returns the line: what happens while the prompt is open); once
    `interrupt_at` appears, the command gets SIGINT, as Ctrl-C would send it.
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    process = subprocess.Popen(
        list(args), stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True
    )
    os.close(slave)
    pending = dict(answers or {})
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the command closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
                screen = b"".join(chunks).decode(errors="replace")
                for prompt in list(pending):
                    if prompt in screen:
                        answer = pending.pop(prompt)
                        line = answer() if callable(answer) else answer
                        os.write(master, line.encode() + b"\r")
                if interrupt_at is not None and interrupt_at in screen:
                    interrupt_at = None
                    process.send_signal(signal.SIGINT)
            elif process.poll() is not None:
                break
        else:
            process.kill()
            raise TimeoutError(f"{args} did not finish in {timeout} s")
        returncode = process.wait(timeout=timeout)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    return TerminalRun(returncode, b"".join(chunks).decode(errors="replace"))
