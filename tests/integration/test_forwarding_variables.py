"""Each org's forwarding token has its own variable: export and init never give two orgs
one (org-lab.a and org-lab_a would both be SPLUNK_HEC_TOKEN_LAB_A), and validate refuses
one variable for two forwarding URLs (a token would be sent to a URL it was not issued
for), naming both files and lines."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

SEED = """users:
  - {id: user-alice, first: Alice, last: Smith, email: alice@example.com, token: alice-token}
orgs:
  - id: org-lab.a
    name: Lab A
    jobLogsForwarding: {url: "https://a.example/services/collector/event", token: tok-a}
    members: {user-alice: {level: ADMIN}}
  - id: org-lab_a
    name: Lab A2
    jobLogsForwarding: {url: "https://b.example/services/collector/event", token: tok-b}
    members: {user-alice: {level: ADMIN}}
  - id: org-demo
    name: Demo
    jobLogsForwarding: {url: "https://d.example/services/collector/event", token: tok-d}
    members: {user-alice: {level: ADMIN}}
"""


@pytest.fixture
def run(run_cli, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DXORG_STATE_DIR", raising=False)  # these tests are about the default
    return run_cli


def _token_env(path: Path) -> str:
    return str(yaml.safe_load(path.read_text())["jobLogsForwarding"]["tokenEnv"])


def test_names_are_distinct_and_plain_where_nothing_clashes():
    from reconciler.manifest.export import token_env_names

    names = token_env_names(["org-lab.a", "org-lab_a", "org-demo"])
    assert names["org-demo"] == "SPLUNK_HEC_TOKEN_DEMO"
    assert len(set(names.values())) == 3
    for org_id in ("org-lab.a", "org-lab_a"):
        assert names[org_id].startswith("SPLUNK_HEC_TOKEN_LAB_A_")
    assert token_env_names(["org-lab_a", "org-lab.a"]) == token_env_names(
        ["org-lab.a", "org-lab_a"]
    )


@pytest.mark.parametrize("command", ["init", "export"])
def test_export_and_init_give_each_org_its_own_variable(run, tmp_path, command):
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    target = tmp_path / "cfg"
    args = ["init", str(target)] if command == "init" else ["export", "--all", "-o", str(target)]
    sandbox = ["--sandbox", "--sandbox-seed", str(seed), "--sandbox-state", str(tmp_path / "s.db")]
    done = run(*args, *sandbox)
    assert done.code == 0, done.err
    orgs = target / "orgs" if command == "init" else target
    names = {p.name: _token_env(p) for p in orgs.glob("org-*.yaml")}
    assert len(names) == 3 and len(set(names.values())) == 3, names
    assert run("validate", str(orgs)).code == 0
    if command == "init":
        workflow = (target / ".github" / "workflows" / "dxorg-plan.yml").read_text()
        for name in names.values():
            assert f"{name}: ${{{{ secrets.{name} }}}}" in workflow


def _manifest(org: str, url: str, token_env: str) -> str:
    return f"org: {org}\njobLogsForwarding:\n  url: {url}\n  tokenEnv: {token_env}\n"


def test_validate_refuses_one_variable_for_two_forwarding_urls(run, tmp_path):
    orgs = tmp_path / "orgs"
    orgs.mkdir()
    (orgs / "org-a.yaml").write_text(_manifest("org-a", "https://a.example/x", "SPLUNK_SHARED"))
    (orgs / "org-b.yaml").write_text(_manifest("org-b", "https://b.example/x", "SPLUNK_SHARED"))
    refused = run("validate", str(orgs))
    assert refused.code == 1
    said = refused.out + refused.err
    assert f"{orgs / 'org-b.yaml'}:4:" in said
    assert f"SPLUNK_SHARED is also the token of {orgs / 'org-a.yaml'}:4" in said
    assert "https://a.example/x" in said and "https://b.example/x" in said
    # The same variable for the same URL (one collector, one token) is fine.
    (orgs / "org-b.yaml").write_text(_manifest("org-b", "https://a.example/x", "SPLUNK_SHARED"))
    assert run("validate", str(orgs)).code == 0
