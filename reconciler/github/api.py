"""The few GitHub endpoints dxorg uses: issue comments, issues, who the token is (GraphQL
`viewer`, else REST `GET /user`), and, for the access review's approval evidence, the pull
requests of a commit and their reviews (read-only).

Every call carries the workflow's token as ``Authorization: Bearer``; list endpoints are
followed page by page through the ``Link`` header, and only while the next page stays on
the API's own origin, so the token is never sent anywhere else. Error messages name the
method, the path and GitHub's message: never a header.

Retries go through the platform client's policy (`platform.retry.run_with_retries`):
- A rate limit (403 or 429 with ``retry-after``, or with ``x-ratelimit-remaining: 0``
  and ``x-ratelimit-reset``, or a 403/429 saying "secondary rate limit") was refused
  unprocessed: any verb is sent again after the wait GitHub asks for (a minute when it
  names none, as GitHub's rate-limit guide says). A wait longer than the budget left
  gives up at once rather than sleep for nothing.
- A connection that could not be made never reached GitHub: any verb is sent again.
- A 502/503/504 or a lost answer may have been acted on: GET, PATCH, PUT and DELETE
  set or read a state and are sent again; POST creates, so it is never repeated. A
  DELETE answered 404 after a lost answer was done by the earlier attempt.
- Any other error is final.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Self

import httpx

from reconciler import __version__
from reconciler.errors import DxorgError
from reconciler.platform.config import checked_token
from reconciler.platform.retry import (
    AttemptFailed,
    RetryPolicy,
    parse_retry_after,
    run_with_retries,
)

log = logging.getLogger("reconciler.github")

PER_PAGE = 100
# Answers after which the request may or may not have been acted on.
RETRIED_STATUSES = frozenset({502, 503, 504})
# Verbs whose repetition leaves the same state as one request; POST creates.
REPEATABLE_VERBS = frozenset({"GET", "HEAD", "PATCH", "PUT", "DELETE"})
# GitHub's guide: with no retry-after and requests left, wait at least a minute.
SECONDARY_RATE_LIMIT_WAIT = 60.0
# Errors raised before the request left this machine: GitHub never saw it.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class GitHubError(DxorgError):
    """GitHub answered with an error, or not at all."""

    def __init__(self, method: str, path: str, message: str, status: int | None = None) -> None:
        self.method = method
        self.path = path
        self.status = status
        code = f"HTTP {status}: " if status is not None else ""
        super().__init__(f"GitHub {method} {path}: {code}{message}")


@dataclass(frozen=True)
class Actor:
    """Who wrote a comment or an issue, or whom a token acts as.

    REST names an app's bot `slug[bot]` (type "Bot"); GraphQL names it `slug` (typename
    "Bot"). `same` compares the login without that suffix, bot with bot, case-insensitively
    as GitHub does: a user can never be taken for an app, nor the reverse.
    """

    login: str
    bot: bool = False

    @property
    def key(self) -> tuple[str, bool]:
        return (self.login.removesuffix("[bot]").lower(), self.bot)

    def same(self, other: Actor) -> bool:
        return bool(self.login) and self.key == other.key

    def __str__(self) -> str:
        return self.login if not self.bot or self.login.endswith("[bot]") else f"{self.login}[bot]"


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    author: Actor
    url: str = ""


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    body: str
    state: str
    url: str
    author: Actor = Actor("")


@dataclass(frozen=True)
class PullSummary:
    """A pull request as `GET /repos/{o}/{r}/commits/{sha}/pulls` lists it."""

    number: int
    url: str
    author: Actor
    state: str  # open or closed
    merged_at: str | None  # ISO 8601; None: not merged


@dataclass(frozen=True)
class Review:
    """A submitted pull-request review, as `GET .../pulls/{n}/reviews` lists it."""

    author: Actor
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
    submitted_at: str | None


class GitHubClient:
    """A client for one repository (``owner/name``) of one GitHub API (``GITHUB_API_URL``)."""

    def __init__(
        self,
        api_url: str,
        token: str,
        repository: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """`wall_clock` (epoch seconds) reads ``x-ratelimit-reset``; a hook for tests."""
        if not token:
            raise DxorgError("no GitHub token: set the github-token input")
        token = checked_token(token, "the github-token input", what="GitHub token")
        if repository.count("/") != 1:
            raise DxorgError(f"GITHUB_REPOSITORY={repository!r}: expected owner/name")
        self.repository = repository
        self._origin = httpx.URL(api_url.rstrip("/") + "/")
        # GitHub Enterprise Server serves REST under /api/v3 and GraphQL at /api/graphql.
        base = api_url.rstrip("/")
        self._graphql = (
            base.removesuffix("/v3") + "/graphql" if base.endswith("/api/v3") else base + "/graphql"
        )
        self._retry = retry or RetryPolicy()
        self._wall_clock = wall_clock
        # Set by `interrupt`: a wait between retries ends at once and nothing more is sent.
        self._interrupted = threading.Event()
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": f"dxorg/{__version__}",
            },
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"GitHubClient({str(self._origin)!r}, {self.repository!r})"

    def close(self) -> None:
        self._http.close()

    def interrupt(self) -> None:
        """Send nothing more (Ctrl-C or SIGTERM while a call runs on another thread): a
        wait for a rate limit ends now, and the call fails instead of trying again."""
        self._interrupted.set()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        read_only: bool = False,
    ) -> httpx.Response:
        shown = httpx.URL(url).path
        repeatable = read_only or method in REPEATABLE_VERBS
        earlier_unknown = False

        def attempt() -> httpx.Response:
            nonlocal earlier_unknown
            if self._interrupted.is_set():
                raise AttemptFailed(
                    GitHubError(method, shown, "not sent: interrupted"), retryable=False
                )
            try:
                response = self._http.request(method, url, json=json, params=params)
            except httpx.HTTPError as exc:
                # Only the class: an httpx message may quote a header of ours.
                error = GitHubError(method, shown, f"no answer ({type(exc).__name__})")
                if isinstance(exc, _NOT_SENT_ERRORS):
                    raise AttemptFailed(error, retryable=True) from None
                earlier_unknown = True
                raise AttemptFailed(error, retryable=repeatable) from None
            if response.is_success:
                return response
            if method == "DELETE" and response.status_code == 404 and earlier_unknown:
                return response  # the attempt whose answer was lost did the deleting
            message = _message(response)
            wait = _rate_limit_wait(response, message, self._wall_clock)
            if wait is not None:
                error = GitHubError(
                    method,
                    shown,
                    f"{message} (rate limited: GitHub asks to wait {wait:.0f} s)",
                    response.status_code,
                )
                raise AttemptFailed(error, retryable=True, retry_after=wait, must_wait=True)
            error = GitHubError(method, shown, message, response.status_code)
            if response.status_code in RETRIED_STATUSES:
                earlier_unknown = True
                raise AttemptFailed(error, retryable=repeatable)
            raise AttemptFailed(error, retryable=False)

        return run_with_retries(
            self._retry, f"GitHub {method} {shown}", attempt, logger=log, stop=self._interrupted
        )

    def _json(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return _decode(self._send(method, path, json=body))

    # -- who this token is -------------------------------------------------------------

    def whoami(self) -> Actor | None:
        """Whom the token acts as, to tell dxorg's own comments and issues from others';
        None when GitHub says neither way.

        GraphQL's `viewer` answers for every kind of token, the workflow's GITHUB_TOKEN
        (an app installation token: the `github-actions` bot) included; REST `GET /user`
        answers only for a user's token, and is the fallback where GraphQL is missing.
        """
        query = {"query": "{ viewer { login __typename } }"}
        try:  # a query: sending it again changes nothing
            data = _decode(self._send("POST", self._graphql, json=query, read_only=True))
        except GitHubError:
            data = None
        viewer = _field(_field(data, "data"), "viewer")
        if isinstance(viewer, dict) and isinstance(viewer.get("login"), str) and viewer["login"]:
            return Actor(viewer["login"], viewer.get("__typename") == "Bot")
        try:
            user = _decode(self._send("GET", "/user"))
        except GitHubError:
            return None
        if isinstance(user, dict) and isinstance(user.get("login"), str) and user["login"]:
            return _actor(user)
        return None

    def _pages(self, path: str, params: Mapping[str, str | int]) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, following ``Link: <...>; rel="next"``."""
        url: str | None = path
        query: Mapping[str, str | int] | None = {**params, "per_page": PER_PAGE}
        while url is not None:
            response = self._send("GET", url, params=query)
            items = _decode(response)
            if not isinstance(items, list):
                raise GitHubError("GET", httpx.URL(url).path, "expected a JSON list")
            yield from items
            url = self._next_page(response)
            query = None  # the next link carries the whole query

    def _next_page(self, response: httpx.Response) -> str | None:
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        target = self._origin.join(link)
        if (target.scheme, target.host, target.port) != (
            self._origin.scheme,
            self._origin.host,
            self._origin.port,
        ):
            raise GitHubError("GET", response.request.url.path, "next page is on another origin")
        return str(target)

    # -- issue comments (a pull request is an issue for comments) ---------------------

    def _repo(self, tail: str) -> str:
        return f"/repos/{self.repository}/{tail}"

    def list_comments(self, number: int) -> list[Comment]:
        return [_comment(c) for c in self._pages(self._repo(f"issues/{number}/comments"), {})]

    def create_comment(self, number: int, body: str) -> Comment:
        return _comment(self._json("POST", self._repo(f"issues/{number}/comments"), {"body": body}))

    def update_comment(self, comment_id: int, body: str) -> Comment:
        return _comment(
            self._json("PATCH", self._repo(f"issues/comments/{comment_id}"), {"body": body})
        )

    def delete_comment(self, comment_id: int) -> None:
        self._send("DELETE", self._repo(f"issues/comments/{comment_id}"))

    # -- pull requests and reviews (read-only) ----------------------------------------

    def commit_pulls(self, sha: str) -> list[PullSummary] | None:
        """The pull requests a commit belongs to; None when GitHub does not have the
        commit (it answers 422 "No commit found for SHA")."""
        try:
            return [_pull(p) for p in self._pages(self._repo(f"commits/{sha}/pulls"), {})]
        except GitHubError as exc:
            if exc.status == 422:
                return None
            raise

    def pull_reviews(self, number: int) -> list[Review]:
        """Every submitted review of a pull request, oldest first."""
        return [_review(r) for r in self._pages(self._repo(f"pulls/{number}/reviews"), {})]

    # -- issues ------------------------------------------------------------------------

    def list_issues(self, *, label: str, state: str = "open") -> list[Issue]:
        """Issues (not pull requests) with `label`, oldest first."""
        params = {"labels": label, "state": state, "sort": "created", "direction": "asc"}
        return [
            _issue(i)
            for i in self._pages(self._repo("issues"), params)
            if "pull_request" not in i  # the issues list includes pull requests
        ]

    def create_issue(self, title: str, body: str, labels: list[str]) -> Issue:
        return _issue(
            self._json(
                "POST", self._repo("issues"), {"title": title, "body": body, "labels": labels}
            )
        )

    def update_issue(self, number: int, fields: Mapping[str, Any]) -> Issue:
        return _issue(self._json("PATCH", self._repo(f"issues/{number}"), fields))


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise GitHubError(
            response.request.method, response.request.url.path, "the answer is not JSON"
        ) from exc


