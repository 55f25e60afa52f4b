"""The job-log forwarding token: never one of dxorg's own credentials, and a missing one
hides nothing but forwarding.

The platform sends job logs to the manifest's URL with the forwarding token as the HEC
token, so `tokenEnv` naming (or holding) the API token or a GitHub token would hand it to
whoever wrote the URL. An unset forwarding variable leaves that org's forwarding unchecked
and unwritten; its members, policies and grants are still planned, shown and applied, and
nothing says "no changes" or "converged" while forwarding is unchecked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.action.conftest import DX_TOKEN, GH_TOKEN, HEC_TOKEN, MANIFEST
from tests.action.conftest import seed as action_seed
from tests.reliability.conftest import CliRunner, Served

# A personal access token in a variable of no special name: refused by its form.
GH_PAT = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A"
FINE_GRAINED_PAT = "github_pat_11ABCDEFG0123456789abc_" + "x" * 59
SECRETS = (DX_TOKEN, GH_TOKEN, HEC_TOKEN, GH_PAT, FINE_GRAINED_PAT)
ATTACKER = "https://attacker.example/services/collector/event"


@pytest.fixture
def served_seed() -> dict[str, Any]:
    data = action_seed()
    data["orgs"].append(
        {"id": "org-other", "name": "Other", "policies": {"memberListVisibility": "ADMIN"},
         "members": {"user-alice": {"level": "ADMIN"}}}
    )  # fmt: skip
    return data


def no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"...{secret[-6:]} leaked"


def orgs_dir(tmp_path: Path, text: str) -> Path:
    orgs = tmp_path / "orgs"
    orgs.mkdir(exist_ok=True)
    (orgs / "org-demo.yaml").write_text(text)
    return orgs


def forwarding_writes(served: Served) -> list[dict[str, Any]]:
    return [
        r
        for r in served.writes()
        if r["route"] == "/org-demo/update" and "jobLogsForwarding" in json.dumps(r.get("body"))
    ]


# ---------------------------------------------------------------- a credential by name


@pytest.mark.parametrize(
    "name", ["DX_SECURITY_CONTEXT", "GITHUB_TOKEN", "INPUT_TOKEN", "ACTIONS_RUNTIME_TOKEN",
             "RUNNER_TOKEN", "DX_APISERVER_HOST"],
)  # fmt: skip
def test_tokenenv_may_not_name_a_credential_variable(
    served: Served, cli: CliRunner, tmp_path: Path, name: str
) -> None:
    manifest = MANIFEST.replace(
        "url: https://splunk.example.com/services/collector/event", f"url: {ATTACKER}"
    ).replace("tokenEnv: SPLUNK_HEC_TOKEN", f"tokenEnv: {name}")
    orgs = orgs_dir(tmp_path, manifest)
    env = served.env(DX_TOKEN, GITHUB_TOKEN=GH_TOKEN, INPUT_TOKEN=DX_TOKEN)
    for args in (["validate"], ["plan"], ["apply", "--auto-approve"]):
        result = cli(*args, str(orgs), env=env)
        assert result.code == 1, result.text
        assert f"org-demo.yaml:13:13: jobLogsForwarding.tokenEnv: names {name}" in result.err
        no_secret(result.text)
    assert served.requests() == []  # refused before the platform was contacted


# ---------------------------------------------------------------- a credential by value


@pytest.mark.parametrize(
    "value",
    [DX_TOKEN, f"prefix-{DX_TOKEN}-suffix", GH_TOKEN, DX_TOKEN[:12], GH_PAT, FINE_GRAINED_PAT,
     f"Splunk {GH_PAT.replace('ghp_', 'gho_')}"],
    ids=["the-api-token", "contains-the-api-token", "the-github-token", "a-piece-of-it",
         "a-classic-pat-by-form", "a-fine-grained-pat-by-form", "an-oauth-token-inside"],
)  # fmt: skip
def test_tokenenv_may_not_hold_a_credential(
    served: Served, cli: CliRunner, tmp_path: Path, value: str
) -> None:
    manifest = MANIFEST.replace(
        "url: https://splunk.example.com/services/collector/event", f"url: {ATTACKER}"
    ).replace("tokenEnv: SPLUNK_HEC_TOKEN", "tokenEnv: MY_HEC")
    orgs = orgs_dir(tmp_path, manifest)
    other = tmp_path / "orgs" / "org-other.yaml"  # another org is still planned
    other.write_text("org: org-other\npolicies: {memberListVisibility: ADMIN}\n")
    env = served.env(DX_TOKEN, GITHUB_TOKEN=GH_TOKEN, MY_HEC=value)
    plan = cli("plan", str(orgs), "--format", "json", env=env)
    assert plan.code == 1, plan.text
    orgs_planned = {o["org"]: o for o in json.loads(plan.out)["orgs"]}
    error = orgs_planned["org-demo"]["error"]
    assert "tokenEnv: environment variable MY_HEC holds a credential" in error
    assert orgs_planned["org-other"]["error"] is None
    text_plan = cli("plan", str(orgs), env=env)
    assert "MY_HEC holds a credential" in text_plan.out and text_plan.code == 1
    applied = cli("apply", str(orgs), "--auto-approve", env=env)
    assert applied.code == 1 and "MY_HEC holds a credential" in applied.text
    no_secret(plan.text, text_plan.text, applied.text)
    assert served.writes() == []


def test_a_plain_hec_token_is_accepted(served: Served, cli: CliRunner, tmp_path: Path) -> None:
    orgs = orgs_dir(tmp_path, MANIFEST)
    env = served.env(DX_TOKEN, GITHUB_TOKEN=GH_TOKEN, SPLUNK_HEC_TOKEN=HEC_TOKEN)
    result = cli("plan", str(orgs), env=env)
    assert result.code == 0, result.text
    assert "forward job logs to https://splunk.example.com" in result.out


# ---------------------------------------------------------------- a missing secret is local


def test_an_unset_forwarding_token_leaves_only_forwarding_unchecked(
    served: Served, cli: CliRunner, tmp_path: Path
) -> None:
    orgs = orgs_dir(tmp_path, MANIFEST)
    env = served.env(DX_TOKEN)  # SPLUNK_HEC_TOKEN is not set
    plan = cli("plan", str(orgs), env=env)
    assert plan.code == 0, plan.text
    assert "could not be planned" not in plan.out
    # The members and policies are planned and shown; forwarding is a warning naming the variable.
    assert "update user-bob" in plan.out or "user-bob" in plan.out
    assert "memberListVisibility" in plan.out
    assert "job-log forwarding was not checked: environment variable SPLUNK_HEC_TOKEN" in plan.out
    assert "forward job logs" not in plan.out
    assert "Job-log forwarding was not checked in 1 org(s)" in plan.out
    detailed = cli("plan", str(orgs), "--detailed-exitcode", env=env)
    assert detailed.code == 2

    applied = cli("apply", str(orgs), "--auto-approve", "--journal", str(tmp_path / "j"), env=env)
    assert applied.code == 2, applied.text
    assert "org-demo: not checked: job-log forwarding was not checked" in applied.out
    assert "converged" not in applied.out
    assert forwarding_writes(served) == []
    assert served.writes(), "the rest of the org was applied"

    # Now nothing but forwarding is left: still not "no changes", still exit 2.
    again = cli("plan", str(orgs), "--detailed-exitcode", env=env)
    assert again.code == 2, again.text
    assert "No changes. The live orgs match" not in again.out
    assert "no changes (forwarding not checked)" in again.out
    nothing = cli("apply", str(orgs), "--auto-approve", "--journal", str(tmp_path / "j"), env=env)
    assert nothing.code == 2 and "not checked" in nothing.out and "converged" not in nothing.out
    # With the token, forwarding is planned and applied, and the org converges.
    env["SPLUNK_HEC_TOKEN"] = HEC_TOKEN
    done = cli("apply", str(orgs), "--auto-approve", "--journal", str(tmp_path / "j"), env=env)
    assert done.code == 0 and "Verified: converged." in done.out, done.text
    assert len(forwarding_writes(served)) == 1
    no_secret(plan.text, detailed.text, applied.text, again.text, nothing.text, done.text)


def test_a_plan_without_the_token_never_writes_forwarding_when_applied_with_it(
    served: Served, cli: CliRunner, tmp_path: Path
) -> None:
    """The reviewer saw forwarding unchecked: setting the token for apply neither refuses
    the reviewed changes nor sends an unreviewed forwarding call."""
    orgs = orgs_dir(tmp_path, MANIFEST)
    plan_file = tmp_path / "plan.json"
    saved = cli("plan", str(orgs), "--out", str(plan_file), env=served.env(DX_TOKEN))
    assert saved.code == 0, saved.text
    applied = cli(
        "apply", "--plan", str(plan_file), "--auto-approve", "--journal", str(tmp_path / "j"),
        env=served.env(DX_TOKEN, SPLUNK_HEC_TOKEN=HEC_TOKEN),
    )  # fmt: skip
    assert applied.code == 2, applied.text
    assert "not checked" in applied.out and "converged" not in applied.out
    assert forwarding_writes(served) == []
    assert served.writes()
    journal = [json.loads(line) for line in (tmp_path / "j").read_text().splitlines()]
    verify = next(e for e in journal if e["event"] == "verify")
    assert verify["converged"] is False and verify["unchecked"]
    no_secret(applied.text, plan_file.read_text())
