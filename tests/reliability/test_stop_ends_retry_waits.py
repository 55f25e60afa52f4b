"""A stop (Ctrl-C, SIGTERM) ends a wait between retries at once: the wait for a 429's
`Retry-After`, a backoff, GitHub's rate limit. The call then fails with the stop instead
of being tried again, and a throttled write is never sent again.

Found by an adversarial review: the retry waits were `time.sleep`, so SIGTERM while dxorg
waited out the platform's `Retry-After: 25` took effect only when the wait ended, in
`plan`, `report` and `apply`. The waits now wait on the run's stop event.

Each wait here is an hour long (`Retry-After: 3600`): before the fix the test fails on
its join or `communicate` timeout, which only turns a hang into a failure. The moment to
stop is observed (the retry's log line, the 429 in the emulator's log), never guessed.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulator import Emulator
from reconciler.errors import PlatformOutage
from reconciler.github.api import GitHubClient, GitHubError
from reconciler.platform import Connection, RetryPolicy
from tests.integration.conftest import base_seed, config_for
from tests.reliability.conftest import Served

DXORG = str(Path(sys.executable).parent / "dxorg")
AN_HOUR = 3600
# Only turns a wait that never ends into a failure; a stopped wait ends in milliseconds.
HANG_LIMIT = 30.0


class RetryLatch(logging.Handler):
    """Set when a client logs that it will try a call again: it is waiting now."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.waiting = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("retrying"):
            self.waiting.set()


@pytest.fixture
def retry_latch() -> Iterator[RetryLatch]:
    latch = RetryLatch()
    loggers = [logging.getLogger("reconciler.platform"), logging.getLogger("reconciler.github")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(latch)
        logger.setLevel(logging.INFO)
    yield latch
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(latch)
        logger.setLevel(level)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator(seed=base_seed())
    yield emu
    emu.close()


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # the test looks at what it raised
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def stopped_in_time(thread: threading.Thread) -> bool:
    thread.join(HANG_LIMIT)
    return not thread.is_alive()


def test_an_interrupt_ends_a_read_waiting_out_retry_after(
    emulator: Emulator, retry_latch: RetryLatch
) -> None:
    emulator.control.add_rule("/org-demo/describe", "429", count=5, retry_after=AN_HOUR)
    connection = Connection(config_for(), transport=emulator.transport())
    with connection.read_client() as reader:
        thread, errors = in_thread(lambda: reader.describe_org("org-demo"))
        assert retry_latch.waiting.wait(HANG_LIMIT), "the read never waited"
        connection.health.interrupt("interrupted: no more calls are sent")
        assert stopped_in_time(thread), "the Retry-After wait outlived the interrupt"
    assert len(errors) == 1 and isinstance(errors[0], PlatformOutage), errors
    assert "interrupted" in str(errors[0])
    described = [r for r in emulator.control.requests() if r["route"] == "/org-demo/describe"]
    assert len(described) == 1


def test_a_stopped_apply_never_sends_a_throttled_write_again(
    emulator: Emulator, retry_latch: RetryLatch
) -> None:
    emulator.control.add_rule("/org-demo/invite", "429", count=5, retry_after=AN_HOUR)
    connection = Connection(config_for(), transport=emulator.transport())
    with connection.write_client() as writer:
        thread, errors = in_thread(
            lambda: writer.call("/org-demo/invite", {"invitee": "user-dave", "level": "MEMBER"})
        )
        assert retry_latch.waiting.wait(HANG_LIMIT), "the write never waited"
        connection.health.stop_writes("interrupted")  # what apply's signal handler does
        assert stopped_in_time(thread), "the Retry-After wait outlived the stop"
    assert len(errors) == 1 and isinstance(errors[0], PlatformOutage), errors
    assert errors[0].maybe_landed is False  # a 429 was refused unprocessed: not sent
    invites = [r for r in emulator.control.requests() if r["route"] == "/org-demo/invite"]
    assert [r["status"] for r in invites] == [429]


def test_an_interrupt_ends_a_wait_for_githubs_rate_limit(retry_latch: RetryLatch) -> None:
    asked: list[str] = []

    def rate_limited(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        # Within the default 120 s budget (a longer wait gives up at once, unwaited).
        return httpx.Response(429, headers={"retry-after": "100"}, json={"message": "slow down"})

    github = GitHubClient(
        "https://api.github.example",
        "ghs_stopEndsTheWait99",
        "acme/orgs",
        transport=httpx.MockTransport(rate_limited),
    )
    with github:
        thread, errors = in_thread(lambda: github.list_comments(1))
        assert retry_latch.waiting.wait(HANG_LIMIT), "the call never waited"
        github.interrupt()
        assert stopped_in_time(thread), "the rate-limit wait outlived the interrupt"
    assert len(errors) == 1 and isinstance(errors[0], GitHubError), errors
    assert len(asked) == 1


def wait_for_429(served: Served, route: str, process: subprocess.Popen[str]) -> None:
    """Until the emulator has throttled `route`: dxorg is then in its Retry-After wait."""
    deadline = time.monotonic() + 60
    while not any(r["route"] == route and r["status"] == 429 for r in served.requests()):
        assert process.poll() is None and time.monotonic() < deadline, "never throttled"
        time.sleep(0.02)


def sigterm_during_retry_after(
    served: Served, tmp_path: Path, route: str, *command: str
) -> tuple[subprocess.Popen[str], str]:
    orgs = tmp_path / "orgs"
    orgs.mkdir()
    (orgs / "org-demo.yaml").write_text(
        "org: org-demo\nmembers:\n  mode: additive\n  users:\n    alice: ADMIN\n    dave: MEMBER\n"
    )
    served.rule(route, "429", count=5, retryAfter=AN_HOUR)
    process = subprocess.Popen(
        [DXORG, *command, str(orgs), "--state-dir", str(tmp_path / "state")],
        env=served.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_429(served, route, process)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=HANG_LIMIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process, out + err


def test_sigterm_ends_plan_during_a_retry_after_wait(served: Served, tmp_path: Path) -> None:
    process, text = sigterm_during_retry_after(served, tmp_path, "/org-demo/findMembers", "plan")
    assert process.returncode == 143, text
    assert "Traceback" not in text


def test_sigterm_ends_apply_during_a_retry_after_wait_and_sends_nothing_again(
    served: Served, tmp_path: Path
) -> None:
    process, text = sigterm_during_retry_after(
        served, tmp_path, "/org-demo/invite", "apply", "--auto-approve"
    )
    assert process.returncode == 143, text
    assert "Traceback" not in text
    invites = [r for r in served.requests() if r["route"] == "/org-demo/invite"]
    assert [r["status"] for r in invites] == [429]


def test_a_github_client_not_interrupted_still_waits() -> None:
    """The stop event only ends waits once set: without it the rate limit is honoured."""
    sleeps: list[float] = []
    calls = iter([429, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(calls)
        if status == 429:
            return httpx.Response(429, headers={"retry-after": "7"}, json={"message": "wait"})
        return httpx.Response(200, json=[])

    github = GitHubClient(
        "https://api.github.example",
        "ghs_stopEndsTheWait99",
        "acme/orgs",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(sleep=sleeps.append),
    )
    with github:
        assert github.list_comments(1) == []
    assert sleeps == [7.0]
