"""Loader semantics: defaults and their precedence, normalisation, shorthand, unmanaged
sections, and the hostile-input limits (alias bombs, bad encodings, size, depth)."""

from __future__ import annotations

import time
import tracemalloc
from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.access_rules import target_access
from reconciler.errors import ManifestError
from reconciler.manifest import document, load_fleet, load_org, loads_org
from reconciler.manifest.document import MAX_FILE_BYTES, Document, parse_text, read_document
from reconciler.model import DEFAULT_BUDGETS, Access, Budget, DesiredMember, SafetySettings

HEADER = "# yaml-language-server: $schema=../schemas/org.schema.json\n"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def problems_of(call: object) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        call()  # type: ignore[operator]
    return [str(problem) for problem in caught.value.problems]


# ---------------------------------------------------------------- defaults


def test_member_flags_precedence_own_then_org_then_fleet(tmp_path: Path) -> None:
    write(
        tmp_path,
        "_defaults.yaml",
        "members:\n  defaults: {allowBillableActivities: true, appAccess: false, "
        "projectAccess: VIEW, treManagement: true, dataSearch: true}\n",
    )
    write(
        tmp_path,
        "org.yaml",
        HEADER + "org: org-demo\nmembers:\n  mode: additive\n"
        "  defaults: {projectAccess: UPLOAD, treManagement: false}\n"
        "  users:\n    alice: ADMIN\n    bob: MEMBER\n"
        "    carol: {level: MEMBER, appAccess: true, projectAccess: NONE, dataSearch: false}\n"
        "    dave: {level: ADMIN, treManagement: true, cloudIntegrationManagement: true}\n",
    )
    members = load_fleet([tmp_path]).orgs["org-demo"].membership.members  # type: ignore[union-attr]
    fleet = {"allowBillableActivities": True, "appAccess": False, "dataSearch": True}
    assert members["user-bob"] == DesiredMember(
        "user-bob", "MEMBER", {**fleet, "projectAccess": "UPLOAD", "treManagement": False}
    )
    assert members["user-carol"] == DesiredMember(
        "user-carol",
        "MEMBER",
        {
            "allowBillableActivities": True,
            "appAccess": True,
            "projectAccess": "NONE",
            "treManagement": False,
            "dataSearch": False,
        },
    )
    assert members["user-carol"].own_flags == {"appAccess", "projectAccess", "dataSearch"}
    # defaults never reach an ADMIN, not even a flag independent of the level; its own do
    assert members["user-alice"] == DesiredMember("user-alice", "ADMIN")
    assert members["user-dave"] == DesiredMember(
        "user-dave", "ADMIN", {"treManagement": True, "cloudIntegrationManagement": True}
    )


def test_without_defaults_member_flags_are_unmanaged(tmp_path: Path) -> None:
    path = write(
        tmp_path, "org.yaml", "org: org-demo\nmembers: {mode: additive, users: {bob: MEMBER}}\n"
    )
    member = load_org(path).membership.members["user-bob"]  # type: ignore[union-attr]
    assert dict(member.flags) == {}


def test_fleet_defaults_apply_to_a_file_named_on_its_own(tmp_path: Path) -> None:
    write(
        tmp_path,
        "_defaults.yaml",
        "members: {defaults: {projectAccess: VIEW}}\nsafety: {minAdmins: 4}\n",
    )
    path = write(
        tmp_path, "org.yaml", "org: org-demo\nmembers: {mode: additive, users: {bob: MEMBER}}\n"
    )
    org = load_org(path)
    assert org.membership.members["user-bob"].flags == {"projectAccess": "VIEW"}  # type: ignore[union-attr]
    assert org.safety.min_admins == 4
    assert load_fleet([tmp_path]).orgs["org-demo"] == org


