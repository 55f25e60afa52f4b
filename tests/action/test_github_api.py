"""The GitHub REST client on its own: paging stays on the API's origin, retries (through
the platform client's policy, honouring GitHub's rate limits), errors."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import httpx
import pytest

from reconciler.errors import ConfigError
from reconciler.github.api import GitHubClient, GitHubError
from reconciler.platform import RetryPolicy

TOKEN = "ghs_apiClientToken99"
EPOCH = 1_800_000_000.0  # the fake wall clock's "now"


class FakeClock:
    """Moves only when the retry policy sleeps: the waits asked for, without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client(handler, sleeps=None, clock=None, **policy) -> GitHubClient:
    clock = clock or FakeClock()
    if sleeps is not None:
        clock.sleeps = sleeps
    policy.setdefault("jitter", lambda upper: upper)  # deterministic: the cap itself
    return GitHubClient(
        "https://api.github.example",
        TOKEN,
        "acme/orgs",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(sleep=clock.sleep, clock=lambda: clock.now, **policy),
        wall_clock=lambda: EPOCH + clock.now,
    )


def answers(*items):
    """A handler giving each answer in turn (the last one from then on); records methods."""
    queue = list(items)
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, calls


COMMENT = {"id": 5, "body": "hello", "user": {"login": "bot"}}


def test_a_next_page_on_another_origin_is_refused_before_the_token_goes_there():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.host))
        return httpx.Response(
            200,
            json=[{"id": 1, "body": "x", "user": {"login": "a"}}],
            headers={"Link": '<https://collector.example/steal?page=2>; rel="next"'},
        )

    with pytest.raises(GitHubError, match="next page is on another origin"):
        client(handler).list_comments(7)
    assert seen == ["api.github.example"]


def test_gateway_errors_are_retried_but_a_post_is_never_sent_twice():
    calls: list[str] = []
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if request.method == "GET" and len(calls) < 3:
            return httpx.Response(502, json={"message": "Bad Gateway"})
        if request.method == "POST":
            return httpx.Response(502, json={"message": "Bad Gateway"})
        return httpx.Response(200, json=[])

    github = client(handler, sleeps)
    assert github.list_issues(label="dxorg-drift") == []
    assert calls == ["GET", "GET", "GET"] and sleeps == [0.5, 1.0]
    calls.clear()
    with pytest.raises(GitHubError, match=r"POST /repos/acme/orgs/issues/7/comments: HTTP 502"):
        github.create_comment(7, "hello")
    assert calls == ["POST"]


def test_error_messages_name_the_call_and_never_the_token():
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        return httpx.Response(404, json={"message": "Not Found"})

    with pytest.raises(GitHubError) as caught:
        client(handler).update_issue(3, {"state": "closed"})
    assert str(caught.value) == "GitHub PATCH /repos/acme/orgs/issues/3: HTTP 404: Not Found"
    assert caught.value.status == 404
    assert TOKEN not in repr(client(handler))


def test_the_module_runs_as_the_action_runs_it(tmp_path):
    (tmp_path / "orgs").mkdir()
    (tmp_path / "orgs" / "org-demo.yaml").write_text("org: org-demo\n")
    output = tmp_path / "output"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
    env.update(INPUT_COMMAND="validate", GITHUB_OUTPUT=str(output))
    result = subprocess.run(
        [sys.executable, "-m", "reconciler.github_action"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 1 org(s) in 1 file(s)" in result.stdout
    assert "summary<<ghadelimiter_" in output.read_text()
    env["INPUT_COMMAND"] = "nope"
    failed = subprocess.run(
        [sys.executable, "-m", "reconciler.github_action"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 1
    assert "::error::input command: expected one of validate, plan, apply, drift" in failed.stdout


# ---------------------------------------------------------------- rate limits


@pytest.mark.parametrize(
    ("limited", "wait"),
    [
        (httpx.Response(429, headers={"retry-after": "7"}, json={"message": "slow down"}), 7.0),
        (
            httpx.Response(
                403,
                headers={"retry-after": "3"},
                json={"message": "You have exceeded a secondary rate limit."},
            ),
            3.0,
        ),
        (
            httpx.Response(
                403,
                headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(EPOCH) + 42)},
                json={"message": "API rate limit exceeded for installation."},
            ),
            42.0,
        ),
        (
            httpx.Response(
                429,
                headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(EPOCH) - 5)},
                json={"message": "API rate limit exceeded."},
            ),
            0.0,  # the reset has passed: go again now
        ),
        (
            httpx.Response(
                403, json={"message": "You have exceeded a secondary rate limit. Please wait."}
            ),
            60.0,  # no header: at least a minute, as GitHub's guide says
        ),
    ],
    ids=["429-retry-after", "403-retry-after", "primary-reset", "reset-passed", "secondary-bare"],
)
def test_a_rate_limited_request_is_sent_again_after_the_wait_github_asks(
    limited: httpx.Response, wait: float
) -> None:
    # Even a POST: a rate-limited request was refused before GitHub acted on it.
    handler, calls = answers(limited, httpx.Response(201, json=COMMENT))
    clock = FakeClock()
    github = client(handler, clock=clock)
    assert github.create_comment(7, "hello").id == 5
    assert calls == ["POST", "POST"] and clock.sleeps == [wait]


