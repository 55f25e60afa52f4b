"""`reconciler.apply.landed`, the checks that settle a call whose answer was lost, read
against the emulator directly: for each route apply sends, a state that shows the call's
effect, one that does not, and the routes whose effect cannot be seen at all."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from reconciler.apply.landed import AccountNotShownOurs, effect_check, landed_check, send_checked

if TYPE_CHECKING:
    from reconciler.platform import ReadClient
    from tests.platform.conftest import Harness


def check(client: ReadClient, route: str, body: dict[str, Any]) -> Callable[[], bool]:
    found = effect_check(route, body, client)
    assert found is not None, f"{route} should have a check"
    return found


def test_org_invite_and_removal_are_seen_in_the_member_list(harness: Harness) -> None:
    client = harness.reader()
    assert check(client, "/org-demo/invite", {"invitee": "user-bob", "level": "MEMBER"})()
    assert not check(client, "/org-demo/invite", {"invitee": "user-carol", "level": "MEMBER"})()
    assert check(client, "/org-demo/removeMember", {"user": "user-carol"})()
    assert not check(client, "/org-demo/removeMember", {"user": "user-bob"})()


def test_a_project_invite_landed_when_the_invitee_holds_at_least_its_level(
    harness: Harness,
) -> None:
    """At least, not exactly: the platform's invite never lowers a level (the emulator's
    `project_invite`; decreasePermissions is the only way down), so an invite to VIEW that
    landed for a user who already had, or was meanwhile given, CONTRIBUTE shows CONTRIBUTE.
    Resending it would change nothing; calling it "not landed" would be wrong."""
    route = f"/{harness.PROJECT}/invite"
    with harness.writer() as writer:
        writer.call(route, {"invitee": "user-bob", "level": "CONTRIBUTE"})
        landed = check(writer, route, {"invitee": "user-bob", "level": "VIEW"})
        assert landed()
        assert check(writer, route, {"invitee": "user-bob", "level": "CONTRIBUTE"})()
        assert not check(writer, route, {"invitee": "user-bob", "level": "ADMINISTER"})()
        assert not check(writer, route, {"invitee": "user-carol", "level": "VIEW"})()
        # What the old typed method's "exactly" would have missed: the invite to VIEW,
        # sent again, leaves bob at CONTRIBUTE; the check still says it landed.
        writer.call(route, {"invitee": "user-bob", "level": "VIEW"})
        assert landed()


def test_a_project_invite_to_an_email_address_cannot_be_seen(harness: Harness) -> None:
    """`permissions` names entities, never the address an invite was sent to: no check, so a
    lost answer stays unknown rather than risk a second invitation."""
    route = f"/{harness.PROJECT}/invite"
    assert effect_check(route, {"invitee": "c@x.org", "level": "VIEW"}, harness.reader()) is None


def test_member_access_is_seen_flag_by_flag(harness: Harness) -> None:
    client = harness.reader()
    route = "/org-demo/setMemberAccess"
    assert check(client, route, {"user-bob": {"level": "MEMBER", "appAccess": True}})()
    assert not check(client, route, {"user-bob": {"level": "MEMBER", "appAccess": False}})()
    # Every user of a batch must show it; one who is no member is not shown at all.
    assert not check(
        client, route, {"user-bob": {"level": "MEMBER"}, "user-carol": {"level": "MEMBER"}}
    )()


def test_decreased_permissions_and_developers_are_seen(harness: Harness) -> None:
    client = harness.reader()
    project, app = harness.PROJECT, harness.APP
    assert check(client, f"/{project}/decreasePermissions", {"user-carol": None})()
    assert not check(client, f"/{project}/decreasePermissions", {"user-alice": "VIEW"})()
    assert check(client, f"/{app}/addDevelopers", {"developers": ["user-alice"]})()
    assert not check(client, f"/{app}/addDevelopers", {"developers": ["user-bob"]})()
    assert check(client, f"/{app}/removeDevelopers", {"developers": ["user-bob"]})()
    assert not check(client, f"/{app}/removeDevelopers", {"developers": ["user-alice"]})()


def test_an_org_update_is_seen_key_by_key(harness: Harness) -> None:
    client = harness.reader()
    assert check(client, "/org-demo/update", {"name": "Demo"})()
    assert not check(client, "/org-demo/update", {"name": "Renamed"})()
    # Forwarding with a token whose signature is unknown: its effect cannot be seen.
    forwarding = {"jobLogsForwarding": {"url": "https://x.example", "token": {"$env": "T"}}}
    assert effect_check("/org-demo/update", forwarding, client) is None


def test_a_new_account_landed_only_when_the_platform_shows_it_is_ours(harness: Harness) -> None:
    """The id looked up is the one the plan invites: `user-` + the username in lower case
    (the platform's rule for every username it accepts). The email is compared without
    case; one the platform does not show (it shows an email only to its owner) makes the
    account "not known to be ours": neither landed nor safe to send again."""
    alice = harness.reader()  # alice sees her own email, nobody else's
    assert check(alice, "/user/new", {"username": "Alice", "email": "A@X.org"})()
    assert not check(alice, "/user/new", {"username": "Nobody", "email": "n@x.org"})()
    with pytest.raises(AccountNotShownOurs, match="user-carol exists now"):
        check(alice, "/user/new", {"username": "Carol", "email": "c@x.org"})()


def test_the_client_settles_only_the_routes_that_are_not_safely_resent(harness: Harness) -> None:
    """The client asks before resending invite, removeMember and user/new; every other
    route is resent by the retry policy (or, after apply, settled by `effect_check`)."""
    client = harness.reader()
    assert landed_check("/org-demo/invite", {"invitee": "user-bob", "level": "M"}, client)
    assert landed_check("/org-demo/removeMember", {"user": "user-bob"}, client)
    assert landed_check("/user/new", {"username": "Dave", "email": "d@x.org"}, client)
    assert landed_check("/org-demo/update", {"name": "Demo"}, client) is None
    assert landed_check("/org-demo/setMemberAccess", {"user-bob": {}}, client) is None


def test_send_checked_settles_a_lost_project_invite_by_reading(harness: Harness) -> None:
    """A project invite is not retry-safe: after a lost answer, apply's send reads the
    permissions, finds the invite landed, and does not send it again."""
    route = f"/{harness.PROJECT}/invite"
    harness.rule(route, "drop-after")
    body = {"invitee": "user-carol", "level": "VIEW", "suppressEmailNotification": True}
    outcome = send_checked(harness.writer(), route, body)
    assert outcome.landed_by_check and outcome.attempts == 1
    assert len(harness.requests(route)) == 1
