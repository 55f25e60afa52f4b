"""Export: LiveOrg -> YAML that loads back to the same members, policies and forwarding."""

from __future__ import annotations

import random
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.manifest import load_fleet, loads_org
from reconciler.manifest.export import render_manifest, token_env_placeholder
from reconciler.model import (
    FLAGS,
    ORG_POLICY_KEYS,
    PROJECT_ACCESS_LEVELS,
    Access,
    Departure,
    DesiredOrg,
    LiveForwarding,
    LiveMember,
    LiveOrg,
    Location,
    PermissionFlag,
)

HANDLES = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,12}", fullmatch=True)
# Either the handle's id or an odd one (`user-user-x`, digits, YAML words) to stress quoting.
USER_IDS = st.one_of(
    HANDLES.map(lambda handle: f"user-{handle}"),
    st.sampled_from(["user-user-x", "user-123", "user-true", "user-null", "user-yes", "user-1.5"]),
)


def flag_values(flags: tuple[PermissionFlag, ...]) -> st.SearchStrategy[dict[str, bool | str]]:
    return st.fixed_dictionaries(
        {
            f.name: st.sampled_from(PROJECT_ACCESS_LEVELS)
            if f.kind == "projectAccess"
            else st.booleans()
            for f in flags
        }
    )


# Every flag of a MEMBER, and the flags independent of the level of an ADMIN, drawn freely.
ACCESS = st.one_of(
    flag_values(tuple(f for f in FLAGS if f.independent)).map(Access.admin),
    flag_values(FLAGS).map(Access.member),
)
POLICY_VALUES = {
    "memberListVisibility": st.sampled_from(["ADMIN", "MEMBER", "PUBLIC"]),
    "restrictProjectTransfer": st.sampled_from(["ADMIN", "MEMBER"]),
    "jobReuse": st.booleans(),
    "detailedJobMetricsCollectDefault": st.booleans(),
}


