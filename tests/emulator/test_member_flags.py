"""The nine member permission flags: listed, described, set, seeded and stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator import Emulator
from reconciler.emulator.seed import SeedError, read_seed
from tests.emulator.sandbox import ALICE, CONTROL_TOKEN, DAVE, FRANK, Api

# dx-toolkit's expectations for a default ADMIN and a default MEMBER row
# (test_add_membership_default, test_create_user_account_and_invite_to_org).
ADMIN_FLAGS: dict[str, Any] = {
    "allowBillableActivities": True,
    "appAccess": True,
    "projectAccess": "ADMINISTER",
    "archivalManagement": True,
    "dataDeletion": True,
    "dataSearch": True,
    "projectMemberDemotion": True,
    "treManagement": False,
    "cloudIntegrationManagement": False,
}
MEMBER_FLAGS: dict[str, Any] = {
    "allowBillableActivities": False,
    "appAccess": True,
    "projectAccess": "CONTRIBUTE",
    "archivalManagement": False,
    "dataDeletion": False,
    "dataSearch": False,
    "projectMemberDemotion": False,
    "treManagement": False,
    "cloudIntegrationManagement": False,
}
MEMBER_EXTRAS = {
    "archivalManagement": True,
    "dataDeletion": True,
    "dataSearch": True,
    "projectMemberDemotion": True,
    "treManagement": True,
    "cloudIntegrationManagement": True,
}


def row(api: Api, user: str, org: str = "org-demo") -> dict[str, Any]:
    results = api.ok(ALICE if org == "org-demo" else FRANK, f"/{org}/findMembers", {"id": [user]})
    assert len(results["results"]) == 1
    return dict(results["results"][0])


def test_find_members_rows_carry_all_nine_flags(api: Api) -> None:
    assert row(api, "user-alice") == {"id": "user-alice", "level": "ADMIN", **ADMIN_FLAGS}
    assert row(api, "user-bob") == {"id": "user-bob", "level": "MEMBER", **MEMBER_FLAGS}
    # the platform's order: the three documented flags first, as dx-toolkit lists them
    assert list(row(api, "user-grace")) == ["id", "level", *MEMBER_FLAGS]


def test_invite_persists_every_flag_of_a_member(api: Api) -> None:
    api.ok(
        ALICE,
        "/org-demo/invite",
        {"invitee": "user-erin", "level": "MEMBER", "projectAccess": "UPLOAD", **MEMBER_EXTRAS},
    )
    assert row(api, "user-erin") == {
        "id": "user-erin",
        "level": "MEMBER",
        **MEMBER_FLAGS,
        "projectAccess": "UPLOAD",
        **MEMBER_EXTRAS,
    }


def test_admin_invite_ignores_forced_flags_and_keeps_independent_ones(api: Api) -> None:
    api.ok(
        ALICE,
        "/org-demo/invite",
        {
            "invitee": "user-erin",
            "level": "ADMIN",
            "appAccess": False,
            "dataDeletion": False,
            "treManagement": True,
        },
    )
    assert row(api, "user-erin") == {
        "id": "user-erin",
        "level": "ADMIN",
        **ADMIN_FLAGS,
        "treManagement": True,
    }


def test_set_member_access_sets_each_flag(api: Api) -> None:
    api.ok(ALICE, "/org-demo/setMemberAccess", {"user-bob": {"dataSearch": True}})
    assert row(api, "user-bob") == {
        "id": "user-bob",
        "level": "MEMBER",
        **MEMBER_FLAGS,
        "dataSearch": True,
    }
    api.ok(ALICE, "/org-demo/setMemberAccess", {"user-bob": MEMBER_EXTRAS})
    assert row(api, "user-bob") == {
        "id": "user-bob",
        "level": "MEMBER",
        **MEMBER_FLAGS,
        **MEMBER_EXTRAS,
    }
    # an ADMIN may carry treManagement and cloudIntegrationManagement (set independently)
    api.ok(
        ALICE,
        "/org-demo/setMemberAccess",
        {
            "user-carol": {
                "level": "ADMIN",
                "treManagement": True,
                "cloudIntegrationManagement": True,
            }
        },
    )
    assert row(api, "user-carol") == {
        "id": "user-carol",
        "level": "ADMIN",
        **ADMIN_FLAGS,
        "treManagement": True,
        "cloudIntegrationManagement": True,
    }


@pytest.mark.parametrize(
    "flag",
    [
        ("allowBillableActivities", True),  # dx-toolkit's test_update_membership_negative
        ("appAccess", True),
        ("projectAccess", "ADMINISTER"),
        ("archivalManagement", True),
        ("dataDeletion", False),
        ("dataSearch", True),
        ("projectMemberDemotion", True),
    ],
)
def test_admin_with_a_forced_flag_is_invalid_input(api: Api, flag: tuple[str, Any]) -> None:
    name, value = flag
    for spec in ({"level": "ADMIN", name: value}, {name: value}):  # level ADMIN kept
        status, error_type, message = api.fails(
            ALICE, "/org-demo/setMemberAccess", {"user-carol": spec}
        )
        assert (status, error_type) == (422, "InvalidInput")
        assert name in message and "user-carol" in message
    assert row(api, "user-carol") == {"id": "user-carol", "level": "ADMIN", **ADMIN_FLAGS}


def test_demotion_resets_forced_flags_and_keeps_independent_ones(api: Api) -> None:
    api.ok(ALICE, "/org-demo/setMemberAccess", {"user-carol": {"treManagement": True}})
    api.ok(ALICE, "/org-demo/setMemberAccess", {"user-carol": {"level": "MEMBER"}})
    assert row(api, "user-carol") == {
        "id": "user-carol",
        "level": "MEMBER",
        **MEMBER_FLAGS,
        "treManagement": True,
    }
    # promotion forces the seven again; the member's own extras give way to ADMIN's values
    api.ok(ALICE, "/org-demo/setMemberAccess", {"user-dave": {"dataSearch": True}})
    api.ok(ALICE, "/org-demo/setMemberAccess", {"user-dave": {"level": "ADMIN"}})
    assert row(api, "user-dave") == {"id": "user-dave", "level": "ADMIN", **ADMIN_FLAGS}


def test_flags_are_type_checked(api: Api) -> None:
    for body in (
        {"user-bob": {"treManagement": "yes"}},
        {"user-bob": {"dataSearch": None}},
        {"user-bob": {"projectAccess": "OWNER"}},
        {"user-bob": {"madeUpFlag": True}},
    ):
        status, error_type, message = api.fails(ALICE, "/org-demo/setMemberAccess", body)
        assert (status, error_type) == (422, "InvalidInput")
        assert "user-bob." in message
    assert api.fails(
        ALICE, "/org-demo/invite", {"invitee": "user-erin", "cloudIntegrationManagement": 1}
    )[:2] == (422, "InvalidInput")


def test_the_callers_own_membership_has_the_nine_flags(api: Api) -> None:
    described = api.ok(DAVE, "/org-demo/describe")
    assert {key: described[key] for key in (*MEMBER_FLAGS, "level")} == {
        **MEMBER_FLAGS,
        "level": "MEMBER",
        "allowBillableActivities": True,
        "appAccess": False,
        "projectAccess": "VIEW",
    }
    orgs = api.ok(ALICE, "/system/findOrgs", {"level": "ADMIN", "describe": True})["results"]
    assert {key: orgs[0]["describe"][key] for key in ADMIN_FLAGS} == ADMIN_FLAGS


def test_state_dump_lists_extra_flags_only_where_they_differ(api: Api) -> None:
    api.ok(ALICE, "/org-demo/setMemberAccess", {"user-bob": {"dataDeletion": True}})
    api.ok(ALICE, "/org-demo/setMemberAccess", {"user-carol": {"treManagement": True}})
    members = api.org("org-demo")["members"]
    assert members["user-bob"] == {
        "level": "MEMBER",
        "allowBillableActivities": False,
        "appAccess": True,
        "projectAccess": "CONTRIBUTE",
        "dataDeletion": True,
    }
    assert members["user-carol"] == {
        "level": "ADMIN",
        "allowBillableActivities": True,
        "appAccess": True,
        "projectAccess": "ADMINISTER",
        "treManagement": True,
    }
    assert members["user-grace"] == {
        "level": "MEMBER",
        "allowBillableActivities": False,
        "appAccess": True,
        "projectAccess": "CONTRIBUTE",
    }


def flag_seed(members: dict[str, Any]) -> dict[str, Any]:
    return {
        "users": [
            {"id": "user-root", "first": "R", "last": "T", "token": "root-token"},
            {"id": "user-mem", "first": "M", "last": "T"},
        ],
        "orgs": [{"id": "org-flags", "name": "Flags", "members": members}],
    }


def test_seed_accepts_the_new_flags() -> None:
    seed = flag_seed(
        {
            "user-root": {"level": "ADMIN", "treManagement": True},
            "user-mem": {"level": "MEMBER", "archivalManagement": True, "dataSearch": True},
        }
    )
    with Emulator(seed=seed, control_token=CONTROL_TOKEN) as emu:
        api = Api(emu)
        rows = api.ok("root-token", "/org-flags/findMembers")["results"]
        assert rows[0] == {"id": "user-mem", "level": "MEMBER", **MEMBER_FLAGS, "archivalManagement": True, "dataSearch": True}  # fmt: skip
        assert rows[1] == {"id": "user-root", "level": "ADMIN", **ADMIN_FLAGS, "treManagement": True}  # fmt: skip


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ({"level": "ADMIN", "dataDeletion": True}, "give none of dataDeletion"),
        ({"level": "MEMBER", "treManagement": "yes"}, "orgs[0].members.user-mem.treManagement"),
        ({"level": "MEMBER", "archivalmanagement": True}, "orgs[0].members.user-mem"),
    ],
)
def test_seed_flag_errors_name_the_field(member: dict[str, Any], message: str) -> None:
    with pytest.raises(SeedError) as caught:
        read_seed(flag_seed({"user-root": {"level": "ADMIN"}, "user-mem": member}))
    assert message in str(caught.value)


def test_a_state_file_from_before_the_new_flags_opens(tmp_path: Path) -> None:
    """A sandbox made by an earlier emulator has the old members/apps tables."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE users (id TEXT PRIMARY KEY, handle TEXT NOT NULL UNIQUE, first TEXT NOT NULL,
            middle TEXT NOT NULL, last TEXT NOT NULL, email TEXT, email_key TEXT UNIQUE,
            token TEXT UNIQUE, bill_to TEXT NOT NULL, created INTEGER NOT NULL);
        CREATE TABLE orgs (id TEXT PRIMARY KEY, handle TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
            policies TEXT NOT NULL, expires_at INTEGER, user_provisioning INTEGER NOT NULL,
            job_logs_forwarding TEXT, saml_idp TEXT, created INTEGER NOT NULL);
        CREATE TABLE members (org_id TEXT NOT NULL, user_id TEXT NOT NULL, level TEXT NOT NULL,
            allow_billable INTEGER NOT NULL, app_access INTEGER NOT NULL,
            project_access TEXT NOT NULL, PRIMARY KEY (org_id, user_id)) WITHOUT ROWID;
        CREATE TABLE apps (id TEXT PRIMARY KEY, name TEXT NOT NULL, version TEXT NOT NULL,
            title TEXT, summary TEXT NOT NULL, bill_to TEXT NOT NULL, created_by TEXT NOT NULL,
            created INTEGER NOT NULL, modified INTEGER NOT NULL, published INTEGER NOT NULL,
            authorized_users TEXT NOT NULL, UNIQUE (name, version));
        INSERT INTO users VALUES ('user-old', 'old', 'O', '', 'D', NULL, NULL, 'old-token',
            'user-old', 1);
        INSERT INTO users VALUES ('user-two', 'two', 'T', '', 'W', NULL, NULL, NULL, 'user-two', 1);
        INSERT INTO orgs VALUES ('org-old', 'old', 'Old', '{}', NULL, 0, NULL, NULL, 1);
        INSERT INTO members VALUES ('org-old', 'user-old', 'ADMIN', 1, 1, 'ADMINISTER');
        INSERT INTO members VALUES ('org-old', 'user-two', 'MEMBER', 0, 1, 'VIEW');
        INSERT INTO apps VALUES ('app-000000000000000000000001', 'old_app', '1.0.0', NULL, '',
            'org-old', 'user-old', 1, 1, 1, '[]');
        """
    )
    conn.commit()
    conn.close()
    with Emulator(state_path=path, control_token=CONTROL_TOKEN) as emu:
        api = Api(emu)
        rows = api.ok("old-token", "/org-old/findMembers")["results"]
        assert rows == [
            {"id": "user-old", "level": "ADMIN", **ADMIN_FLAGS},
            {"id": "user-two", "level": "MEMBER", **MEMBER_FLAGS, "projectAccess": "VIEW"},
        ]
        api.ok("old-token", "/org-old/setMemberAccess", {"user-two": {"treManagement": True}})
        assert api.ok("old-token", "/org-old/findMembers", {"id": ["user-two"]})["results"][0][
            "treManagement"
        ]
        assert api.ok("old-token", "/app-old_app/describe")["tags"] == []
