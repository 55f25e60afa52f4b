"""The `allowed-orgs` input: a branch cannot point the token at another org it administers.

The token (alice, an ADMIN of org-demo and of org-other) plans and applies only the orgs
the workflow names. A manifest naming another org is refused at its `org:` field before
the platform is asked anything, and apply refuses a plan that includes one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.action.conftest import seed

OTHER = "org: org-other\nmembers:\n  mode: additive\n  users:\n    dave: MEMBER\n"


@pytest.fixture
def platform_seed() -> dict[str, Any]:
    data = seed()
    other = json.loads(json.dumps(data["orgs"][0]))
    other["id"], other["name"] = "org-other", "Other"
    other.pop("jobLogsForwarding", None)
    data["orgs"].append(other)
    return data


def about_other(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in calls if "org-other" in json.dumps(c)]


def test_plan_refuses_a_manifest_naming_an_org_outside_the_allowlist(action, platform):
    action.write_manifest(OTHER, "org-other.yaml")
    # Without the allowlist the token plans org-other too: the request log shows it read.
    assert action.run("plan", comment="false").code == 0
    assert about_other(platform.calls())
    before = len(platform.calls())

    for command in ("plan", "validate", "drift"):
        result = action.run(command, comment="false", **{"allowed-orgs": "org-demo"})
        assert result.code == 1, result.log
        assert "::error file=orgs/org-other.yaml,line=1,col=6::" in result.log
        assert "org: org-other is not one of the orgs this repository manages" in result.log
        assert "(allowed-orgs: org-demo)" in result.log
        assert "no-changes" not in result.outputs.get("summary", "")
    # Nothing at all was asked of the platform, least of all about org-other.
    assert platform.calls()[before:] == []


def test_an_allowed_fleet_plans_as_before(action, platform):
    action.write_manifest(OTHER, "org-other.yaml")
    result = action.run("plan", comment="false", **{"allowed-orgs": "org-demo, org-other"})
    assert result.code == 0, result.log


def test_apply_refuses_a_plan_that_includes_an_org_outside_the_allowlist(action, platform):
    action.write_manifest(OTHER.replace("dave", "bob: ADMIN\n    dave"), "org-other.yaml")
    planned = action.run("plan", comment="false")  # a plan made without the allowlist
    assert planned.code == 0, planned.log
    plan = json.loads(Path(planned.outputs["plan-file"]).read_text())
    assert {o["org"] for o in plan["orgs"] if o["actions"]} == {"org-demo", "org-other"}
    before = len(platform.calls())

    for only in ("", "org-demo"):  # even when only an allowed org of it is to be applied
        result = action.run(
            "apply",
            event="push",
            org=only,
            **{"plan-file": planned.outputs["plan-file"], "allowed-orgs": "org-demo"},
        )
        assert result.code == 1, result.log
        assert "org-other (orgs/org-other.yaml: org), not in the allowed-orgs input" in result.log
        assert "nothing applied" in result.log
    assert platform.calls()[before:] == []
    assert platform.write_calls() == []


def test_apply_never_applies_an_org_its_reviewed_plan_did_not_include(action, platform):
    planned = action.run("plan", comment="false")
    assert planned.code == 0, planned.log
    action.write_manifest(OTHER, "org-other.yaml")
    before = len(platform.calls())
    result = action.run(
        "apply",
        event="push",
        org="org-other",
        **{"plan-file": planned.outputs["plan-file"], "allowed-orgs": "org-demo org-other"},
    )
    assert result.code == 1, result.log
    assert "org-other not in the reviewed plan" in result.log
    assert platform.calls()[before:] == []
