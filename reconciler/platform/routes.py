"""What each API route is allowed to do: read or write, and whether a repeat is harmless.

A route's *method* is its last path segment (``/org-x/findMembers`` -> ``findMembers``,
``/app-name/1.0.0/describe`` -> ``describe``, ``/user/new`` -> ``new``). Its *template* is
the form dx-toolkit's wrapper table uses, the object's class with the id elided
(``/org-x/invite`` -> ``/org-xxxx/invite``, ``/system/whoami``, ``/user/new``): whether a
call may be resent depends on both, since ``/org-xxxx/invite`` is retryable and
``/project-xxxx/invite`` is not.
"""

from __future__ import annotations

from collections.abc import Mapping

# Methods that never change platform state: the only ones a ReadClient will send.
# An allowlist by method name: anything not here, on any class, is refused before I/O.
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

# The retry class of every route dxorg may send, as dx-toolkit's
# src/api_wrappers/wrapper_table.json gives it (the table dxpy's api.py is generated from;
# read at dx-toolkit ed95c74). True: dxpy resends the call when its answer is lost, so the
# platform accepts the repeat. False: a repeat could do the change twice.
# /user/new is not in that table (the auth server serves it): `dx new user` sends it with
# max_retries=0 (dxpy/scripts/dx.py, new_user), so it is not retryable here either.
RETRYABLE: Mapping[str, bool] = {
    # orgs
    "/org-xxxx/describe": True,
    "/org-xxxx/findMembers": True,
    "/org-xxxx/findProjects": True,
    "/org-xxxx/findApps": True,
    "/org-xxxx/invite": True,
    "/org-xxxx/removeMember": True,
    "/org-xxxx/setMemberAccess": True,
    "/org-xxxx/update": True,
    "/org/new": False,
    # projects
    "/project-xxxx/addTags": True,
    "/project-xxxx/decreasePermissions": True,
    "/project-xxxx/describe": True,
    "/project-xxxx/invite": False,
    "/project-xxxx/leave": True,
    "/project-xxxx/listFolder": True,
    "/project-xxxx/removeTags": True,
    "/project-xxxx/setProperties": True,
    "/project-xxxx/update": True,
    "/project/new": False,
    # apps
    "/app-xxxx/addAuthorizedUsers": True,
    "/app-xxxx/addDevelopers": True,
    "/app-xxxx/addTags": True,
    "/app-xxxx/describe": True,
    "/app-xxxx/listAuthorizedUsers": True,
    "/app-xxxx/listDevelopers": True,
    "/app-xxxx/removeAuthorizedUsers": True,
    "/app-xxxx/removeDevelopers": True,
    "/app-xxxx/removeTags": True,
    "/app-xxxx/update": True,
    # users
    "/user-xxxx/describe": True,
    "/user-xxxx/update": False,
    "/user/new": False,
    # system
    "/system/findApps": True,
    "/system/findDataObjects": True,
    "/system/findGlobalWorkflows": True,
    "/system/findOrgs": True,
    "/system/findProjects": True,
    "/system/findUsers": True,
    "/system/whoami": True,
}

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


def route_template(route: str) -> str:
    """The wrapper-table form of `route`: ``/org-x/invite`` -> ``/org-xxxx/invite``.

    An app's name and version in the path (``/app-name/1.0.0/describe``) are part of its
    id, so they fold into ``app-xxxx`` as well.
    """
    segments = normalize_route(route).strip("/").split("/")
    head, method = segments[0], segments[-1]
    if len(segments) == 1 or head == "system":
        return normalize_route(route)
    object_class, dash, _ = head.partition("-")
    if dash:
        return f"/{object_class}-xxxx/{method}"
    return f"/{head}/{method}"


def is_retryable(route: str) -> bool:
    """May a call whose answer was lost be sent again? The wrapper table's answer.

    A route the table does not list is retryable only if it is a read: repeating a read
    changes nothing, and repeating an unknown write could change something twice.
    """
    retryable = RETRYABLE.get(route_template(route))
    if retryable is not None:
        return retryable
    return method_of(route) in READ_METHODS
