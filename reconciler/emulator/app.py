"""The WSGI application: body limits, JSON parsing, faults, auth, dispatch, errors, logging.

Every response is JSON with a correct Content-Length and an ``X-Request-ID`` header;
business errors are 4xx ``{"error": {"type", "message"}}``; a 5xx only ever comes from an
injected fault, a database that stayed busy (503), or a bug (500, logged with traceback).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import math
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.http import http_date
from werkzeug.wrappers import Request, Response

from reconciler.emulator.access import record_admin_count
from reconciler.emulator.api_errors import (
    ApiError,
    InternalError,
    InvalidAuthentication,
    InvalidInput,
    MalformedJSON,
    MethodNotAllowed,
    RateLimitConditional,
    RequestTooLarge,
    ResourceNotFound,
    ServiceUnavailable,
)
from reconciler.emulator.control import ControlPlane
from reconciler.emulator.faults import FaultDecision, FaultInjector
from reconciler.emulator.inputs import Fields
from reconciler.emulator.request_log import LoggedCall, RequestLog
from reconciler.emulator.routing import Call, Method, Route, parse_route
from reconciler.emulator.store import Store

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_JSON_DEPTH = 64
# SQLite integers are signed 64-bit; larger ones must be refused, not crash a bind.
INT_RANGE = (-(2**63), 2**63 - 1)
CONTROL_PREFIX = "/_emulator"

logger = logging.getLogger("reconciler.emulator")


class ConnectionDropped(ConnectionAbortedError):
    """Raised out of the WSGI app to end the call with no response at all.

    werkzeug's server treats a ConnectionError as a dropped client and stays quiet; the
    in-process transport turns it into the httpx error a real socket would give.
    """


class BoundedRequest(Request):
    # werkzeug refuses a larger Content-Length before reading (RequestEntityTooLarge), and
    # stops a chunked body there; one byte of slack tells "too long" from "exactly full".
    max_content_length = MAX_BODY_BYTES + 1


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, allow_nan=False, separators=(",", ":"))
    response = Response(body, status=status, content_type="application/json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def error_response(error: ApiError, headers: Mapping[str, str] | None = None) -> Response:
    return json_response(error.status, error.body(), headers)


def read_body(request: Request) -> tuple[bytes, ApiError | None]:
    too_large = RequestTooLarge(f"The request body exceeds {MAX_BODY_BYTES} bytes")
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return b"", too_large
    except ClientDisconnected:
        return b"", MalformedJSON("The request body ended early")
    if len(data) > MAX_BODY_BYTES:
        return b"", too_large
    return data, None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def check_json_values(value: Any) -> None:
    """Depth, integer range and valid Unicode, checked without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise InvalidInput(f"The input is nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(item, dict):
            for key, child in item.items():
                check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            check_text(item)
        elif (
            isinstance(item, int)
            and not isinstance(item, bool)
            and not INT_RANGE[0] <= item <= INT_RANGE[1]
        ):
            raise InvalidInput("The input holds an integer outside the 64-bit range")


def check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput("The input holds a string that is not valid Unicode") from exc


def parse_json(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJSON("The request body is not valid UTF-8") from exc
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        raise MalformedJSON(f"The request body is not valid JSON: {str(exc)[:200]}") from exc


def parse_json_object(request: Request, data: bytes) -> dict[str, Any]:
    """The method input: absent or application/json content type, a JSON object (or empty)."""
    if request.headers.get("Content-Type") is not None and request.mimetype != "application/json":
        raise MalformedJSON("The Content-Type must be application/json")
    if not data.strip():
        return {}
    value = parse_json(data)
    if not isinstance(value, dict):
        raise InvalidInput("The input must be a JSON object")
    check_json_values(value)
    return value


def bearer_token(request: Request) -> str:
    header = request.headers.get("Authorization")
    if not header:
        raise InvalidAuthentication("No authentication token was provided")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidAuthentication("Only 'Authorization: Bearer <token>' is supported")
    return token.strip()


def redacted(body: Any) -> Any:
    """The body as logged: a job-log forwarding token is a secret even in a test log."""
    if isinstance(body, dict) and isinstance(body.get("jobLogsForwarding"), dict):
        forwarding = dict(body["jobLogsForwarding"])
        if "token" in forwarding:
            forwarding["token"] = "<redacted>"
        return {**body, "jobLogsForwarding": forwarding}
    return body


def loggable_body(data: bytes) -> Any:
    if not data.strip():
        return {}
    try:
        return redacted(parse_json(data))
    except ApiError:
        return f"<{len(data)} bytes, not JSON>"


def drop_connection(environ: WSGIEnvironment) -> None:
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise ConnectionDropped("connection dropped by the emulator (injected fault)")


def is_busy(error: sqlite3.OperationalError) -> bool:
    """Locked or busy past busy_timeout: another writer held the file too long."""
    text = str(error).lower()
    return "locked" in text or "busy" in text


def injected_error(decision: FaultDecision) -> tuple[ApiError, dict[str, str]]:
    message = "Injected fault: the emulator refused the call before processing it"
    if decision.kind == "503":
        return ServiceUnavailable(message), {"Retry-After": str(decision.retry_after)}
    if decision.kind == "429":
        return RateLimitConditional(message), {"Retry-After": str(decision.retry_after)}
    return InternalError(message), {}


@dataclass
class CallTrace:
    """What the log needs to know about a call as it goes."""

    caller: str | None = None


class EmulatorApp:
    """The WSGI callable. Owns nothing: the Emulator passes in its parts."""

    def __init__(
        self,
        *,
        store: Store,
        methods: Mapping[tuple[str, str], Method],
        faults: FaultInjector,
        log: RequestLog,
        control: ControlPlane,
        control_token: str,
        clock: Callable[[], int],
    ) -> None:
        self.store = store
        self.methods = methods
        self.faults = faults
        self.log = log
        self.control = control
        self.control_token = control_token
        self.clock = clock

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = BoundedRequest(environ)
        request_id = uuid.uuid4().hex
        path = request.path
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            response = self.handle_control(request)
        else:
            response = self.handle_api(request, environ, request_id)
        response.headers["X-Request-ID"] = request_id
        # Like any HTTP server; from the platform's clock, which dxorg decides expiry by.
        response.headers["Date"] = http_date(self.clock() / 1000)
        return response(environ, start_response)

    # -- control plane
    def handle_control(self, request: Request) -> Response:
        try:
            token = bearer_token(request)
            if not hmac.compare_digest(token.encode(), self.control_token.encode()):
                raise InvalidAuthentication("The /_emulator endpoints need the control token")
            body: Any = None
            if request.method == "POST":
                data, read_error = read_body(request)
                if read_error is not None:
                    raise read_error
                body = parse_json_object(request, data)
            result = self.control.dispatch(request.method, request.path, body, request.args)
            return json_response(200, result)
        except ApiError as error:
            return error_response(error)
        except Exception:
            logger.exception("control request %s %s failed", request.method, request.path)
            return error_response(InternalError("The control request failed; see the server log"))

    # -- API
    def handle_api(self, request: Request, environ: WSGIEnvironment, request_id: str) -> Response:
        seq = self.log.next_seq()
        started = time.monotonic()
        path = request.path
        route = parse_route(path)
        data, read_error = read_body(request)
        decision = self.faults.decide(path)
        if decision.latency_ms:
            time.sleep(decision.latency_ms / 1000)
        trace = CallTrace()

        def record(status: int | None, error_type: str | None) -> None:
            self.log.record(
                LoggedCall(
                    seq=seq,
                    at=self.clock(),
                    request_id=request_id,
                    http_method=request.method,
                    route=path,
                    method=None if route is None else route.method_name,
                    status=status,
                    fault=decision.kind or ("latency" if decision.latency_ms else None),
                    caller=trace.caller,
                    error_type=error_type,
                    body=loggable_body(data),
                    duration_ms=(time.monotonic() - started) * 1000,
                )
            )

        # Injected failures are decided before processing: the call does not land.
        if decision.kind in ("503", "500", "429"):
            error, headers = injected_error(decision)
            record(error.status, error.error_type)
            return error_response(error, headers)
        if decision.kind == "drop-before":
            record(None, None)
            drop_connection(environ)
        if decision.kind == "hang":
            # Accepted and never answered (until the faults are cleared): a black hole.
            record(None, None)
            self.faults.hold()
            drop_connection(environ)
        if decision.kind == "hold":
            # A latch for tests: the call waits, unprocessed, until the faults are cleared,
            # then is processed and answered as usual ("held" in GET /_emulator/faults
            # counts the calls waiting, so a test knows one has arrived).
            self.faults.hold()

        try:
            if read_error is not None:
                raise read_error
            response = json_response(200, self.process(request, route, data, trace))
            error_type = None
        except ApiError as error:
            response, error_type = error_response(error, error.headers), error.error_type
        except Exception as exc:
            if isinstance(exc, sqlite3.OperationalError) and is_busy(exc):
                logger.warning("database busy on %s: %s", path, exc)
                busy = ServiceUnavailable("The emulator's database is busy; retry later")
                response, error_type = error_response(busy, {"Retry-After": "1"}), busy.error_type
            else:
                logger.exception("API call %s failed", path)
                failure = InternalError("The emulator failed to process the call; see the log")
                response, error_type = error_response(failure), failure.error_type

        record(response.status_code, error_type)
        if decision.kind == "drop-after":
            drop_connection(environ)  # processed and committed; the response is lost
        return response

    def process(
        self, request: Request, route: Route | None, data: bytes, trace: CallTrace
    ) -> dict[str, Any]:
        if request.method != "POST":
            raise MethodNotAllowed(f"API routes take POST, not {request.method}")
        if route is None:
            raise ResourceNotFound(f"No API route matches {request.path}")
        method = self.methods.get((route.entity_class, route.method))
        if method is None:
            raise ResourceNotFound(f"The method {route.method_name} does not exist")
        token = bearer_token(request)
        if hmac.compare_digest(token.encode(), self.control_token.encode()):
            raise InvalidAuthentication("The control token is not valid on API routes")
        body = parse_json_object(request, data)
        now = self.clock()
        with self.store.transaction(write=method.writes) as conn:
            row = conn.execute("SELECT id FROM users WHERE token = ?", (token,)).fetchone()
            if row is None:
                raise InvalidAuthentication("The token could not be found")
            trace.caller = row["id"]
            call = Call(row["id"], route, Fields(body), now, request.remote_addr or "127.0.0.1")
            result = method.handler(call, conn)
            if method.writes and route.entity_class == "org":
                org_id = route.target or result.get("id")
                if isinstance(org_id, str):
                    record_admin_count(conn, org_id, route.method_name, now)
        return result