def test_safety_precedence_is_key_by_key(tmp_path: Path) -> None:
    write(
        tmp_path,
        "_defaults.yaml",
        "safety:\n  minAdmins: 3\n  removalBudget:\n    members: {count: 4, percent: 10}\n"
        "    levels: {percent: null}\n",
    )
    write(
        tmp_path,
        "org.yaml",
        "org: org-demo\nsafety:\n  removalBudget:\n    members: {count: 1}\n    appAccess: {percent: 50}\n",
    )
    safety = load_fleet([tmp_path]).orgs["org-demo"].safety
    assert safety.min_admins == 3  # fleet
    assert safety.budgets["members"] == Budget(count=1, percent=10.0)  # org count, fleet percent
    assert safety.budgets["levels"] == Budget(count=DEFAULT_BUDGETS["levels"].count, percent=None)
    assert safety.budgets["appAccess"] == Budget(count=20, percent=50.0)
    assert safety.budgets["projectAccess"] == DEFAULT_BUDGETS["projectAccess"]


def test_safety_defaults_to_the_model_defaults() -> None:
    assert loads_org("org: org-demo\n").safety == SafetySettings()


def test_provisioning_flags_fall_back_to_defaults_then_invite_defaults(tmp_path: Path) -> None:
    write(
        tmp_path,
        "_defaults.yaml",
        "members: {defaults: {appAccess: false, treManagement: true, dataSearch: true}}\n",
    )
    write(
        tmp_path,
        "org.yaml",
        "org: org-demo\nprovisioning:\n"
        "  - {username: Erin, email: e@example.com, first: E, last: L, setBillTo: true}\n"
        "  - {username: frank, email: f@example.com, first: F, last: M, level: ADMIN,"
        " treManagement: false}\n",
    )
    erin, frank = load_fleet([tmp_path]).orgs["org-demo"].provisioning
    assert erin.user_id == "user-erin"
    # setBillTo implies allowBillableActivities; the fleet defaults' settable flags apply, a
    # read-only one does not (an account's access is set by its invite); the rest are the
    # invite defaults.
    assert erin.flags == {
        "allowBillableActivities": True,
        "appAccess": False,
        "treManagement": True,
    }
    assert target_access(erin.level, erin.flags, None) == Access.member(
        {"allowBillableActivities": True, "appAccess": False, "treManagement": True}
    )
    # An ADMIN takes no defaults, and may set a flag independent of the level.
    assert frank.level == "ADMIN" and frank.flags == {"treManagement": False}


def test_departures_reach_every_org_of_the_directory_with_their_lines(tmp_path: Path) -> None:
    write(
        tmp_path,
        "_defaults.yaml",
        "departed:\n  - Bob\n  - {user: user-carol, since: 2026-11-30, reason: left the company}\n",
    )
    write(tmp_path, "a.yaml", "org: org-a\nmembers: {mode: additive, users: {alice: ADMIN}}\n")
    write(tmp_path, "b.yaml", "org: org-b\n")  # no members section: still carries the list
    other = tmp_path / "elsewhere"
    other.mkdir()
    write(other, "c.yaml", "org: org-c\nmembers: {mode: additive, users: {bob: MEMBER}}\n")
    fleet = load_fleet([tmp_path, other])
    a, b = fleet.orgs["org-a"], fleet.orgs["org-b"]
    assert a.departed == b.departed
    assert set(a.departed) == {"user-bob", "user-carol"}
    bob, carol = a.departed["user-bob"], a.departed["user-carol"]
    assert (bob.since, bob.reason, str(bob.where)) == (None, None, f"{tmp_path}/_defaults.yaml:2")
    assert (carol.since, carol.reason) == (date(2026, 11, 30), "left the company")
    assert str(carol.where) == f"{tmp_path}/_defaults.yaml:3"
    # Another directory has its own defaults (none here): bob may be listed there.
    assert fleet.orgs["org-c"].departed == {}
    assert loads_org("org: org-x\n").departed == {}


