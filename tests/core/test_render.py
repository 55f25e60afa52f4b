from __future__ import annotations

import json

import jsonschema
import pytest

from reconciler.errors import DxorgError
from reconciler.model import Budget, SafetySettings
from reconciler.plan import Plan, PlatformIdentity
from reconciler.plan_file import (
    MAX_PLAN_BYTES,
    dumps_plan,
    load_plan,
    plan_schema,
    plan_to_json,
)
from reconciler.planner import plan_org
from reconciler.render.markdown import render_markdown, render_org_markdown
from reconciler.render.text import render_text, styled_text
from tests.core.builders import desired_org, live_org, member, options, want

ADMINS = {"user-alice": member("ADMIN"), "user-root": member("ADMIN")}


def sample_plan(n_members: int = 3, *, strict: bool = False) -> Plan:
    live = live_org(
        {**ADMINS, **{f"user-m{i}": member() for i in range(n_members)}, "user-gone": member()}
    )
    members = {u: want(u, "ADMIN") for u in ADMINS} | {
        f"user-m{i}": want(f"user-m{i}", project="VIEW") for i in range(n_members)
    }
    members["user-new"] = want("user-new")
    safety = SafetySettings(budgets={"members": Budget(count=0)} if strict else {})
    org = plan_org(desired_org(members, safety=safety, name="New name"), live, options())
    return Plan(
        orgs=(org,),
        created_at="2026-11-26T10:00:00+00:00",
        tool_version="0.1.0",
        platform=PlatformIdentity("https://api.dnanexus.com", "user-admin"),
    )


def test_text_groups_by_org_with_symbols_reasons_calls_and_summary():
    text = render_text(sample_plan())
    assert text.startswith(
        "Platform: https://api.dnanexus.com as user-admin\n\norg-demo  (orgs/demo.yaml, as user-alice)"
    )
    assert "  + invite user-new as MEMBER" in text
    assert "  ~ update user-m0: projectAccess CONTRIBUTE -> VIEW" in text
    assert "  - remove user-gone (MEMBER) from org-demo" in text
    assert "why: not listed in orgs/demo.yaml, whose members.mode is authoritative" in text
    assert "org-demo#1 [invite-member] POST /org-demo/invite" in text
    assert text.rstrip().endswith("Plan: 1 to add, 4 to change, 1 to remove.")
    assert "\x1b[" not in text


def test_styled_text_is_the_same_text_with_a_style_per_kind_of_line():
    styled = styled_text(sample_plan())
    assert styled.plain == render_text(sample_plan())
    style_of_symbol = {}
    for span in styled.spans:
        line = styled.plain[span.start : span.end]
        if line[:3] in ("  +", "  ~", "  -"):
            style_of_symbol[line[2]] = span.style
    assert style_of_symbol == {"+": "green", "~": "yellow", "-": "red"}


def test_text_shows_violations_and_says_the_plan_cannot_be_applied():
    text = render_text(sample_plan(strict=True))
    assert "! budget.members: the plan removes 1 from members; the count limit is 0" in text
    assert "violate safety rails: the plan cannot be applied" in text


def test_markdown_puts_counts_first_and_removals_and_violations_in_their_own_sections():
    (part,) = render_markdown(sample_plan(strict=True))
    assert part.index("Plan: 1 to add") < part.index("#### ⛔ Safety violations")
    # Lowering access is a removal too: three projectAccess cuts and one member.
    assert "#### Removals (4)" in part and "`-` remove user-gone" in part
    assert "<details><summary>All changes (6)</summary>" in part
    assert "cannot be applied" in part


def test_markdown_splits_large_plans_into_parts_under_the_limit():
    plan = sample_plan(3000)
    parts = render_org_markdown(plan.orgs[0], limit=20_000)
    assert len(parts) > 2
    assert all(len(p) <= 20_000 for p in parts)
    assert parts[0].endswith(f"*Part 1 of {len(parts)}*")
    joined = "\n".join(parts)
    assert all(f"update user-m{i}:" in joined for i in range(3000)), (
        "splitting must not drop changes"
    )


def test_json_plan_validates_and_round_trips(tmp_path):
    plan = sample_plan(strict=True)
    data = plan_to_json(plan)
    jsonschema.Draft202012Validator(plan_schema()).validate(data)
    assert data["applyable"] is False and data["counts"] == {"add": 1, "change": 4, "remove": 1}
    path = tmp_path / "plan.json"
    path.write_text(dumps_plan(plan))
    assert load_plan(path) == plan


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ('{"formatVersion": "3.0"}', "not a dxorg plan"),
        ('{"formatVersion": "1.0"}', "plan format 1.0 is not supported"),
        # 2.x plans name no platform: nothing to bind them to.
        ('{"formatVersion": "2.0"}', "plan format 2.0 is not supported"),
        (json.dumps({**plan_to_json(sample_plan()), "formatVersion": "4.0"}), "not supported"),
        ("[]", "not a dxorg plan"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"formatVersion": "3.0", "orgs": ' + "[" * 100_000, "nested too deeply"),
    ],
)
def test_a_bad_plan_file_is_refused_with_its_name(tmp_path, content, message):
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(DxorgError, match=message) as caught:
        load_plan(path)
    assert str(path) in str(caught.value)


def test_a_plan_file_far_bigger_than_any_plan_is_refused_unread(tmp_path):
    path = tmp_path / "plan.json"
    with path.open("wb") as handle:  # sparse: no disk is used
        handle.truncate(MAX_PLAN_BYTES + 1)
    with pytest.raises(DxorgError, match="a plan file may be at most 256 MiB") as caught:
        load_plan(path)
    assert str(path) in str(caught.value)
