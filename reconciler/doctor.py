"""`dxorg doctor`: check, read-only, that a platform can be planned and applied against.

Every call goes through a `ReadClient`, which refuses any route that is not a read method
before any I/O: doctor writes nothing, ever. It reads what plan would read (and the
listings plan reads only for self-grants), checks each answer against the contract
(reconciler/platform/contract.py), and hands what it saw to the verdicts in
reconciler/doctor_verdict.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from reconciler.access_rules import grantee_allowed
from reconciler.doctor_verdict import (
    PLATFORM,
    Check,
    DoctorReport,
    Status,
    admin_check,
    clock_check,
    contract_check,
    expiry_check,
    forwarding_checks,
    scope_check,
)
from reconciler.errors import (
    ApiError,
    ConfigError,
    DxorgError,
    InvalidAuthentication,
    PermissionDenied,
    ReadIncompleteError,
    ResourceNotFound,
    TransportError,
)
from reconciler.model import DesiredOrg, selects
from reconciler.platform.contract import contract_problems
from reconciler.platform.health import clock_skew_warning
from reconciler.platform.routes import route_template

if TYPE_CHECKING:
    from reconciler.manifest import Fleet
    from reconciler.platform.client import ReadClient

T = TypeVar("T")

# A listing with this many malformed rows says enough; the rest are not examined.
MAX_PROBLEMS = 20
ORG_ID = re.compile(r"org-[A-Za-z0-9._-]+")


def examine_platform(
    orgs: Sequence[DesiredOrg],
    connect: Callable[[], ReadClient],
    *,
    env: Mapping[str, str],
    api_server: str | None = None,
) -> DoctorReport:
    """`examine` through the client `connect()` opens; a configuration it cannot make (a
    malformed DX_SECURITY_CONTEXT, a bad port) is the report's failure, not an error."""
    try:
        client = connect()
    except ConfigError as exc:
        return DoctorReport(
            api_server or "(not configured)",
            None,
            None,
            (
                Check(
                    PLATFORM,
                    "api server",
                    "fail",
                    f"the platform configuration cannot be used: {exc}",
                    "fix the DX_* variables, the dx configuration files or the options named",
                ),
            ),
        )
    with client:
        return examine(orgs, client, env=env, api_server=api_server)


