"""The retry class of a route is its class's and method's, as dx-toolkit's wrapper table says."""

from __future__ import annotations

import pytest

from reconciler.platform.routes import READ_METHODS, RETRYABLE, is_retryable, route_template


@pytest.mark.parametrize(
    ("route", "template"),
    [
        ("/org-demo/invite", "/org-xxxx/invite"),
        ("org-demo/invite", "/org-xxxx/invite"),
        ("/project-0123456789abcdefABCDEFGH/invite", "/project-xxxx/invite"),
        ("/app-demo_app/1.0.0/describe", "/app-xxxx/describe"),
        ("/app-0123456789abcdefABCDEFGH/addDevelopers", "/app-xxxx/addDevelopers"),
        ("/user-alice/update", "/user-xxxx/update"),
        ("/user/new", "/user/new"),
        ("/org/new", "/org/new"),
        ("/system/whoami", "/system/whoami"),
        ("/system/findOrgs/", "/system/findOrgs"),
    ],
)
def test_route_template(route: str, template: str) -> None:
    assert route_template(route) == template


@pytest.mark.parametrize(
    ("route", "retryable"),
    [
        ("/org-demo/invite", True),
        ("/project-x/invite", False),
        ("/org-demo/removeMember", True),
        ("/org/new", False),
        ("/user/new", False),
        ("/user-alice/update", False),
        ("/org-demo/update", True),
        ("/project-x/update", True),
        ("/project-x/setProperties", True),
        ("/app-x/addTags", True),
        ("/app-x/removeTags", True),
        ("/app-x/addAuthorizedUsers", True),
        ("/app-x/removeAuthorizedUsers", True),
        ("/app-demo_app/1.0.0/describe", True),
        ("/project-x/removeObjects", False),  # a write the table does not give: not resent
        ("/globalworkflow-x/describe", True),  # a read the table does not give: harmless
    ],
)
def test_retry_class_is_per_class_and_method(route: str, retryable: bool) -> None:
    assert is_retryable(route) is retryable


def test_every_read_dxorg_sends_is_retryable_in_the_table() -> None:
    reads = [t for t in RETRYABLE if t.rsplit("/", 1)[-1] in READ_METHODS]
    assert reads and all(RETRYABLE[t] for t in reads)
    assert all(t.startswith("/") and t == route_template(t) for t in RETRYABLE)
