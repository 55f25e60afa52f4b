"""A bad DXORG_MAX_RETRY_SECONDS is the same clear error, exit 1, from the CLI and the
Action, before anything is sent."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reconciler.github_action import main as action_main
from tests.action.conftest import Action
from tests.action.conftest import Platform as ActionPlatform
from tests.action.fake_github import FakeGitHub, serve
from tests.reliability.conftest import CliRunner, Served

MANIFEST = "org: org-demo\nmembers:\n  mode: additive\n  users:\n    alice: ADMIN\n"
MESSAGE = "DXORG_MAX_RETRY_SECONDS='-5': expected a number of seconds, 0 or more (e.g. 120)"


def test_cli_and_action_report_a_bad_budget_alike(
    served: Served, cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    orgs = tmp_path / "orgs"
    orgs.mkdir()
    (orgs / "org-demo.yaml").write_text(MANIFEST)
    result = cli("plan", str(orgs), env=served.env(DXORG_MAX_RETRY_SECONDS="-5"))
    assert (result.code, result.err.strip()) == (1, f"error: {MESSAGE}")

    root = tmp_path / "checkout"
    root.mkdir()
    monkeypatch.chdir(root)
    with serve(FakeGitHub(token="ghs_budgetTest")) as github:
        action = Action(root, ActionPlatform(served.url, served.port), github)
        action.write_manifest(MANIFEST)
        env = action.env("plan", event="push", sha="a1b2c3d4e5f6a7b8", inputs={})
        env["DXORG_MAX_RETRY_SECONDS"] = "-5"
        out = io.StringIO()
        assert action_main(env=env, stdout=out) == 1
    assert MESSAGE in out.getvalue()
    assert served.requests() == []
