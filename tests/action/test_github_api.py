"""The GitHub REST client on its own: paging stays on the API's origin, retries, errors."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from reconciler.github.api import GitHubClient, GitHubError

TOKEN = "ghs_apiClientToken99"


def client(handler, sleeps=None) -> GitHubClient:
    return GitHubClient(
        "https://api.github.example",
        TOKEN,
        "acme/orgs",
        transport=httpx.MockTransport(handler),
        sleep=(sleeps.append if sleeps is not None else lambda _: None),
    )


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
