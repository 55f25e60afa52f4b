"""The action as a runner runs it: `main(env=...)` with the ``INPUT_*`` and ``GITHUB_*``
variables, against the dxorg emulator over loopback HTTP (the fake DNAnexus) and an
in-memory GitHub served on loopback (the fake GitHub). The working directory is a fresh
checkout-like folder holding ``orgs/``.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulator import Emulator
from reconciler.github_action import main
from reconciler.platform.routes import READ_METHODS
from tests.action.fake_github import FakeGitHub, serve
from tests.emulator_harness import EmulatorControl
from tests.integration.conftest import CONTROL_TOKEN, base_seed

# Known secrets, searched for in everything the action writes.
DX_TOKEN = "dx-tok-alice-6b1f0c9e2d"
GH_TOKEN = "ghs_fakeWorkflowToken7Qz"
HEC_TOKEN = "hec-4f1c-very-secret"
SECRETS = (DX_TOKEN, GH_TOKEN, HEC_TOKEN)
ROOT_TOKEN = "dx-tok-root-0a9d"
PR_NUMBER = 42

MANIFEST = """\
org: org-demo
policies: {memberListVisibility: MEMBER}
members:
  mode: authoritative
  users:
    alice: ADMIN
    root: ADMIN
    bob: {level: MEMBER, projectAccess: VIEW}
    carol: MEMBER
    dave: MEMBER
jobLogsForwarding:
  url: https://splunk.example.com/services/collector/event
  tokenEnv: SPLUNK_HEC_TOKEN
"""


def seed(extra_users: int = 0) -> dict[str, Any]:
    data = base_seed()
    for user in data["users"]:
        user["token"] = {"alice": DX_TOKEN, "root": ROOT_TOKEN}.get(
            user["id"].removeprefix("user-"), user["token"]
        )
    for i in range(extra_users):
        data["users"].append(
            {"id": f"user-u{i:04d}", "first": "U", "last": f"{i}", "email": f"u{i}@example.com"}
        )
    return data


class Platform(EmulatorControl):
    """The emulator over HTTP, with its request log and a way to change the org by hand."""

    def __init__(self, url: str, port: int) -> None:
        super().__init__(url=url, token=CONTROL_TOKEN)
        self.url, self.port = url, port
        self.control = self.http  # the raw control plane, as some tests here use it

    def calls(self) -> list[dict[str, Any]]:
        return self.requests()

    def write_calls(self) -> list[dict[str, Any]]:
        return [c for c in self.calls() if c["route"].rsplit("/", 1)[-1] not in READ_METHODS]

    def call_as_root(self, route: str, body: dict[str, Any]) -> Any:
        """A change made by someone else, outside dxorg (the live org moving on)."""
        response = httpx.post(
            f"{self.url}{route}", json=body, headers={"Authorization": f"Bearer {ROOT_TOKEN}"}
        )
        response.raise_for_status()
        return response.json()


@dataclass
class Result:
    code: int
    log: str
    summary: str
    outputs: dict[str, str]

    def texts(self) -> list[str]:
        """Everything a person could read, except the runner's ::add-mask:: commands."""
        log = "\n".join(
            line for line in self.log.splitlines() if not line.startswith("::add-mask::")
        )
        return [log, self.summary, *self.outputs.values()]


