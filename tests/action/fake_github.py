"""An in-memory fake of the few GitHub REST endpoints the action uses, as a WSGI app.

Issue comments (list, create, edit, delete), issues (list with label and state
filters, create, edit), and for the report's approval evidence the pull requests of a
commit (``commits/{sha}/pulls``: 422 for a commit GitHub does not have, as GitHub
answers), a pull request and its reviews (``pulls/{n}``, ``pulls/{n}/reviews``), with GitHub's paging (``per_page``, ``page``, ``Link: rel="next"``)
capped at `page_size` so tests cross page boundaries with a handful of items. Every
request is recorded, including its Authorization header, so tests can check both that
the token was sent and that no body carried a secret.

Authorship as GitHub has it: what the token writes is authored by the token's identity,
by default the workflow's GITHUB_TOKEN, an app installation token whose bot is
``github-actions[bot]`` (REST ``user.type`` "Bot", and ``performed_via_github_app``).
GraphQL ``viewer`` answers for any token (a bot by its slug, typename "Bot"); REST
``GET /user`` refuses an installation token, as GitHub does ("Resource not accessible by
integration"), and answers for a user's token (`user_token=True`).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

BOT = "github-actions[bot]"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None


@dataclass
class FakeGitHub:
    token: str
    repository: str = "acme/org-manifests"
    page_size: int = 100
    forbid_writes: bool = False  # a fork's pull request: the token may only read
    identity: str = BOT  # whom the token acts as: the author of what it writes
    user_token: bool = False  # a person's token (GET /user answers), not an app's
    graphql: bool = True  # GraphQL answers (False: a server without it)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    commits: dict[str, list[int]] = field(default_factory=dict)  # sha -> its pull requests
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""
    _next_id: int = 9000
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- state helpers for tests -----------------------------------------------------

    def user(self, login: str) -> dict[str, Any]:
        return {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"}

    def authored(self, login: str) -> dict[str, Any]:
        """The author fields of what `login` writes."""
        fields: dict[str, Any] = {"user": self.user(login)}
        if login.endswith("[bot]"):
            fields["performed_via_github_app"] = {"slug": login.removesuffix("[bot]")}
        return fields

    def add_comment(self, issue: int, body: str, author: str = "someone") -> int:
        with self._lock:
            self._next_id += 1
            cid = self._next_id
            self.comments[cid] = {
                "id": cid,
                "issue": issue,
                "body": body,
                "html_url": f"https://github.example/{self.repository}/pull/{issue}"
                f"#issuecomment-{cid}",
                **self.authored(author),
            }
        return cid

    def add_issue(
        self,
        title: str,
        body: str,
        labels: list[str],
        *,
        state: str = "open",
        pull_request: bool = False,
        author: str = "someone",
    ) -> int:
        with self._lock:
            number = len(self.issues) + 1
            issue: dict[str, Any] = {
                "number": number,
                "title": title,
                "body": body,
                "state": state,
                "labels": [{"name": n} for n in labels],
                "html_url": f"https://github.example/{self.repository}/issues/{number}",
                **self.authored(author),
            }
            if pull_request:
                issue["pull_request"] = {"url": "..."}
            self.issues[number] = issue
        return number

    def add_pull(
        self,
        number: int,
        author: str,
        commits: Iterable[str],
        *,
        merged_at: str | None = None,
        state: str | None = None,
        reviews: Iterable[tuple[str, str, str]] = (),
    ) -> None:
        """A pull request holding `commits`; `reviews`: (login, state, submitted_at)."""
        with self._lock:
            self.pulls[number] = {
                "number": number,
                "html_url": f"https://github.example/{self.repository}/pull/{number}",
                "state": state or ("closed" if merged_at else "open"),
                "merged_at": merged_at,
                "merged": merged_at is not None,
                **self.authored(author),
            }
            self.reviews[number] = [
                {"id": number * 100 + i, "state": st, "submitted_at": at, **self.authored(login)}
                for i, (login, st, at) in enumerate(reviews)
            ]
            for sha in commits:
                self.commits.setdefault(sha, []).append(number)

    def push(self, sha: str) -> None:
        """A commit GitHub has, pushed without a pull request."""
        with self._lock:
            self.commits.setdefault(sha, [])

    def comments_on(self, issue: int) -> list[dict[str, Any]]:
        return sorted(
            (c for c in self.comments.values() if c["issue"] == issue), key=lambda c: c["id"]
        )

    def writes(self) -> list[Recorded]:
        """Requests that change something (a GraphQL `viewer` query is a POST that reads)."""
        return [r for r in self.requests if r.method != "GET" and r.path != "/graphql"]

    # -- WSGI ------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        body = request.get_json(silent=True)
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.args),
                body,
                request.headers.get("Authorization"),
            )
        )
        response = self._route(request, body)
        return response(environ, start_response)

    def _route(self, request: Request, body: Any) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json({"message": "Bad credentials"}, 401)
        if request.path == "/graphql" and request.method == "POST" and self.graphql:
            return self._viewer(body)
        if request.path == "/user" and request.method == "GET":
            if not self.user_token:
                return _json({"message": "Resource not accessible by integration"}, 403)
            return _json(self.user(self.identity))
        prefix = f"/repos/{self.repository}"
        if not request.path.startswith(prefix + "/"):
            return _json({"message": "Not Found"}, 404)
        path, method = request.path[len(prefix) :], request.method
        if method != "GET" and self.forbid_writes:
            return _json({"message": "Resource not accessible by integration"}, 403)
        with self._lock:
            for pattern, handler in (
                (r"/issues/(\d+)/comments", self._comments),
                (r"/issues/comments/(\d+)", self._comment),
                (r"/issues", self._issues),
                (r"/issues/(\d+)", self._issue),
                (r"/commits/([0-9a-f]+)/pulls", self._commit_pulls),
                (r"/pulls/(\d+)", self._pull),
                (r"/pulls/(\d+)/reviews", self._reviews),
            ):
                if m := re.fullmatch(pattern, path):
                    found = handler(request, method, body, *m.groups())
                    if found is not None:
                        return found
        return _json({"message": "Not Found"}, 404)

    def _comments(self, request: Request, method: str, body: Any, issue: str) -> Response | None:
        number = int(issue)
        if method == "GET":
            return self._page(request, self.comments_on(number))
        if method == "POST":
            self._next_id += 1
            comment = {
                "id": self._next_id,
                "issue": number,
                "body": body["body"],
                "html_url": f"https://github.example/{self.repository}/pull/{number}"
                f"#issuecomment-{self._next_id}",
                **self.authored(self.identity),
            }
            self.comments[comment["id"]] = comment
            return _json(comment, 201)
        return None

    def _comment(self, request: Request, method: str, body: Any, ident: str) -> Response | None:
        existing = self.comments.get(int(ident))
        if existing is None:
            return _json({"message": "Not Found"}, 404)
        if method == "PATCH":
            existing["body"] = body["body"]
            return _json(existing)
        if method == "DELETE":
            del self.comments[existing["id"]]
            return Response(status=204)
        return None

    def _issues(self, request: Request, method: str, body: Any) -> Response | None:
        if method == "GET":
            state = request.args.get("state", "open")
            label = request.args.get("labels")
            found = [
                i
                for i in sorted(self.issues.values(), key=lambda i: i["number"])
                if (state == "all" or i["state"] == state)
                and (label is None or label in {lb["name"] for lb in i["labels"]})
            ]
            return self._page(request, found)
        if method == "POST":
            number = len(self.issues) + 1
            issue = {
                "number": number,
                "title": body["title"],
                "body": body["body"],
                "state": "open",
                "labels": [{"name": n} for n in body.get("labels", [])],
                "html_url": f"https://github.example/{self.repository}/issues/{number}",
                **self.authored(self.identity),
            }
            self.issues[number] = issue
            return _json(issue, 201)
        return None

    def _issue(self, request: Request, method: str, body: Any, number: str) -> Response | None:
        existing = self.issues.get(int(number))
        if existing is None:
            return _json({"message": "Not Found"}, 404)
        if method == "PATCH":
            existing.update({k: v for k, v in body.items() if k in ("body", "state", "title")})
            if "state_reason" in body:
                existing["state_reason"] = body["state_reason"]
            return _json(existing)
        return None

    def _commit_pulls(self, request: Request, method: str, body: Any, sha: str) -> Response | None:
        if method != "GET":
            return None
        if sha not in self.commits:
            return _json({"message": f"No commit found for SHA: {sha}"}, 422)
        return self._page(request, [self.pulls[n] for n in self.commits[sha]])

    def _pull(self, request: Request, method: str, body: Any, number: str) -> Response | None:
        found = self.pulls.get(int(number))
        if method != "GET" or found is None:
            return None
        return _json(found)

    def _reviews(self, request: Request, method: str, body: Any, number: str) -> Response | None:
        if method != "GET" or int(number) not in self.pulls:
            return None
        return self._page(request, self.reviews[int(number)])

    def _viewer(self, body: Any) -> Response:
        """GraphQL's `viewer`: the only query dxorg sends. A bot is named by its slug."""
        if not isinstance(body, dict) or "viewer" not in str(body.get("query")):
            return _json({"errors": [{"message": "unsupported query"}]})
        bot = self.identity.endswith("[bot]")
        login = self.identity.removesuffix("[bot]")
        return _json({"data": {"viewer": {"login": login, "__typename": "Bot" if bot else "User"}}})

    def _page(self, request: Request, items: list[dict[str, Any]]) -> Response:
        per_page = min(int(request.args.get("per_page", 30)), self.page_size)
        page = int(request.args.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        response = _json(chunk)
        if page * per_page < len(items):
            query = dict(request.args)
            query["page"] = str(page + 1)
            link = f"{request.host_url.rstrip('/')}{request.path}?{urlencode(query)}"
            response.headers["Link"] = f'<{link}>; rel="next"'
        return response


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@contextmanager
def serve(fake: FakeGitHub) -> Iterator[FakeGitHub]:
    """Serve the fake on a loopback port until the block ends."""
    server = make_server("127.0.0.1", 0, fake, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    fake.url = f"http://127.0.0.1:{server.port}"
    try:
        yield fake
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
