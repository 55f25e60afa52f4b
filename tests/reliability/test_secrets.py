"""Secrets: one run of every command and output format, success and failure, with known
API and Splunk tokens, and neither token anywhere a person or a file could see it:
stdout, stderr, plan files, the journal, exported manifests, every log record at DEBUG
(dxorg's, httpx's, the emulator's), the GitHub Action's log, job summary, outputs,
comments and issues, and the platform's own request log and state.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulator import Emulator
from tests.action.conftest import DX_TOKEN, GH_TOKEN, HEC_TOKEN, MANIFEST, ROOT_TOKEN, Action
from tests.action.conftest import Platform as ActionPlatform
from tests.action.conftest import seed as action_seed
from tests.action.fake_github import FakeGitHub, serve
from tests.action.test_report import commit
from tests.emulator.sandbox import Api
from tests.integration.conftest import CONTROL_TOKEN
from tests.reliability.conftest import CliRunner, Served

WRONG_TOKEN = "dx-tok-wrong-5d0c7e"  # a token that is refused: still a secret
OTHER_HEC = "hec-other-secret-71aa"
SECRETS = (DX_TOKEN, HEC_TOKEN, ROOT_TOKEN, WRONG_TOKEN, OTHER_HEC, GH_TOKEN)


def leaks(text: str) -> list[str]:
    return [f"...{s[-6:]}" for s in SECRETS if s in text]


@pytest.fixture
def served_seed() -> dict[str, Any]:
    return action_seed()


def test_no_token_in_any_output_file_log_or_record(
    served: Served,
    cli: CliRunner,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the root included
    orgs = tmp_path / "orgs"
    orgs.mkdir()
    (orgs / "org-demo.yaml").write_text(MANIFEST)
    plan_file, journal = tmp_path / "plan.json", tmp_path / "journal.jsonl"
    env = served.env(DX_TOKEN, SPLUNK_HEC_TOKEN=HEC_TOKEN)
    texts: list[str] = []
    codes: dict[str, int] = {}

    def run(name: str, *args: str, **extra: str) -> None:
        result = cli(*args, env={**env, **extra})
        codes[name] = result.code
        texts.append(result.text)

    run("validate", "validate", str(orgs))
    for fmt in ("text", "markdown", "json"):
        run(f"plan-{fmt}", "plan", str(orgs), "--format", fmt, "--out", str(plan_file))
    texts.append(plan_file.read_text())
    run("plan-detailed", "plan", str(orgs), "--detailed-exitcode")
    # The Splunk token changed between plan and apply: that call is refused, naming the
    # variable only; the next apply (planned afresh) makes it.
    run("apply-other-hec", "apply", "--plan", str(plan_file), "--auto-approve",
        "--journal", str(journal), SPLUNK_HEC_TOKEN=OTHER_HEC)  # fmt: skip
    run("apply", "apply", str(orgs), "--auto-approve", "--journal", str(journal))
    run("export", "export", "org-demo")
    run("export-all", "export", "--all", "-o", str(tmp_path / "exported"))
    texts += [p.read_text() for p in (tmp_path / "exported").iterdir()]
    # Failures: refused token, unset Splunk variable, stale plan, unreachable platform,
    # a security context that is not JSON.
    run("wrong-token", "plan", str(orgs), DX_SECURITY_CONTEXT=json.dumps(
        {"auth_token_type": "Bearer", "auth_token": WRONG_TOKEN}))  # fmt: skip
    run("hec-unset", "plan", str(orgs), SPLUNK_HEC_TOKEN="")
    served.emulator.control.reset()  # back to the seed: something to plan again
    run("plan-again", "plan", str(orgs), "--out", str(plan_file))
    with httpx.Client(
        base_url=served.url, headers={"Authorization": f"Bearer {ROOT_TOKEN}"}
    ) as root:
        root.post(
            "/org-demo/setMemberAccess", json={"user-bob": {"level": "ADMIN"}}
        ).raise_for_status()
    run(
        "apply-stale",
        "apply",
        "--plan",
        str(plan_file),
        "--auto-approve",
        "--journal",
        str(journal),
    )
    run("unreachable", "plan", str(orgs), DX_APISERVER_PORT="9")
    run("bad-context", "plan", str(orgs), DX_SECURITY_CONTEXT='{"auth_token": "' + DX_TOKEN)
    texts.append(journal.read_text())

    assert codes == {
        "validate": 0, "plan-text": 0, "plan-markdown": 0, "plan-json": 0, "plan-detailed": 2,
        "apply-other-hec": 1, "apply": 0, "export": 0, "export-all": 0,
        "wrong-token": 1, "hec-unset": 0, "plan-again": 0, "apply-stale": 1, "unreachable": 1,
        "bad-context": 1,
    }  # fmt: skip
    assert "the token is not the one the plan was made with" in texts[6]
    assert "InvalidAuthentication" in "".join(texts)
    assert '"call-done"' in texts[-1] and '"$env": "SPLUNK_HEC_TOKEN"' in texts[-1]

    # The GitHub Action's commands, on the same platform.
    with serve(FakeGitHub(token=GH_TOKEN)) as github:
        checkout = tmp_path / "checkout"
        checkout.mkdir()
        monkeypatch.chdir(checkout)
        action = Action(checkout, ActionPlatform(served.url, served.port), github)
        action.write_manifest(MANIFEST.replace("carol: MEMBER", "carol: ADMIN"))
        action_results = [action.run("validate"), action.run("plan")]
        action_results.append(
            action.run(
                "apply", event="push", **{"plan-file": action_results[-1].outputs["plan-file"]}
            )
        )
        action.write_manifest(
            MANIFEST.replace("carol: MEMBER", "carol: {level: MEMBER, appAccess: false}")
        )
        action_results.append(action.run("drift", event="schedule"))
        action_results.append(action.run("plan", org=DX_TOKEN))  # an error quoting the token
        # The report's approval evidence reads GitHub with the token: the Action's, and the
        # CLI's (GITHUB_TOKEN) in every format, accepted and refused.
        sha = commit(checkout, "Manage org-demo", "Ada Admin <ada@example.com>")
        github.add_pull(1, "ada-gh", [sha], merged_at="2026-11-21T09:00:00Z")
        action_results.append(action.run("report", event="schedule", sha=sha))
        texts += [p.read_text() for p in Path(action_results[-1].outputs["report-dir"]).iterdir()]
        for fmt in ("markdown", "csv", "json", "html"):
            for token, name in ((GH_TOKEN, fmt), (GH_TOKEN + "-refused", f"{fmt}-refused")):
                # A retry budget for GitHub's reads, not the suite's 0.5 s: a connection
                # the fake server closed under load is asked again, not evidence lost.
                run(f"report-{name}", "report", str(checkout / "orgs"), "--format", fmt,
                    "--github-repo", github.repository, DXORG_MAX_RETRY_SECONDS="30",
                    GITHUB_API_URL=github.url, GITHUB_TOKEN=token)  # fmt: skip
        github_bodies = [json.dumps(r.body) for r in github.requests]
    assert [r.code for r in action_results] == [0, 0, 0, 0, 1, 0]
    assert {codes[f"report-{fmt}"] for fmt in ("markdown", "csv", "json", "html")} == {0}
    assert "PR #1 by ada-gh" in texts[-2]  # the evidence was read with the token
    assert "Bad credentials" in texts[-1]  # the refused token: the evidence is unavailable
    for result in action_results:
        texts += result.texts()
    texts += github_bodies
    texts.append((checkout / "journal.jsonl").read_text())

    # What the platform kept: the request log and the state (the token only as its sha256).
    texts.append(json.dumps(served.requests()))
    texts.append(json.dumps(served.control.get("/state").json()))
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]

    assert len(caplog.records) > 100, "DEBUG logging was on"
    for text in texts:
        assert leaks(text) == [], text[:3000]


def test_the_emulator_never_stores_or_echoes_a_token(tmp_path: Path) -> None:
    """A token sent as a forwarding token, or as a bad bearer token, is not in any answer."""
    with Emulator(
        state_path=tmp_path / "state.db", seed=action_seed(), control_token=CONTROL_TOKEN
    ) as emu:
        api = Api(emu)
        answer = api.call(DX_TOKEN, "/org-demo/update", {
            "jobLogsForwarding": {"url": "https://splunk.example.com/x", "token": HEC_TOKEN}})  # fmt: skip
        assert answer.status_code == 200
        refused = api.call(WRONG_TOKEN, "/org-demo/describe", {})
        assert refused.status_code == 401
        described = api.call(DX_TOKEN, "/org-demo/describe", {})
        texts = [answer.text, refused.text, described.text, json.dumps(api.state()),
                 json.dumps(api.control("GET", "requests"))]  # fmt: skip
    texts += [p.read_bytes().decode("latin-1") for p in tmp_path.glob("state.db*")]
    assert "tokenSignature" in described.text
    for text in texts:
        assert HEC_TOKEN not in text and WRONG_TOKEN not in text
