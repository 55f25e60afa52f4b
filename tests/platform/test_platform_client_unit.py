"""Client behaviour the emulator cannot easily provoke: malformed pages and bodies, exact
retry timing (with a fake clock), and error mapping, all over httpx.MockTransport."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.errors import (
    API_ERRORS_BY_TYPE,
    ApiError,
    ConfigError,
    InternalError,
    InvalidInput,
    InvalidState,
    PlatformOutage,
    ReadIncompleteError,
    TransportError,
    WriteRefusedError,
)
from reconciler.platform import (
    PlatformConfig,
    PlatformLimits,
    ReadClient,
    RetryPolicy,
    WriteClient,
)
from reconciler.platform.retry import parse_retry_after

TOKEN = "tok-very-secret-42"
CONFIG = PlatformConfig(
    protocol="http", host="dx.test", port=80, token=TOKEN, auth_server_url="http://auth.test:81"
)


class FakeClock:
    """A clock that only moves when the retry policy sleeps: instant, deterministic tests."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def policy(self, **kw: Any) -> RetryPolicy:
        kw.setdefault("jitter", lambda upper: upper)  # deterministic: the cap itself
        return RetryPolicy(sleep=self.sleep, clock=lambda: self.now, **kw)


Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


def make(
    handler: Handler,
    cls: type[ReadClient] = ReadClient,
    clock: FakeClock | None = None,
    config: PlatformConfig = CONFIG,
    limits: PlatformLimits | None = None,
    **kw: Any,
) -> tuple[Any, Recorder]:
    rec = Recorder(handler)
    policy = (clock or FakeClock()).policy(**kw)
    return cls(config, transport=httpx.MockTransport(rec), retry=policy, limits=limits), rec


def ok(body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.Response(200, json=body, headers=headers)


def err(status: int, etype: str, message: str = "nope", **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"type": etype, "message": message}}, headers=headers
    )


def sequence(*responses: httpx.Response | Exception) -> Handler:
    items = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler


def counting(checks: list[int]) -> Callable[[], bool]:
    """A landed check that records each use and says "not landed"."""

    def landed() -> bool:
        checks.append(1)
        return False

    return landed


def test_headers_and_wire_format() -> None:
    client, rec = make(lambda r: ok({"id": "user-alice"}))
    assert client.whoami() == "user-alice"
    (req,) = rec.requests
    assert req.method == "POST" and str(req.url) == "http://dx.test/system/whoami"
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert req.headers["DNAnexus-API"] == "1.0.0"
    assert req.headers["User-Agent"].startswith("dxorg/")
    assert req.headers["Content-Type"] == "application/json"
    assert json.loads(req.content) == {}


def test_read_client_refuses_writes_before_io() -> None:
    client, rec = make(lambda r: ok({}))
    assert not hasattr(client, "call")
    for route in ("/org-a/invite", "/org-a/update", "/user/new", "project-x/removeMember"):
        with pytest.raises(WriteRefusedError):
            client._post(route, {})
    assert rec.requests == []


def test_missing_token_fails_before_io() -> None:
    cfg = PlatformConfig(protocol="http", host="dx.test", port=80, token=None, searched=("here",))
    client, rec = make(lambda r: ok({}), config=cfg)
    with pytest.raises(ConfigError, match="here"):
        client.describe_org("org-a")
    assert rec.requests == []


