"""Issue 19, items 4 and 9: a passing fault is retried, and throttling is waited out.

- (19.4) A refused connection to a server that answered this run's reads a moment ago is
  a blip, retried like a 503, even by the write client that has had no answer yet.
- (19.9) The platform's throttling (429/503 with a Retry-After of 20-30 s) is honoured
  for as long as it lasts, beyond the attempt and time budget of a failing call; only
  the run's deadline bounds it. The clock and sleep are injected: nothing waits 25 s.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.apply.landed import send_checked
from reconciler.emulator import Emulator
from reconciler.emulator.emulator import RunningServer
from reconciler.platform import Connection, PlatformConfig, RetryPolicy, WriteClient, discover
from tests.integration.conftest import base_seed

DAVE_INVITED = {"invitee": "user-dave", "level": "MEMBER"}


def config_for(port: int) -> PlatformConfig:
    return discover(
        env={
            "DX_APISERVER_PROTOCOL": "http",
            "DX_APISERVER_HOST": "127.0.0.1",
            "DX_APISERVER_PORT": str(port),
            "DX_SECURITY_CONTEXT": '{"auth_token_type":"Bearer","auth_token":"alice-token"}',
        },
        global_conf_dir=None,
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_blip_at_the_first_write_is_retried_after_the_reads_answered(tmp_path: Path) -> None:
    emulator = Emulator(state_path=tmp_path / "state.db", seed=base_seed())
    server = emulator.start()
    restarted: list[RunningServer] = []

    def sleep(seconds: float) -> None:
        # The blip ends while the client waits to retry: the server is back on its port.
        if not restarted:
            restarted.append(emulator.start(port=server.port))

    # One attempt per call: a refused connection must not be what uses it up.
    connection = Connection(config_for(server.port), retry=RetryPolicy(sleep=sleep, max_attempts=1))
    try:
        with connection.read_client() as reader:
            assert reader.whoami() == "user-alice"
        server.stop()  # the blip: nothing listens on the port now
        with connection.write_client() as writer:
            send_checked(writer, "/org-demo/invite", DAVE_INVITED)
        assert restarted, "the write was not retried"
        members = emulator.control.state()["orgs"][0]["members"]
        assert "user-dave" in members
    finally:
        for running in restarted:
            running.stop()
        emulator.close()


def test_throttling_with_a_realistic_retry_after_is_waited_out() -> None:
    emulator = Emulator(seed=base_seed())
    # The platform's own Retry-After (20-30 s), more times than the attempt budget, for
    # longer in all than the time budget of a failing call (8 attempts, 120 s).
    emulator.control.add_rule("/org-demo/invite", "429", count=6, retry_after=25)
    emulator.control.add_rule("/org-demo/invite", "503", count=6, retry_after=30)
    clock = FakeClock()
    policy = RetryPolicy(sleep=clock.sleep, clock=lambda: clock.now)
    with WriteClient(config_for(1), transport=emulator.transport(), retry=policy) as client:
        send_checked(client, "/org-demo/invite", DAVE_INVITED)
    assert clock.sleeps == [25.0] * 6 + [30.0] * 6
    invites = [r for r in emulator.control.requests() if r["route"] == "/org-demo/invite"]
    assert [r["status"] for r in invites] == [429] * 6 + [503] * 6 + [200]
    emulator.close()


def test_throttling_that_asks_for_no_wait_is_still_paced_like_a_backoff() -> None:
    # A 503 with `Retry-After: 0`, again and again: uncounted retries end only at the run's
    # deadline, so without a floor they would be a tight loop (tens of thousands of calls a
    # minute against a platform that is struggling).
    emulator = Emulator(seed=base_seed())
    emulator.control.add_rule("/org-demo/invite", "503", count=10, retry_after=0)
    clock = FakeClock()
    policy = RetryPolicy(sleep=clock.sleep, clock=lambda: clock.now, jitter=lambda upper: upper)
    with WriteClient(config_for(1), transport=emulator.transport(), retry=policy) as client:
        send_checked(client, "/org-demo/invite", DAVE_INVITED)
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
    invites = [r for r in emulator.control.requests() if r["route"] == "/org-demo/invite"]
    assert [r["status"] for r in invites] == [503] * 10 + [200]
    emulator.close()
