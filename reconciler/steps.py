"""Actions -> the exact API calls that carry them out, in the order apply sends them. Pure.

This is the one place an action becomes a call: the planner builds a plan's steps here,
and apply rebuilds them here to prove a saved plan says what the manifests say.

The order is the phase table below (see `plan.PHASES`): accounts, invitations and
promotions first, then access, then the org's own settings and the self-grants, and only
then demotions and removals, so no step leaves the org with fewer admins than it ends with.
Within a phase, steps that take admins away wait for every step that adds one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from reconciler.changes import (
    AccountChange,
    MemberAccessChange,
    MemberInvitation,
    MemberRemoval,
    OrgSettingChange,
    ProjectGrantChange,
    ProjectRevocationChange,
    ProjectSettingsChange,
)
from reconciler.model import (
    FLAGS,
    NO_ACCESS,
    ORG_SETTINGS_BY_NAME,
    Access,
    DesiredOrg,
    can_write_record,
    grant_record_key,
)
from reconciler.plan import Action, ActionKind, ApiCall, Phase, Step

C = TypeVar("C")
T = TypeVar("T")

# setMemberAccess takes many users per call; this bounds one request body.
MEMBER_ACCESS_BATCH = 1000


@dataclass
class _Builder:
    """The steps of one org so far, and what the later groups need to know of them."""

    desired: DesiredOrg
    caller: str
    actions: Sequence[Action]
    batch: int
    steps: list[Step] = field(default_factory=list)
    # Steps that make someone ADMIN: steps that take admins away wait for all of them.
    admin_raising: list[str] = field(default_factory=list)

    @property
    def org(self) -> str:
        return self.desired.org_id

    def of_kind(self, *kinds: ActionKind) -> list[Action]:
        return [a for a in self.actions if a.kind in kinds]

    def changes(self, kind: ActionKind, change: type[C]) -> list[tuple[Action, C]]:
        """The actions of `kind` that make a `change` (the one type `plan.CHANGE_TYPES`
        allows for most kinds), each with it."""
        return [
            (a, a.change) for a in self.actions if a.kind == kind and isinstance(a.change, change)
        ]

    def add(
        self, phase: Phase, call: ApiCall, served: Sequence[Action], after: Sequence[str] = ()
    ) -> str:
        step_id = f"{self.org}#{len(self.steps) + 1}"
        self.steps.append(Step(step_id, phase, call, tuple(a.id for a in served), tuple(after)))
        return step_id

    def member_access_batches(
        self,
        phase: Phase,
        group: Sequence[tuple[Action, MemberAccessChange]],
        body_of: Callable[[MemberAccessChange], object],
        after: Sequence[str] = (),
    ) -> list[str]:
        ids = []
        for chunk in _chunks(group, self.batch):
            body = {action.target: body_of(change) for action, change in chunk}
            served = [action for action, _ in chunk]
            call = ApiCall(f"/{self.org}/setMemberAccess", body)
            ids.append(self.add(phase, call, served, after))
        return ids


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def build_steps(
    desired: DesiredOrg, caller: str, actions: Sequence[Action], batch: int = MEMBER_ACCESS_BATCH
) -> list[Step]:
    """The steps that carry out `actions` (already in plan order) for the token's `caller`."""
    builder = _Builder(desired, caller, actions, batch)
    for group in STEP_GROUPS:
        group(builder)
    return builder.steps


# ---------------------------------------------------------------- call bodies


def invite_body(user_id: str, access: Access, managed: Collection[str] = ()) -> dict[str, object]:
    """The six keys `dx add member` sends, and each other settable flag that is managed
    (`managed`: API names) or not at its default. Read-only flags are never sent."""
    body: dict[str, object] = {"invitee": user_id, "level": access.level}
    for flag in FLAGS:
        value = access[flag.name]
        if flag.always_present or (
            flag.settable and (flag.name in managed or value != flag.member_default)
        ):
            body[flag.name] = value
    body["suppressEmailNotification"] = False
    return body


def _changed(change: MemberAccessChange, *, independent_only: bool = False) -> dict[str, object]:
    """The settable flags whose value the change changes."""
    before, after = change.before, change.after
    return {
        flag.name: after[flag.name]
        for flag in FLAGS
        if flag.settable
        and (flag.independent or not independent_only)
        and after[flag.name] != before[flag.name]
    }


def _changed_flags(change: MemberAccessChange) -> dict[str, object]:
    return {"level": change.after.level, **_changed(change)}