def parse_outputs(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT in the heredoc form: name<<DELIM / value / DELIM (last one wins)."""
    outputs: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = re.fullmatch(r"([A-Za-z0-9_-]+)<<(\S+)", lines[i])
        assert match, f"not heredoc output syntax: {lines[i]!r}"
        name, delimiter = match.groups()
        end = lines.index(delimiter, i + 1)
        outputs[name] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return outputs


class Action:
    """Runs the action's entry point the way the runner would, one step at a time."""

    def __init__(self, root: Path, platform: Platform, github: FakeGitHub) -> None:
        self.root = root
        self.platform = platform
        self.github = github
        self.runs = 0
        self.conf_dir = Path(tempfile.mkdtemp(dir=root))

    def write_manifest(self, text: str, name: str = "org-demo.yaml") -> Path:
        path = self.root / "orgs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def env(self, command: str, *, event: str, sha: str, inputs: dict[str, str]) -> dict[str, str]:
        self.runs += 1
        step = self.root / "runner" / f"step-{self.runs}"
        step.mkdir(parents=True)
        payload: dict[str, Any] = {}
        if event in ("pull_request", "pull_request_target"):
            payload = {
                "number": PR_NUMBER,
                "pull_request": {"number": PR_NUMBER, "head": {"sha": sha}},
            }
        (step / "event.json").write_text(json.dumps(payload))
        (step / "summary.md").touch()
        (step / "output").touch()
        env = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_API_URL": self.github.url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": self.github.repository,
            "GITHUB_EVENT_NAME": event,
            "GITHUB_EVENT_PATH": str(step / "event.json"),
            "GITHUB_STEP_SUMMARY": str(step / "summary.md"),
            "GITHUB_OUTPUT": str(step / "output"),
            "GITHUB_SHA": sha,
            "GITHUB_RUN_ID": str(1000 + self.runs),
            "RUNNER_TEMP": str(step),
            "HOME": str(self.conf_dir),
            "DX_USER_CONF_DIR": str(self.conf_dir),
            "DXORG_MAX_RETRY_SECONDS": "2",
            "SPLUNK_HEC_TOKEN": HEC_TOKEN,
            "INPUT_COMMAND": command,
            "INPUT_PATH": "orgs",
            "INPUT_TOKEN": DX_TOKEN,
            "INPUT_APISERVER_HOST": "127.0.0.1",
            "INPUT_APISERVER_PORT": str(self.platform.port),
            "INPUT_APISERVER_PROTOCOL": "http",
            "INPUT_GITHUB_TOKEN": GH_TOKEN,
            "INPUT_JOURNAL": str(self.root / "journal.jsonl"),
        }
        for name, value in inputs.items():
            env[f"INPUT_{name.upper().replace('-', '_')}"] = value
        return env

    def run(
        self,
        command: str,
        env_changes: Mapping[str, str | None] | None = None,
        /,
        *,
        event: str = "pull_request",
        sha: str = "a1b2c3d4e5f6a7b8",
        **inputs: str,
    ) -> Result:
        """`env_changes`: variables to set (or, with None, to unset) beyond the defaults."""
        env = self.env(command, event=event, sha=sha, inputs=inputs)
        for name, value in (env_changes or {}).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        out = io.StringIO()
        code = main(env=env, stdout=out)
        return Result(
            code=code,
            log=out.getvalue(),
            summary=Path(env["GITHUB_STEP_SUMMARY"]).read_text(),
            outputs=parse_outputs(Path(env["GITHUB_OUTPUT"]).read_text()),
        )


@pytest.fixture
def platform_seed() -> dict[str, Any]:
    return seed()


@pytest.fixture
def platform(tmp_path: Path, platform_seed: dict[str, Any]) -> Iterator[Platform]:
    emulator = Emulator(
        state_path=tmp_path / "state.db", seed=platform_seed, control_token=CONTROL_TOKEN
    )
    with emulator.serve(port=0) as server:
        yield Platform(server.url, server.port)
    emulator.close()


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with serve(FakeGitHub(token=GH_TOKEN)) as fake:
        yield fake


@pytest.fixture
def action(
    tmp_path: Path, platform: Platform, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> Action:
    root = tmp_path / "checkout"
    root.mkdir()
    monkeypatch.chdir(root)  # the runner's workspace: paths in plans are relative to it
    act = Action(root, platform, github)
    act.write_manifest(MANIFEST)
    return act


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"a secret leaked: ...{secret[:6]}..."