def test_each_flag_knows_where_it_was_set(tmp_path: Path) -> None:
    write(
        tmp_path, "_defaults.yaml", "members:\n  defaults: {appAccess: true, projectAccess: VIEW}\n"
    )
    write(
        tmp_path,
        "org.yaml",
        "org: org-demo\nmembers:\n  mode: additive\n  defaults: {projectAccess: UPLOAD}\n"
        "  users:\n    bob: MEMBER\n    carol: {level: MEMBER, appAccess: false}\n    alice: ADMIN\n",
    )
    org = load_fleet([tmp_path]).orgs["org-demo"]
    where = {flag: str(loc) for flag, loc in org.member_defaults_where.items()}
    assert where == {
        "appAccess": f"{tmp_path}/_defaults.yaml:2",
        "projectAccess": f"{tmp_path}/org.yaml:4",
    }
    members = org.membership.members  # type: ignore[union-attr]
    assert members["user-bob"].own_flags == frozenset()
    assert members["user-carol"].own_flags == {"appAccess"}
    assert members["user-alice"].own_flags == frozenset()


# ---------------------------------------------------------------- normalisation, shorthand


def test_user_spellings_are_normalised_once() -> None:
    org = loads_org(
        "org: org-demo\nmembers:\n  mode: additive\n  protected: [ALICE]\n"
        "  requiredAdmins: [user-Alice]\n  users: {User-Alice: ADMIN, bob: MEMBER}\n"
        "selfGrants: {admin: Alice}\n"
    )
    membership = org.membership
    assert membership is not None
    assert set(membership.members) == {"user-alice", "user-bob"}
    assert membership.protected == membership.required_admins == frozenset({"user-alice"})
    assert org.self_grants is not None and org.self_grants.admin == "user-alice"


def test_level_shorthand_equals_the_mapping_form() -> None:
    short = loads_org(
        "org: org-demo\nmembers: {mode: additive, defaults: {appAccess: false}, users: {bob: MEMBER}}\n"
    )
    long = loads_org(
        "org: org-demo\nmembers: {mode: additive, defaults: {appAccess: false}, users: {bob: {level: MEMBER}}}\n"
    )
    assert short.membership == long.membership


def test_left_out_sections_are_unmanaged() -> None:
    org = loads_org("org: org-demo\n")
    assert (org.name, dict(org.policies), org.membership, org.self_grants, org.forwarding) == (
        None,
        {},
        None,
        None,
        None,
    )
    assert org.provisioning == ()


def test_only_the_policies_given_are_managed() -> None:
    org = loads_org("org: org-demo\npolicies: {jobReuse: false}\n")
    assert dict(org.policies) == {"jobReuse": False}


def test_grants_carry_dates_reasons_and_lines() -> None:
    org = loads_org(
        "org: org-demo\nselfGrants:\n  projects:\n    - {name: x, expires: 2026-12-31, reason: why}\n",
        source="m.yaml",
    )
    assert org.self_grants is not None
    (grant,) = org.self_grants.projects
    assert (grant.expires.isoformat() if grant.expires else None, grant.reason) == (
        "2026-12-31",
        "why",
    )
    assert grant.where is not None and (grant.where.file, grant.where.line) == ("m.yaml", 4)


def test_forwarding_forms() -> None:
    on = loads_org(
        "org: org-demo\njobLogsForwarding: {url: 'https://h.example.com/e', tokenEnv: HEC}\n"
    )
    off = loads_org("org: org-demo\njobLogsForwarding: {disabled: true}\n")
    assert on.forwarding is not None and on.forwarding.token_env == "HEC" and on.forwarding.enabled
    assert off.forwarding is not None and not off.forwarding.enabled


def test_problem_messages_never_show_a_token() -> None:
    secret = "0f3c9a2e-5d1b-4c7a-9e8f-1a2b3c4d5e6f"
    for text in (
        f"org: org-demo\njobLogsForwarding: {{url: 'https://h.example.com', token: {secret}}}\n",
        f"org: org-demo\njobLogsForwarding: {{url: 'https://h.example.com', tokenEnv: {secret}}}\n",
        f"org: org-demo\njobLogsForwarding: {{url: '{secret}', tokenEnv: HEC}}\n",
    ):
        found = problems_of(lambda text=text: loads_org(text))
        assert found and not any(secret in line for line in found)