def _rate_limit_wait(
    response: httpx.Response, message: str, wall_clock: Callable[[], float]
) -> float | None:
    """Seconds GitHub asks before this request may be sent again; None if not rate limited.

    GitHub's rules (REST API, "Rate limits"): ``retry-after`` first; then
    ``x-ratelimit-remaining: 0`` means wait until ``x-ratelimit-reset`` (epoch seconds);
    a secondary limit naming neither means at least a minute. A 403 that is none of
    these is a plain refusal.
    """
    if response.status_code not in (403, 429):
        return None
    headers = response.headers
    retry_after = parse_retry_after(headers.get("retry-after"))
    if retry_after is not None:
        return retry_after
    if headers.get("x-ratelimit-remaining", "").strip() == "0":
        try:
            return max(0.0, float(headers.get("x-ratelimit-reset", "")) - wall_clock())
        except ValueError:
            return SECONDARY_RATE_LIMIT_WAIT
    if response.status_code == 429 or "rate limit" in message.lower():
        return SECONDARY_RATE_LIMIT_WAIT
    return None


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase or "error"
    message = data.get("message") if isinstance(data, dict) else None
    return str(message)[:300] if message else response.reason_phrase or "error"


def _field(data: Any, name: str) -> Any:
    return data.get(name) if isinstance(data, dict) else None