def _promoted_to(change: MemberAccessChange) -> dict[str, object]:
    return {"level": "ADMIN", **_changed(change, independent_only=True)}


def _demoted_to(change: MemberAccessChange) -> dict[str, object]:
    """Every settable flag ADMIN forces (the platform starts a demoted member from the
    MEMBER defaults, so dxorg says each), and the independent ones that change."""
    forced = {f.name: change.after[f.name] for f in FLAGS if f.settable and not f.independent}
    return {"level": "MEMBER", **forced, **_changed(change, independent_only=True)}


# ---------------------------------------------------------------- the groups, in order


def _provisioning(b: _Builder) -> None:
    accounts = {a.user_id: a for a in b.desired.provisioning}
    for action in b.actions:
        if not isinstance(action.change, AccountChange):
            continue
        access = action.change.access
        after = []
        if action.kind == ActionKind.PROVISION:
            account = accounts[action.target]
            body: dict[str, object] = {
                "username": account.username,
                "email": account.email,
                "first": account.first,
                "last": account.last,
            }
            if account.middle:
                body["middle"] = account.middle
            if account.set_bill_to:
                body["billTo"] = b.org
            body["provisioningOrg"] = b.org
            after.append(
                b.add(Phase.PROVISION, ApiCall("/user/new", body, server="auth"), [action])
            )
        managed = accounts[action.target].flags if action.target in accounts else {}
        step = b.add(
            Phase.PROVISION,
            ApiCall(f"/{b.org}/invite", invite_body(action.target, access, managed)),
            [action],
            after,
        )
        if access.level == "ADMIN":
            b.admin_raising.append(step)


def _invitations(b: _Builder) -> None:
    for action, invitation in b.changes(ActionKind.INVITE_MEMBER, MemberInvitation):
        wanted = b.desired.membership.members.get(action.target) if b.desired.membership else None
        step = b.add(
            Phase.INVITE,
            ApiCall(
                f"/{b.org}/invite",
                invite_body(action.target, invitation.access, wanted.flags if wanted else ()),
            ),
            [action],
        )
        if invitation.access.level == "ADMIN":
            b.admin_raising.append(step)


def _promotions(b: _Builder) -> None:
    b.admin_raising += b.member_access_batches(
        Phase.INVITE, b.changes(ActionKind.PROMOTE, MemberAccessChange), _promoted_to
    )


def _access_updates(b: _Builder) -> None:
    b.member_access_batches(
        Phase.ACCESS, b.changes(ActionKind.UPDATE_ACCESS, MemberAccessChange), _changed_flags
    )


def _org_settings(b: _Builder) -> None:
    updates = b.changes(ActionKind.UPDATE_ORG, OrgSettingChange)
    if not updates:
        return
    body: dict[str, object] = {}
    policies: dict[str, object] = {}
    for _, change in updates:
        setting = ORG_SETTINGS_BY_NAME.get(change.setting)
        if setting is not None and setting.policy:
            policies[change.setting] = change.after
        else:  # the name, a top-level setting
            body[change.setting] = change.after
    if policies:
        body["policies"] = policies
    b.add(Phase.ORG, ApiCall(f"/{b.org}/update", body), [action for action, _ in updates])


def _self_grants(b: _Builder) -> None:
    """Each grant and its record, in the order that leaves the safer state if stopped
    between the two (docs/reliability.md, "Two-call actions stopped half-way").

    The record (the level before the grant) goes first when the caller may already write
    it (CONTRIBUTE): stopped there, a record with no grant is harmless and the next run
    grants, or tidies it away once expired. Below CONTRIBUTE the platform lets no one
    without access write a project's properties, nor a non-developer an app's tags, so the
    grant goes first and the record right after it. The grantee is the caller, already an
    org ADMIN (dxorg plans no org it does not administer), so a grant waits for no promotion.
    """
    key = grant_record_key(b.caller)
    for action, grant in b.changes(ActionKind.GRANT_PROJECT, ProjectGrantChange):
        prior = grant.level
        invite = ApiCall(
            f"/{action.target}/invite",
            {"invitee": b.caller, "level": "ADMINISTER", "suppressEmailNotification": True},
        )
        record = ApiCall(f"/{action.target}/setProperties", {"properties": {key: prior}})
        if can_write_record(prior):
            recorded = b.add(Phase.ORG, record, [action])
            b.add(Phase.ORG, invite, [action], [recorded])
        else:
            granted = b.add(Phase.ORG, invite, [action])
            b.add(Phase.ORG, record, [action], [granted])
    for action in b.of_kind(ActionKind.GRANT_APP):
        developers = {"developers": [b.caller]}
        granted = b.add(Phase.ORG, ApiCall(f"/{action.target}/addDevelopers", developers), [action])
        b.add(Phase.ORG, ApiCall(f"/{action.target}/addTags", {"tags": [key]}), [action], [granted])
    for action in b.of_kind(ActionKind.CLEAR_GRANT_RECORD):
        b.add(
            Phase.ORG,
            ApiCall(f"/{action.target}/setProperties", {"properties": {key: None}}),
            [action],
        )


