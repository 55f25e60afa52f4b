"""The DNAnexus API client: one httpx.Client, typed methods, retries, fail-closed reads.

Two classes so that the plan path cannot write by construction: `ReadClient` refuses,
before any I/O, every route whose method is not a read method; `WriteClient` adds the
write methods and `call()`, the generic executor that apply uses for recorded calls.

Retry rules (see `retry.RetryPolicy` for the timing, `routes.RETRYABLE` for the classes):
- 429 and 503 answers, and failures to connect, cannot have landed: always retried, and
  429/503 (honouring Retry-After) and a refused connection to a server that has answered
  in this run (any client of the run: `PlatformHealth`) without counting against the
  attempt budget: the run's deadline and circuit breaker bound them. A connection refused
  (or a name that does not resolve) before the server has answered in this run is a wrong
  address, not a blip: it fails at once, naming the URL and where it was configured.
- Other 5xx, timeouts after sending, dropped connections, unparseable 2xx bodies leave
  the outcome unknown: retried for the routes dx-toolkit's wrapper table marks
  retryable (the platform accepts their repeat); for the others only after the caller's
  `landed()` check says the change is not there (if it is, that is success).
- Any other 4xx is final, except that a retryable call refused after an attempt whose
  outcome was unknown asks `landed()` (when given): a platform that rejects the repeat
  ("already a member") has then made the change.

Every answer is bounded (`PlatformLimits`): wall time from sending to the complete body,
its size (enforced while it streams in), and the pages of one listing. A run whose calls
get no answer at all for too long, or that passes its deadline, stops sending
(`PlatformOutage`).

Error messages are built from the route, the platform's error body and the OS's reason
for a failed connection: never from a header, so never from the token.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from reconciler import __version__
from reconciler.errors import (
    API_ERRORS_BY_TYPE,
    ApiError,
    ConfigError,
    DxorgError,
    PlatformOutage,
    ReadIncompleteError,
    TransportError,
    WriteRefusedError,
)
from reconciler.platform.config import PlatformConfig
from reconciler.platform.contract import contract_problems
from reconciler.platform.health import PlatformHealth
from reconciler.platform.limits import (
    MAX_PAGES_VAR,
    MAX_RESPONSE_BYTES_VAR,
    MAX_ROWS_VAR,
    OUTAGE_SECONDS_VAR,
    REQUEST_DEADLINE_VAR,
    PlatformLimits,
)
from reconciler.platform.retry import (
    AttemptFailed,
    RetryPolicy,
    parse_retry_after,
    run_with_retries,
)
from reconciler.platform.routes import (
    AUTH_SERVER_ROUTES,
    READ_METHODS,
    is_retryable,
    method_of,
    normalize_route,
)
from reconciler.render import inert
from reconciler.worker_threads import wait_all

T = TypeVar("T")
R = TypeVar("R")
# A JSON object as the platform answers it; callers check the fields they read
# (`reconciler.platform.contract`).
ApiObject = dict[str, Any]

log = logging.getLogger("reconciler.platform")

PAGE_LIMIT = 1000
DEFAULT_CONCURRENCY = 8
CONNECT_TIMEOUT = 10.0

# The auth-server probe is one GET: a server that does not answer in this time is down.
# (All its attempts together are bounded by the outage limit, DXORG_OUTAGE_SECONDS.)
AUTH_PROBE_SECONDS = 5.0

# httpx errors raised before the request left this machine: the call cannot have landed.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
# httpx errors that are our own misconfiguration: retrying cannot help.
_FINAL_HTTPX_ERRORS = (httpx.UnsupportedProtocol, httpx.InvalidURL)
# httpx errors whose text comes from the OS, the server or the URL (errno strings, TLS
# alerts, "Server disconnected"), never from the headers this client wrote. Any other
# error's text (h11's LocalProtocolError quotes the offending header) is never shown.
_TEXT_SAFE_ERRORS = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
    *_FINAL_HTTPX_ERRORS,
)


@dataclass(frozen=True)
class CallOutcome:
    """The result of one logical call (possibly several HTTP attempts)."""

    body: dict[str, Any]
    attempts: int
    request_id: str | None
    status: int | None
    # True when no usable response arrived but the landed() check found the change made.
    landed_by_check: bool = False


class ReadClient:
    """Read-only access to the platform. Every route it sends is a read method.

    The one other request it makes is `auth_server_problem()`'s probe: a GET of the auth
    server's root, without the token, which no server treats as a change.
    """

    # Methods this class's poster will send; WriteClient widens it.
    _allowed_methods: frozenset[str] | None = READ_METHODS

    def __init__(
        self,
        config: PlatformConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | float | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        limits: PlatformLimits | None = None,
        health: PlatformHealth | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._config = config
        self._retry = retry or RetryPolicy()
        self._concurrency = concurrency
        self._limits = limits or (health.limits if health is not None else PlatformLimits())
        # Shared with the run's other clients: who has answered, the breaker, the clock.
        self._health = health or PlatformHealth(
            self._limits, where=config.describe_api_server(), clock=self._retry.clock
        )
        # However many threads call it, at most `concurrency` requests are in flight at once.
        self._in_flight = threading.BoundedSemaphore(concurrency)
        self._auth_probe_lock = threading.Lock()
        self._auth_probe: tuple[str | None] | None = None
        headers = {
            "DNAnexus-API": "1.0.0",
            "User-Agent": f"dxorg/{__version__}",
            "Accept": "application/json",
        }
        if config.token is not None:
            headers["Authorization"] = f"Bearer {config.token}"
        try:
            self._http = httpx.Client(
                base_url=config.api_url,
                headers=headers,
                transport=transport,
                timeout=timeout if timeout is not None else self._default_timeout(),
                follow_redirects=False,
            )
        except httpx.InvalidURL as exc:
            raise ConfigError(
                f"the API server {config.describe_api_server()} is not a valid URL: {exc}"
            ) from None

    @property
    def config(self) -> PlatformConfig:
        return self._config

    @property
    def concurrency(self) -> int:
        """The most API calls this client has in flight at once."""
        return self._concurrency

    @property
    def limits(self) -> PlatformLimits:
        return self._limits

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._config!r})"

    def _default_timeout(self) -> httpx.Timeout:
        # Each phase within the request deadline; the body as a whole is bounded in `_read_body`.
        deadline = self._limits.request_deadline
        return httpx.Timeout(deadline, connect=min(CONNECT_TIMEOUT, deadline))

    # -- the run's view of the platform -------------------------------------------------

    def platform_now(self) -> datetime | None:
        """The platform's time now, by the Date header of its latest answer (None: none yet)."""
        return self._health.platform_now()

    def clock_skew(self) -> timedelta | None:
        """The platform's clock minus this machine's (None before the platform has answered)."""
        return self._health.clock_skew()

    def stop_reason(self) -> str | None:
        """Why this run may send nothing more (an outage, its deadline), or None: checked now."""
        return self._health.stop_reason()

    def stopped(self) -> str | None:
        """Why this run stopped sending, if a call has found it had to."""
        return self._health.stopped

    # -- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- typed reads ---------------------------------------------------------------

    def whoami(self) -> str:
        body = self.whoami_response()
        problems = contract_problems("/system/whoami", body)
        if problems:
            field = problems[0].removeprefix("/system/whoami: ")
            raise TransportError("/system/whoami", f"response has no user id ({field})")
        return str(body["id"])

    def whoami_response(self) -> ApiObject:
        """`/system/whoami`'s whole answer (doctor checks its fields against the contract)."""
        return self._post("/system/whoami", {}).body

    def describe_user(self, user_id: str, fields: Mapping[str, bool] | None = None) -> ApiObject:
        request: dict[str, Any] = {}
        if fields is not None:
            request["fields"] = dict(fields)
        return self._post(f"/{user_id}/describe", request).body

    def describe_org(self, org_id: str) -> ApiObject:
        return self._post(f"/{org_id}/describe", {}).body

    def find_orgs(self, level: str = "ADMIN", *, describe: bool = True) -> list[ApiObject]:
        return self._find("/system/findOrgs", {"level": level, "describe": describe})

    def find_org_members(
        self,
        org_id: str,
        *,
        level: str | None = None,
        ids: Sequence[str] | None = None,
        describe: bool = False,
    ) -> list[ApiObject]:
        request: dict[str, Any] = {}
        if level is not None:
            request["level"] = level
        if ids is not None:
            request["id"] = list(ids)
        request["describe"] = describe
        return self._find(f"/{org_id}/findMembers", request)

    def find_org_projects(
        self,
        org_id: str,
        *,
        ids: Sequence[str] | None = None,
        name: str | Mapping[str, object] | None = None,
        properties: Mapping[str, str | bool] | None = None,
        describe: bool | Mapping[str, object] = False,
    ) -> list[ApiObject]:
        request: dict[str, Any] = {}
        if ids is not None:
            request["id"] = list(ids)
        if name is not None:
            request["name"] = name if isinstance(name, str) else dict(name)
        if properties is not None:  # a value of true: the key must exist
            request["properties"] = dict(properties)
        request["describe"] = describe if isinstance(describe, bool) else dict(describe)
        return self._find(f"/{org_id}/findProjects", request)

    def find_org_apps(
        self, org_id: str, *, describe: bool | Mapping[str, object] = False
    ) -> list[ApiObject]:
        request = {"describe": describe if isinstance(describe, bool) else dict(describe)}
        return self._find(f"/{org_id}/findApps", request)

    def find_projects(self, body: Mapping[str, object]) -> list[ApiObject]:
        return self._find("/system/findProjects", dict(body))

    def describe_project(
        self,
        project_id: str,
        *,
        permissions: bool = False,
        fields: Mapping[str, bool] | None = None,
    ) -> ApiObject:
        request: dict[str, Any] = {}
        if fields is not None:
            request["fields"] = dict(fields)
            if permissions:
                request["fields"]["permissions"] = True
        if permissions:
            request["permissions"] = True
        return self._post(f"/{project_id}/describe", request).body

    def describe_app(self, app: str) -> ApiObject:
        """`app` is ``app-<hash>``, ``app-<name>``, a bare name, or ``name/version``."""
        path = app if app.startswith("app-") else f"app-{app}"
        return self._post(f"/{path}/describe", {}).body

    def list_app_developers(self, app_id: str) -> list[str]:
        route = f"/{app_id}/listDevelopers"
        body = self._post(route, {}).body
        problems = contract_problems("/app-xxxx/listDevelopers", body)
        if problems:
            field = problems[0].removeprefix("/app-xxxx/listDevelopers: ")
            raise ReadIncompleteError(f"{route}: no list of developer ids ({field})")
        return list(body["developers"])

    def auth_server_problem(self) -> str | None:
        """Why ``/user/new`` could not be sent, or None if it could. Read-only.

        None when an auth server is configured (found as dx finds it) and answers HTTP at
        all: any status counts, since only reachability is in question. Otherwise a
        sentence naming the missing variables, or the URL that did not answer and where
        it was configured. Probed once per client; nothing is written.
        """
        with self._auth_probe_lock:
            if self._auth_probe is None:
                self._auth_probe = (self._probe_auth_server(),)
            return self._auth_probe[0]

    def _probe_auth_server(self) -> str | None:
        url = self._config.auth_server_url
        if url is None:
            missing = self._config.auth_server_problem or (
                f"no auth server is known for the API server {self._config.host}"
            )
            return f"provisioning (/user/new) cannot be sent: {missing}"

        # The whole probe (attempts and waits) is bounded by the outage limit: a silent
        # auth server is not the platform's silence (it must not stop the API reads), so
        # the breaker does not end it, and nothing else would before the run's deadline.
        budget = self._limits.outage_seconds
        started = self._health.now()
        attempts = 0

        def probe_left() -> float:
            return max(0.0, budget - (self._health.now() - started))

        def probe() -> None:
            nonlocal attempts
            with self._in_flight:
                # Like any call: nothing is sent once the run has stopped (an outage, its
                # deadline, a signal).
                stopped = self._health.stop_reason()
                if stopped is not None:
                    raise AttemptFailed(
                        PlatformOutage("/", stopped, maybe_landed=False), retryable=False
                    )
                left = probe_left()
                if left <= 0:
                    raise AttemptFailed(
                        TransportError("/", f"no answer within {budget:g} s"), retryable=False
                    )
                seconds = min(AUTH_PROBE_SECONDS, self._limits.request_deadline, left)
                request = self._http.build_request(
                    "GET", url.rstrip("/") + "/", timeout=httpx.Timeout(seconds)
                )
                request.headers.pop("Authorization", None)  # a probe needs no credentials
                attempts += 1
                try:
                    self._http.send(request).close()
                except (httpx.ConnectError, httpx.InvalidURL, *_FINAL_HTTPX_ERRORS) as exc:
                    # Refused, unresolvable or malformed: a wrong address, not a passing fault.
                    raise AttemptFailed(
                        TransportError("/", _httpx_reason(exc)), retryable=False
                    ) from None
                except httpx.HTTPError as exc:
                    # Dropped or timed out: asked again, like any read, within the retry
                    # budget and the probe's (its silence is not counted as the platform's).
                    raise AttemptFailed(
                        TransportError("/", _httpx_reason(exc)), retryable=True
                    ) from None

        try:
            run_with_retries(
                self._retry,
                "auth server probe",
                probe,
                time_left=lambda: min(self._health.seconds_until_stop(), probe_left()),
                stop=self._health.stop_requested,
            )
        except PlatformOutage as exc:
            return (
                f"provisioning (/user/new) cannot be sent: the run stopped sending ({exc.reason})"
            )
        except TransportError as exc:
            waited = self._health.now() - started
            return (
                f"provisioning (/user/new) cannot be sent: the auth server "
                f"{self._config.describe_auth_server()} did not answer "
                f"({self._redact(exc.api_message)}); dxorg asked {attempts} time(s) over "
                f"{waited:.1f} s (the probe's limit is {budget:g} s, {OUTAGE_SECONDS_VAR})"
            )
        self._health.answered("auth")
        return None

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """`fn` over `items` on up to `concurrency` threads; results in input order.

        Every call runs to completion; then the first error (in input order) is raised,
        so no call is left running behind the caller's back.
        """
        work = list(items)
        if not work:
            return []
        if len(work) == 1:
            return [fn(work[0])]  # no pool: starting threads would cost more than the call
        pool = ThreadPoolExecutor(max_workers=min(self._concurrency, len(work)))
        try:
            futures = [pool.submit(fn, item) for item in work]
            wait_all(futures)
        except BaseException:
            # Ctrl-C or SIGTERM raised here while the calls run: the threads must stop too
            # (a listing could page on for minutes, and the exit waits for them), so each
            # one's next request is refused.
            self._health.interrupt("interrupted: no more calls are sent")
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        for future in futures:
            error = future.exception()
            if error is not None:
                raise error
        return [future.result() for future in futures]

    # -- plumbing ------------------------------------------------------------------

    def _find(self, route: str, request: Mapping[str, Any]) -> list[ApiObject]:
        """Every page of a find* method, or an error: never a partial list."""
        results: list[ApiObject] = []
        starting: Any = None
        seen_cursors: list[str] = []
        # A listing naming one object twice was not read as the platform holds it (a page
        # boundary that moved, a server bug): nothing planned from it can be trusted.
        seen_ids: set[str] = set()
        while True:
            page_request = {**request, "limit": PAGE_LIMIT}
            if starting is not None:
                page_request["starting"] = starting
            page = self._post(route, page_request).body
            rows = page.get("results")
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise ReadIncompleteError(
                    f"{route}: malformed page {len(seen_cursors) + 1} (no list of result objects); "
                    "refusing to use a partial listing"
                )
            if "next" not in page:
                raise ReadIncompleteError(f"{route}: page without a 'next' field")
            for row in rows:
                if "id" not in row:
                    raise ReadIncompleteError(
                        f"{route}: a result on page {len(seen_cursors) + 1} has no id; "
                        "refusing to use a malformed listing"
                    )
                key = json.dumps(row["id"], sort_keys=True)
                if key in seen_ids:
                    raise ReadIncompleteError(
                        f"{route}: {inert.printable(str(row['id']))[:200]} is listed twice "
                        f"(seen again on page {len(seen_cursors) + 1}); refusing to use a "
                        "malformed listing"
                    )
                seen_ids.add(key)
            results.extend(rows)
            if len(results) > self._limits.max_rows:
                # Memory: fresh rows on every page would grow without end.
                raise ReadIncompleteError(
                    f"{route}: the listing from {self._config.describe_api_server()} has "
                    f"more than {self._limits.max_rows} rows ({MAX_ROWS_VAR}); refusing to "
                    "use a listing that may be incomplete"
                )
            starting = page["next"]
            if starting is None:
                return results
            if len(seen_cursors) + 1 >= self._limits.max_pages:
                # Fresh cursors forever (empty pages or not) would page without end.
                raise ReadIncompleteError(
                    f"{route}: the listing from {self._config.describe_api_server()} did not "
                    f"end within {self._limits.max_pages} pages ({MAX_PAGES_VAR}); refusing "
                    "to use a listing that may be incomplete"
                )
            # A server handing back the same cursor would loop forever.
            cursor = json.dumps(starting, sort_keys=True)
            if cursor in seen_cursors:
                raise ReadIncompleteError(f"{route}: paging cursor repeated; listing incomplete")
            seen_cursors.append(cursor)

    def _post(
        self,
        route: str,
        body: Mapping[str, Any],
        *,
        landed: Callable[[], bool] | None = None,
    ) -> CallOutcome:
        """POST one API call with retries. Refuses unpermitted methods before any I/O."""
        route = normalize_route(route)
        method = method_of(route)
        if self._allowed_methods is not None and method not in self._allowed_methods:
            raise WriteRefusedError(
                f"{route}: '{method}' is not a read method and this client is read-only"
            )
        self._config.require_token()
        server = "api"
        url = route
        if route in AUTH_SERVER_ROUTES:
            server = "auth"
            url = self._config.require_auth_server().rstrip("/") + route
        retryable = is_retryable(route)
        payload = dict(body)
        attempts = 0
        earlier_unknown = False
        # Whether some attempt may have landed that no later landed() read ruled out.
        maybe_landed = False
        ruled_out_at = 0  # the attempt after which landed() last answered "not there"
        if landed is not None:
            ask = landed

            def landed() -> bool:
                nonlocal maybe_landed, ruled_out_at
                found = ask()
                if not found:  # read after every attempt so far: none of them landed
                    maybe_landed, ruled_out_at = False, attempts
                return found

        def attempt() -> CallOutcome:
            nonlocal attempts, earlier_unknown, maybe_landed
            attempts += 1
            try:
                return self._attempt(
                    route, server, url, payload, retryable, landed, attempts, earlier_unknown
                )
            except AttemptFailed as failure:
                if method in READ_METHODS and self._health.writes_stopped is not None:
                    failure.retryable = False  # after a stop, no read is tried again
                if failure.outcome_unknown:
                    earlier_unknown = True
                    maybe_landed = maybe_landed or ruled_out_at != attempts
                elif (
                    earlier_unknown
                    and landed is not None
                    and isinstance(failure.error, ApiError)
                    and _is_client_error(failure.error)
                ):
                    # A repeat refused (e.g. "already a member") after an earlier attempt
                    # whose fate was unknown: that attempt may have landed. Ask.
                    landed_outcome = self._check_landed(route, failure.error, landed, attempts)
                    if landed_outcome is not None:
                        return landed_outcome
                raise

        try:
            return run_with_retries(
                self._retry,
                route,
                attempt,
                time_left=self._health.seconds_until_stop,
                stop=self._health.stop_requested,
            )
        except ApiError as exc:
            # So the journal can show the retries of a failed call: the requests sent (an
            # attempt the stopped run refused never went out).
            exc.attempts = attempts - 1 if isinstance(exc, PlatformOutage) else attempts
            # A write whose answer was lost on some attempt may have landed: say so, for
            # apply to report it as unknown and settle it by reading, not as failed.
            exc.outcome_unknown = maybe_landed and method not in READ_METHODS
            raise

    def _attempt(
        self,
        route: str,
        server: str,
        url: str,
        payload: dict[str, Any],
        retryable: bool,
        landed: Callable[[], bool] | None,
        attempts: int,
        maybe_landed: bool,
    ) -> CallOutcome:
        """One HTTP attempt, classified: a CallOutcome, or AttemptFailed saying if it may retry."""
        with self._in_flight:
            # Checked once a slot is free: a call queued behind a dead platform is not sent.
            stopped = self._health.stop_reason()
            deadline: float | None = None
            if stopped is None and method_of(route) not in READ_METHODS:
                stopped = self._health.writes_stopped
            elif stopped is None:
                stopped, deadline = self._read_after_stop(attempts)
            if stopped is not None:
                raise AttemptFailed(
                    PlatformOutage(route, stopped, maybe_landed=maybe_landed), retryable=False
                )
            sent_at = self._health.now()
            exchanged: tuple[int, httpx.Headers, bytes] | Exception
            try:
                exchanged = self._exchange(route, server, url, payload, deadline)
            except (httpx.HTTPError, _DeadlineExceeded, _ResponseTooLarge) as exc:
                exchanged = exc
        # Classified outside the slot: a landed() check makes calls of its own.
        if isinstance(exchanged, Exception):
            return self._failed_attempt(
                route, server, exchanged, sent_at, retryable, landed, attempts
            )
        status, headers, content = exchanged
        self._health.answered(server, headers.get("Date"))
        request_id = headers.get("X-Request-ID")
        log.debug(
            "%s -> HTTP %d (request %s)",
            inert.terminal(route),
            status,
            inert.terminal(request_id or "-"),  # a header: the server's text
        )
        if 200 <= status < 300:
            parsed = _json_object(content)
            if parsed is None:
                bad_body = TransportError(
                    route,
                    "unparseable or non-object JSON in a success response",
                    status=status,
                    request_id=request_id,
                )
                return self._unknown_outcome(route, bad_body, retryable, landed, attempts)
            return CallOutcome(body=parsed, attempts=attempts, request_id=request_id, status=status)

        error = self._api_error(route, status, request_id, content)
        if status in (429, 503):
            # Refused before processing: retry any method, honouring Retry-After, for as
            # long as the run allows (dxpy does not count these either).
            retry_after = parse_retry_after(headers.get("Retry-After"))
            raise AttemptFailed(error, retryable=True, retry_after=retry_after, uncounted=True)
        if status >= 500:
            return self._unknown_outcome(route, error, retryable, landed, attempts)
        raise AttemptFailed(error, retryable=False)

    def _read_after_stop(self, attempts: int) -> tuple[str | None, float | None]:
        """After a signal stopped the writes: why this read may not be sent (a retry, or the
        reads' one request deadline spent), or the seconds its answer may take."""
        left = self._health.read_seconds_after_stop()
        if left is None:
            return None, None
        why = self._health.writes_stopped
        if attempts > 1:
            return f"{why}: a read is not tried again after the stop", None
        if left <= 0:
            return (
                f"{why}: the reads after the stop had one request deadline "
                f"({self._limits.request_deadline:g} s, {REQUEST_DEADLINE_VAR}), now spent",
                None,
            )
        return None, left

    def _failed_attempt(
        self,
        route: str,
        server: str,
        exc: Exception,
        sent_at: float,
        retryable: bool,
        landed: Callable[[], bool] | None,
        attempts: int,
    ) -> CallOutcome:
        """An attempt that got no usable answer: AttemptFailed, or landed by check."""
        if isinstance(exc, _FINAL_HTTPX_ERRORS):
            raise AttemptFailed(self._transport_error(route, exc), retryable=False) from None
        if isinstance(exc, _ResponseTooLarge):
            # It answered, with more than dxorg will hold: asking again gets the same.
            self._health.answered(server, exc.date)
            raise AttemptFailed(
                TransportError(route, str(exc)), retryable=False, outcome_unknown=True
            ) from None
        self._health.unanswered(
            sent_at, str(exc) if isinstance(exc, _DeadlineExceeded) else _httpx_reason(exc)
        )
        if isinstance(exc, httpx.ConnectError):
            if not self._health.has_answered(server):
                # Refused or unresolvable before anything answered in this run: a wrong
                # address or a server that is down. Waiting would only hide that.
                raise AttemptFailed(self._unreachable(route, server, exc), retryable=False)
            # It answered earlier in this run: a blip, retried like a 503 (the breaker ends
            # it if it lasts).
            raise AttemptFailed(self._transport_error(route, exc), retryable=True, uncounted=True)
        if isinstance(exc, _NOT_SENT_ERRORS):
            # Never reached the server: safe to repeat whatever the method.
            raise AttemptFailed(self._transport_error(route, exc), retryable=True)
        # Timed out or dropped after sending: the server may have acted.
        error = (
            TransportError(route, str(exc))
            if isinstance(exc, _DeadlineExceeded)
            else self._transport_error(route, exc)
        )
        return self._unknown_outcome(route, error, retryable, landed, attempts)

    def _exchange(
        self,
        route: str,
        server: str,
        url: str,
        payload: dict[str, Any],
        seconds: float | None = None,
    ) -> tuple[int, httpx.Headers, bytes]:
        """Send one request; its status, headers and complete body, within the limits.

        Raises httpx errors as they come, `_DeadlineExceeded` when the whole exchange
        outlasts the request deadline, `_ResponseTooLarge` as soon as the body passes the
        size limit (declared or streamed: it is never held whole).
        """
        limits = self._limits
        # `seconds`: a shorter deadline (the reads after a stop share what is left of one).
        allowed = limits.request_deadline if seconds is None else seconds
        deadline = time.monotonic() + allowed
        where = self._server_description(server)
        request = self._http.build_request(
            "POST",
            url,
            json=payload,
            timeout=httpx.USE_CLIENT_DEFAULT
            if seconds is None
            else httpx.Timeout(seconds, connect=min(CONNECT_TIMEOUT, seconds)),
        )
        try:
            response = self._http.send(request, stream=True)
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
                raise
            raise _DeadlineExceeded(where, allowed) from None
        # The timeouts bound each read; a watchdog bounds them all together, cutting the
        # connection at the deadline (a server trickling a byte at a time never times out).
        watchdog = threading.Timer(
            max(0.0, deadline - time.monotonic()), _cut_connection, args=(response,)
        )
        watchdog.daemon = True
        watchdog.start()
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limits.max_response_bytes:
                raise _ResponseTooLarge(where, limits.max_response_bytes, response)
            body = bytearray()
            try:
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limits.max_response_bytes:
                        raise _ResponseTooLarge(where, limits.max_response_bytes, response)
                    if time.monotonic() > deadline:
                        raise _DeadlineExceeded(where, allowed)
            except httpx.HTTPError:
                if time.monotonic() >= deadline:
                    raise _DeadlineExceeded(where, allowed) from None
                raise
            return response.status_code, response.headers, bytes(body)
        finally:
            watchdog.cancel()
            response.close()

    def _server_description(self, server: str) -> str:
        """The URL of `server` ("api", "auth") and where it was configured."""
        if server == "auth":
            return self._config.describe_auth_server()
        return self._config.describe_api_server()

    def _unknown_outcome(
        self,
        route: str,
        error: ApiError,
        retryable: bool,
        landed: Callable[[], bool] | None,
        attempts: int,
    ) -> CallOutcome:
        """The request may or may not have taken effect. Raises AttemptFailed or reports landed."""
        if retryable:
            # The platform accepts a repeat of this route; if it refuses one anyway, the
            # caller's landed() check decides (see `_post`).
            raise AttemptFailed(error, retryable=True, outcome_unknown=True)
        if landed is None:
            # Retrying could duplicate the change; failing is the only safe answer.
            raise AttemptFailed(error, retryable=False, outcome_unknown=True)
        log.info(
            "outcome of %s unknown (%s); checking whether it landed",
            inert.terminal(route),
            inert.terminal(error, limit=inert.MESSAGE_LIMIT),
        )
        landed_outcome = self._check_landed(route, error, landed, attempts)
        if landed_outcome is not None:
            return landed_outcome
        log.info("%s did not land; it may be retried", inert.terminal(route))
        raise AttemptFailed(error, retryable=True, outcome_unknown=True)

    def _check_landed(
        self, route: str, error: ApiError, landed: Callable[[], bool], attempts: int
    ) -> CallOutcome | None:
        """A landed-by-check outcome if `landed()` finds the change; None if it does not."""
        try:
            did_land = landed()
        except DxorgError as exc:
            unknown = TransportError(
                route,
                f"outcome unknown ({error.api_message}) and the landed check failed: {exc}",
                status=error.status,
                request_id=error.request_id,
            )
            raise AttemptFailed(unknown, retryable=False, outcome_unknown=True) from exc
        if not did_land:
            return None
        log.info("%s landed (confirmed by a read after an unknown outcome)", inert.terminal(route))
        return CallOutcome(
            body={}, attempts=attempts, request_id=None, status=None, landed_by_check=True
        )

    # -- error construction (never includes the token) -----------------------------

    def _redact(self, text: str) -> str:
        token = self._config.token
        return text.replace(token, "<redacted>") if token else text

    def _transport_error(self, route: str, exc: Exception) -> TransportError:
        return TransportError(route, self._redact(_httpx_reason(exc)))

    def _unreachable(self, route: str, server: str, exc: Exception) -> TransportError:
        where = (
            self._config.describe_auth_server()
            if server == "auth"
            else self._config.describe_api_server()
        )
        return TransportError(
            route,
            self._redact(
                f"cannot connect to the {'auth' if server == 'auth' else 'API'} server at "
                f"{where}: {_httpx_reason(exc)}; nothing has answered there in this run, "
                "so dxorg does not retry: check the address and that the server is up"
            ),
        )

    def _api_error(
        self, route: str, status: int, request_id: str | None, content: bytes
    ) -> ApiError:
        parsed = _json_object(content)
        error = parsed.get("error") if parsed is not None else None
        if (
            not isinstance(error, dict)
            or not isinstance(error.get("type"), str)
            or not isinstance(error.get("message"), str)
        ):
            return TransportError(
                route,
                "error response without a well-formed error body",
                status=status,
                request_id=request_id,
            )
        error_type: str = error["type"]
        cls = API_ERRORS_BY_TYPE.get(error_type, ApiError)
        details = error.get("details")
        if details is not None and self._config.token:
            details = json.loads(self._redact(json.dumps(details)))
        return cls(
            route,
            self._redact(error["message"]),
            error_type=self._redact(error_type),
            status=status,
            request_id=request_id,
            details=details,
        )


