"""File state across restarts, seed-only-into-empty, concurrency, and big seeds."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from reconciler.emulator import Emulator
from tests.emulator.sandbox import ALICE, CONTROL_TOKEN, SANDBOX_SEED, Api, small_seed

ADMIN = "admin-token"


def test_restart_loses_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    with Emulator(state_path=state, seed=SANDBOX_SEED, control_token=CONTROL_TOKEN) as emu:
        api = Api(emu)
        api.ok(ALICE, "/org-demo/invite", {"invitee": "user-erin", "projectAccess": "UPLOAD"})
        api.ok(ALICE, "/org-demo/update", {"policies": {"memberListVisibility": "PUBLIC"}})
        before = api.state()
    with Emulator(state_path=state, seed=SANDBOX_SEED, control_token=CONTROL_TOKEN) as emu:
        api = Api(emu)
        assert api.state() == before
        assert api.org("org-demo")["members"]["user-erin"]["projectAccess"] == "UPLOAD"
        assert len(api.control("GET", "admin-history")["history"]) == 2


def test_seed_loads_only_into_an_empty_state(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    with Emulator(state_path=state, seed=small_seed(members=3)):
        pass
    with Emulator(state_path=state, seed=SANDBOX_SEED, control_token=CONTROL_TOKEN) as emu:
        assert [org["id"] for org in Api(emu).state()["orgs"]] == ["org-big"]
    with Emulator(
        state_path=state, seed=SANDBOX_SEED, reset=True, control_token=CONTROL_TOKEN
    ) as emu:
        assert [org["id"] for org in Api(emu).state()["orgs"]] == ["org-demo", "org-genomics"]
    with Emulator(state_path=state, reset=True, control_token=CONTROL_TOKEN) as emu:
        assert Api(emu).state()["users"] == []


def test_twenty_threads_lose_no_update(tmp_path: Path) -> None:
    """Threads on two emulators sharing one file (two connections, like two processes)."""
    seed = small_seed(members=100)
    state = tmp_path / "state.db"
    first = Emulator(state_path=state, seed=seed, control_token=CONTROL_TOKEN)
    second = Emulator(state_path=state, seed=seed, control_token=CONTROL_TOKEN)
    failures: list[str] = []

    def worker(index: int) -> None:
        api = Api(first if index % 2 else second)
        try:
            for offset in range(5):
                user = f"user-m{index * 5 + offset:06d}"
                api.ok(ADMIN, "/org-big/setMemberAccess", {user: {"projectAccess": "VIEW"}})
                api.ok(ADMIN, "/org-big/setMemberAccess", {user: {"appAccess": False}})
                api.ok(ADMIN, "/org-big/update", {"name": f"renamed by {index}"})
        except AssertionError as exc:  # pragma: no cover - reported below
            failures.append(str(exc))

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    members = Api(first).org("org-big")["members"]
    for index in range(100):
        assert members[f"user-m{index:06d}"] == {
            "level": "MEMBER",
            "allowBillableActivities": False,
            "appAccess": False,
            "projectAccess": "VIEW",
        }
    history = Api(second).control("GET", "admin-history")["history"]
    assert len(history) == 300  # every committed org write recorded once
    first.close()
    second.close()


def test_two_processes_on_one_file(tmp_path: Path) -> None:
    """A second process writes the same file at the same time: WAL + busy_timeout."""
    state = tmp_path / "state.db"
    seed = small_seed()
    seed["users"] += [{"id": f"user-p{i:03d}"} for i in range(200)]
    with Emulator(state_path=state, seed=seed, control_token=CONTROL_TOKEN) as emu:
        script = textwrap.dedent(
            f"""
            import sys, httpx
            from reconciler.emulator import Emulator
            emu = Emulator(state_path={str(state)!r})
            client = httpx.Client(transport=emu.transport(), base_url="http://e",
                                  headers={{"Authorization": "Bearer {ADMIN}"}})
            print("ready", flush=True)
            sys.stdin.readline()
            for i in range(0, 200, 2):
                user = f"user-p{{i:03d}}"
                r = client.post("/org-big/invite", json={{"invitee": user}})
                assert r.status_code == 200, r.text
                r = client.post("/org-big/setMemberAccess", json={{user: {{"projectAccess": "VIEW"}}}})
                assert r.status_code == 200, r.text
            """
        )
        child = subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=Path(__file__).parents[2],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        child.stdin.write("go\n")
        child.stdin.flush()
        api = Api(emu)
        for index in range(1, 200, 2):
            user = f"user-p{index:03d}"
            api.ok(ADMIN, "/org-big/invite", {"invitee": user})
            api.ok(ADMIN, "/org-big/setMemberAccess", {user: {"projectAccess": "UPLOAD"}})
        assert child.wait(timeout=60) == 0
        members = api.org("org-big")["members"]
        for index in range(200):
            expected = "VIEW" if index % 2 == 0 else "UPLOAD"
            assert members[f"user-p{index:03d}"]["projectAccess"] == expected
        assert len(api.control("GET", "admin-history")["history"]) == 400


def test_big_seed_loads_and_pages_fast() -> None:
    seed = small_seed(members=50_000, projects=25_000)
    started = time.monotonic()
    with Emulator(seed=seed, control_token=CONTROL_TOKEN) as emu:
        loaded = time.monotonic() - started
        api = Api(emu)
        started = time.monotonic()
        rows = api.walk(ADMIN, "/org-big/findMembers", {"limit": 1000})
        paged = time.monotonic() - started
        assert len(rows) == 50_002
        assert len(api.walk(ADMIN, "/org-big/findProjects", {"limit": 1000})) == 25_000
    assert loaded < 10, f"seeding took {loaded:.1f}s"
    assert paged < 5, f"paging took {paged:.1f}s"