def _project_policies(b: _Builder) -> None:
    """One `project-x/update` per project, raising only the settings it lacks. It carries
    the project's `version` as read, so the platform refuses it if the project changed since
    (InvalidState). After a self-grant of the same plan, which gives the ADMINISTER the
    update needs, it waits for the grant and goes without a version (the grant's own calls
    may move it on)."""
    granted: dict[str, list[str]] = {}
    for step in b.steps:
        call = step.call
        if call.route.endswith("/invite") and call.route.startswith("/project-"):
            granted.setdefault(call.route.split("/")[1], []).append(step.id)
    for action, change in b.changes(ActionKind.UPDATE_PROJECT, ProjectSettingsChange):
        body: dict[str, object] = {setting: True for setting in change.settings}
        waits = granted.get(action.target, [])
        if not waits and change.version is not None:
            body["version"] = change.version
        b.add(Phase.ORG, ApiCall(f"/{action.target}/update", body), [action], waits)


def _forwarding(b: _Builder) -> None:
    for action in b.of_kind(ActionKind.SET_FORWARDING, ActionKind.DISABLE_FORWARDING):
        value: dict[str, object] = {}
        if action.kind == ActionKind.SET_FORWARDING:
            forwarding = b.desired.forwarding
            assert forwarding is not None and forwarding.url and forwarding.token_env
            # The token itself never enters a plan: apply reads the variable when it sends.
            value = {"url": forwarding.url, "token": {"$env": forwarding.token_env}}
        b.add(Phase.ORG, ApiCall(f"/{b.org}/update", {"jobLogsForwarding": value}), [action])


def _demotions(b: _Builder) -> None:
    b.member_access_batches(
        Phase.DEMOTE,
        b.changes(ActionKind.DEMOTE, MemberAccessChange),
        _demoted_to,
        after=b.admin_raising,
    )


def _removals(b: _Builder) -> None:
    for action, removal in b.changes(ActionKind.REMOVE_MEMBER, MemberRemoval):
        body = {
            "user": action.target,
            "revokeProjectPermissions": True,
            "revokeAppPermissions": True,
        }
        waits = b.admin_raising if removal.access.level == "ADMIN" else []
        b.add(Phase.REMOVE, ApiCall(f"/{b.org}/removeMember", body), [action], waits)


def _revocations(b: _Builder) -> None:
    """The access is taken back first, then the record cleared if the caller still may:
    stopped in between, the access is already what it was before the grant and the record
    only says so (the next run clears it, or warns it is left). Clearing first would leave,
    if stopped there, access with no record that it was dxorg's to take back.

    An app's record tag stays: only developers may change an app's tags.
    """
    key = grant_record_key(b.caller)
    for action, revocation in b.changes(ActionKind.REVOKE_PROJECT, ProjectRevocationChange):
        restore = revocation.recorded
        lowered = b.add(
            Phase.REMOVE,
            ApiCall(
                f"/{action.target}/decreasePermissions",
                {b.caller: None if restore == NO_ACCESS else restore},
            ),
            [action],
        )
        if can_write_record(restore):
            b.add(
                Phase.REMOVE,
                ApiCall(f"/{action.target}/setProperties", {"properties": {key: None}}),
                [action],
                [lowered],
            )
    for action in b.of_kind(ActionKind.REVOKE_APP):
        b.add(
            Phase.REMOVE,
            ApiCall(f"/{action.target}/removeDevelopers", {"developers": [b.caller]}),
            [action],
        )


# The order steps are built in: the order apply sends them, phase by phase.
STEP_GROUPS: tuple[Callable[[_Builder], None], ...] = (
    _provisioning,
    _invitations,
    _promotions,
    _access_updates,
    _org_settings,
    _self_grants,
    _project_policies,
    _forwarding,
    _demotions,
    _removals,
    _revocations,
)
