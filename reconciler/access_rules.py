"""The shared rules of access: what a member ends with, whose an account is, whom a
self-grant may name; and an Access as JSON, the form plans and the access review show. Pure.

The diff plans from these rules; the rails, the plan warnings, the live reader and the
access review ask the same questions, and get the same answers, here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from reconciler.model import (
    FLAGS,
    Access,
    DesiredOrg,
    FlagValue,
    Level,
    LiveOrg,
    NewAccount,
    PermissionFlag,
)

INDEPENDENT_FLAGS: tuple[PermissionFlag, ...] = tuple(f for f in FLAGS if f.independent)
READ_ONLY_FLAGS: tuple[PermissionFlag, ...] = tuple(f for f in FLAGS if not f.settable)


def access_json(access: Access) -> dict[str, object]:
    """The level, then every flag in the platform's order (as findMembers reports them)."""
    return {"level": access.level, **access.flags()}


def access_from_json(value: Mapping[str, object]) -> Access:
    """The Access `access_json` wrote: the level, then every flag (no other key)."""
    if set(value) != {"level", *(flag.name for flag in FLAGS)}:
        raise ValueError(f"an access has the level and the {len(FLAGS)} flags, not {sorted(value)}")
    level = value["level"]
    if level not in ("ADMIN", "MEMBER"):
        raise ValueError(f"level {level!r} is neither ADMIN nor MEMBER")
    values = []
    for flag in FLAGS:
        flag_value = value[flag.name]
        if not isinstance(flag_value, bool if flag.kind == "boolean" else str):
            raise ValueError(f"{flag.name} {flag_value!r} is not a {flag.kind} value")
        values.append(flag_value)
    return Access(level, tuple(values))


def target_access(level: Level, managed: Mapping[str, FlagValue], have: Access | None) -> Access:
    """The complete access a member of `level` with these managed flags ends with.

    Each flag: the value ADMIN forces; else the managed value (settable flags only: dxorg
    never sends a read-only one); else the live value when there is one to keep (the level
    does not change, or the flag is independent of it); else the level's default, which
    is what the platform gives a new member, and a demoted one for the flags ADMIN forces.
    """
    values: list[FlagValue] = []
    for flag in FLAGS:
        if level == "ADMIN" and flag.admin_value is not None:
            values.append(flag.admin_value)
        elif flag.settable and flag.name in managed:
            values.append(managed[flag.name])
        elif have is not None and (flag.independent or have.level == level):
            values.append(have[flag.name])
        else:
            values.append(flag.default_for(level))
    return Access(level, tuple(values))


# How dxorg knows an existing account is the one a provisioning entry asks for.
Ownership = Literal["platform-email", "created-by-dxorg"]


def account_ownership(
    account: NewAccount, live: LiveOrg, created: Mapping[str, str]
) -> Ownership | None:
    """Why the account under this entry's username is the one the entry provisions, or None.

    Only two things count: the platform shows the entry's email for it (which it does only
    to the account itself), or dxorg's journal holds the answer `/user/new` gave dxorg for
    that username and email (see `journal.created_accounts`). That a username exists never
    counts: anyone may register one, and inviting it would give a stranger access.
    """
    want = account.email.strip().lower()
    shown = live.existing_accounts.get(account.user_id)
    if shown is not None and shown.strip().lower() == want:
        return "platform-email"
    made = created.get(account.user_id)
    if made is not None and made.strip().lower() == want:
        return "created-by-dxorg"
    return None


def grantee_allowed(desired: DesiredOrg, caller: str) -> bool:
    """The platform lets an org admin grant only themselves: `selfGrants.admin`, when set,
    must be the token's own user (who is an ADMIN, or dxorg could not have read the org)."""
    grants = desired.self_grants
    return grants is None or grants.admin is None or grants.admin == caller