def test_paging_sends_limit_and_starting_until_next_is_null() -> None:
    pages: dict[Any, dict[str, Any]] = {
        None: ({"results": [{"id": 1}], "next": "c1"}),
        "c1": {"results": [{"id": 2}], "next": {"k": 2}},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        key = body.get("starting")
        if key == {"k": 2}:
            return ok({"results": [{"id": 3}], "next": None})
        return ok(pages[key])

    client, rec = make(handler)
    assert client.find_org_members("org-a", level="ADMIN") == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert [b.get("starting") for b in rec.bodies] == [None, "c1", {"k": 2}]
    assert all(b["limit"] == 1000 and b["level"] == "ADMIN" for b in rec.bodies)


@pytest.mark.parametrize(
    "bad_page",
    [
        {"next": None},
        {"results": "nope", "next": None},
        {"results": [1, 2], "next": None},
        {"results": []},
    ],
)
def test_malformed_page_is_read_incomplete(bad_page: dict[str, Any]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "starting" in json.loads(request.content):
            return ok(bad_page)
        return ok({"results": [{"id": "x"}], "next": "p2"})

    client, _ = make(handler)
    with pytest.raises(ReadIncompleteError, match="/org-a/findProjects"):
        client.find_org_projects("org-a")


def test_repeated_cursor_is_read_incomplete() -> None:
    pages = iter(range(100))
    client, _ = make(lambda r: ok({"results": [{"id": f"x{next(pages)}"}], "next": "same"}))
    with pytest.raises(ReadIncompleteError, match="cursor"):
        client.find_org_apps("org-a")


@pytest.mark.parametrize("etype", sorted(API_ERRORS_BY_TYPE))
def test_error_types_map_to_classes(etype: str) -> None:
    status = (
        422 if etype not in ("ServiceUnavailable", "InternalError", "RateLimitConditional") else 400
    )
    client, _ = make(lambda r: err(status, etype, "boom", **{"X-Request-ID": "req-9"}))
    with pytest.raises(API_ERRORS_BY_TYPE[etype]) as info:
        client.describe_org("org-a")
    e = info.value
    assert (e.route, e.status, e.request_id, e.api_message, e.error_type) == (
        "/org-a/describe",
        status,
        "req-9",
        "boom",
        etype,
    )


def test_unknown_error_type_is_plain_api_error() -> None:
    client, _ = make(lambda r: err(418, "Teapot", "short and stout"))
    with pytest.raises(ApiError) as info:
        client.describe_org("org-a")
    assert type(info.value) is ApiError and info.value.error_type == "Teapot"
    assert "Teapot: short and stout" in str(info.value)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>hi</html>"),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(404, text="not json"),
        httpx.Response(400, json={"error": {"type": "InvalidInput"}}),  # no message
        httpx.Response(400, json={"oops": 1}),
    ],
)
def test_non_json_or_malformed_is_transport_error(response: httpx.Response) -> None:
    client, rec = make(lambda r: response, max_attempts=3)
    with pytest.raises(TransportError):
        client.describe_org("org-a")
    # A bad 2xx body is retried (idempotent); a 4xx never is.
    assert len(rec.requests) == (3 if response.status_code == 200 else 1)


def test_retry_after_honoured_and_capped_by_remaining_time() -> None:
    clock = FakeClock()
    client, rec = make(
        sequence(
            err(503, "ServiceUnavailable", retryAfter="3", **{"Retry-After": "3"}), ok({"id": "x"})
        ),
        clock=clock,
    )
    client.describe_org("org-a")
    assert clock.sleeps == [3.0]

    # Throttling is not charged to the call's budget (as dxpy): the run's deadline bounds it.
    clock = FakeClock()
    client, rec = make(
        lambda r: err(429, "RateLimitConditional", **{"Retry-After": "50"}),
        clock=clock,
        max_total_seconds=10,
        limits=PlatformLimits(run_deadline=120),
    )
    with pytest.raises(PlatformOutage, match="DXORG_RUN_DEADLINE_SECONDS") as raised:
        client.describe_org("org-a")
    # 50 + 50 fit, the third wait is capped at the 20 s left; then nothing more is sent.
    assert clock.sleeps == [50.0, 50.0, 20.0]
    assert len(rec.requests) == 3
    assert raised.value.maybe_landed is False


def test_backoff_is_capped_exponential() -> None:
    clock = FakeClock()
    client, rec = make(
        lambda r: err(500, "InternalError"), clock=clock, max_attempts=8, max_total_seconds=1000
    )
    with pytest.raises(InternalError):
        client.describe_org("org-a")
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert len(rec.requests) == 8


def test_full_jitter_stays_within_bounds() -> None:
    policy = RetryPolicy()
    for n in range(1, 12):
        for _ in range(20):
            assert 0 <= policy.backoff(n) <= min(30.0, 0.5 * 2 ** (n - 1))


def test_total_time_bound_cuts_the_wait_to_the_deadline() -> None:
    """A backoff (10 s) longer than the call's time budget (0.3 s) is cut to the budget:
    one more attempt at the deadline, then the error. The clock is injected: the bound is
    the policy's arithmetic, not how fast this machine happens to be."""
    clock = FakeClock()
    client, rec = make(
        lambda r: err(500, "InternalError"),
        clock=clock,
        max_total_seconds=0.3,
        max_attempts=100,
        backoff_base=10,
    )
    with pytest.raises(InternalError):
        client.describe_org("org-a")
    assert clock.sleeps == [pytest.approx(0.3)]
    assert len(rec.requests) == 2  # first, then one more at the deadline