def test_a_wait_beyond_the_budget_gives_up_at_once_saying_why() -> None:
    reset = str(int(EPOCH) + 3600)
    handler, calls = answers(
        httpx.Response(
            403,
            headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
            json={"message": "API rate limit exceeded for installation."},
        )
    )
    clock = FakeClock()
    with pytest.raises(GitHubError) as caught:
        client(handler, clock=clock, max_total_seconds=120).list_issues(label="dxorg-drift")
    assert calls == ["GET"] and clock.sleeps == []
    assert "rate limited: GitHub asks to wait 3600 s" in str(caught.value)
    assert caught.value.status == 403


def test_a_plain_403_is_final() -> None:
    handler, calls = answers(
        httpx.Response(403, json={"message": "Resource not accessible by integration"})
    )
    clock = FakeClock()
    with pytest.raises(GitHubError, match="HTTP 403: Resource not accessible by integration"):
        client(handler, clock=clock).update_comment(5, "x")
    assert calls == ["PATCH"] and clock.sleeps == []


def test_repeated_secondary_limits_back_off_within_the_budget(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.github")
    handler, calls = answers(
        httpx.Response(429, headers={"retry-after": "30"}, json={"message": "slow"})
    )
    clock = FakeClock()
    with pytest.raises(GitHubError, match="HTTP 429"):
        client(handler, clock=clock, max_total_seconds=100).list_comments(7)
    # 30 + 30 + 30 fit in 100 s; the fourth wait does not, so no fourth sleep.
    assert clock.sleeps == [30.0, 30.0, 30.0] and len(calls) == 4
    logged = [r.getMessage() for r in caplog.records]
    assert any("retrying GitHub GET /repos/acme/orgs/issues/7/comments" in m for m in logged)
    assert all(TOKEN not in m for m in logged)


# ---------------------------------------------------------------- what is safe to repeat


def test_a_lost_answer_repeats_only_what_is_safe_to_repeat() -> None:
    lost = httpx.RemoteProtocolError("Server disconnected without sending a response.")
    handler, calls = answers(lost, httpx.Response(200, json=COMMENT))
    assert client(handler).update_comment(5, "x").id == 5
    assert calls == ["PATCH", "PATCH"]

    handler, calls = answers(lost, httpx.Response(201, json=COMMENT))
    with pytest.raises(GitHubError, match=r"no answer \(RemoteProtocolError\)"):
        client(handler).create_comment(7, "hello")
    assert calls == ["POST"]  # it may have been created: never a second comment


def test_a_connection_that_was_never_made_is_retried_for_any_verb() -> None:
    handler, calls = answers(httpx.ConnectError("refused"), httpx.Response(201, json=COMMENT))
    assert client(handler).create_comment(7, "hello").id == 5
    assert calls == ["POST", "POST"]


def test_a_delete_whose_answer_was_lost_and_then_404s_was_done() -> None:
    handler, calls = answers(
        httpx.ReadTimeout("slow"), httpx.Response(404, json={"message": "Not Found"})
    )
    client(handler).delete_comment(5)
    assert calls == ["DELETE", "DELETE"]
    # Without the lost answer, a 404 is what it says.
    handler, calls = answers(httpx.Response(404, json={"message": "Not Found"}))
    with pytest.raises(GitHubError, match="HTTP 404"):
        client(handler).delete_comment(5)


@pytest.mark.parametrize("token", ["ghs_abc\u00e9", "ghs_abc\ndef"])
def test_a_github_token_no_header_can_carry_is_refused_before_any_request(token: str) -> None:
    handler, calls = answers(httpx.Response(200, json=[]))
    with pytest.raises(ConfigError, match="the GitHub token from the github-token input") as caught:
        GitHubClient("https://api.github.example", token, "acme/orgs",
                     transport=httpx.MockTransport(handler))  # fmt: skip
    assert "abc" not in str(caught.value) and calls == []


@pytest.mark.parametrize(
    ("api_url", "graphql"),
    [
        ("https://api.github.example", "https://api.github.example/graphql"),
        ("https://ghes.example/api/v3", "https://ghes.example/api/graphql"),
    ],
)
def test_whoami_asks_graphql_on_the_apis_own_origin_and_retries_the_query(api_url, graphql):
    """GitHub Enterprise Server serves GraphQL beside /api/v3; the viewer query is a read,
    so a lost answer is asked again (a POST that creates never is)."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if len(seen) == 1:
            return httpx.Response(502)
        return httpx.Response(200, json={"data": {"viewer": {"login": "x", "__typename": "Bot"}}})

    github = GitHubClient(
        api_url,
        TOKEN,
        "acme/orgs",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(sleep=lambda s: None, jitter=lambda upper: upper),
    )
    me = github.whoami()
    assert me is not None and (me.login, me.bot, str(me)) == ("x", True, "x[bot]")
    assert seen == [graphql, graphql]


def test_whoami_is_none_when_github_will_not_say():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/graphql"):
            return httpx.Response(200, json={"errors": [{"message": "no"}]})
        return httpx.Response(403, json={"message": "Resource not accessible by integration"})

    assert client(handler).whoami() is None
