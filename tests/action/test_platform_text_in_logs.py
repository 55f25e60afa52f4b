"""Finding 09: the platform's error message in a log record (a read given up after its
retries) reaches the terminal and the Action's log as one visible line: no escape
sequence, no line of its own that a runner would run as a workflow command."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reconciler.cli import main as cli_main
from tests.action.conftest import Action
from tests.as_seen import screen, workflow_commands

# Clears the screen, then fakes an annotation and an old-form warning on lines of their own.
MESSAGE = "busy\x1b[2J\x1b[H\n::error title=dxorg::all orgs converged\n##[warning]x"


@contextmanager
def platform_failing(message: str) -> Iterator[int]:
    """A platform (or a proxy in front of it) that answers every call 500 with `message`:
    counted failures, so each read gives up after its retries (a 503 is waited out)."""

    class Busy(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"error": {"type": "InternalError", "message": message}}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def assert_inert(stream: str) -> None:
    assert "\x1b" not in stream, stream
    assert workflow_commands(stream) == [], stream
    # What a terminal shows: the plan's lines are not wiped, no row starts a command.
    assert not [row for row in screen(stream) if row.lstrip().startswith(("::", "##["))]


def test_a_read_given_up_logs_the_platform_message_inert_on_stderr(
    action: Action, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with platform_failing(MESSAGE) as port:
        env = action.env("plan", event="push", sha="a1b2", inputs={})
        monkeypatch.setenv(
            "DX_SECURITY_CONTEXT",
            json.dumps({"auth_token_type": "Bearer", "auth_token": "alice-token"}),
        )
        for name in ("DX_USER_CONF_DIR", "DXORG_MAX_RETRY_SECONDS"):
            monkeypatch.setenv(name, env[name])
        monkeypatch.setattr("sys.argv", ["dxorg", "plan", "orgs", "--apiserver-protocol",
                                         "http", "--apiserver-host", "127.0.0.1",
                                         "--apiserver-port", str(port)])  # fmt: skip
        with pytest.raises(SystemExit) as exit_code:
            cli_main()
    captured = capsys.readouterr()
    assert exit_code.value.code == 1
    assert "giving up on /system/whoami: " in captured.err, captured.err
    assert "busy\\x1b[2J\\x1b[H\\n::error title=dxorg::all orgs converged" in captured.err
    assert_inert(captured.err)
    assert_inert(captured.out)


def test_a_read_given_up_logs_the_platform_message_inert_in_the_action_log(
    action: Action, capsys: pytest.CaptureFixture[str]
) -> None:
    with platform_failing(MESSAGE) as port:
        result = action.run("plan", {"INPUT_APISERVER_PORT": str(port)}, event="push")
    captured = capsys.readouterr()
    assert result.code == 1
    # The record is a line of the step's log (stdout), not Python's raw stderr.
    giving_up = [line for line in result.log.split("\n") if line.startswith("giving up on ")]
    assert giving_up, result.log
    assert "::error title=dxorg::all orgs converged" in giving_up[0]
    own = {"group", "endgroup", "stop-commands", "error", "warning", "add-mask"}
    ran = [(name, data) for name, data in workflow_commands(result.log) if name not in own]
    assert ran == [], ran
    # dxorg's own annotation of the failure quotes the message escaped, in its data.
    assert not [d for n, d in workflow_commands(result.log) if n == "error" and "\n" in d]
    assert not [line for line in result.log.split("\n") if line.startswith("::error title=")]
    assert "\x1b" not in result.log
    assert_inert(captured.err)