def test_4xx_never_retried() -> None:
    client, rec = make(lambda r: err(422, "InvalidInput"))
    with pytest.raises(InvalidInput):
        client.describe_org("org-a")
    assert len(rec.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [
        err(500, "InternalError"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
)
def test_non_retryable_unknown_outcome(failure: httpx.Response | Exception) -> None:
    # /project-xxxx/invite is not retryable: no landed check, fail after one attempt.
    client, rec = make(sequence(failure, ok({"id": "project-a"})), cls=WriteClient)
    with pytest.raises(ApiError) as info:
        client.call("/project-a/invite", {"invitee": "user-b"})
    assert len(rec.requests) == 1
    assert isinstance(
        info.value, InternalError if isinstance(failure, httpx.Response) else TransportError
    )

    # landed() says it did: success without a second request.
    client, rec = make(sequence(failure, ok({"id": "project-a"})), cls=WriteClient)
    outcome = client.call("/project-a/invite", {"invitee": "user-b"}, landed=lambda: True)
    assert outcome.landed_by_check and outcome.attempts == 1 and len(rec.requests) == 1

    # landed() says it did not: retried, and the retry's answer is the result.
    client, rec = make(sequence(failure, ok({"id": "project-a"})), cls=WriteClient)
    outcome = client.call("/project-a/invite", {"invitee": "user-b"}, landed=lambda: False)
    assert not outcome.landed_by_check and outcome.attempts == 2
    assert outcome.body == {"id": "project-a"} and outcome.status == 200


@pytest.mark.parametrize(
    "failure",
    [
        err(503, "ServiceUnavailable"),
        err(429, "RateLimitConditional"),
        httpx.ConnectError("refused"),
    ],
)
def test_non_retryable_retried_when_it_cannot_have_landed(
    failure: httpx.Response | Exception,
) -> None:
    checks: list[int] = []
    # A first call reaches the server, so a later refused connection is a blip, not a
    # wrong address.
    client, _ = make(
        sequence(ok({"id": "user-a"}), failure, ok({"id": "project-a"})), cls=WriteClient
    )
    assert client.whoami() == "user-a"
    outcome = client.call("/project-a/invite", {"invitee": "user-b"}, landed=counting(checks))
    assert outcome.attempts == 2 and not outcome.landed_by_check and checks == []


def test_landed_check_failure_is_transport_error() -> None:
    def landed() -> bool:
        raise InternalError("/org-a/findMembers", "down")

    client, _ = make(sequence(err(500, "InternalError"), ok({})), cls=WriteClient)
    with pytest.raises(TransportError, match="landed check failed"):
        client.call("/project-a/invite", {}, landed=landed)


def test_user_new_goes_to_auth_server() -> None:
    client, rec = make(lambda r: ok({"id": "user-dave"}), cls=WriteClient)
    outcome = client.call("/user/new", {"username": "Dave", "email": "d@x"})
    assert outcome.body == {"id": "user-dave"}
    assert str(rec.requests[0].url) == "http://auth.test:81/user/new"
    assert rec.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_user_new_without_auth_server_is_config_error() -> None:
    cfg = PlatformConfig(protocol="http", host="weird", port=1, token=TOKEN, auth_server_url=None)
    client, rec = make(lambda r: ok({}), cls=WriteClient, config=cfg)
    with pytest.raises(ConfigError):
        client.call("/user/new", {"username": "x"})
    assert rec.requests == []


def test_token_never_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    failures: list[Handler] = [
        lambda r: err(401, "InvalidAuthentication", f"bad token {TOKEN}"),
        lambda r: httpx.Response(
            422, json={"error": {"type": "InvalidInput", "message": "x", "details": {"t": TOKEN}}}
        ),
        lambda r: httpx.Response(500, text=f"crash {TOKEN}"),
        lambda r: err(503, "ServiceUnavailable", TOKEN),
        sequence(httpx.ConnectError(f"refused {TOKEN}")),
        sequence(httpx.ReadTimeout(f"slow {TOKEN}")),
        lambda r: httpx.Response(200, text=TOKEN),
    ]
    for handler in failures:
        client, _ = make(handler, cls=WriteClient, max_attempts=2)
        for call in (
            lambda c: c.describe_org("org-a"),
            lambda c: c.call("/org-a/invite", {}),
        ):
            with pytest.raises(ApiError) as info:
                call(client)
            e = info.value
            assert TOKEN not in str(e) and TOKEN not in repr(e)
            assert TOKEN not in json.dumps(e.details) if e.details is not None else True
    assert caplog.records
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
    assert TOKEN not in repr(client) and TOKEN not in str(client.config)


def test_map_preserves_order_and_bounds_concurrency() -> None:
    client, _ = make(lambda r: ok({}))
    client._concurrency = 3
    active = 0
    peak = 0
    lock = threading.Lock()

    def work(i: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.01)
        with lock:
            active -= 1
        return i * i

    assert client.map(work, range(20)) == [i * i for i in range(20)]
    assert peak <= 3


def test_map_raises_first_error_after_all_finish() -> None:
    client, _ = make(lambda r: ok({}))
    done: list[int] = []

    def work(i: int) -> int:
        time.sleep(0.005 * (10 - i))
        done.append(i)
        if i in (3, 7):
            raise ValueError(f"item {i}")
        return i

    with pytest.raises(ValueError, match="item 3"):
        client.map(work, range(10))
    assert sorted(done) == list(range(10))


def test_parse_retry_after() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


def test_late_landing_is_found_when_the_retry_is_refused() -> None:
    # Attempt 1 times out and seems not to have landed; it lands late, so the retry is
    # refused as a duplicate. A second landed check turns that into success.
    answers = iter([False, True])
    client, rec = make(
        sequence(httpx.ReadTimeout("slow"), err(422, "InvalidState", "already invited")),
        cls=WriteClient,
    )
    outcome = client.call("/project-a/invite", {"invitee": "user-b"}, landed=lambda: next(answers))
    assert outcome.landed_by_check and outcome.attempts == 2 and len(rec.requests) == 2


def test_retryable_call_is_resent_without_a_check_and_a_refused_repeat_is_checked() -> None:
    # /org-xxxx/invite is retryable: after a lost answer it is simply sent again.
    checks: list[int] = []
    client, rec = make(sequence(httpx.ReadTimeout("slow"), ok({"id": "org-a"})), cls=WriteClient)
    outcome = client.call("/org-a/invite", {"invitee": "user-b"}, landed=counting(checks))
    assert outcome.attempts == 2 and outcome.status == 200 and checks == []

    # A platform that refuses the repeat ("already a member") had made the change: the
    # landed check, consulted only then, turns the refusal into success.
    client, rec = make(
        sequence(httpx.ReadTimeout("slow"), err(422, "InvalidState", "already a member")),
        cls=WriteClient,
    )
    outcome = client.call("/org-a/invite", {"invitee": "user-b"}, landed=lambda: True)
    assert outcome.landed_by_check and outcome.attempts == 2 and len(rec.requests) == 2

    # ... and when the check finds nothing, the refusal stands.
    client, rec = make(
        sequence(httpx.ReadTimeout("slow"), err(422, "InvalidState", "already a member")),
        cls=WriteClient,
    )
    with pytest.raises(InvalidState):
        client.call("/org-a/invite", {"invitee": "user-b"}, landed=lambda: False)


def test_refusal_without_earlier_unknown_is_not_rechecked() -> None:
    checks: list[int] = []
    client, _ = make(lambda r: err(422, "InvalidState", "already a member"), cls=WriteClient)
    with pytest.raises(ApiError):
        client.call("/org-a/invite", {}, landed=counting(checks))
    assert checks == []


def closed_port() -> int:
    """A loopback port nobody listens on: bound, then closed."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_on_the_first_call_fails_at_once_naming_the_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = closed_port()
    cfg = PlatformConfig(
        protocol="http",
        host="127.0.0.1",
        port=port,
        token=TOKEN,
        origins={"host": "the environment variable DX_APISERVER_HOST",
                 "port": "DX_APISERVER_PORT in /conf/environment.json"},
    )  # fmt: skip
    clock = FakeClock()
    caplog.set_level(logging.INFO)
    client = WriteClient(cfg, retry=clock.policy(max_attempts=8, max_total_seconds=120))
    with pytest.raises(TransportError) as info:
        client.describe_org("org-a")
    message = str(info.value)
    assert clock.sleeps == [] and info.value.attempts == 1
    assert f"http://127.0.0.1:{port}" in message
    assert "port from DX_APISERVER_PORT in /conf/environment.json" in message
    assert "host from the environment variable DX_APISERVER_HOST" in message
    assert "Connection refused" in message and "does not retry" in message
    assert TOKEN not in message and TOKEN not in repr(info.value)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]
    client.close()


def test_an_unresolvable_host_on_the_first_call_fails_at_once() -> None:
    # What httpx raises when the name does not resolve (no real DNS lookup in a test).
    clock = FakeClock()
    client, rec = make(
        sequence(httpx.ConnectError("[Errno -2] Name or service not known")), clock=clock
    )
    with pytest.raises(TransportError, match=r"http://dx\.test:80: ConnectError") as info:
        client.whoami()
    assert clock.sleeps == [] and info.value.attempts == 1 and len(rec.requests) == 1
    assert "Name or service not known" in str(info.value)


def test_connection_refused_after_a_success_is_retried() -> None:
    clock = FakeClock()
    client, rec = make(
        sequence(
            ok({"id": "user-a"}),
            httpx.ConnectError("[Errno 111] Connection refused"),
            httpx.ConnectError("[Errno 111] Connection refused"),
            ok({"id": "org-a"}),
        ),
        clock=clock,
    )
    assert client.whoami() == "user-a"
    assert client.describe_org("org-a") == {"id": "org-a"}
    assert len(rec.requests) == 4 and len(clock.sleeps) == 2


# ---------------------------------------------------------------- no header in any message


@pytest.mark.parametrize(
    "failure",
    [
        httpx.LocalProtocolError("Illegal header value b'Bearer hdr-secret-value\\n'"),
        httpx.DecodingError("bad body near hdr-secret-value"),
        httpx.TooManyRedirects("hdr-secret-value"),
    ],
)
def test_an_httpx_error_that_may_quote_our_request_is_never_shown(failure: Exception) -> None:
    # The text of these errors comes from the request this client wrote (h11 quotes the
    # offending header): the message says what went wrong without it.
    client, _ = make(sequence(failure), cls=WriteClient, max_attempts=2)
    with pytest.raises(ApiError) as info:
        client.describe_org("org-a")
    assert "hdr-secret-value" not in str(info.value) and "Bearer" not in str(info.value)
    assert type(failure).__name__ in str(info.value)


def test_the_os_reason_for_a_failed_connection_is_kept() -> None:
    client, _ = make(
        sequence(ok({"id": "user-a"}), httpx.ConnectError("[Errno 111] Connection refused")),
        max_attempts=2,
    )
    client.whoami()
    with pytest.raises(TransportError, match=r"ConnectError: \[Errno 111\] Connection refused"):
        client.describe_org("org-a")


# ---------------------------------------------------------------- listings


@pytest.mark.parametrize(
    "pages",
    [
        # within one page
        [{"results": [{"id": "user-a"}, {"id": "user-b"}, {"id": "user-a"}], "next": None}],
        # across pages
        [
            {"results": [{"id": "user-a"}, {"id": "user-b"}], "next": "p2"},
            {"results": [{"id": "user-c"}, {"id": "user-b"}], "next": None},
        ],
    ],
    ids=["within-a-page", "across-pages"],
)
def test_a_listing_with_a_duplicate_id_is_read_incomplete(pages: list[dict[str, Any]]) -> None:
    by_cursor: dict[str | None, dict[str, Any]] = {None: pages[0]}
    if len(pages) > 1:
        by_cursor["p2"] = pages[1]
    client, rec = make(lambda r: ok(by_cursor[json.loads(r.content).get("starting")]))
    with pytest.raises(ReadIncompleteError, match=r"/org-a/findMembers: user-[ab] is listed twice"):
        client.find_org_members("org-a")
    assert len(rec.requests) == len(pages)


def test_a_listing_row_without_an_id_is_read_incomplete() -> None:
    client, _ = make(lambda r: ok({"results": [{"id": "p-1"}, {"level": "VIEW"}], "next": None}))
    with pytest.raises(ReadIncompleteError, match="has no id"):
        client.find_org_projects("org-a")


def test_distinct_ids_across_pages_are_all_returned() -> None:
    pages: dict[str | None, dict[str, Any]] = {
        None: {"results": [{"id": "app-1"}, {"id": "app-2"}], "next": "p2"},
        "p2": {"results": [{"id": "app-3"}], "next": None},
    }
    client, _ = make(lambda r: ok(pages[json.loads(r.content).get("starting")]))
    assert [a["id"] for a in client.find_org_apps("org-a")] == ["app-1", "app-2", "app-3"]


# ---------------------------------------------------------------- retry classes


@pytest.mark.parametrize(
    ("route", "resent"),
    [
        ("/org-a/invite", True),
        ("/org-a/removeMember", True),
        ("/org-a/setMemberAccess", True),
        ("/org-a/update", True),
        ("/project-a/setProperties", True),
        ("/project-a/decreasePermissions", True),
        ("/app-a/addTags", True),
        ("/app-a/removeTags", True),
        ("/app-a/addAuthorizedUsers", True),
        ("/app-a/removeAuthorizedUsers", True),
        ("/app-a/addDevelopers", True),
        ("/project-a/invite", False),
        ("/org/new", False),
        ("/user/new", False),
        ("/user-a/update", False),
        ("/project-a/clone", False),  # not in dxorg's table: a write, so never resent
    ],
)
def test_a_lost_answer_is_resent_exactly_for_retryable_routes(route: str, resent: bool) -> None:
    client, rec = make(sequence(httpx.Response(200, json={"id": "x"})), cls=WriteClient)
    client.whoami()  # the server has answered once: later failures are not a wrong address
    rec.handler = sequence(
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        ok({"id": "x"}),
    )
    if resent:
        assert client.call(route, {}).attempts == 2
    else:
        with pytest.raises(TransportError, match="disconnected"):
            client.call(route, {})
    assert len(rec.requests) == 1 + (2 if resent else 1)


# ---------------------------------------------------------------- the auth server


@pytest.mark.parametrize("status", [200, 404, 405, 500])
def test_an_auth_server_that_answers_at_all_is_no_problem(status: int) -> None:
    client, rec = make(lambda r: httpx.Response(status, text="hello"))
    assert client.auth_server_problem() is None
    assert client.auth_server_problem() is None  # probed once per client
    (probe,) = rec.requests
    assert probe.method == "GET" and str(probe.url) == "http://auth.test:81/"
    assert "Authorization" not in probe.headers and probe.content == b""


def test_the_probe_needs_no_token() -> None:
    cfg = PlatformConfig(protocol="http", host="dx.test", port=80, auth_server_url="http://a.test")
    client, rec = make(lambda r: httpx.Response(404), config=cfg)
    assert client.auth_server_problem() is None and len(rec.requests) == 1


def test_no_auth_server_configured_is_a_sentence_naming_what_is_missing() -> None:
    cfg = PlatformConfig(
        protocol="http",
        host="127.0.0.1",
        port=1,
        token=TOKEN,
        auth_server_url=None,
        auth_server_problem="not set: DX_AUTHSERVER_PORT",
    )
    client, rec = make(lambda r: ok({}), config=cfg)
    problem = client.auth_server_problem()
    assert problem is not None and "/user/new" in problem and "DX_AUTHSERVER_PORT" in problem
    assert rec.requests == []


def test_an_unreachable_auth_server_is_a_sentence_naming_its_url_and_origin() -> None:
    port = closed_port()
    cfg = PlatformConfig(
        protocol="http",
        host="127.0.0.1",
        port=1,
        token=TOKEN,
        auth_server_url=f"http://127.0.0.1:{port}",
        origins={"auth_server": "the environment variables DX_AUTHSERVER_HOST/PORT"},
    )
    with ReadClient(cfg) as client:
        problem = client.auth_server_problem()
    assert problem is not None
    assert f"http://127.0.0.1:{port} (auth server from the environment variables" in problem
    assert "did not answer" in problem and "Connection refused" in problem
    assert TOKEN not in problem


def test_an_api_server_that_is_not_a_url_is_a_config_error() -> None:
    cfg = PlatformConfig(
        protocol="http",
        host="[::1",
        port=9,
        token=TOKEN,
        origins={"host": "the environment variable DX_APISERVER_HOST"},
    )
    with pytest.raises(ConfigError, match=r"http://\[::1:9 \(host from the environment"):
        ReadClient(cfg)
