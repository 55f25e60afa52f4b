"""The plan file: its codec and its schema kept true to the plan's types, and files written
by earlier versions of dxorg still read.

The property tests generate plans from the types themselves (every kind with its change
type, every phase, every kind of object key), so a type that gains a field the codec does
not write, or a schema that refuses what the codec writes, fails here.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import changes
from reconciler.model import (
    BUDGET_COLLECTIONS,
    FLAGS,
    PROJECT_ACCESS_LEVELS,
    Access,
    AppGrant,
    AppSelector,
    Departure,
    FlagValue,
    Forwarding,
    Level,
    LiveApp,
    LiveForwarding,
    LiveProject,
    NewAccount,
    PolicyException,
    PolicySelector,
    ProjectGrant,
    ProjectPolicy,
    ProjectSelector,
    SelfGrants,
)
from reconciler.plan import (
    CHANGE_TYPES,
    FORMAT_VERSION,
    Action,
    ActionKind,
    ApiCall,
    DepartureCause,
    ExpiryCause,
    ObjectKey,
    ObjectKind,
    OrgPlan,
    Phase,
    Plan,
    PlanWarning,
    PlatformIdentity,
    Step,
    Violation,
)
from reconciler.plan_file import PlanFileError, dumps_plan, load_plan, plan_schema
from reconciler.planner import plan_org
from tests.core.builders import TODAY, desired_org, live_org, member, options, want

PLAN_FILES = Path(__file__).parent / "plan_files"

# ---------------------------------------------------------------- a plan with every kind


def every_kind_plan() -> Plan:
    """Two orgs whose plans hold every kind of action, every change type and every phase.

    `plan_files/every-kind-3.1.json` is this plan as written by dxorg before the plan's
    types (main at 3d4e859, format 3.1), from this same function."""
    projects = [f"project-{c * 24}" for c in "ABCDE"]
    app1, app2 = "app-" + "1" * 24, "app-" + "2" * 24
    past = TODAY - timedelta(days=3)
    admins = {u: member("ADMIN") for u in ("user-alice", "user-root")}
    desired = desired_org(
        {
            "user-alice": want("user-alice", "ADMIN"),
            "user-root": want("user-root", "ADMIN"),
            "user-bob": want("user-bob", "ADMIN"),
            "user-carol": want("user-carol", project="VIEW"),
            "user-dave": want("user-dave", "MEMBER"),
            "user-frank": want("user-frank", billable=True),
            "user-gone": want("user-gone"),
        },
        manifests={"orgs/demo.yaml": "0" * 64},
        name="Demo renamed",
        settings={"samlIdP": "new-idp", "memberListVisibility": "PUBLIC", "jobReuse": True},
        provisioning=(
            NewAccount("newbie", "newbie@example.com", "New", "Bie", set_bill_to=True),
            NewAccount("known", "known@example.com", "Kno", "Wn", level="ADMIN"),
        ),
        self_grants=SelfGrants(
            admin=None,
            projects=(
                ProjectGrant(
                    ProjectSelector("id", projects[0]), TODAY + timedelta(days=9), "audit"
                ),
                ProjectGrant(ProjectSelector("id", projects[1]), past, "done"),
                ProjectGrant(ProjectSelector("id", projects[2]), past),
            ),
            apps=(
                AppGrant(AppSelector("id", app1), None, "release"),
                AppGrant(AppSelector("id", app2), past, "old"),
            ),
        ),
        project_policies=(
            ProjectPolicy(
                "phi",
                PolicySelector("ids", (projects[3], projects[4])),
                ("restricted", "containsPHI"),
                "enforce",
                (PolicyException(projects[4], "vendor", past),),
            ),
        ),
        forwarding=Forwarding(True, "https://splunk.example.com/collector", "SPLUNK"),
        departed={"user-gone": Departure("user-gone", date(2026, 11, 1), "left")},
    )
    live = live_org(
        {
            **admins,
            "user-bob": member(),
            "user-carol": member(),
            "user-dave": member("ADMIN"),
            "user-eve": member(),
            "user-gone": member(),
            "user-expired": member(),
        },
        settings={"samlIdP": "old-idp"},
        existing_accounts={"user-known": "known@example.com"},
        projects=(
            LiveProject(projects[0], "audit", "VIEW"),
            LiveProject(projects[1], "done", "ADMINISTER", grant_record="CONTRIBUTE"),
            LiveProject(projects[2], "tidy", "CONTRIBUTE", grant_record="VIEW"),
            LiveProject(
                projects[3],
                "phi-3",
                "ADMINISTER",
                tags=("x",),
                settings={"restricted": False},
                version=7,
            ),
            LiveProject(projects[4], "phi-4", "ADMINISTER", tags=(), settings={}, version=None),
        ),
        apps=(
            LiveApp(app1, "tool", "1.0.0", developers=("user-root",)),
            LiveApp(
                app2, "old", "0.1.0", developers=("user-alice", "user-root"), grant_recorded=True
            ),
        ),
        forwarding=LiveForwarding("https://old.example.com", "f" * 64),
    )
    lab_desired = replace(
        desired_org(None, forwarding=Forwarding(False), manifests={"orgs/lab.yaml": "1" * 64}),
        org_id="org-lab",
        source="orgs/lab.yaml",
    )
    lab_live = replace(
        live_org(
            admins, forwarding=LiveForwarding("https://splunk.example.com/collector", "e" * 64)
        ),
        org_id="org-lab",
    )
    given_options = options(
        token_signatures={"SPLUNK": "d" * 64},
        overrides=frozenset({"budget.members", "min-admins"}),
    )
    return Plan(
        (plan_org(desired, live, given_options), plan_org(lab_desired, lab_live, given_options)),
        "2026-11-26T12:00:00Z",
        "0.0.0",
        PlatformIdentity("https://api.example.com", "user-alice"),
        overrides=("budget.members", "min-admins"),
    )


def test_the_plan_with_every_kind_has_every_kind_change_type_and_phase():
    plan = every_kind_plan()
    actions = [a for org in plan.orgs for a in org.actions]
    assert {a.kind for a in actions} == set(ActionKind)
    assert {a.phase for a in actions} == set(Phase)
    assert {type(a.change) for a in actions} == {t for ts in CHANGE_TYPES.values() for t in ts}
    assert {key.kind for a in actions for key in a.touches} == set(ObjectKind)


def test_a_plan_file_written_before_the_typed_plan_loads_and_writes_back_byte_for_byte(tmp_path):
    written = PLAN_FILES / "every-kind-3.1.json"
    loaded = load_plan(written)
    assert dumps_plan(loaded) == written.read_text(encoding="utf-8")
    # and planning the same values today writes the same file: the format did not change
    assert dumps_plan(every_kind_plan()) == written.read_text(encoding="utf-8")
    assert loaded == every_kind_plan()


# ---------------------------------------------------------------- what the file refuses


def _saved(tmp_path: Path, edit: Any) -> Path:
    data = json.loads((PLAN_FILES / "every-kind-3.1.json").read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _action(data: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(a for a in data["orgs"][0]["actions"] if a["kind"] == kind)
    return found


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: _action(d, "remove-member").update(after={"level": "MEMBER"}),
            r"at orgs/0/actions/16: before and after are not those of a remove-member action",
        ),
        (
            lambda d: _action(d, "grant-project")["after"].update(recorded="ADMINISTER"),
            r"at orgs/0/actions/9: before and after are not those of a grant-project action",
        ),
        (
            lambda d: _action(d, "promote")["after"].update(projectAccess=3),
            r"at orgs/0/actions/3: .* projectAccess 3 is not a projectAccess value",
        ),
        (
            lambda d: _action(d, "grant-app")["after"].update(recorded=1),
            r"at orgs/0/actions/10: .*other keys or values than it writes",
        ),
        (
            lambda d: d["orgs"][0]["actions"][18]["departure"].pop("since"),
            r"at orgs/0/actions/18/departure: expected the keys where, since, reason, not "
            "where, reason",
        ),
        (
            lambda d: _action(d, "update-access")["touches"].append("user:bob"),
            r"at orgs/0/actions/4/touches/1: unknown live object key 'user:bob'",
        ),
        (
            lambda d: d["orgs"][0]["fingerprints"].update({"org:x": "0" * 16}),
            r"at orgs/0/fingerprints/org:x: unknown live object key 'org:x'",
        ),
    ],
    ids=[
        "removal-with-after",
        "grant-recording-another-level",
        "flag-of-another-type",
        "one-for-true",
        "departure-without-since",
        "unknown-key",
        "org-key-with-an-id",
    ],
)
def test_a_change_the_schema_admits_but_dxorg_never_writes_is_refused_saying_where(
    tmp_path, edit, message
):
    path = _saved(tmp_path, edit)
    with pytest.raises(PlanFileError, match=rf"^{path}: not a dxorg plan: {message}"):
        load_plan(path)


def test_a_plan_of_another_major_format_is_refused_as_before(tmp_path):
    path = _saved(tmp_path, lambda d: d.update(formatVersion="2.0"))
    with pytest.raises(PlanFileError) as refused:
        load_plan(path)
    assert str(refused.value) == (
        f"{path}: plan format 2.0 is not supported (this dxorg writes {FORMAT_VERSION}): "
        "plan again with this dxorg"
    )


def test_the_schema_names_exactly_the_kinds_phases_and_budgets_of_the_types():
    action = plan_schema()["$defs"]["action"]["properties"]
    step = plan_schema()["$defs"]["step"]["properties"]
    assert sorted(action["kind"]["enum"]) == sorted(k.value for k in ActionKind)
    assert action["phase"]["enum"] == [p.value for p in Phase]
    assert step["phase"]["enum"] == [p.value for p in Phase]
    assert action["removals"]["items"]["enum"] == list(BUDGET_COLLECTIONS)


# ---------------------------------------------------------------- generated plans

text = st.text(max_size=12)
json_scalar = st.none() | st.booleans() | st.integers(-(2**31), 2**31) | text
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def accesses(draw: st.DrawFn) -> Access:
    level: Level = draw(st.sampled_from(["ADMIN", "MEMBER"]))
    values: dict[str, FlagValue] = {}
    for flag in FLAGS:
        choices: st.SearchStrategy[FlagValue] = (
            st.booleans() if flag.kind == "boolean" else st.sampled_from(PROJECT_ACCESS_LEVELS)
        )
        values[flag.name] = draw(choices)
    return Access.of(level, values)


levels = st.sampled_from(PROJECT_ACCESS_LEVELS)
developers = st.lists(text, max_size=3).map(tuple)
forwarding = st.builds(changes.ForwardingState, st.none() | text, st.none() | text)

CHANGE_STRATEGIES: dict[type[changes.Change], st.SearchStrategy[Any]] = {
    changes.MemberInvitation: st.builds(changes.MemberInvitation, accesses()),
    changes.MemberAccessChange: st.builds(changes.MemberAccessChange, accesses(), accesses()),
    changes.MemberRemoval: st.builds(changes.MemberRemoval, accesses()),
    changes.AccountChange: st.builds(changes.AccountChange, accesses(), st.booleans()),
    changes.OrgSettingChange: st.builds(changes.OrgSettingChange, text, json_value, json_value),
    changes.ProjectGrantChange: st.builds(changes.ProjectGrantChange, levels),
    changes.ProjectRevocationChange: st.builds(changes.ProjectRevocationChange, levels, levels),
    changes.GrantRecordClearing: st.builds(changes.GrantRecordClearing, levels, levels),
    changes.AppGrantChange: st.builds(changes.AppGrantChange, developers, developers),
    changes.AppRevocationChange: st.builds(changes.AppRevocationChange, developers, developers),
    changes.ProjectSettingsChange: st.builds(
        changes.ProjectSettingsChange,
        st.lists(text, unique=True, max_size=3).map(tuple),
        st.none() | st.integers(0, 2**31),
        levels,
        st.lists(text, max_size=2).map(tuple),
    ),
    changes.ForwardingSetting: st.builds(
        changes.ForwardingSetting, st.none() | forwarding, forwarding
    ),
    changes.ForwardingRemoval: st.builds(changes.ForwardingRemoval, forwarding),
}


@st.composite
def object_keys(draw: st.DrawFn) -> ObjectKey:
    kind = draw(st.sampled_from(ObjectKind))
    if kind in (ObjectKind.ORG, ObjectKind.FORWARDING):
        return ObjectKey(kind)
    return ObjectKey(kind, draw(text))


@st.composite
def actions(draw: st.DrawFn) -> Action:
    kind = draw(st.sampled_from(ActionKind))
    change = draw(st.sampled_from(CHANGE_TYPES[kind]).flatmap(CHANGE_STRATEGIES.__getitem__))
    return Action(
        id=draw(text),
        kind=kind,
        symbol=draw(st.sampled_from(["+", "~", "-"])),
        target=draw(text),
        summary=draw(text),
        reason=draw(text),
        phase=draw(st.sampled_from(Phase)),
        touches=tuple(draw(st.lists(object_keys(), max_size=3))),
        change=change,
        removals=tuple(draw(st.lists(st.sampled_from(BUDGET_COLLECTIONS), max_size=2))),
        departure=draw(
            st.none() | st.builds(DepartureCause, text, st.none() | text, st.none() | text)
        ),
        expiry=draw(st.none() | st.builds(ExpiryCause, text, text, st.none() | text)),
    )


steps = st.builds(
    Step,
    text,
    st.sampled_from(Phase),
    st.builds(
        ApiCall,
        text.map(lambda route: f"/{route}"),
        st.dictionaries(text, json_value, max_size=3),
        st.sampled_from(["api", "auth"]),
    ),
    st.lists(text, min_size=1, max_size=3).map(tuple),
    st.lists(text, max_size=2).map(tuple),
)
key_texts = object_keys().map(str)
org_plans = st.builds(
    OrgPlan,
    org_id=text.map(lambda name: f"org-{name}"),
    source=text,
    caller=text,
    actions=st.lists(actions(), max_size=3).map(tuple),
    steps=st.lists(steps, max_size=3).map(tuple),
    violations=st.lists(
        st.builds(Violation, text, text, st.none() | text, st.booleans()), max_size=2
    ).map(tuple),
    warnings=st.lists(st.builds(PlanWarning, text, text), max_size=2).map(tuple),
    fingerprints=st.dictionaries(key_texts, text, max_size=3),
    live_values=st.dictionaries(key_texts, json_value, max_size=3),
    manifests=st.dictionaries(text, st.text("0123456789abcdef", min_size=64, max_size=64)),
    left_out=st.lists(text, max_size=2).map(tuple),
    unresolved=st.lists(text, max_size=2).map(tuple),
    error=st.none() | text,
)
plans = st.builds(
    Plan,
    orgs=st.lists(org_plans, max_size=2).map(tuple),
    created_at=text,
    tool_version=text,
    platform=st.builds(PlatformIdentity, text, text, st.none() | text),
    overrides=st.lists(text, max_size=2).map(tuple),
    skip_removals=st.booleans(),
    only_expiries=st.booleans(),
    format_version=st.integers(0, 99).map(lambda minor: f"3.{minor}"),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=plans)
def test_every_plan_written_validates_against_the_schema_and_loads_back_equal(
    plan, tmp_path_factory
):
    written = dumps_plan(plan)
    jsonschema.Draft202012Validator(plan_schema()).validate(json.loads(written))
    path = tmp_path_factory.mktemp("plan") / "plan.json"
    path.write_text(written, encoding="utf-8")
    assert load_plan(path) == plan
