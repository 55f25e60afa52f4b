"""Least privilege: the plan path cannot write, and a token without the rights dxorg needs
gets nothing done.

The plan code is handed a client whose transport fails the test on any request that is
not a read, so what is checked is the code, not only the ReadClient's own refusal
(tests/platform checks that one: WriteRefusedError before any I/O). The emulator's side
of the platform's permissions (non-admins, unknown tokens, member-list visibility, the
control plane) is checked in tests/emulator: test_org_methods.py
(test_update_needs_admin, test_member_list_visibility, test_find_projects_and_apps_need_admin,
test_describe_by_non_member_and_unknown) and test_wire.py
(test_bad_credentials_are_invalid_authentication, test_control_plane_needs_the_control_token).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from reconciler.emulator import Emulator
from reconciler.manifest import load_fleet
from reconciler.platform import ReadClient, WriteClient
from reconciler.read_and_export import administered_orgs, export_org
from reconciler.read_and_plan import plan_fleet
from tests.integration.conftest import FAST_RETRY
from tests.reliability.big_org import HEC_ENV, HEC_TOKEN, ORG, BigOrg
from tests.reliability.conftest import CliRunner, Served
from tests.reliability.test_faults import config

# Written out here rather than imported from dxorg: the guard must not trust the code it checks.
READ_ONLY_METHODS = frozenset(
    {"describe", "findMembers", "findProjects", "findApps", "findOrgs", "listDevelopers", "whoami"}
)


class ReadOnlyGuard(httpx.BaseTransport):
    """The emulator's transport; any request that is not a read fails the test, unsent."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.reads = 0
        self.refused: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[-1]
        if request.method == "GET" and request.url.path == "/" and not request.content:
            # Plan's check that the auth server answers (for provisioning): a bodiless GET.
            return self.inner.handle_request(request)
        if request.method != "POST" or method not in READ_ONLY_METHODS:
            self.refused.append(f"{request.method} {request.url.path} {request.content[:200]!r}")
            raise AssertionError(f"the plan path sent a write: {self.refused[-1]}")
        self.reads += 1
        return self.inner.handle_request(request)


@pytest.fixture
def big() -> Iterator[tuple[BigOrg, Emulator]]:
    org = BigOrg()
    with Emulator(seed=org.seed()) as emu:
        yield org, emu


def test_planning_hundreds_of_changes_sends_only_reads_even_with_a_write_client(
    big: tuple[BigOrg, Emulator], tmp_path: Path
) -> None:
    org, emu = big
    (tmp_path / f"{ORG}.yaml").write_text(org.manifest())
    fleet = load_fleet([tmp_path])
    guard = ReadOnlyGuard(emu.transport())
    # A WriteClient: were the plan code to call a write method, it could; the guard would see it.
    with WriteClient(config(), transport=guard, retry=FAST_RETRY) as client:
        plan = plan_fleet(fleet, client, now=datetime.now(UTC), env={HEC_ENV: HEC_TOKEN})
    kinds = {action.kind for action in plan.orgs[0].actions}
    assert len(plan.orgs[0].actions) > 300
    assert kinds >= {"invite-member", "update-access", "remove-member", "promote", "demote",
                     "provision", "grant-project", "revoke-project", "grant-app", "revoke-app",
                     "update-org", "set-forwarding"}  # fmt: skip
    assert guard.refused == [] and guard.reads > 0


def test_export_sends_only_reads(big: tuple[BigOrg, Emulator]) -> None:
    _, emu = big
    guard = ReadOnlyGuard(emu.transport())
    with WriteClient(config(), transport=guard, retry=FAST_RETRY) as client:
        caller = client.whoami()
        texts = [export_org(client, org_id, caller=caller) for org_id in administered_orgs(client)]
    assert texts and "r000: MEMBER" in texts[0]
    assert guard.refused == []


def test_the_read_client_has_no_write_methods() -> None:
    # `call` is the one way to write (apply sends through it, `landed.send_checked`).
    assert "call" in set(dir(WriteClient))
    assert "call" not in set(dir(ReadClient))


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("bob-token", "is not an ADMIN of this org"),  # a MEMBER of org-demo
        ("frank-token", "PermissionDenied"),  # a user who is no member at all
        ("no-such-token", "InvalidAuthentication"),
    ],
)
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_token_without_admin_rights_gets_nothing_done(
    served: Served, cli: CliRunner, tmp_path: Path, token: str, expected: str, command: str
) -> None:
    orgs = tmp_path / "orgs"
    orgs.mkdir()
    (orgs / "org-demo.yaml").write_text(
        "org: org-demo\nmembers:\n  mode: authoritative\n  users: {alice: ADMIN, root: ADMIN}\n"
        "safety: {removalBudget: {members: {count: null, percent: null}}}\n"
    )
    args = [command, str(orgs)] + (
        ["--auto-approve", "--journal", str(tmp_path / "j")] if command == "apply" else []
    )
    result = cli(*args, env=served.env(token))
    assert result.code == 1, result.text
    assert expected in result.text and "Traceback" not in result.text
    assert served.writes() == []
    calls = served.requests()
    assert calls and {c["caller"] for c in calls} <= {None, f"user-{token.split('-')[0]}"}


def test_the_plan_command_sends_only_reads_over_http(
    served: Served, cli: CliRunner, tmp_path: Path
) -> None:
    orgs = tmp_path / "orgs"
    orgs.mkdir()
    (orgs / "org-demo.yaml").write_text(
        "org: org-demo\nname: New name\npolicies: {jobReuse: true}\nmembers:\n  mode: authoritative\n"
        "  users: {alice: ADMIN, root: ADMIN, carol: ADMIN, dave: MEMBER}\n"
        "safety: {removalBudget: {members: {count: null, percent: null}}}\n"
    )
    result = cli("plan", str(orgs), "--format", "json", env=served.env())
    assert result.code == 0, result.text
    assert len(json.loads(result.out)["orgs"][0]["actions"]) >= 5
    methods = {r["route"].rsplit("/", 1)[-1] for r in served.requests()}
    assert methods and methods <= READ_ONLY_METHODS
