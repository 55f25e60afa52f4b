"""The Action runs `dxorg doctor` before `plan` and puts its report in the job summary;
`command: doctor` runs it alone. Read-only either way."""

from __future__ import annotations

from tests.action.conftest import assert_no_secret


def test_doctor_command_reports_to_the_job_summary_and_writes_nothing(action, platform):
    result = action.run("doctor")
    assert result.code == 0, result.log
    assert result.summary.startswith("## dxorg doctor")
    assert "✅ **Doctor: " in result.summary
    assert "- ✅ **admin**: user-alice is an ADMIN of org-demo\n" in result.summary
    assert result.outputs["summary"].startswith("Doctor: ")
    assert "ready to plan" in result.outputs["summary"]
    assert platform.write_calls() == []
    assert_no_secret(*result.texts())


def test_plan_runs_the_doctor_first_and_both_are_in_the_summary(action, platform):
    result = action.run("plan")
    assert result.code == 0, result.log
    doctor, plan = result.summary.index("## dxorg doctor"), result.summary.index("## dxorg plan")
    assert doctor < plan
    assert "::group::dxorg doctor" in result.log
    assert platform.write_calls() == []


def test_a_platform_failure_stops_the_plan_with_the_remedy_in_the_summary(action, platform):
    result = action.run("plan", token="not-a-valid-token")
    assert result.code == 1
    assert "## dxorg plan" not in result.summary
    assert "- ❌ **token**: the token from the token input is not valid" in result.summary
    assert "  - remedy: get a new API token" in result.summary
    assert "::error::doctor: platform: token: the token from the token input" in result.log
    assert result.outputs["summary"].startswith("Doctor: ")
    assert result.outputs["plan-file"] == ""
    assert platform.write_calls() == []


def test_an_orgs_own_failure_is_left_to_the_plan_and_fails_the_step(action, platform):
    result = action.run("plan", token="bob-token")  # bob is a MEMBER of org-demo
    assert result.code == 1
    assert (
        "- ❌ **admin**: user-bob is not an ADMIN of org-demo (level: MEMBER)\n" in result.summary
    )
    assert "use the token of an ADMIN of org-demo" in result.summary
    assert "::error::doctor: org-demo: admin: user-bob is not an ADMIN of org-demo" in result.log
    assert result.summary.index("## dxorg doctor") < result.summary.index("## dxorg plan")
    assert platform.write_calls() == []