def _actor(user: Any) -> Actor:
    user = user if isinstance(user, dict) else {}
    login = str(user.get("login") or "")
    return Actor(login, user.get("type") == "Bot" or login.endswith("[bot]"))


def _comment(data: Any) -> Comment:
    try:
        return Comment(
            id=int(data["id"]),
            body=str(data.get("body") or ""),
            author=_actor(data.get("user")),
            url=str(data.get("html_url") or ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise GitHubError("GET", "comment", f"unexpected comment JSON: {exc}") from exc


def _issue(data: Any) -> Issue:
    try:
        return Issue(
            number=int(data["number"]),
            title=str(data.get("title") or ""),
            body=str(data.get("body") or ""),
            state=str(data.get("state") or "open"),
            url=str(data.get("html_url") or ""),
            author=_actor(data.get("user")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise GitHubError("GET", "issue", f"unexpected issue JSON: {exc}") from exc


def _pull(data: Any) -> PullSummary:
    try:
        return PullSummary(
            number=int(data["number"]),
            url=str(data.get("html_url") or ""),
            author=_actor(data.get("user")),
            state=str(data.get("state") or ""),
            merged_at=str(data["merged_at"]) if data.get("merged_at") else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise GitHubError("GET", "pull request", f"unexpected pull request JSON: {exc}") from exc


def _review(data: Any) -> Review:
    try:
        return Review(
            author=_actor(data.get("user")),
            state=str(data["state"]),
            submitted_at=str(data["submitted_at"]) if data.get("submitted_at") else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise GitHubError("GET", "review", f"unexpected review JSON: {exc}") from exc
