"""Issue 18, items 2 and 3, end to end: a member renames themselves through the platform's
API (user-xxxx/update, as any user may), then the Action plans. The PR comment, the job
summary and the drift issue, rendered as CommonMark (markdown-it-py), still show every
removal and API call; the runner (its parser, modelled in tests.as_seen) runs no
workflow command from the name."""

from __future__ import annotations

import httpx
import pytest

from reconciler.platform.routes import READ_METHODS
from tests.action.conftest import DX_TOKEN, GH_TOKEN, HEC_TOKEN, PR_NUMBER, Action, Platform
from tests.as_seen import assert_plan_markdown, workflow_commands

# Item 2: an HTML comment opened at the end of the name swallows what follows it.
SWALLOW = "Eve\n\n<!--"
# Item 3: lines of their own in the text plan the Action logs.
COMMANDS = (
    "Eve\n::add-mask::user-carol\n::notice title=Reviewed::no removals in this plan\n"
    "##[warning]fake\n::stop-commands::x\n"
)
# The provenance line links the workflow run: dxorg's own link.
RUN_LINKS = ("https://github.example/acme/org-manifests/actions/runs/",)
OTHERS = "Eve ``` </details> [approve](https://evil.example) @acme/admins | x |\r"


def rename(platform: Platform, user: str, first: str) -> None:
    """The member themselves, with their own token: no admin involved."""
    response = httpx.post(
        f"{platform.url}/{user}/update",
        json={"first": first},
        headers={"Authorization": f"Bearer {user.removeprefix('user-')}-token"},
    )
    response.raise_for_status()


def commands_run(log: str) -> list[tuple[str, str]]:
    """The workflow commands a runner would run from the log, other than dxorg's own."""
    own = {"group", "endgroup", "stop-commands", "error", "warning"}
    secrets = {DX_TOKEN, GH_TOKEN, HEC_TOKEN}
    return [
        (name, data)
        for name, data in workflow_commands(log)
        if name not in own and not (name == "add-mask" and data in secrets)
    ]


@pytest.mark.parametrize("name", [SWALLOW, COMMANDS, OTHERS], ids=["comment", "commands", "more"])
def test_a_members_name_hides_nothing_in_the_comment_the_summary_or_the_log(
    action: Action, github, platform: Platform, name: str
) -> None:
    rename(platform, "user-eve", name)
    result = action.run("plan", sha="1111111111aaaa")
    assert result.code == 0, result.log
    [comment] = github.comments_on(PR_NUMBER)
    assert_plan_markdown(comment["body"], ["user-eve"], RUN_LINKS)
    assert "#### Removals (2)" in comment["body"]
    assert_plan_markdown(result.summary, ["user-eve"], RUN_LINKS)
    assert commands_run(result.log) == []
    plan_lines = [line for line in result.log.split("\n") if line.startswith("  - remove ")]
    assert len(plan_lines) == 1 and plan_lines[0].startswith("  - remove user-eve (Eve")
    assert all(c["route"].rsplit("/", 1)[-1] in READ_METHODS for c in platform.calls()[1:])


def test_a_members_name_hides_nothing_in_the_drift_issue(
    action: Action, github, platform: Platform
) -> None:
    rename(platform, "user-eve", SWALLOW + COMMANDS)
    result = action.run("drift", event="schedule", sha="d1d1d1d1d1d1")
    assert result.code == 0, result.log
    [issue] = [i for i in github.issues.values() if i["state"] == "open"]
    assert "\n" not in issue["title"]
    assert_plan_markdown(issue["body"], ["user-eve"], RUN_LINKS)
    assert_plan_markdown(result.summary, ["user-eve"], RUN_LINKS)
    assert commands_run(result.log) == []
