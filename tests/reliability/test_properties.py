"""Property: for any small live org and any manifest for it, plan + apply + plan again is
empty, or the plan is refused for a safety violation and nothing is written. And in every
state the platform went through (the emulator's admin history, one entry per committed
write) the org kept at least min(minAdmins, the starting count) admins, the token's user
among them.

RELIABILITY_EXAMPLES sets the number of examples (40 by default; the soak runs more).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconciler.apply.journal import Journal
from reconciler.apply.run import apply_reviewed
from reconciler.emulator import Emulator
from reconciler.errors import UnsafePlanError
from reconciler.manifest import load_fleet
from reconciler.platform import Connection, WriteClient
from reconciler.platform.routes import READ_METHODS
from reconciler.read_and_plan import plan_fleet
from tests.integration.conftest import FAST_RETRY, config_for

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CALLER = "user-alice"
OTHERS = [f"user-u{i}" for i in range(1, 8)]  # with alice: at most eight users
PROJECT_ACCESS = ["NONE", "VIEW", "UPLOAD", "CONTRIBUTE", "ADMINISTER"]
BUDGETED = ["members", "levels", "projectAccess", "appAccess", "permissions"]
EXAMPLES = int(os.environ.get("RELIABILITY_EXAMPLES", "40"))

member_access = st.fixed_dictionaries(
    {
        "level": st.just("MEMBER"),
        "allowBillableActivities": st.booleans(),
        "appAccess": st.booleans(),
        "projectAccess": st.sampled_from(PROJECT_ACCESS),
        "treManagement": st.booleans(),  # settable, independent of the level
        "dataSearch": st.booleans(),  # read-only: compared, never sent
    }
)
admin_access = st.fixed_dictionaries(
    {"level": st.just("ADMIN")}, optional={"treManagement": st.booleans()}
)
live_access = st.one_of(admin_access, member_access)
# A desired member: ADMIN (perhaps with treManagement), or MEMBER with each flag managed
# or left out.
desired_entry = st.one_of(
    st.just("ADMIN"),
    st.just("MEMBER"),
    st.fixed_dictionaries({"level": st.just("ADMIN"), "treManagement": st.booleans()}),
    st.fixed_dictionaries(
        {"level": st.just("MEMBER")},
        optional={
            "allowBillableActivities": st.booleans(),
            "appAccess": st.booleans(),
            "projectAccess": st.sampled_from(PROJECT_ACCESS),
            "treManagement": st.booleans(),
            "dataSearch": st.booleans(),
        },
    ),
)
policies = st.fixed_dictionaries(
    {},
    optional={
        "memberListVisibility": st.sampled_from(["ADMIN", "MEMBER", "PUBLIC"]),
        "restrictProjectTransfer": st.sampled_from(["ADMIN", "MEMBER"]),
        "jobReuse": st.booleans(),
    },
)
budget = st.fixed_dictionaries(
    {
        "count": st.none() | st.integers(0, 4),
        "percent": st.none() | st.sampled_from([0, 10, 25, 50, 100]),
    }
)


@dataclass
class Example:
    live: dict[str, dict[str, Any]]
    live_policies: dict[str, Any]
    manifest: dict[str, Any]
    overrides: frozenset[str]

    @property
    def min_admins(self) -> int:
        return int(self.manifest["safety"]["minAdmins"])


@st.composite
def examples(draw: st.DrawFn) -> Example:
    # The caller is almost always an admin (else the read is refused, which is tested too).
    live: dict[str, Any] = {
        CALLER: {"level": "ADMIN"} if draw(st.integers(0, 19)) else draw(member_access)
    }
    for user in OTHERS:
        if draw(st.booleans()):
            live[user] = draw(live_access)
    users: dict[str, Any] = {}
    # Mostly listed as an admin: leaving the caller out or demoting it is always refused.
    caller_entry = draw(st.sampled_from(["ADMIN"] * 8 + [None, "MEMBER"]))
    if caller_entry:
        users["alice"] = caller_entry
    for user in OTHERS:
        if draw(st.integers(0, 2)):
            users[user.removeprefix("user-")] = draw(desired_entry)
    mode = draw(st.sampled_from(["authoritative", "additive"]))
    listed = sorted(users)
    admins = [u for u in listed if users[u] == "ADMIN"]
    members: dict[str, Any] = {"mode": mode, "users": users}
    if mode == "authoritative" and not users:
        members["allowEmpty"] = True
    if listed:
        members["protected"] = draw(st.lists(st.sampled_from(listed), unique=True, max_size=2))
    if admins:
        members["requiredAdmins"] = draw(st.lists(st.sampled_from(admins), unique=True, max_size=2))
    manifest = {
        "org": "org-prop",
        "policies": draw(policies),
        "members": members,
        "safety": {
            "minAdmins": draw(st.integers(1, 3)),
            "removalBudget": {c: draw(budget) for c in BUDGETED},
        },
    }
    overrides = draw(st.frozensets(st.sampled_from([f"budget.{c}" for c in BUDGETED])))
    return Example(live, draw(policies), manifest, overrides)


def seed_of(example: Example) -> dict[str, Any]:
    return {
        "users": [
            {
                "id": user,
                "first": user[5:],
                "last": "Prop",
                "email": f"{user[5:]}@prop.example.com",
                **({"token": "prop-alice-token"} if user == CALLER else {}),
            }
            for user in [CALLER, *OTHERS]
        ],
        "orgs": [
            {
                "id": "org-prop",
                "name": "Property Org",
                "policies": example.live_policies,
                "members": example.live,
            }
        ],
    }


def check(example: Example, workdir: Path) -> None:
    orgs = workdir / "orgs"
    orgs.mkdir(parents=True, exist_ok=True)
    (orgs / "org-prop.yaml").write_text(json.dumps(example.manifest))  # JSON is YAML
    fleet = load_fleet([orgs])
    starting_admins = sum(1 for row in example.live.values() if row["level"] == "ADMIN")
    with (
        Emulator(seed=seed_of(example)) as emu,
        WriteClient(
            config_for("prop-alice-token"), transport=emu.transport(), retry=FAST_RETRY
        ) as client,
    ):
        connection = Connection(
            config_for("prop-alice-token"), transport=emu.transport(), retry=FAST_RETRY
        )
        plan = plan_fleet(fleet, client, now=NOW, overrides=example.overrides)
        org = plan.orgs[0]
        emu.control.clear_requests()
        if not plan.applyable:
            # Refused: an unreadable org (caller not admin) or a violated safety rail.
            assert org.error or org.blocking_violations
            event("refused: " + ("read" if org.error else org.blocking_violations[0].rule))
            try:
                apply_reviewed(
                    plan, fleet, connection, journal=Journal(None), env={}, now=NOW,
                    overrides=example.overrides,
                )  # fmt: skip
            except UnsafePlanError:
                pass
            else:
                raise AssertionError("an unapplyable plan was applied")
            writes = [
                r
                for r in emu.control.requests()
                if r["route"].rsplit("/", 1)[-1] not in READ_METHODS
            ]
            assert writes == [], writes
            return
        report = apply_reviewed(
            plan, fleet, connection, journal=Journal(workdir / "journal.jsonl"), env={}, now=NOW,
            overrides=example.overrides,
        )  # fmt: skip
        assert report.exit_code == 0, (report, [a.summary for a in org.actions])
        # A read-only flag is never in any call's body, however the manifest sets it.
        for request in emu.control.requests():
            body = request["body"] if isinstance(request["body"], dict) else {}
            for spec in (body, *body.values()):
                assert "dataSearch" not in (spec if isinstance(spec, dict) else {}), request
        event(f"applied {min(len(org.actions), 5)}+ actions" if org.actions else "no changes")
        again = plan_fleet(fleet, client, now=NOW, overrides=example.overrides).orgs[0]
        assert not again.actions, [a.summary for a in again.actions]
        floor = min(example.min_admins, starting_admins)
        for entry in emu.control.admin_history("org-prop"):
            assert entry["admins"] >= floor, (entry, floor)
            assert CALLER in entry["adminIds"], entry


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(example=examples())
def test_plan_apply_plan_is_empty_and_admins_never_fall_below_the_floor(
    example: Example, tmp_path_factory: Any
) -> None:
    check(example, tmp_path_factory.mktemp("prop"))
