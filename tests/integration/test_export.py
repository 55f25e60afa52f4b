"""`dxorg export`: live org -> manifest that validates, is deterministic, and plans to nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from reconciler.emulator import Emulator
from reconciler.errors import ReadIncompleteError
from reconciler.manifest import load_fleet
from reconciler.platform import ReadClient
from reconciler.read_and_export import administered_orgs, export_org, write_schema_beside
from reconciler.read_and_plan import plan_fleet
from tests.integration.conftest import FAST_RETRY, base_seed, config_for

HEC_TOKEN = "0e1f-splunk-hec-secret"


def rich_seed() -> dict:
    seed = base_seed()
    org = seed["orgs"][0]
    org["policies"] = {
        "memberListVisibility": "MEMBER",
        "restrictProjectTransfer": "MEMBER",
        "jobReuse": True,
        "detailedJobMetricsCollectDefault": False,
    }
    org["jobLogsForwarding"] = {
        "url": "https://splunk.example.com/services/collector/event",
        "token": HEC_TOKEN,
    }
    org["members"]["user-dave"] = {
        "level": "MEMBER",
        "allowBillableActivities": True,
        "appAccess": False,
        "projectAccess": "NONE",
    }
    org["members"]["user-frank"] = {
        "level": "MEMBER",
        "allowBillableActivities": False,
        "appAccess": True,
        "projectAccess": "ADMINISTER",
    }
    seed["orgs"].append(
        {
            "id": "org-second",
            "name": "Second",
            "policies": {"memberListVisibility": "ADMIN", "restrictProjectTransfer": "ADMIN"},
            "members": {"user-alice": {"level": "ADMIN"}, "user-bob": {"level": "ADMIN"}},
        }
    )
    return seed


def test_export_round_trips_to_an_empty_plan(tmp_path):
    emulator = Emulator(state_path=tmp_path / "state.db", seed=rich_seed())
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        assert administered_orgs(client) == ["org-demo", "org-second"]
        orgs = tmp_path / "orgs"
        orgs.mkdir()
        for org_id in administered_orgs(client):
            target = orgs / f"{org_id}.yaml"
            text = export_org(client, org_id, caller="user-alice")
            target.write_text(text)
            assert HEC_TOKEN not in text
            assert export_org(client, org_id, caller="user-alice") == text, (
                "export must be deterministic"
            )
        write_schema_beside(orgs)
        demo = (orgs / "org-demo.yaml").read_text()
        assert "# Dave Tester" in demo
        ref = demo.splitlines()[0].split("$schema=", 1)[1]
        assert (orgs / ref).resolve().name == "org.schema.json" and (orgs / ref).resolve().is_file()
        fleet = load_fleet([orgs])
        forwarding = fleet.orgs["org-demo"].forwarding
        assert forwarding is not None and forwarding.token_env
        plan = plan_fleet(
            fleet,
            client,
            now=datetime(2026, 11, 26, tzinfo=UTC),
            env={forwarding.token_env: HEC_TOKEN},
        )
        assert plan.applyable
        assert not plan.has_changes, [a.summary for o in plan.orgs for a in o.actions]
        # With another token in the variable, the signature comparison sees drift.
        drift = plan_fleet(
            fleet,
            client,
            now=datetime(2026, 11, 26, tzinfo=UTC),
            env={forwarding.token_env: "other"},
        )
        assert [a.kind for a in drift.orgs[0].actions] == ["set-forwarding"]


def test_export_into_a_fleet_directory_never_writes_departed_users_back(tmp_path):
    emulator = Emulator(state_path=tmp_path / "state.db", seed=rich_seed())
    orgs = tmp_path / "orgs"
    orgs.mkdir()
    (orgs / "_defaults.yaml").write_text(
        "departed:\n  - {user: bob, since: 2026-11-30, reason: left the company}\n  - dave\n"
    )
    with ReadClient(config_for(), transport=emulator.transport(), retry=FAST_RETRY) as client:
        for org_id in administered_orgs(client):
            target = orgs / f"{org_id}.yaml"
            target.write_text(export_org(client, org_id, caller="user-alice", out=target))
        # Exported elsewhere (no defaults file there), bob and dave are still written.
        loose = export_org(client, "org-demo", caller="user-alice", out=tmp_path / "x.yaml")
    demo = (orgs / "org-demo.yaml").read_text()
    second = (orgs / "org-second.yaml").read_text()
    assert "# Left out: user-bob has departed" in demo and "left the company" in demo
    assert "# Left out: user-dave has departed" in demo
    assert "# Left out: user-bob has departed" in second  # an ADMIN there: left out as well
    assert "bob:" in loose and "dave:" in loose
    fleet = load_fleet([orgs])  # loads: no departed user is listed anywhere
    for org in fleet.orgs.values():
        assert org.membership is not None
        assert not {"user-bob", "user-dave"} & set(org.membership.members)
    demo_members = fleet.orgs["org-demo"].membership
    assert demo_members is not None
    assert set(demo_members.members) == {
        "user-alice",
        "user-root",
        "user-carol",
        "user-eve",
        "user-frank",
    }


class _OrgIdsRewritten(httpx.BaseTransport):
    """The emulator's transport, with /system/findOrgs answering the given ids."""

    def __init__(self, inner: httpx.BaseTransport, ids: list[str]) -> None:
        self.inner, self.ids = inner, ids

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path != "/system/findOrgs":
            return response
        rows = [{"id": i, "level": "ADMIN"} for i in self.ids]
        return httpx.Response(200, json={"results": rows, "next": None})


@pytest.mark.parametrize("bad", ["../../escaped", "org-demo/../../x", "/tmp/abs", "org-.hidden"])
def test_an_org_id_that_is_no_org_id_fails_export_all_before_a_file_is_written(
    tmp_path: Path, bad: str
) -> None:
    # Export --all names each file after an id the platform returned: one that could
    # leave the output directory is a read failure, not a path.
    emu = Emulator(state_path=":memory:", seed=base_seed())
    transport = _OrgIdsRewritten(emu.transport(), ["org-demo", bad])
    with (
        ReadClient(config_for(), transport=transport, retry=FAST_RETRY) as client,
        pytest.raises(ReadIncompleteError, match="not an org id"),
    ):
        administered_orgs(client)
    with ReadClient(config_for(), transport=emu.transport(), retry=FAST_RETRY) as client:
        assert administered_orgs(client) == ["org-demo"]
    emu.close()