# ---------------------------------------------------------------- fleet assembly


def test_a_file_given_twice_is_loaded_once(tmp_path: Path) -> None:
    path = write(tmp_path, "org.yaml", "org: org-demo\n")
    fleet = load_fleet([tmp_path, path])
    assert fleet.files == [path]


def test_missing_paths_and_empty_directories_are_problems(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    found = problems_of(lambda: load_fleet([tmp_path / "nope.yaml", tmp_path / "empty"]))
    assert any("nope.yaml:1:1: no such file or directory" in line for line in found)
    assert any("no org manifests" in line for line in found)


def test_every_file_is_reported_and_problems_are_sorted(tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", "org: org-b\npolicies: {jobReuse: 1}\n")
    write(tmp_path, "a.yaml", "org: org-a\nname: 5\nbogus: 1\n")
    found = problems_of(lambda: load_fleet([tmp_path]))
    assert [line.split(":")[0].rsplit("/", 1)[1] for line in found] == [
        "a.yaml",
        "a.yaml",
        "b.yaml",
    ]


def test_load_org_refuses_a_defaults_file(tmp_path: Path) -> None:
    path = write(tmp_path, "_defaults.yaml", "safety: {minAdmins: 2}\n")
    assert problems_of(lambda: load_org(path))


# ---------------------------------------------------------------- hostile input


def test_alias_bomb_is_refused_fast_in_bounded_memory() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ",".join([f"*{previous}"] * 9) + "]")
    text = "org: org-demo\n" + "\n".join(lines) + "\n"  # ~ 9^9 = 387 million strings expanded
    tracemalloc.start()
    started = time.perf_counter()
    found = problems_of(lambda: loads_org(text))
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Expanding the aliases would take minutes and gigabytes: seconds mean it never started.
    assert elapsed < 5.0
    assert peak < 20 * 1024 * 1024
    assert any("YAML aliases (*a) are not supported" in line for line in found)


def test_non_utf8_names_the_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_bytes(b"org: org-demo\nname: \xff\xfe\n")
    (problem,) = problems_of(lambda: load_fleet([path]))
    assert problem.endswith(
        "org.yaml:2:7: not valid UTF-8: byte 0xff at byte offset 20; save the file as UTF-8"
    )


def test_oversize_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    with path.open("wb") as fh:  # sparse: costs no disk and no time
        fh.truncate(MAX_FILE_BYTES + 1)
    started = time.perf_counter()
    (problem,) = problems_of(lambda: load_fleet([path]))
    assert time.perf_counter() - started < 5.0  # refused from its size, never read
    assert "a manifest may be at most 16 MiB" in problem


def test_deep_nesting_is_refused() -> None:
    found = problems_of(lambda: loads_org("org: org-demo\nname: " + "[" * 200 + "]" * 200 + "\n"))
    assert any("nested more than 64 levels deep" in line for line in found)


def test_too_many_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(document, "MAX_VALUES", 50)
    result = parse_text("org: org-demo\nname: [" + ",".join(["1"] * 100) + "]\n", "m.yaml")
    assert isinstance(result, list)
    (problem,) = result  # reported once, where the cap was crossed; parsing stops there
    assert str(problem).startswith("m.yaml:2:")
    assert problem.message == "more than 50 YAML values; this is not a manifest"


def test_value_positions_are_recorded_for_keys_and_values() -> None:
    doc = parse_text("org: org-demo\nmembers:\n  users:\n    bob: MEMBER\n", "m.yaml")
    assert isinstance(doc, Document)
    assert doc.keys[("members", "users", "bob")] == (4, 5)
    assert doc.values[("members", "users", "bob")] == (4, 10)


def test_ten_thousand_members_load_completely(tmp_path: Path) -> None:
    # How fast is bench/plan_bench.py's business; this checks that nothing is dropped.
    lines = ["org: org-big", "members:", "  mode: authoritative", "  users:", "    alice: ADMIN"]
    for index in range(10_000):
        entry = "{level: MEMBER, projectAccess: VIEW, appAccess: false}" if index % 3 else "MEMBER"
        lines.append(f"    user{index}: {entry}")
    path = write(tmp_path, "org.yaml", "\n".join(lines) + "\n")
    org = load_org(path)
    assert org.membership is not None and len(org.membership.members) == 10_001
    assert org.membership.members["user-user1"].flags == {
        "projectAccess": "VIEW",
        "appAccess": False,
    }
    assert org.membership.members["user-user3"].flags == {}


# ---------------------------------------------------------------- no traceback, ever

_SECTIONS = [
    "org",
    "name",
    "policies",
    "members",
    "selfGrants",
    "jobLogsForwarding",
    "provisioning",
    "safety",
]
_WORDS = [
    "ADMIN",
    "MEMBER",
    "authoritative",
    "additive",
    "users",
    "mode",
    "level",
    "alice",
    "all",
    "id",
    "url",
    "tokenEnv",
    "disabled",
    "count",
    "percent",
    "project-000000000000000000000000",
]
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(_WORDS), st.text(max_size=5)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_WORDS), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.slow  # a long property search: the full suite runs it
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_SECTIONS), _VALUES, max_size=6))
def test_any_structure_gives_an_org_or_problems_never_a_crash(value: dict[str, object]) -> None:
    text = yaml.safe_dump(value, allow_unicode=True)
    try:
        loads_org(text)
    except ManifestError as exc:
        assert exc.problems


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_a_document_or_problems(text: str) -> None:
    result = parse_text(text, "fuzz.yaml")
    assert isinstance(result, Document) or (result and all(p.line >= 1 for p in result))


