"""The Action's plan and apply read the same journals: the state directory's own
(journal.jsonl, where apply writes when the `journal` input is not given) and those
restored beside it. Before the command layer, the Action's plan left the state
directory's journal out while its apply read it, so on a runner that keeps its state
directory (self-hosted), an apply stopped after `/user/new` could not be resumed: the
plan refused the account it could not show was dxorg's, the apply would have adopted it.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.action.test_journal_branch import PROVISION, newbie_calls


def test_a_stopped_provisioning_is_resumed_from_the_state_directory_journal(
    action, platform, tmp_path
):
    action.write_manifest(PROVISION)
    state = tmp_path / "runner-state"
    keep = {
        # /user/new goes to the auth server, which the emulator serves too.
        "DX_AUTHSERVER_HOST": "http://127.0.0.1",
        "DX_AUTHSERVER_PORT": str(platform.port),
        "DXORG_STATE_DIR": str(state),
        "INPUT_JOURNAL": None,  # apply's journal: journal.jsonl in the state directory
    }
    planned = action.run("plan", keep, event="push", comment="false")
    assert planned.code == 0, planned.log
    # The org invite fails on every try: the run ends after /user/new answered.
    platform.control.post(
        "/rules",
        json={"route": "/org-demo/invite", "fault": "500", "count": 1000, "retryAfter": 0},
    ).raise_for_status()
    stopped = action.run("apply", keep, event="push", **{"plan-file": planned.outputs["plan-file"]})
    platform.control.post("/faults/clear").raise_for_status()
    assert stopped.code == 1, stopped.log
    assert (state / "journal.jsonl").is_file()
    created, invited = newbie_calls(platform)
    assert len(created) == 1 and invited == []

    resumed_plan = action.run("plan", keep, event="push", comment="false")
    assert resumed_plan.code == 0, resumed_plan.log
    [org] = json.loads(Path(resumed_plan.outputs["plan-file"]).read_text())["orgs"]
    assert [a["kind"] for a in org["actions"]] == ["invite-member"]

    resumed = action.run(
        "apply", keep, event="push", **{"plan-file": resumed_plan.outputs["plan-file"]}
    )
    assert resumed.code == 0, resumed.log
    created, invited = newbie_calls(platform)
    assert len(created) == 1 and len(invited) == 1
