"""The auth server probe (does `/user/new` have somewhere to go?) is a call like any other:
once the run has stopped sending (its deadline passed, the circuit breaker open, a
signal) it sends nothing, and its retries end at the run's deadline.

Found by an adversarial review: the probe ran its own retry loop, outside `PlatformHealth`,
so a run past its deadline still probed, and an auth server that dropped every probe was
asked again for the whole retry budget whatever the run's deadline said.

The clock is injected (the retry policy's, which the run's health shares): nothing waits.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.emulator import Emulator
from reconciler.platform import Connection, PlatformLimits, RetryPolicy
from tests.integration.conftest import base_seed, config_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator(seed=base_seed())
    yield emu
    emu.close()


def connect(emulator: Emulator, clock: FakeClock, **limits: Any) -> Connection:
    policy = RetryPolicy(
        sleep=clock.sleep,
        clock=lambda: clock.now,
        jitter=lambda upper: upper,
        max_attempts=50,
        max_total_seconds=10_000,
    )
    return Connection(
        config_for(), transport=emulator.transport(), retry=policy, limits=PlatformLimits(**limits)
    )


def probes(emulator: Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.control.requests() if r["route"] == "/"]


def test_no_probe_is_sent_once_the_run_is_past_its_deadline(emulator: Emulator) -> None:
    clock = FakeClock()
    with connect(emulator, clock, run_deadline=60).read_client() as reader:
        assert reader.whoami() == "user-alice"
        clock.now = 61  # the run has lasted longer than its deadline allows
        problem = reader.auth_server_problem()
    assert probes(emulator) == []
    assert problem is not None and "/user/new" in problem and "run deadline" in problem


def test_a_probe_dropped_every_time_is_asked_again_only_until_the_run_deadline(
    emulator: Emulator,
) -> None:
    emulator.control.add_rule("/", "drop-before", count=1000, retry_after=0)
    clock = FakeClock()
    with connect(emulator, clock, run_deadline=60).read_client() as reader:
        assert reader.whoami() == "user-alice"
        problem = reader.auth_server_problem()
    # The retry budget allows 50 attempts; the run's deadline stops it after 7 (waits of
    # 0.5 s doubling to 16 s, then 30 s cut to the 28.5 s left: the 8th is not sent).
    assert len(probes(emulator)) == 7
    assert clock.now == 60
    assert problem is not None and "run deadline" in problem


def test_a_probe_that_answers_is_still_no_problem(emulator: Emulator) -> None:
    clock = FakeClock()
    with connect(emulator, clock, run_deadline=60).read_client() as reader:
        assert reader.auth_server_problem() is None
    assert len(probes(emulator)) == 1


def test_no_probe_is_sent_once_a_signal_has_stopped_the_run(emulator: Emulator) -> None:
    connection = connect(emulator, FakeClock(), run_deadline=60)
    with connection.read_client() as reader:
        assert reader.whoami() == "user-alice"
        connection.health.interrupt("interrupted: no more calls are sent")
        problem = reader.auth_server_problem()
    assert probes(emulator) == []
    assert problem is not None and "interrupted" in problem