def test_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    result = read_document(tmp_path, "org.yaml")  # a directory cannot be read as a file
    assert isinstance(result, list)
    assert str(result[0]).startswith("org.yaml:1:1: cannot read the file")


def test_every_flag_and_saml_idp_load_from_the_valid_corpus() -> None:
    org = load_fleet([Path(__file__).parent / "valid" / "every-flag"]).orgs["org-demo"]
    assert org.settings["samlIdP"] == "idp-demo"
    assert org.membership is not None
    alice, bob = org.membership.members["user-alice"], org.membership.members["user-bob"]
    assert (alice.level, dict(alice.flags)) == (
        "ADMIN",
        {"treManagement": False, "cloudIntegrationManagement": True},
    )
    nine = {
        "allowBillableActivities": True,
        "appAccess": False,
        "projectAccess": "VIEW",
        "archivalManagement": True,
        "dataDeletion": True,
        "dataSearch": False,
        "projectMemberDemotion": True,
        "treManagement": False,
        "cloudIntegrationManagement": True,
    }
    assert dict(bob.flags) == nine and bob.own_flags == set(nine)
    erin, fay = org.provisioning
    # The settable flags only, the org's defaults over the fleet's.
    assert dict(erin.flags) == {
        "allowBillableActivities": False,
        "appAccess": True,
        "projectAccess": "CONTRIBUTE",
        "treManagement": True,
    }
    assert (fay.level, dict(fay.flags)) == ("ADMIN", {"treManagement": True})
    # The org's count, the fleet's null percent.
    assert org.safety.budgets["permissions"] == Budget(count=2, percent=None)


def test_budget_permissions_defaults_and_is_overridable_in_the_fleet(tmp_path: Path) -> None:
    assert loads_org("org: org-demo\n").safety.budgets["permissions"] == Budget(20, 25.0)
    write(tmp_path, "_defaults.yaml", "safety: {removalBudget: {permissions: {count: 1}}}\n")
    write(tmp_path, "org.yaml", "org: org-demo\n")
    safety = load_fleet([tmp_path]).orgs["org-demo"].safety
    assert safety.budgets["permissions"] == Budget(count=1, percent=25.0)