@st.composite
def live_orgs(draw: st.DrawFn) -> LiveOrg:
    user_ids = draw(st.lists(USER_IDS, unique=True, max_size=12))
    members = {
        user_id: LiveMember(user_id, draw(ACCESS), draw(st.none() | st.text(max_size=20)))
        for user_id in user_ids
    }
    keys = draw(st.lists(st.sampled_from(ORG_POLICY_KEYS), unique=True))
    policies = {key: draw(POLICY_VALUES[key]) for key in keys}
    forwarding = draw(
        st.none()
        | st.just(LiveForwarding(None, None))
        | st.builds(
            LiveForwarding,
            HANDLES.map(lambda host: f"https://{host}x.example.com/services/collector/event"),
            st.just("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        )
    )
    org_id = draw(HANDLES.map(lambda handle: f"org-{handle}"))
    saml_idp = draw(st.none() | st.text(min_size=1, max_size=20))
    return LiveOrg(
        org_id=org_id,
        name=draw(st.text(max_size=30)),
        caller="user-alice",
        policies=policies,
        members=members,
        projects=(),
        apps=(),
        forwarding=forwarding,
        settings={"samlIdP": saml_idp},
    )


def assert_matches(desired: DesiredOrg, live: LiveOrg) -> None:
    assert desired.org_id == live.org_id
    assert desired.name == (live.name or None)
    assert dict(desired.policies) == dict(live.policies)
    assert desired.membership is not None and desired.membership.mode == "authoritative"
    assert set(desired.membership.members) == set(live.members)
    for user_id, member in desired.membership.members.items():
        access = live.members[user_id].access
        assert member.level == access.level
        if access.level == "ADMIN":
            # Only flags independent of the level, and only where they are not the default.
            assert dict(member.flags) == {
                f.name: access[f.name]
                for f in FLAGS
                if f.independent and access[f.name] != f.member_default
            }
        else:  # every flag is managed, read-only ones too
            assert dict(member.flags) == access.flags()
    assert desired.settings.get("samlIdP") == live.settings["samlIdP"]
    assert desired.forwarding is not None
    enabled = live.forwarding is not None and bool(live.forwarding.url)
    assert desired.forwarding.enabled == enabled
    if enabled:
        assert live.forwarding is not None
        assert desired.forwarding.url == live.forwarding.url
        assert desired.forwarding.token_env == token_env_placeholder(live.org_id)


@pytest.mark.slow  # a long property search: the full suite runs it
@settings(max_examples=200, deadline=None)
@given(live_orgs())
def test_export_round_trips_through_the_loader(live: LiveOrg) -> None:
    text = render_manifest(live)
    assert_matches(loads_org(text, source="export.yaml"), live)


@pytest.mark.slow  # a long property search: the full suite runs it
@settings(max_examples=50, deadline=None)
@given(live_orgs(), st.randoms())
def test_export_is_deterministic(live: LiveOrg, rnd: random.Random) -> None:
    shuffled = list(live.members.items())
    rnd.shuffle(shuffled)
    reordered = LiveOrg(**{**live.__dict__, "members": dict(shuffled)})
    assert render_manifest(live) == render_manifest(live) == render_manifest(reordered)


def sample() -> LiveOrg:
    return LiveOrg(
        org_id="org-demo",
        name="Demo Organization",
        caller="user-alice",
        policies={"memberListVisibility": "ADMIN", "jobReuse": False},
        members={
            "user-bob": LiveMember("user-bob", Access.member(), "Bob Jones"),
            "user-alice": LiveMember("user-alice", Access.admin(), "Alice Smith"),
            "user-carol": LiveMember(
                "user-carol",
                Access.member({"appAccess": False, "projectAccess": "VIEW", "dataSearch": True}),
            ),
            "user-dave": LiveMember("user-dave", Access.admin({"treManagement": True})),
            "user-erin": LiveMember("user-erin", Access.member({"treManagement": True})),
        },
        projects=(),
        apps=(),
        forwarding=LiveForwarding("https://hec.example.com/services/collector/event", "cafe" * 16),
        settings={"samlIdP": "idp-demo"},
    )


def test_export_layout() -> None:
    text = render_manifest(sample(), names={"user-carol": "Carol\nDanvers"})
    assert text == (
        "# yaml-language-server: $schema=org.schema.json\n"
        "# Exported from org-demo by dxorg. Sections left out are unmanaged.\n"
        "org: org-demo\n"
        'name: "Demo Organization"\n'
        "policies:\n"
        "  memberListVisibility: ADMIN\n"
        "  jobReuse: false\n"
        'samlIdP: "idp-demo"\n'
        "members:\n"
        "  mode: authoritative\n"
        "  defaults:\n"
        "    allowBillableActivities: false\n"
        "    appAccess: true\n"
        "    projectAccess: CONTRIBUTE\n"
        "    archivalManagement: false\n"
        "    dataDeletion: false\n"
        "    dataSearch: false\n"
        "    projectMemberDemotion: false\n"
        "    treManagement: false\n"
        "    cloudIntegrationManagement: false\n"
        "  users:\n"
        "    alice: ADMIN  # Alice Smith\n"
        "    bob: MEMBER  # Bob Jones\n"
        "    carol: {level: MEMBER, appAccess: false, projectAccess: VIEW, dataSearch: true}"
        "  # Carol Danvers\n"
        "    dave: {level: ADMIN, treManagement: true}\n"
        "    erin: {level: MEMBER, treManagement: true}\n"
        "# The platform never returns the HEC token: set this environment variable to it\n"
        "# wherever dxorg runs (or rename it here).\n"
        "jobLogsForwarding:\n"
        '  url: "https://hec.example.com/services/collector/event"\n'
        "  tokenEnv: SPLUNK_HEC_TOKEN_DEMO\n"
    )
    assert "cafe" not in text


def test_a_name_cannot_reorder_what_a_reviewer_sees_in_an_exported_comment() -> None:
    # A right-to-left override in a display name would make an editor or a diff show the
    # rest of the line reversed (Trojan Source); it is written as its escape.
    text = render_manifest(sample(), names={"user-carol": "Carol \u202e}ECAFXE{ \u200b"})
    carol = next(line for line in text.splitlines() if line.startswith("    carol:"))
    assert carol.endswith("  # Carol \\u202e}ECAFXE{ \\u200b")
    assert not any(ch in text for ch in "\u202e\u200b")
    assert loads_org(text).org_id == "org-demo"


def test_export_additive_and_disabled_forwarding() -> None:
    live = LiveOrg(**{**sample().__dict__, "forwarding": None})
    text = render_manifest(live, membership_mode="additive")
    org = loads_org(text)
    assert org.membership is not None and org.membership.mode == "additive"
    assert org.forwarding is not None and not org.forwarding.enabled
    assert "jobLogsForwarding: {disabled: true}" in text


def test_export_of_an_org_without_members_stays_valid() -> None:
    live = LiveOrg(**{**sample().__dict__, "members": {}})
    org = loads_org(render_manifest(live))
    assert org.membership is not None and org.membership.allow_empty
    assert not org.membership.members


def test_unknown_live_policy_values_are_left_unmanaged() -> None:
    live = LiveOrg(**{**sample().__dict__, "policies": {"memberListVisibility": "SOMETHING_NEW"}})
    text = render_manifest(live)
    assert "# memberListVisibility:" in text
    assert dict(loads_org(text).policies) == {}


def test_departed_members_are_left_out_with_a_comment(tmp_path) -> None:
    departed = {
        "user-bob": Departure(
            "user-bob", date(2026, 11, 30), "left\nthe company", Location("orgs/_defaults.yaml", 3)
        ),
        "user-zed": Departure("user-zed"),  # not a member: nothing to say
    }
    text = render_manifest(sample(), departed=departed)
    assert "bob:" not in text and "Bob Jones" not in text
    assert (
        "# Left out: user-bob has departed (orgs/_defaults.yaml:3, since 2026-11-30: left the "
        "company).\n" in text
    )
    assert "user-zed" not in text
    # The export loads beside the defaults file that lists bob as departed.
    (tmp_path / "_defaults.yaml").write_text("departed: [bob, zed]\n")
    (tmp_path / "org-demo.yaml").write_text(text)
    org = load_fleet([tmp_path]).orgs["org-demo"]
    assert org.membership is not None
    assert set(org.membership.members) == {"user-alice", "user-carol", "user-dave", "user-erin"}
    assert set(org.departed) == {"user-bob", "user-zed"}