class WriteClient(ReadClient):
    """A ReadClient that may also change the platform. Only apply should hold one."""

    _allowed_methods = None

    def call(
        self,
        route: str,
        body: Mapping[str, Any],
        *,
        landed: Callable[[], bool] | None = None,
    ) -> CallOutcome:
        """Execute one exact API call (as recorded in a plan). ``/user/new`` goes to the auth server."""
        return self._post(route, body, landed=landed)


class _DeadlineExceeded(Exception):
    """No complete answer within the request deadline (wall time, not time between bytes)."""

    def __init__(self, where: str, seconds: float) -> None:
        super().__init__(
            f"no complete answer from {where} within {seconds:g} s of sending "
            f"({REQUEST_DEADLINE_VAR})"
        )


class _ResponseTooLarge(Exception):
    """An answer larger than the size limit, abandoned while it streamed in."""

    def __init__(self, where: str, limit: int, response: httpx.Response) -> None:
        super().__init__(
            f"the answer from {where} (HTTP {response.status_code}) is larger than {limit} "
            f"bytes ({MAX_RESPONSE_BYTES_VAR}); abandoned unread"
        )
        self.date = response.headers.get("Date")


def _cut_connection(response: httpx.Response) -> None:
    """Shut the socket under `response` so that a read blocked on it ends now.

    Only a real connection has one (httpcore's network stream); an in-process transport
    has none, and its body is bounded by the deadline check between chunks instead.
    """
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(content)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _httpx_reason(exc: Exception) -> str:
    """``ConnectError: [Errno 111] Connection refused``: the class, and its text if safe."""
    if isinstance(exc, _TEXT_SAFE_ERRORS):
        detail = str(exc) or "no detail"
    elif isinstance(exc, httpx.LocalProtocolError):
        detail = "the request could not be written as HTTP (a header or the body is invalid)"
    else:
        detail = "no detail shown"
    return f"{type(exc).__name__}: {detail}"


def _is_client_error(error: ApiError) -> bool:
    return error.status is not None and 400 <= error.status < 500 and error.status != 429
