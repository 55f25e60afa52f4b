"""The DNAnexus API client: one httpx.Client, typed methods, retries, fail-closed reads.

Two classes so that the plan path cannot write by construction: `ReadClient` refuses,
before any I/O, every route whose method is not a read method; `WriteClient` adds the
write methods and `call()`, the generic executor that apply uses for recorded calls.

Retry rules (see `retry.RetryPolicy` for the timing, `routes.RETRYABLE` for the classes):
- 429 and 503 answers, and failures to connect, cannot have landed: always retried. But a
  connection refused (or a name that does not resolve) before the server has answered
  this client even once is a wrong address, not a blip: it fails at once, naming the URL
  and where it was configured.
- Other 5xx, timeouts after sending, dropped connections, unparseable 2xx bodies leave
  the outcome unknown: retried for the routes dx-toolkit's wrapper table marks
  retryable (the platform accepts their repeat); for the others only after the caller's
  `landed()` check says the change is not there (if it is, that is success).
- Any other 4xx is final, except that a retryable call refused after an attempt whose
  outcome was unknown asks `landed()` (when given): a platform that rejects the repeat
  ("already a member") has then made the change.

Error messages are built from the route, the platform's error body and the OS's reason
for a failed connection: never from a header, so never from the token.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from reconciler import __version__
from reconciler.errors import (
    API_ERRORS_BY_TYPE,
    ApiError,
    ConfigError,
    DxorgError,
    ReadIncompleteError,
    TransportError,
    WriteRefusedError,
    printable,
)
from reconciler.model import FLAGS, Access, FlagValue, Level
from reconciler.platform.config import PlatformConfig
from reconciler.platform.contract import contract_problems
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

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("reconciler.platform")

PAGE_LIMIT = 1000
DEFAULT_CONCURRENCY = 8
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)

# Project permission levels, lowest first (for the project-invite landed check).
PROJECT_LEVELS = ("VIEW", "UPLOAD", "CONTRIBUTE", "ADMINISTER")

# The auth-server probe is one GET: a server that does not answer in this time is down.
AUTH_PROBE_TIMEOUT = httpx.Timeout(5.0)

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
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._config = config
        self._retry = retry or RetryPolicy()
        self._concurrency = concurrency
        # However many threads call it, at most `concurrency` requests are in flight at once.
        self._in_flight = threading.BoundedSemaphore(concurrency)
        # The servers ("api", "auth") that have answered this client at least once.
        self._reached: set[str] = set()
        self._auth_probe_lock = threading.Lock()
        self._auth_probe: tuple[str | None] | None = None
        # The API server's last `Date` header: its clock, for `dxorg doctor`'s skew check.
        self._server_date: str | None = None
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
                timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
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
    def server_date(self) -> str | None:
        """The `Date` header of the API server's latest answer (None before one, or if it
        sends none)."""
        return self._server_date

    @property
    def concurrency(self) -> int:
        """The most API calls this client has in flight at once."""
        return self._concurrency

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._config!r})"

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

    def whoami_response(self) -> dict:
        """`/system/whoami`'s whole answer (doctor checks its fields against the contract)."""
        return self._post("/system/whoami", {}).body

    def describe_user(self, user_id: str, fields: Mapping[str, bool] | None = None) -> dict:
        request: dict[str, Any] = {}
        if fields is not None:
            request["fields"] = dict(fields)
        return self._post(f"/{user_id}/describe", request).body

    def describe_org(self, org_id: str) -> dict:
        return self._post(f"/{org_id}/describe", {}).body

    def find_orgs(self, level: str = "ADMIN", *, describe: bool = True) -> list[dict]:
        return self._find("/system/findOrgs", {"level": level, "describe": describe})

    def find_org_members(
        self,
        org_id: str,
        *,
        level: str | None = None,
        ids: Sequence[str] | None = None,
        describe: bool = False,
    ) -> list[dict]:
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
        name: str | Mapping | None = None,
        describe: bool | Mapping = False,
    ) -> list[dict]:
        request: dict[str, Any] = {}
        if ids is not None:
            request["id"] = list(ids)
        if name is not None:
            request["name"] = name if isinstance(name, str) else dict(name)
        request["describe"] = describe if isinstance(describe, bool) else dict(describe)
        return self._find(f"/{org_id}/findProjects", request)

    def find_org_apps(self, org_id: str, *, describe: bool | Mapping = False) -> list[dict]:
        request = {"describe": describe if isinstance(describe, bool) else dict(describe)}
        return self._find(f"/{org_id}/findApps", request)

    def find_projects(self, body: Mapping) -> list[dict]:
        return self._find("/system/findProjects", dict(body))

    def describe_project(
        self,
        project_id: str,
        *,
        permissions: bool = False,
        fields: Mapping[str, bool] | None = None,
    ) -> dict:
        request: dict[str, Any] = {}
        if fields is not None:
            request["fields"] = dict(fields)
            if permissions:
                request["fields"]["permissions"] = True
        if permissions:
            request["permissions"] = True
        return self._post(f"/{project_id}/describe", request).body

    def describe_app(self, app: str) -> dict:
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

        def probe() -> None:
            try:
                request = self._http.build_request(
                    "GET", url.rstrip("/") + "/", timeout=AUTH_PROBE_TIMEOUT
                )
                request.headers.pop("Authorization", None)  # a probe needs no credentials
                with self._in_flight:
                    self._http.send(request).close()
            except (httpx.ConnectError, httpx.InvalidURL, *_FINAL_HTTPX_ERRORS) as exc:
                # Refused, unresolvable or malformed: a wrong address, not a passing fault.
                raise AttemptFailed(
                    TransportError("/", _httpx_reason(exc)), retryable=False
                ) from None
            except httpx.HTTPError as exc:
                # Dropped or timed out: asked again, like any read, within the retry budget.
                raise AttemptFailed(
                    TransportError("/", _httpx_reason(exc)), retryable=True
                ) from None

        try:
            run_with_retries(self._retry, "auth server probe", probe)
        except TransportError as exc:
            return (
                f"provisioning (/user/new) cannot be sent: the auth server "
                f"{self._config.describe_auth_server()} did not answer "
                f"({self._redact(exc.api_message)})"
            )
        self._reached.add("auth")
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
        with ThreadPoolExecutor(max_workers=min(self._concurrency, len(work))) as pool:
            futures = [pool.submit(fn, item) for item in work]
        for future in futures:
            error = future.exception()
            if error is not None:
                raise error
        return [future.result() for future in futures]

    # -- plumbing ------------------------------------------------------------------

    def _find(self, route: str, request: Mapping[str, Any]) -> list[dict]:
        """Every page of a find* method, or an error: never a partial list."""
        results: list[dict] = []
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
                        f"{route}: {printable(str(row['id']))[:200]} is listed twice "
                        f"(seen again on page {len(seen_cursors) + 1}); refusing to use a "
                        "malformed listing"
                    )
                seen_ids.add(key)
            results.extend(rows)
            starting = page["next"]
            if starting is None:
                return results
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
                return self._attempt(route, server, url, payload, retryable, landed, attempts)
            except AttemptFailed as failure:
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
            return run_with_retries(self._retry, route, attempt)
        except ApiError as exc:
            exc.attempts = attempts  # so the journal can show the retries of a failed call
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
    ) -> CallOutcome:
        """One HTTP attempt, classified: a CallOutcome, or AttemptFailed saying if it may retry."""
        try:
            with self._in_flight:
                response = self._http.post(url, json=payload)
        except _FINAL_HTTPX_ERRORS as exc:
            raise AttemptFailed(self._transport_error(route, exc), retryable=False) from None
        except httpx.ConnectError as exc:
            if server not in self._reached:
                # Refused or unresolvable before anything answered: a wrong address or a
                # server that is down. Waiting out the retry budget would only hide that.
                raise AttemptFailed(
                    self._unreachable(route, server, exc), retryable=False
                ) from None
            raise AttemptFailed(self._transport_error(route, exc), retryable=True) from None
        except _NOT_SENT_ERRORS as exc:
            # Never reached the server: safe to repeat whatever the method.
            raise AttemptFailed(self._transport_error(route, exc), retryable=True) from None
        except httpx.HTTPError as exc:
            # Timed out or dropped after sending: the server may have acted.
            return self._unknown_outcome(
                route, self._transport_error(route, exc), retryable, landed, attempts
            )

        self._reached.add(server)
        if server == "api":
            self._server_date = response.headers.get("Date") or self._server_date
        request_id = response.headers.get("X-Request-ID")
        status = response.status_code
        log.debug("%s -> HTTP %d (request %s)", route, status, request_id or "-")
        if 200 <= status < 300:
            parsed = self._json_object(response)
            if parsed is None:
                bad_body = TransportError(
                    route,
                    "unparseable or non-object JSON in a success response",
                    status=status,
                    request_id=request_id,
                )
                return self._unknown_outcome(route, bad_body, retryable, landed, attempts)
            return CallOutcome(body=parsed, attempts=attempts, request_id=request_id, status=status)

        error = self._api_error(route, response)
        if status in (429, 503):
            # Refused before processing: retry any method, honouring Retry-After.
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise AttemptFailed(error, retryable=True, retry_after=retry_after)
        if status >= 500:
            return self._unknown_outcome(route, error, retryable, landed, attempts)
        raise AttemptFailed(error, retryable=False)

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
        log.info("outcome of %s unknown (%s); checking whether it landed", route, error)
        landed_outcome = self._check_landed(route, error, landed, attempts)
        if landed_outcome is not None:
            return landed_outcome
        log.info("%s did not land; it may be retried", route)
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
        log.info("%s landed (confirmed by a read after an unknown outcome)", route)
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

    @staticmethod
    def _json_object(response: httpx.Response) -> dict[str, Any] | None:
        try:
            parsed = response.json()
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    def _api_error(self, route: str, response: httpx.Response) -> ApiError:
        status = response.status_code
        request_id = response.headers.get("X-Request-ID")
        parsed = self._json_object(response)
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

    # -- orgs ----------------------------------------------------------------------

    def update_org(self, org_id: str, body: Mapping) -> dict:
        return self._post(f"/{org_id}/update", dict(body)).body

    def invite_org_member(
        self,
        org_id: str,
        invitee: str,
        *,
        level: Level,
        flags: Mapping[str, FlagValue] | None = None,
        suppress_email: bool = False,
    ) -> dict:
        """Invite with the six keys `dx add member` sends (a flag not in `flags`: the
        level's default) and any other flag given in `flags` (by API name)."""
        given = flags or {}
        access = Access.of(level, given)
        request: dict[str, object] = {"invitee": invitee, "level": level}
        for flag in FLAGS:
            if flag.always_present or flag.name in given:
                request[flag.name] = access[flag.name]
        request["suppressEmailNotification"] = suppress_email

        def landed() -> bool:
            return bool(self.find_org_members(org_id, ids=[invitee]))

        outcome = self._post(f"/{org_id}/invite", request, landed=landed)
        return outcome.body if not outcome.landed_by_check else {"id": org_id}

    def set_member_access(self, org_id: str, access: Mapping[str, Mapping[str, object]]) -> dict:
        request = {user: dict(spec) for user, spec in access.items()}
        return self._post(f"/{org_id}/setMemberAccess", request).body

    def remove_member(
        self,
        org_id: str,
        user_id: str,
        *,
        revoke_project_permissions: bool = True,
        revoke_app_permissions: bool = True,
    ) -> dict:
        request = {
            "user": user_id,
            "revokeProjectPermissions": revoke_project_permissions,
            "revokeAppPermissions": revoke_app_permissions,
        }

        def landed() -> bool:
            return not self.find_org_members(org_id, ids=[user_id])

        outcome = self._post(f"/{org_id}/removeMember", request, landed=landed)
        if outcome.landed_by_check:
            # The revoked project/app lists were in the lost response; they are unknown.
            return {"id": org_id, "projects": {}, "apps": {}}
        return outcome.body

    # -- projects --------------------------------------------------------------------

    def invite_to_project(
        self, project_id: str, invitee: str, level: str, *, suppress_email: bool = True
    ) -> dict:
        request = {"invitee": invitee, "level": level, "suppressEmailNotification": suppress_email}
        landed: Callable[[], bool] | None = None
        # Only entity invitees show up in `permissions`; an email invite cannot be checked,
        # so its unknown outcome is reported rather than risk a second invitation.
        if invitee.startswith(("user-", "org-")) or invitee == "PUBLIC":

            def landed() -> bool:
                permissions = self.describe_project(project_id, permissions=True).get("permissions")
                if not isinstance(permissions, dict):
                    return False
                return _level_at_least(permissions.get(invitee), level)

        outcome = self._post(f"/{project_id}/invite", request, landed=landed)
        if outcome.landed_by_check:
            return {"id": project_id, "state": "ACCEPTED"}
        return outcome.body

    def decrease_project_permissions(
        self, project_id: str, changes: Mapping[str, str | None]
    ) -> dict:
        return self._post(f"/{project_id}/decreasePermissions", dict(changes)).body

    def update_project(self, project_id: str, body: Mapping) -> dict:
        return self._post(f"/{project_id}/update", dict(body)).body

    # -- apps ------------------------------------------------------------------------

    def add_app_developers(self, app_id: str, developers: Sequence[str]) -> dict:
        return self._post(f"/{app_id}/addDevelopers", {"developers": list(developers)}).body

    def remove_app_developers(self, app_id: str, developers: Sequence[str]) -> dict:
        return self._post(f"/{app_id}/removeDevelopers", {"developers": list(developers)}).body

    # -- users -----------------------------------------------------------------------

    def new_user(self, body: Mapping) -> dict:
        """Create a user through the AUTH server's ``/user/new``. After a lost answer the
        account counts as made only when the platform shows the requested email for it: a
        username that exists may be somebody else's (`reconciler.apply.landed`)."""
        from reconciler.apply.landed import landed_check  # apply builds on this module

        request = dict(body)
        username, email = request.get("username"), request.get("email")
        user_id = f"user-{username.lower()}" if isinstance(username, str) and username else None
        landed = (
            landed_check("/user/new", request, self)
            if user_id is not None and isinstance(email, str)
            else None
        )
        outcome = self._post("/user/new", request, landed=landed)
        if outcome.landed_by_check:
            return {"id": user_id}
        return outcome.body


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


def _level_at_least(actual: object, wanted: str) -> bool:
    if not isinstance(actual, str) or actual not in PROJECT_LEVELS:
        return False
    if wanted not in PROJECT_LEVELS:
        return actual == wanted
    return PROJECT_LEVELS.index(actual) >= PROJECT_LEVELS.index(wanted)
