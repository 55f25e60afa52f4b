"""What each API method is allowed to do: read or write, and whether a repeat is harmless.

The method is the last path segment of a route (``/org-x/findMembers`` -> ``findMembers``,
``/app-name/1.0.0/describe`` -> ``describe``, ``/user/new`` -> ``new``).
"""

from __future__ import annotations

# Methods that never change platform state: the only ones a ReadClient will send.
READ_METHODS = frozenset(
    {
        "describe",
        "findApps",
        "findDataObjects",
        "findGlobalWorkflows",
        "findMembers",
        "findOrgs",
        "findProjects",
        "listDevelopers",
        "listFolder",
        "whoami",
    }
)

# Methods whose repetition leaves the same state as one call, so any failure may be retried.
# `update` and `setMemberAccess` set absolute values; decreasePermissions and the developer
# lists converge. Everything else (invite, removeMember, new, unknown) is non-idempotent.
IDEMPOTENT_METHODS = READ_METHODS | frozenset(
    {
        "update",
        "setMemberAccess",
        "decreasePermissions",
        "addDevelopers",
        "removeDevelopers",
    }
)

# The one route served by the auth server rather than the API server.
AUTH_SERVER_ROUTES = frozenset({"/user/new"})


def normalize_route(route: str) -> str:
    """``org-x/describe`` or ``/org-x/describe`` -> ``/org-x/describe``."""
    route = route.strip()
    if not route.startswith("/"):
        route = "/" + route
    return route.rstrip("/") or "/"


def method_of(route: str) -> str:
    return normalize_route(route).rsplit("/", 1)[-1]


def is_idempotent(route: str) -> bool:
    return method_of(route) in IDEMPOTENT_METHODS
