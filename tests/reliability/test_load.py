"""Load: 50 concurrent clients (threads, each its own WriteClient and connection pool) on
loopback against one emulator, for a bounded time, each inviting, changing and removing
its own users while faults are injected. No update is lost (the final state is what each
client last wrote), no error surfaces that is not an injected one, and a reader listing
the whole org meanwhile always sees a consistent list.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from reconciler.apply.landed import send_checked
from reconciler.emulator import Emulator
from reconciler.errors import ApiError, TransportError
from reconciler.platform import RetryPolicy, WriteClient
from tests.reliability.big_org import ADMIN_ROW, PROJECT_ACCESS
from tests.reliability.test_faults import config

ORG = "org-load"
TOKEN = "load-alice-token"
USERS_PER_CLIENT = 4
RETRY = RetryPolicy(max_attempts=16, backoff_base=0.001, backoff_cap=0.01)
INJECTED_STATUSES = {429, 500, 503}


def load_seed(clients: int) -> dict[str, Any]:
    users = [f"user-t{c:02d}x{u}" for c in range(clients) for u in range(USERS_PER_CLIENT)]
    return {
        "users": [
            {"id": "user-alice", "first": "A", "last": "L", "email": "a@l.test", "token": TOKEN},
            {"id": "user-root", "first": "R", "last": "L", "email": "r@l.test"},
            *({"id": u, "first": "T", "last": u[5:], "email": f"{u[5:]}@l.test"} for u in users),
        ],
        "orgs": [
            {
                "id": ORG,
                "name": "Load",
                "members": {"user-alice": {"level": "ADMIN"}, "user-root": {"level": "ADMIN"}},
            }
        ],
    }


def random_access(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.2:
        return {"level": "ADMIN"}
    return {
        "level": "MEMBER",
        "allowBillableActivities": rng.random() < 0.5,
        "appAccess": rng.random() < 0.5,
        "projectAccess": rng.choice(PROJECT_ACCESS),
    }


def as_row(access: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if access is None else ADMIN_ROW if access["level"] == "ADMIN" else access


@dataclass
class Worker:
    """One client: its users, what it last wrote for each, and what happened."""

    index: int
    users: list[str]
    written: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    ops: int = 0
    latencies: list[float] = field(default_factory=list)
    injected: int = 0
    errors: list[str] = field(default_factory=list)

    def run(self, url: str, deadline: float, seed: int, min_ops: int = 0) -> None:
        try:
            self._run(url, deadline, seed, min_ops)
        except Exception as exc:  # a thread's death must fail the test, not vanish
            self.errors.append(f"client died: {exc!r}")

    def _run(self, url: str, deadline: float, seed: int, min_ops: int) -> None:
        rng = random.Random(seed * 1000 + self.index)
        with WriteClient(config(url, TOKEN), retry=RETRY) as client:
            # Until the deadline, and at least `min_ops` whatever the machine's speed.
            while time.monotonic() < deadline or self.ops < min_ops:
                user = rng.choice(self.users)
                current = self.written.get(user)
                started = time.monotonic()
                try:
                    if current is None:
                        access = random_access(rng)
                        send_checked(client, f"/{ORG}/invite", {"invitee": user, **access})
                        self.written[user] = access
                    elif rng.random() < 0.3:
                        send_checked(client, f"/{ORG}/removeMember", {"user": user})
                        self.written[user] = None
                    else:
                        access = random_access(rng)
                        send_checked(client, f"/{ORG}/setMemberAccess", {user: access})
                        self.written[user] = access
                except (ApiError, TransportError) as exc:
                    if exc.status not in INJECTED_STATUSES and not isinstance(exc, TransportError):
                        self.errors.append(f"{user}: {exc}")
                    # Retries ran out on injected faults: the outcome is unknown, so learn
                    # it from the platform rather than guess.
                    self.injected += 1
                    rows = client.find_org_members(ORG, ids=[user])
                    self.written[user] = {k: rows[0][k] for k in ADMIN_ROW} if rows else None
                self.ops += 1
                self.latencies.append(time.monotonic() - started)


@dataclass
class LoadRun:
    clients: int
    seconds: float
    ops: int
    requests: int
    faults: dict[str, int]
    p50_ms: float
    p99_ms: float
    injected_errors: int
    listings: int
    problems: list[str]

    @property
    def ops_per_second(self) -> float:
        return self.ops / self.seconds


def load_run(
    *,
    clients: int = 50,
    seconds: float = 3.0,
    seed: int = 1,
    faults: dict[str, float] | None = None,
    min_ops_per_client: int = 0,
) -> LoadRun:
    emu = Emulator(seed=load_seed(clients))
    problems: list[str] = []
    listings = 0
    workers = [
        Worker(c, [f"user-t{c:02d}x{u}" for u in range(USERS_PER_CLIENT)]) for c in range(clients)
    ]
    with emu.serve(port=0) as server:
        emu.control.set_faults(faults or {}, retry_after=0, seed=seed)
        started = time.monotonic()
        deadline = started + seconds
        threads = [
            threading.Thread(
                target=w.run,
                args=(server.url, deadline, seed, min_ops_per_client),
                name=f"load-{w.index}",
            )
            for w in workers
        ]
        for thread in threads:
            thread.start()
        # Meanwhile, whole-org listings (paged, under the same faults) stay consistent.
        with WriteClient(config(server.url, TOKEN), retry=RETRY) as reader:
            while time.monotonic() < deadline or any(t.is_alive() for t in threads):
                try:
                    rows = reader.find_org_members(ORG)
                except (ApiError, TransportError):
                    continue
                listings += 1
                ids = [r["id"] for r in rows]
                if len(ids) != len(set(ids)) or not {"user-alice", "user-root"} <= set(ids):
                    problems.append(f"inconsistent listing: {len(ids)} rows")
        for thread in threads:
            thread.join(timeout=120)
        elapsed = time.monotonic() - started
        emu.control.clear_faults()
        counters = emu.control.counters()
        members = next(o for o in emu.control.state()["orgs"] if o["id"] == ORG)["members"]
    emu.close()
    for worker in workers:
        problems += [f"client {worker.index}: {e}" for e in worker.errors]
        for user in worker.users:
            want = as_row(worker.written.get(user))
            if members.get(user) != want:
                problems.append(f"lost update: {user} is {members.get(user)}, last written {want}")
    latencies = sorted(x for w in workers for x in w.latencies)
    return LoadRun(
        clients=clients,
        seconds=elapsed,
        ops=sum(w.ops for w in workers),
        requests=counters["total"],
        faults=dict(counters["faults"]),
        p50_ms=1000 * statistics.median(latencies),
        p99_ms=1000 * latencies[int(len(latencies) * 0.99)],
        injected_errors=sum(w.injected for w in workers),
        listings=listings,
        problems=problems,
    )


def test_fifty_clients_lose_no_update_under_injected_faults() -> None:
    """Bounded by work as well as time, so a busy machine only makes it slower: every
    client makes at least 6 changes (300 in all, each fault kind at 5%). Throughput is a
    speed figure, checked by `python -m bench.soak` (load), not here."""
    run = load_run(
        clients=50,
        seconds=3.0,
        seed=3,
        faults={"503": 0.05, "429": 0.05, "500": 0.05},
        min_ops_per_client=6,
    )
    assert run.problems == [], "\n".join(run.problems[:30])
    assert run.ops >= 300, run
    assert set(run.faults) >= {"503", "429", "500"}, run
    assert run.listings > 0, run
