"""An API token is checked before any request: surrounding whitespace (a newline from a
file, jq or a CI variable) is dropped, and a token no HTTP header can carry (non-ASCII, a
line break or control character inside) is a clear error naming where it came from. In
neither case does the token, or any piece of it, reach the output: through `main()`, the
installed console script, or the GitHub Action's entry point.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.github_action import main as action_main
from tests.action.conftest import Action, parse_outputs
from tests.action.conftest import Platform as ActionPlatform
from tests.action.fake_github import FakeGitHub, serve
from tests.reliability.conftest import API_TOKEN, CliRunner, Served

DXORG = str(Path(sys.executable).parent / "dxorg")
MANIFEST = """\
org: org-demo
members:
  mode: additive
  users:
    alice: ADMIN
    dave: {level: MEMBER, projectAccess: VIEW}
"""
# Distinctive, so that no 5-character piece of it is in any output by chance.
CORE = "Qz7xWv3Kp9Lm2Rt8Hy4N"
BAD = {
    "non-ASCII": (CORE[:10] + "é" + CORE[10:], "non-ASCII character"),
    "line break inside": (CORE[:10] + "\n" + CORE[10:], "control character"),
    "escape sequence": ("\x1b[2J" + CORE, "control character"),
    "no-break space": (CORE + "\u00a0", "non-ASCII character"),
}


def context(token: str) -> str:
    return json.dumps({"auth_token_type": "Bearer", "auth_token": token})


def pieces(size: int = 5) -> list[str]:
    return [CORE[i : i + size] for i in range(len(CORE) - size + 1)]


def assert_no_piece_of_the_token(*texts: str) -> None:
    for text in texts:
        assert "Bearer" not in text and "Illegal header" not in text, text
        assert [p for p in pieces() if p in text] == [], text


@pytest.fixture
def orgs(tmp_path: Path) -> Path:
    directory = tmp_path / "orgs"
    directory.mkdir()
    (directory / "org-demo.yaml").write_text(MANIFEST)
    return directory


# ---------------------------------------------------------------- the CLI, in process


@pytest.mark.parametrize("padding", ["\n", "\r\n", "  \t", "\n\n"])
def test_a_token_with_surrounding_whitespace_works(
    served: Served, cli: CliRunner, orgs: Path, padding: str
) -> None:
    result = cli(
        "plan", str(orgs), env=served.env(DX_SECURITY_CONTEXT=context(API_TOKEN + padding))
    )
    assert result.code == 0, result.text
    assert API_TOKEN not in result.text and "Bearer" not in result.text
    calls = [r for r in served.requests() if r["httpMethod"] == "POST"]
    # Every API call authenticated with the stripped token.
    assert calls and {r["caller"] for r in calls} == {"user-alice"}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_token_no_header_can_carry_is_refused_before_any_request(
    served: Served, cli: CliRunner, orgs: Path, name: str
) -> None:
    token, kind = BAD[name]
    for command in (
        ["plan", str(orgs)],
        ["apply", str(orgs), "--auto-approve"],
        ["export", "org-demo"],
    ):
        result = cli(*command, env=served.env(DX_SECURITY_CONTEXT=context(token)))
        assert result.code == 1, result.text
        assert result.err.startswith(
            "error: the API token from the environment variable DX_SECURITY_CONTEXT contains a "
        ), result.err
        assert kind in result.err and "Traceback" not in result.text
        assert_no_piece_of_the_token(result.text)
    assert served.requests() == []


def test_a_bad_token_in_a_config_file_names_the_file(
    served: Served, cli: CliRunner, orgs: Path, tmp_path: Path
) -> None:
    conf = tmp_path / "dxconf"
    conf.mkdir()
    (conf / "environment.json").write_text(
        json.dumps({"DX_SECURITY_CONTEXT": context(BAD["non-ASCII"][0])})
    )
    env = served.env(DX_USER_CONF_DIR=str(conf))
    del env["DX_SECURITY_CONTEXT"]
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DX_SECURITY_CONTEXT", raising=False)
        result = cli("plan", str(orgs), env=env)
    assert result.code == 1
    assert f"the API token from DX_SECURITY_CONTEXT in {conf / 'environment.json'}" in result.err
    assert_no_piece_of_the_token(result.text)
    assert served.requests() == []


# ---------------------------------------------------------------- the console script


def test_the_installed_command_refuses_a_bad_token_and_accepts_a_padded_one(
    served: Served, orgs: Path
) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DX")}
    for name in ("non-ASCII", "line break inside"):
        env = {**base, **served.env(DX_SECURITY_CONTEXT=context(BAD[name][0]))}
        done = subprocess.run(
            [DXORG, "plan", str(orgs)], env=env, capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 1, done.stdout + done.stderr
        assert "the environment variable DX_SECURITY_CONTEXT" in done.stderr
        assert "Traceback" not in done.stderr
        assert_no_piece_of_the_token(done.stdout, done.stderr)
    assert served.requests() == []
    env = {**base, **served.env(DX_SECURITY_CONTEXT=context(API_TOKEN + "\n"))}
    done = subprocess.run(
        [DXORG, "plan", str(orgs)], env=env, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert API_TOKEN not in done.stdout + done.stderr


# ---------------------------------------------------------------- the GitHub Action


def run_action(action: Action, **extra_env: str) -> tuple[int, list[str]]:
    env = action.env("plan", event="push", sha="a1b2c3d4e5f6a7b8", inputs={})
    env.update(extra_env)
    out = io.StringIO()
    code = action_main(env=env, stdout=out)
    log = "\n".join(
        line for line in out.getvalue().splitlines() if not line.startswith("::add-mask::")
    )
    outputs = parse_outputs(Path(env["GITHUB_OUTPUT"]).read_text())
    return code, [log, Path(env["GITHUB_STEP_SUMMARY"]).read_text(), *outputs.values()]


def test_the_action_refuses_a_bad_token_from_its_input_or_the_environment(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "checkout"
    root.mkdir()
    monkeypatch.chdir(root)
    with serve(FakeGitHub(token="ghs_tokenCheckTest")) as github:
        action = Action(root, ActionPlatform(served.url, served.port), github)
        action.write_manifest(MANIFEST)
        for name in ("non-ASCII", "line break inside"):
            token = BAD[name][0]
            # The `token` input (the Action strips the input's own padding) ...
            code, texts = run_action(action, INPUT_TOKEN=token)
            assert code == 1
            assert "the API token from the token input contains a" in texts[0]
            assert_no_piece_of_the_token(*texts)
            # ... and DX_SECURITY_CONTEXT, which the Action does not know is a secret.
            code, texts = run_action(action, INPUT_TOKEN="", DX_SECURITY_CONTEXT=context(token))
            assert code == 1
            assert "the API token from the environment variable DX_SECURITY_CONTEXT" in texts[0]
            assert_no_piece_of_the_token(*texts)
        assert served.requests() == []
        code, texts = run_action(
            action, INPUT_TOKEN="", DX_SECURITY_CONTEXT=context(API_TOKEN + "\n")
        )
        assert code == 0, texts[0]
        assert all(API_TOKEN not in text for text in texts)
        assert github.requests == []
