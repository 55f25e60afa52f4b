"""Two-call actions stopped half-way: a real `dxorg apply` process against the emulator over
HTTP (state in a SQLite file), stopped right after the first call of each self-grant and
revocation that takes two calls, either by SIGKILL or by its second call running out of
retries (a 500 each time: throttling is waited out, not counted). Whatever the state left,
either the next run completes it (apply again, then the plan is empty), or `plan --detailed-exitcode` reports it as drift (exit 2); access never
outlives its grant's expiry unreported, and nothing ever goes below what the admin had
before the grant.

The latch: a rule on the emulator refuses the action's second call before processing it
(503, with a Retry-After longer than the test), and the apply is killed once the emulator's
request log shows that refusal: the first call has landed, the second has not.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator import Emulator
from tests.emulator_harness import EmulatorControl
from tests.reliability.conftest import CliResult, CliRunner

DXORG = str(Path(sys.executable).parent / "dxorg")
CONTROL_TOKEN = "two-step-control"
ORG = "org-two"
CALLER = "user-alice"
RECORD = f"dxorg.selfGrant.{CALLER}"
ACTIVE, EXPIRED = "2099-12-31", "2020-01-01"
LEVELS = ("NONE", "VIEW", "UPLOAD", "CONTRIBUTE", "ADMINISTER")


@dataclass(frozen=True)
class Case:
    """One object a two-call action changes: what alice had before any grant (`prior`),
    what she has and what is recorded when the test starts, and whether the grant is active."""

    name: str
    kind: str  # "project" | "app"
    object_id: str
    prior: str  # project level before any grant (NONE: no access); apps: "no"
    start: str  # project level, or "developer"/"no" for an app
    recorded: str | None  # the project record, or "tag" for an app's record tag
    active: bool


CASES = [
    # A grant over no access: the grant, then its record (alice cannot write it first).
    Case("grant-from-none", "project", "project-" + "A" * 24, "NONE", "NONE", None, True),
    # A grant over CONTRIBUTE: the record first (alice may already write it), then the grant.
    Case(
        "grant-from-contribute",
        "project",
        "project-" + "B" * 24,
        "CONTRIBUTE",
        "CONTRIBUTE",
        None,
        True,
    ),
    # An expiry back to CONTRIBUTE: the access first, then the record cleared.
    Case(
        "revoke-to-contribute",
        "project",
        "project-" + "C" * 24,
        "CONTRIBUTE",
        "ADMINISTER",
        "CONTRIBUTE",
        False,
    ),
    # An app grant: developer rights, then the record tag (only developers may tag).
    Case("grant-app", "app", "app-" + "D" * 24, "no", "no", None, True),
]


GROUPS = {
    # The grants run side by side in one phase: one apply stops after all their first calls.
    "grants": [c for c in CASES if c.active],
    "revocation": [c for c in CASES if not c.active],
}


def seed(cases: list[Case]) -> dict[str, Any]:
    users = [
        {"id": CALLER, "first": "Alice", "last": "A", "email": "alice@example.com",
         "token": "alice-token"},
        {"id": "user-root", "first": "Ruth", "last": "Root", "email": "root@example.com",
         "token": "root-token"},
    ]  # fmt: skip
    projects, apps = [], []
    for case in cases:
        if case.kind == "project":
            permissions = {"user-root": "ADMINISTER"}
            if case.start != "NONE":
                permissions[CALLER] = case.start
            projects.append(
                {"id": case.object_id, "name": f"data-{case.name}", "billTo": ORG,
                 "createdBy": "user-root", "created": 1700000000000, "dataUsage": 1.0,
                 "permissions": permissions,
                 "properties": {RECORD: case.recorded} if case.recorded else {}}
            )  # fmt: skip
        else:
            apps.append(
                {"id": case.object_id, "name": "tool_two", "version": "1.0.0", "title": "Tool",
                 "billTo": ORG,
                 "developers": ["user-root", *([CALLER] if case.start == "developer" else [])],
                 "tags": [RECORD] if case.recorded else []}
            )  # fmt: skip
    members = {CALLER: {"level": "ADMIN"}, "user-root": {"level": "ADMIN"}}
    return {
        "users": users,
        "orgs": [{"id": ORG, "name": "Two", "policies": {}, "members": members}],
        "projects": projects,
        "apps": apps,
    }


def manifest(cases: list[Case], *, active: bool) -> str:
    expires = ACTIVE if active else EXPIRED
    text = f"org: {ORG}\nselfGrants:\n"
    for section, kind in (("projects", "project"), ("apps", "app")):
        chosen = [c for c in cases if c.kind == kind]
        if chosen:
            text += f"  {section}:\n" + "".join(
                f"    - {{id: {c.object_id}, expires: {expires}}}\n" for c in chosen
            )
    return text


@dataclass
class Platform:
    control: EmulatorControl
    env: dict[str, str]
    orgs: Path
    journal: Path
    cli: CliRunner

    def apply(self) -> CliResult:
        return self.cli(
            "apply", str(self.orgs), "--auto-approve", "--journal", str(self.journal), env=self.env
        )

    def plan(self, *extra: str) -> CliResult:
        return self.cli("plan", str(self.orgs), *extra, env=self.env)

    def set_grants(self, cases: list[Case], *, active: bool) -> None:
        (self.orgs / f"{ORG}.yaml").write_text(manifest(cases, active=active))

    def access(self, case: Case) -> tuple[str, bool]:
        """alice's access now (a project level, or "developer"/"no"), and whether a record
        of a grant is there."""
        state = self.control.state()
        if case.kind == "project":
            project = next(p for p in state["projects"] if p["id"] == case.object_id)
            level = project["permissions"].get(CALLER, "NONE")
            return level, RECORD in (project.get("properties") or {})
        app = next(a for a in state["apps"] if a["id"] == case.object_id)
        return ("developer" if CALLER in app["developers"] else "no"), RECORD in app["tags"]

    def rule(self, route: str, *, fault: str = "503", retry_after: int = 0) -> None:
        self.control.rule(route, fault, count=1000, retryAfter=retry_after)

    def refused(self, routes: set[str]) -> bool:
        return routes <= {r["route"] for r in self.control.requests() if r["fault"] == "503"}


def env_for(port: int, conf_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DX_", "SPLUNK"))}
    env.update(
        DX_APISERVER_PROTOCOL="http",
        DX_APISERVER_HOST="127.0.0.1",
        DX_APISERVER_PORT=str(port),
        DX_SECURITY_CONTEXT=json.dumps({"auth_token_type": "Bearer", "auth_token": "alice-token"}),
        DX_USER_CONF_DIR=str(conf_dir),
        DXORG_MAX_RETRY_SECONDS="1",
    )
    return env


def holds(case: Case, access: str) -> bool:
    return access == ("ADMINISTER" if case.kind == "project" else "developer")


def never_below_prior(case: Case, access: str) -> list[str]:
    """Nothing dxorg did not add is ever taken: alice never has less than before."""
    if case.kind == "project" and LEVELS.index(access) < LEVELS.index(case.prior):
        return [f"{case.name}: alice has {access}, less than the {case.prior} she had before"]
    return []


def check_until_settled(p: Platform, cases: list[Case], *, active: bool) -> list[str]:
    """From any state: apply again; then either the plan is empty, or what is left is drift
    a person must resolve, which the apply reported (exit 2); held access outliving an
    expired grant is always reported, before and after."""
    problems: list[str] = []
    p.set_grants(cases, active=active)
    plan = p.plan("--detailed-exitcode")
    if plan.code not in (0, 2):
        return [f"plan exit {plan.code}: {plan.text}"]
    for case in cases:
        access, _ = p.access(case)
        problems += never_below_prior(case, access)
        if not active and holds(case, access) and case.object_id not in plan.out:
            problems.append(f"{case.name}: expired grant held, not reported:\n{plan.out}")
    if not active and any(holds(c, p.access(c)[0]) for c in cases) and plan.code != 2:
        problems.append(f"expired grant held but plan exit {plan.code}")
    rerun = p.apply()
    if rerun.code not in (0, 2):
        problems.append(f"re-run exit {rerun.code}: {rerun.text}")
    after = p.plan("--detailed-exitcode")
    if after.code == 2:
        # Only drift a person must resolve may remain, and the apply said so (exit 2).
        if "changes" not in after.out or rerun.code != 2:
            problems.append(f"not settled by the re-run (exit {rerun.code}):\n{after.out}")
        if "Plan:" in after.out:
            problems.append(f"changes left after the re-run:\n{after.out}")
    elif after.code != 0:
        problems.append(f"plan after re-run exit {after.code}: {after.text}")
    for case in cases:
        access, recorded = p.access(case)
        problems += never_below_prior(case, access)
        if active and not holds(case, access):
            problems.append(f"{case.name}: active grant not held after the re-run ({access})")
        if not active and holds(case, access) and case.object_id not in after.out:
            problems.append(f"{case.name}: expired grant held, unreported, after the re-run")
        if not active and not holds(case, access) and access != case.prior:
            problems.append(f"{case.name}: left at {access}, not {case.prior}")
        writable = case.kind == "project" and access in ("CONTRIBUTE", "ADMINISTER")
        if not active and recorded and writable and not holds(case, access):
            problems.append(f"{case.name}: a record alice may clear is left")
    return problems


def calls_of(p: Platform, case: Case) -> list[str]:
    planned = p.plan("--format", "json")
    assert planned.code == 0, planned.text
    org = json.loads(planned.out)["orgs"][0]
    action = next(a["id"] for a in org["actions"] if a["target"] == case.object_id)
    return [s["call"]["route"] for s in org["steps"] if action in s["actions"]]


# How the apply stops after the first calls, and whether the grants are still active at the
# next run or have expired meanwhile (a revocation's grant is expired either way).
STOPS = [
    ("grants", "kill", "active"),
    ("grants", "kill", "expired"),
    ("grants", "retries-exhausted", "active"),
    ("revocation", "kill", "expired"),
    ("revocation", "retries-exhausted", "expired"),
]


@pytest.mark.parametrize(("group", "stop", "next_run"), STOPS, ids=["-".join(s) for s in STOPS])
def test_two_call_actions_stopped_after_their_first_call_are_completed_or_reported(
    tmp_path: Path, cli: CliRunner, group: str, stop: str, next_run: str
) -> None:
    cases = GROUPS[group]
    emu = Emulator(state_path=tmp_path / "state.db", seed=seed(cases), control_token=CONTROL_TOKEN)
    orgs = tmp_path / "orgs"
    orgs.mkdir()
    (tmp_path / "conf").mkdir()
    try:
        with emu.serve(port=0) as server:
            control = EmulatorControl(url=server.url, token=CONTROL_TOKEN, timeout=30)
            env = env_for(server.port, tmp_path / "conf")
            p = Platform(control, env, orgs, tmp_path / "journal.jsonl", cli)
            p.set_grants(cases, active=cases[0].active)
            routes = {case.name: calls_of(p, case) for case in cases}
            assert all(len(r) == 2 for r in routes.values()), routes
            seconds = {r[1] for r in routes.values()}
            if stop == "kill":
                for route in seconds:
                    p.rule(route, retry_after=600)  # held off far longer than the test waits
                process = subprocess.Popen(
                    [DXORG, "apply", str(orgs), "--auto-approve", "--journal", str(p.journal)],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                deadline = time.monotonic() + 60
                while not p.refused(seconds) and process.poll() is None:
                    assert time.monotonic() < deadline, "the second calls never came"
                    time.sleep(0.005)
                process.send_signal(signal.SIGKILL)
                assert process.wait() == -signal.SIGKILL, "apply ended before the kill"
            else:
                # A 500 counts against the call's attempts (throttling does not: a 503
                # with Retry-After is waited out until the run's deadline).
                for route in seconds:
                    p.rule(route, fault="500")
                result = p.apply()
                assert result.code == 1, result.text
            control.clear_faults()
            landed = {r["route"] for r in control.requests() if r["status"] == 200}
            assert all(r[0] in landed and r[1] not in landed for r in routes.values())
            problems = [m for c in cases for m in never_below_prior(c, p.access(c)[0])]
            # The state left, with the grants active or expired at the next run ...
            problems += check_until_settled(p, cases, active=next_run == "active")
            # ... and active grants once they have expired: nothing outlives them unreported.
            if next_run == "active":
                problems += check_until_settled(p, cases, active=False)
    finally:
        emu.close()
    assert problems == [], "\n".join(problems)
