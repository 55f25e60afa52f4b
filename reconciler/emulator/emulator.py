"""The Emulator: one state store, its fault injector, request log and control plane, and
the WSGI app over them; reachable in-process (httpx transport) or over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from reconciler.emulator import app_api, org_api, project_api, system_api, user_api
from reconciler.emulator.app import EmulatorApp
from reconciler.emulator.clock import EmulatorClock, now_ms
from reconciler.emulator.control import ControlPlane
from reconciler.emulator.faults import FaultInjector
from reconciler.emulator.request_log import RequestLog
from reconciler.emulator.routing import method_table
from reconciler.emulator.seed import SeedSource, load_seed, read_seed
from reconciler.emulator.store import MEMORY, Store, is_empty, wipe
from reconciler.emulator.transport import EmulatorTransport

DEFAULT_CONTROL_TOKEN = "emulator-control"


class EmulatorRequestHandler(WSGIRequestHandler):
    """The app sends its own Date header, from the emulated platform's clock: the one the
    standard library would add (this machine's time) is left out, so there is one."""

    def send_response(self, code: int, message: str | None = None) -> None:
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Server", self.version_string())


class QuietRequestHandler(EmulatorRequestHandler):
    """No access log line per request (tests and benchmarks make thousands)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@dataclass
class RunningServer:
    """A server started by `Emulator.serve()`; `url` has no trailing slash."""

    host: str
    port: int
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


class Emulator:
    """A local DNAnexus API.

    `seed` (a mapping, or a YAML/JSON path) is loaded only into an empty state, unless
    `reset` wipes the state first. `state_path` ``":memory:"`` keeps everything in memory.
    """

    def __init__(
        self,
        state_path: str | Path = MEMORY,
        seed: SeedSource | None = None,
        reset: bool = False,
        control_token: str = DEFAULT_CONTROL_TOKEN,
        *,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        if not control_token:
            raise ValueError("the control token must not be empty")
        seed_data = None if seed is None else read_seed(seed)
        # The platform's clock: `clock` plus the offset the control plane may set.
        self.clock = EmulatorClock(clock)
        self.store = Store(state_path)
        # Whether this start loaded the seed (False when the state already held data).
        self.seed_loaded = False
        with self.store.transaction(write=True) as conn:
            if reset:
                wipe(conn)
            if seed_data is not None and is_empty(conn):
                load_seed(conn, seed_data, self.clock())
                self.seed_loaded = True
        self.faults = FaultInjector()
        self.log = RequestLog()
        self.control = ControlPlane(self.store, self.faults, self.log, seed_data, self.clock)
        self.wsgi_app = EmulatorApp(
            store=self.store,
            methods=method_table(
                system_api.METHODS,
                user_api.METHODS,
                org_api.METHODS,
                project_api.METHODS,
                app_api.METHODS,
            ),
            faults=self.faults,
            log=self.log,
            control=self.control,
            control_token=control_token,
            clock=self.clock,
        )

    def transport(self) -> httpx.BaseTransport:
        """In-process transport: ``httpx.Client(transport=emu.transport(), base_url=...)``."""
        return EmulatorTransport(self.wsgi_app)

    def start(self, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True) -> RunningServer:
        """Serve real HTTP on a background thread until `RunningServer.stop()`."""
        server = make_server(
            host,
            port,
            self.wsgi_app,
            threaded=True,
            request_handler=QuietRequestHandler if quiet else EmulatorRequestHandler,
        )
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"dxorg-emulator-{server.port}",
            daemon=True,
        )
        thread.start()
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return RunningServer(shown_host, server.port, server, thread)

    @contextmanager
    def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True
    ) -> Iterator[RunningServer]:
        running = self.start(host, port, quiet=quiet)
        try:
            yield running
        finally:
            running.stop()

    def close(self) -> None:
        self.faults.release_hung_calls()
        self.store.close()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