def examine(
    orgs: Sequence[DesiredOrg],
    client: ReadClient,
    *,
    env: Mapping[str, str],
    api_server: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DoctorReport:
    """Check the platform `client` reaches, and each of `orgs`, read-only.

    `api_server` says where the platform is and where that came from (default: the
    client's configuration, which knows each part's source).
    """
    where = api_server or client.config.describe_api_server()
    checks: list[Check] = []
    caller = _token(client, where, checks)
    if caller is None:
        return DoctorReport(where, None, None, tuple(checks))
    skew = client.clock_skew()
    checks.append(clock_check(skew, None if skew is None else clock_skew_warning(skew)))
    checks.extend(_own_account(client, caller))

    # The org's expiry is judged by the platform's clock, as plan judges dates.
    def today() -> datetime:
        return client.platform_now() or now()

    for org_checks in client.map(lambda org: _org(client, org, caller, env, today()), orgs):
        checks.extend(org_checks)
    return DoctorReport(
        where,
        caller,
        None if skew is None else skew.total_seconds(),
        tuple(checks),
    )


def _token(client: ReadClient, where: str, checks: list[Check]) -> str | None:
    """The token's user (whoami), and the checks of the API server and the token."""
    origin = client.config.origins.get("token", "the platform configuration")
    try:
        body = client.whoami_response()
    except ConfigError as exc:
        checks.append(
            Check(
                PLATFORM,
                "token",
                "fail",
                str(exc),
                "set DX_SECURITY_CONTEXT to an API token of an org admin",
            )
        )
        return None
    except InvalidAuthentication as exc:
        checks.append(Check(PLATFORM, "api server", "ok", f"{where} answered"))
        checks.append(
            Check(
                PLATFORM,
                "token",
                "fail",
                f"the token from {origin} is not valid ({exc.api_message})",
                "get a new API token of an org admin (the platform's web UI: Account > API "
                "Tokens) and set it in DX_SECURITY_CONTEXT",
            )
        )
        return None
    except TransportError as exc:
        checks.append(
            Check(
                PLATFORM,
                "api server",
                "fail",
                f"{where}: {exc}",
                "check the address (DX_APISERVER_HOST, DX_APISERVER_PORT, "
                "DX_APISERVER_PROTOCOL or the --apiserver-* options) and that the server is up",
            )
        )
        return None
    except ApiError as exc:
        checks.append(Check(PLATFORM, "api server", "ok", f"{where} answered"))
        checks.append(Check(PLATFORM, "token", "fail", f"/system/whoami failed: {exc}"))
        return None
    checks.append(Check(PLATFORM, "api server", "ok", f"{where} answered"))
    problems = contract_problems("/system/whoami", body)
    if problems:
        checks.append(contract_check(PLATFORM, "/system/whoami", problems))
        return None
    caller = str(body["id"])
    checks.append(Check(PLATFORM, "token", "ok", f"valid (from {origin}): {caller}"))
    return caller


def _own_account(client: ReadClient, caller: str) -> list[Check]:
    """Whose token it is (the account's names), and its scope as far as the platform shows."""
    route = f"/{caller}/describe"
    try:
        described = client.describe_user(caller)
    except ApiError as exc:
        return [Check(PLATFORM, "account", "warn", f"{route} failed: {exc}")]
    problems = contract_problems(route_template(route), described)
    if problems:
        return [contract_check(PLATFORM, route_template(route), problems)]
    names = " ".join(str(described[k]) for k in ("first", "last") if described.get(k))
    handle = described.get("handle")
    shown = ", ".join(p for p in (names, f"handle {handle}" if handle else "") if p)
    return [
        Check(PLATFORM, "account", "ok", f"{caller}" + (f" ({shown})" if shown else "")),
        scope_check(described),
    ]


class _Org:
    """The checks of one org, gathered as its reads go."""

    def __init__(self, client: ReadClient, org_id: str) -> None:
        self.client = client
        self.org_id = org_id
        self.checks: list[Check] = []
        # route template -> problems, in the order the routes were read
        self.contract: dict[str, list[str]] = {}

    def add(self, name: str, status: Status, detail: str, remedy: str | None = None) -> None:
        self.checks.append(Check(self.org_id, name, status, detail, remedy))

    def read(self, name: str, route: str, read: Callable[[], T]) -> T | None:
        """`read()`, or None with a failed check: a malformed listing is a contract failure."""
        try:
            return read()
        except ReadIncompleteError as exc:
            self.contract.setdefault(route_template(route), []).append(str(exc))
        except ApiError as exc:
            self.add(name, "fail", f"{route}: {exc}", _remedy(exc, self.org_id))
        return None

    def rows(self, route: str, rows: Sequence[object]) -> None:
        problems = self.contract.setdefault(route_template(route), [])
        for index, row in enumerate(rows, start=1):
            if len(problems) >= MAX_PROBLEMS:
                return
            problems.extend(contract_problems(route_template(route), row, row=index))

    def verdicts(self) -> list[Check]:
        failed = [(route, problems) for route, problems in self.contract.items() if problems]
        if failed:
            contract = [contract_check(self.org_id, route, problems) for route, problems in failed]
        else:
            read = ", ".join(self.contract) or "nothing"
            contract = [
                Check(
                    self.org_id,
                    "contract",
                    "ok",
                    f"every field dxorg reads is present with its type ({read})",
                )
            ]
        return self.checks + contract


def _org(
    client: ReadClient, desired: DesiredOrg, caller: str, env: Mapping[str, str], now: datetime
) -> list[Check]:
    org_id = desired.org_id
    org = _Org(client, org_id)
    route = f"/{org_id}/describe"
    try:
        described = client.describe_org(org_id)
    except (ResourceNotFound, PermissionDenied) as exc:
        org.add(
            "org",
            "fail",
            f"{org_id} cannot be read as {caller}: {exc.error_type} ({exc.api_message})",
            f"check the org id; {caller} must be an ADMIN of {org_id}",
        )
        return org.checks
    except ApiError as exc:
        org.add("org", "fail", f"{route}: {exc}", _remedy(exc, org_id))
        return org.checks
    org.contract[route_template(route)] = contract_problems(route_template(route), described)
    name = described.get("name")
    org.add("org", "ok", f"{org_id} ({name})" if isinstance(name, str) else org_id)
    org.checks.append(admin_check(org_id, caller, described.get("level")))
    if described.get("level") != "ADMIN":
        return org.verdicts()
    org.checks.append(expiry_check(org_id, described.get("expiresAt"), now))

    members = org.read(
        "members",
        f"/{org_id}/findMembers",
        lambda: client.find_org_members(org_id, describe=True),
    )
    if members is not None:
        org.rows(f"/{org_id}/findMembers", members)
        admins = sum(1 for m in members if m.get("level") == "ADMIN")
        org.add("members", "ok", f"{len(members)} member(s) listed, {admins} ADMIN(s)")
    projects = org.read(
        "projects",
        f"/{org_id}/findProjects",
        lambda: client.find_org_projects(
            org_id, describe={"fields": {"name": True, "properties": True}}
        ),
    )
    if projects is not None:
        org.rows(f"/{org_id}/findProjects", projects)
        org.add("projects", "ok", f"{len(projects)} project(s) listed")
    apps = org.read(
        "apps", f"/{org_id}/findApps", lambda: client.find_org_apps(org_id, describe=True)
    )
    if apps is not None:
        org.rows(f"/{org_id}/findApps", apps)
        org.add("apps", "ok", f"{len(apps)} app(s) listed")

    _self_grants(org, desired, caller, projects, apps)
    if desired.provisioning:
        _provisioning(org, desired)
    forwarding = desired.forwarding
    if forwarding is not None and forwarding.enabled and forwarding.token_env:
        org.checks.extend(forwarding_checks(org_id, forwarding.token_env, env, client.config.token))
    return org.verdicts()


def _named(rows: Sequence[Mapping[str, object]] | None) -> list[tuple[str, str]]:
    """(id, name) of each well-formed listed object; a malformed row is the contract's."""
    out = []
    for row in rows or ():
        described = row.get("describe")
        name = described.get("name") if isinstance(described, Mapping) else None
        if isinstance(row.get("id"), str) and isinstance(name, str):
            out.append((str(row["id"]), name))
    return out


def _self_grants(
    org: _Org,
    desired: DesiredOrg,
    caller: str,
    projects: Sequence[Mapping[str, object]] | None,
    apps: Sequence[Mapping[str, object]] | None,
) -> None:
    grants = desired.self_grants
    if grants is None:
        return
    if not grantee_allowed(desired, caller):
        org.add(
            "self-grants",
            "fail",
            f"selfGrants.admin is {grants.admin}, but the token is {caller}'s: the platform "
            "lets an org admin grant only themselves",
            f"plan with {grants.admin}'s token, or set selfGrants.admin to {caller}",
        )
        return
    if grants.projects and projects is not None:
        listed = _named(projects)
        selected = {
            pid for pid, name in listed for g in grants.projects if selects(g.selector, pid, name)
        }
        empty = [g for g in grants.projects if not any(selects(g.selector, *p) for p in listed)]
        org.add(
            "self-grants",
            "warn" if empty else "ok",
            f"the project self-grants select {len(selected)} listed project(s)"
            + (f"; {len(empty)} grant(s) select none" if empty else ""),
            "check the grants' ids, names and globs against the org's projects" if empty else None,
        )
    if grants.apps and apps is not None:
        listed = _named(apps)
        chosen = [
            aid for aid, name in listed if any(selects(g.selector, aid, name) for g in grants.apps)
        ]
        empty_apps = [g for g in grants.apps if not any(selects(g.selector, *a) for a in listed)]
        route = "/app-xxxx/listDevelopers"

        def developers(app_id: str) -> list[str] | None:
            return org.read(
                "self-grants",
                f"/{app_id}/listDevelopers",
                lambda: org.client.list_app_developers(app_id),
            )

        read = org.client.map(developers, chosen)
        org.contract.setdefault(route, [])
        if all(r is not None for r in read):
            org.add(
                "self-grants",
                "warn" if empty_apps else "ok",
                f"the app self-grants select {len(chosen)} listed app(s); their developers are "
                "readable" + (f"; {len(empty_apps)} grant(s) select none" if empty_apps else ""),
                "check the grants' ids, names and globs against the org's apps"
                if empty_apps
                else None,
            )


def _provisioning(org: _Org, desired: DesiredOrg) -> None:
    problem = org.client.auth_server_problem()
    if problem is not None:
        org.add(
            "provisioning",
            "fail",
            problem,
            "set DX_AUTHSERVER_HOST and DX_AUTHSERVER_PORT (a local API server), or use a "
            "public API host whose auth server dx knows; check that it is up",
        )
        return
    org.add(
        "provisioning",
        "ok",
        f"the auth server {org.client.config.describe_auth_server()} answered",
    )
    org.add(
        "provisioning",
        "warn",
        f"whether {org.org_id} holds the licence to provision accounts is not shown by any "
        "read-only call: without it, apply's /user/new is refused (PermissionDenied)",
        "ask DNAnexus Sales or Support whether the org is licensed to provision accounts",
    )


def _remedy(exc: ApiError, org_id: str) -> str:
    if isinstance(exc, PermissionDenied):
        return f"the token's user must be an ADMIN of {org_id}, with a full-scope token"
    if isinstance(exc, TransportError):
        return "check the network and the platform's status, then run doctor again"
    return "run doctor again; if it persists, report it with this line"


def doctor_orgs(fleet: Fleet | None, only: Sequence[str]) -> list[DesiredOrg]:
    """The orgs to check: the manifests' (only those of `only`, when given), and each org
    of `only` that no manifest declares, checked as a bare org."""
    for org_id in only:
        if not ORG_ID.fullmatch(org_id):
            raise DxorgError(f"--org {org_id}: not an org id (org-...)")
    declared = dict(fleet.orgs) if fleet is not None else {}
    chosen = [declared[k] for k in sorted(declared) if not only or k in only]
    bare = [DesiredOrg(org_id=k, source="(--org)") for k in sorted(set(only) - set(declared))]
    return chosen + bare
