"""Issue 18, item 7: every read is bounded, and a bound that is hit names the URL, where
it was configured, and the setting; the org is then not planned and nothing is written.

- a listing that hands out a fresh cursor with every (empty) page ends at the page ceiling;
- one that hands out fresh rows with every page ends at the row ceiling (memory);
- SIGTERM to `dxorg plan` while such a listing pages on ends it at once (exit 143);
- a body trickling in a byte at a time ends at the request deadline (wall time);
- an answer over the size limit is abandoned while it streams, declared or not;
- a server that accepts and never answers ends at the request deadline, naming the URL.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from reconciler.emulator import Emulator
from reconciler.errors import TransportError
from reconciler.manifest import load_fleet
from reconciler.platform import PlatformLimits, ReadClient, RetryPolicy, discover
from reconciler.read_and_plan import plan_fleet
from tests.integration.conftest import base_seed
from tests.reliability.conftest import CliRunner
from tests.reliability.hostile_server import hostile, huge, silent, trickle

MANIFEST = """\
org: org-demo
members:
  mode: additive
  users:
    alice: ADMIN
    dave: MEMBER
"""
FAST = RetryPolicy(max_attempts=1, max_total_seconds=0)


def env_for(port: int) -> dict[str, str]:
    return {
        "DX_APISERVER_PROTOCOL": "http",
        "DX_APISERVER_HOST": "127.0.0.1",
        "DX_APISERVER_PORT": str(port),
        "DX_SECURITY_CONTEXT": '{"auth_token_type":"Bearer","auth_token":"alice-token"}',
    }


def named_source(message: str, port: int) -> None:
    assert f"http://127.0.0.1:{port}" in message
    assert "port from the environment variable DX_APISERVER_PORT" in message


class EndlessMembers(httpx.BaseTransport):
    """The emulator, except that findMembers answers empty pages with a fresh cursor
    (for `give_up_after` pages: then the listing ends, so an unbounded reader finishes)."""

    def __init__(self, inner: httpx.BaseTransport, give_up_after: int = 300, rows: int = 0) -> None:
        self.inner, self.pages, self.give_up_after = inner, 0, give_up_after
        self.rows = rows  # fresh member rows on every page

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/findMembers"):
            return self.inner.handle_request(request)
        self.pages += 1
        cursor = None if self.pages >= self.give_up_after else {"after": uuid.uuid4().hex}
        results = [
            {"id": f"user-z{self.pages}x{k}", "level": "MEMBER", "allowBillableActivities": False,
             "appAccess": True, "projectAccess": "VIEW"}
            for k in range(self.rows)
        ]  # fmt: skip
        return httpx.Response(200, json={"results": results, "next": cursor})


def test_fresh_cursors_forever_end_at_the_page_ceiling(tmp_path: Path) -> None:
    (tmp_path / "org-demo.yaml").write_text(MANIFEST)
    fleet = load_fleet([tmp_path])
    emulator = Emulator(seed=base_seed())
    endless = EndlessMembers(emulator.transport())
    config = discover(env=env_for(4321), global_conf_dir=None)
    limits = PlatformLimits(max_pages=5)
    with ReadClient(config, transport=endless, retry=FAST, limits=limits) as client:
        plan = plan_fleet(fleet, client, env={})
    (org,) = plan.orgs
    # Fails closed: the org is not planned (an error, no actions), after exactly the ceiling.
    assert org.error is not None and not org.actions
    assert "did not end within 5 pages (DXORG_MAX_PAGES)" in org.error
    named_source(org.error, 4321)
    assert endless.pages == 5
    emulator.close()


def test_fresh_rows_forever_end_at_the_row_ceiling(tmp_path: Path) -> None:
    (tmp_path / "org-demo.yaml").write_text(MANIFEST)
    fleet = load_fleet([tmp_path])
    emulator = Emulator(seed=base_seed())
    endless = EndlessMembers(emulator.transport(), rows=1000)
    config = discover(env=env_for(4321), global_conf_dir=None)
    limits = PlatformLimits(max_rows=2500)  # the page ceiling is far off
    with ReadClient(config, transport=endless, retry=FAST, limits=limits) as client:
        plan = plan_fleet(fleet, client, env={})
    (org,) = plan.orgs
    assert org.error is not None and not org.actions
    assert "has more than 2500 rows (DXORG_MAX_ROWS)" in org.error
    named_source(org.error, 4321)
    assert endless.pages == 3  # read no further than the page that crossed the ceiling
    emulator.close()


@contextmanager
def endless_members_proxy(upstream: str) -> Iterator[tuple[int, list[int], threading.Event]]:
    """A server on loopback that forwards to `upstream`, except that findMembers answers
    empty pages with a fresh cursor forever. Yields its port, the count of such pages (a
    list of one) and an event set once 20 have been served."""
    pages, paging = [0], threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.endswith("/findMembers"):
                pages[0] += 1
                if pages[0] >= 20:
                    paging.set()
                status, data = 200, json.dumps({"results": [], "next": uuid.uuid4().hex})
                answer = data.encode()
            else:
                headers = {k: v for k, v in self.headers.items() if k.lower() == "authorization"}
                forwarded = httpx.post(upstream + self.path, content=body, headers=headers)
                status, answer = forwarded.status_code, forwarded.content
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), pages, paging
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("command", "attempt"), [("plan", i) for i in range(4)] + [("report", 0)])
def test_sigterm_ends_a_read_only_command_while_a_listing_pages_on(
    tmp_path: Path, command: str, attempt: int
) -> None:
    # Repeated: before the workers left signals to the main thread, some runs hung (the
    # kernel gave SIGTERM to another thread while the main thread slept in an untimed wait;
    # test_worker_threads.py shows that case deterministically).
    (tmp_path / "org-demo.yaml").write_text(MANIFEST)
    emulator = Emulator(seed=base_seed())
    with emulator.serve(port=0) as upstream, endless_members_proxy(upstream.url) as proxied:
        port, _, paging = proxied
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DX_", "SPLUNK"))}
        (tmp_path / "conf").mkdir()
        env.update(env_for(port), DX_USER_CONF_DIR=str(tmp_path / "conf"))
        env["DXORG_MAX_PAGES"] = "1000000"  # only the signal can end this listing
        dxorg = str(Path(sys.executable).parent / "dxorg")
        process = subprocess.Popen(
            [dxorg, command, str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert paging.wait(60), "the listing never started paging"
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 143, out + err
        # A read-only command never writes: its message does not speak of applying.
        assert "Terminated (SIGTERM)." in err and "applied" not in err
        assert "Traceback" not in err
    emulator.close()


def test_a_trickling_body_ends_at_the_request_deadline() -> None:
    with hostile(trickle(seconds=6)) as server:
        config = discover(env=env_for(server.port), global_conf_dir=None)
        limits = PlatformLimits(request_deadline=0.5)
        started = time.monotonic()
        with (
            ReadClient(config, retry=FAST, limits=limits) as client,
            pytest.raises(TransportError) as raised,
        ):
            client.whoami()
        elapsed = time.monotonic() - started
    # Bytes kept coming (never 0.5 s apart), yet the request ended at its deadline.
    assert elapsed < 2.5, elapsed
    message = str(raised.value)
    assert "/system/whoami" in message
    assert "within 0.5 s of sending (DXORG_REQUEST_DEADLINE_SECONDS)" in message
    named_source(message, server.port)


@pytest.mark.parametrize("declare", [True, False], ids=["content-length", "chunked"])
def test_an_answer_over_the_size_limit_is_abandoned_while_it_streams(declare: bool) -> None:
    total = 48 * 1024 * 1024
    with hostile(huge(total, declare=declare)) as server:
        config = discover(env=env_for(server.port), global_conf_dir=None)
        limits = PlatformLimits(max_response_bytes=1024 * 1024)
        with (
            ReadClient(config, retry=FAST, limits=limits) as client,
            pytest.raises(TransportError) as raised,
        ):
            client.whoami()
    message = str(raised.value)
    assert "larger than 1048576 bytes (DXORG_MAX_RESPONSE_BYTES)" in message
    named_source(message, server.port)
    # Not read to the end: the client hung up long before the server had sent it all.
    assert server.bytes_sent < total / 2


def test_a_server_that_never_answers_ends_plan_at_the_deadline_naming_the_url(
    cli: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "org-demo.yaml").write_text(MANIFEST)
    with hostile(silent(seconds=8)) as server:
        env = {
            **env_for(server.port),
            "DX_USER_CONF_DIR": str(tmp_path / "conf"),
            "DXORG_REQUEST_DEADLINE_SECONDS": "0.5",
            "DXORG_MAX_RETRY_SECONDS": "0.2",
        }
        started = time.monotonic()
        result = cli("plan", str(tmp_path), env=env)
        elapsed = time.monotonic() - started
    assert result.code == 1, result.text
    assert elapsed < 4, elapsed
    assert "/system/whoami" in result.err
    assert "DXORG_REQUEST_DEADLINE_SECONDS" in result.err
    named_source(result.err, server.port)
    assert "Traceback" not in result.text
