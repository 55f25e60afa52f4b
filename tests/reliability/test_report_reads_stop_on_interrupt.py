"""Ctrl-C or SIGTERM during `dxorg report`'s reads stops them, as it stops plan's.

Found by an adversarial review: the access review read the orgs on a thread pool of its
own, which a signal in the main thread left running, so the exit waited for every org's
every page. It now reads on the client's threads (`ReadClient.map`, as plan does): each
read's next request is refused once the signal comes.

Two orgs of 2,405 members each (three pages of `findMembers` apiece). The signal is sent
to the main thread the moment the first page of a listing goes out; that page is held
until the run has noticed it (a latch on the run's health), so which requests follow is
decided by the code, not by timing.
"""

from __future__ import annotations

import copy
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulator import Emulator
from reconciler.manifest import load_fleet
from reconciler.platform import Connection, PlatformHealth
from reconciler.review.collect import collect
from tests.integration.conftest import FAST_RETRY, base_seed, config_for

EXTRA_MEMBERS = 2400
ORGS = ("org-demo", "org-two")
MANIFEST = "org: {org}\nmembers:\n  mode: additive\n  users:\n    alice: ADMIN\n"


def two_big_orgs() -> dict[str, Any]:
    seed = base_seed()
    for i in range(EXTRA_MEMBERS):
        user = f"user-m{i:04d}"
        seed["users"].append({"id": user, "first": "M", "last": str(i), "email": f"m{i}@x.test"})
        seed["orgs"][0]["members"][user] = {"level": "MEMBER"}
    other = copy.deepcopy(seed["orgs"][0])
    other.update(id="org-two", name="Two")
    seed["orgs"].append(other)
    return seed


class SignalAtTheFirstPage(httpx.BaseTransport):
    """The emulator's transport; at the first `findMembers` request, SIGINT to the main
    thread (where Python runs signal handlers), and that request and every later one held
    until the run's health says it was stopped (or 10 s: without the fix it never is)."""

    def __init__(self, inner: httpx.BaseTransport, health: PlatformHealth) -> None:
        self.inner, self.health = inner, health
        self.lock = threading.Lock()
        self.fired = False
        # The listing pages asked for after the signal: page 2 and on (a page 1 of the
        # other org may have passed the run's stop check already, and is in flight).
        self.next_pages_after_signal: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            if self.fired and b'"starting"' in request.content:
                self.next_pages_after_signal.append(request.url.path)
            fire = not self.fired and request.url.path.endswith("/findMembers")
            self.fired = self.fired or fire
        if fire:
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        if self.fired and request.url.path.endswith("/findMembers"):
            # Every page from here on (the other org's first one too) is answered only
            # once the run has stopped: no page can return, and another be asked for,
            # before the interrupt, however the threads are scheduled.
            deadline = time.monotonic() + 10
            while self.health.stopped is None and time.monotonic() < deadline:
                time.sleep(0.002)
        return self.inner.handle_request(request)


def test_an_interrupt_stops_the_access_reviews_reads(tmp_path: Path) -> None:
    for org in ORGS:
        (tmp_path / f"{org}.yaml").write_text(MANIFEST.format(org=org))
    fleet = load_fleet([tmp_path])
    emulator = Emulator(seed=two_big_orgs())
    health = PlatformHealth()
    transport = SignalAtTheFirstPage(emulator.transport(), health)
    connection = Connection(config_for(), transport=transport, retry=FAST_RETRY, health=health)
    try:
        with connection.read_client() as client, pytest.raises(KeyboardInterrupt):
            collect(fleet, client)
    finally:
        emulator.close()
    assert transport.fired
    # The run was stopped, and no listing paged on after the signal (of 6 pages, at most
    # the two first ones were asked for).
    assert transport.next_pages_after_signal == []
    assert health.stopped is not None
