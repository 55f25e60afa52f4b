"""Issue 24's smaller items, each as a new user met it (in-process CLI, embedded sandbox)."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from reconciler.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "orgs"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert isinstance(exited.value.code, int)
    return exited.value.code, captured.out, captured.err


@pytest.fixture(autouse=True)
def _hec_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLUNK_HEC_TOKEN", "demo-hec-token")


def test_the_missing_token_error_names_only_ways_that_exist(capsys, tmp_path, monkeypatch):
    for name in ("DX_SECURITY_CONTEXT", "DX_APISERVER_HOST", "DX_APISERVER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DX_USER_CONF_DIR", str(tmp_path / "no-conf"))
    code, _, err = run(capsys, "plan", str(EXAMPLES))
    assert code == 1
    assert "no API token configured" in err
    assert "token option" not in err  # dxorg has none
    assert "DX_SECURITY_CONTEXT" in err and "dx login" in err


def test_a_tab_in_a_manifest_is_called_a_tab(capsys, tmp_path):
    manifest = tmp_path / "orgs" / "org-demo.yaml"
    manifest.parent.mkdir()
    manifest.write_text("org: org-demo\nmembers:\n\tmode: additive\n\tusers: {}\n")
    code, _, err = run(capsys, "validate", str(manifest.parent))
    assert code == 1
    assert f"{manifest.parent / 'org-demo.yaml'}:3:1: invalid YAML: a tab character" in err
    assert "spaces" in err


def test_emulator_serve_on_a_busy_port_leaves_nothing_behind(capsys, tmp_path):
    state = tmp_path / "state" / "sandbox.db"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run(capsys, "emulator", "serve", "--port", str(port), "--state", str(state))
    assert code == 1
    assert "in use" in err
    assert not state.exists()
    assert not state.with_name("sandbox.db.control-token").exists()
    assert list(state.parent.iterdir()) == []


def test_the_terminal_plan_shows_every_call_whole_labelled_by_what_it_does(capsys):
    code, out, _ = run(capsys, "plan", str(EXAMPLES), "--sandbox")
    assert code == 0
    calls = [line.strip() for line in out.splitlines() if re.match(r"\s+org-\w+#\d+ \[", line)]
    assert calls
    for line in calls:
        # POST route [auth server]? {body} (after ...)?: the body is whole, valid JSON.
        body = re.sub(r" \(after [^)]*\)$", "", line.split(" POST ", 1)[1]).split(" ", 1)[1]
        body = body.removeprefix("[auth server] ")
        json.loads(body)
        assert "chars)" not in line
    labels = {line.split(" POST ")[0]: line for line in calls}
    # A promotion is not an invitation; a self-grant is not an org setting.
    assert any("[promote]" in k and '"level":"ADMIN"' in v for k, v in labels.items())
    assert any("[grant-project]" in k and "/invite" in v for k, v in labels.items())
    assert not any("[invite]" in k or "[org]" in k for k in labels)


def test_top_level_help_shows_every_command_description_whole(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # what a CI log or a default terminal gives
    code, out, _ = run(capsys, "--help")
    assert code == 0
    commands = out.split("Commands:", 1)[1]
    assert "..." not in commands
    for name in ("plan", "apply", "export", "init", "report", "validate", "emulator"):
        assert re.search(rf"^  {name} +\S", commands, re.MULTILINE), name


def test_a_plan_where_every_org_failed_does_not_say_no_changes(capsys, tmp_path):
    manifest = tmp_path / "orgs" / "org-nothere.yaml"
    manifest.parent.mkdir()
    manifest.write_text(
        "org: org-nothere\nmembers:\n  mode: additive\n  users:\n    alice: ADMIN\n"
    )
    code, out, _ = run(capsys, "plan", str(manifest.parent), "--sandbox")
    assert code == 1
    summary = out.rstrip().splitlines()[-1]
    assert "No changes" not in summary
    assert summary.startswith("No org could be planned (1 org(s)")
