"""Plan a fleet: read each org's live state (concurrently) and plan it. The I/O side of `plan`.

One org's failure (a read error, a forwarding token variable that holds a credential)
becomes that org's error in the plan: it blocks applying, but the other orgs are still
planned and shown. An unset forwarding token variable leaves only that org's forwarding
unchecked (a warning); the rest of the org is planned.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from reconciler import __version__
from reconciler.errors import DxorgError, ReadIncompleteError
from reconciler.forwarding_token import credentials_in, token_env_credential_problem
from reconciler.model import DesiredOrg, LiveOrg
from reconciler.plan import SANDBOX, OrgPlan, Plan, PlatformIdentity
from reconciler.planner import PlanOptions, failed_org_plan, plan_org
from reconciler.platform.health import clock_skew_warning
from reconciler.read_live import read_org
from reconciler.render import inert

if TYPE_CHECKING:
    from reconciler.manifest import Fleet
    from reconciler.platform.client import ReadClient
    from reconciler.platform.config import PlatformConfig


def platform_identity(config: PlatformConfig, user: str) -> PlatformIdentity:
    """Which platform `config` reaches, and as whom: what a plan is bound to."""
    if config.sandbox_state is not None:
        return PlatformIdentity(SANDBOX, user, config.sandbox_state)
    return PlatformIdentity(config.server_id, user)


def platform_where(config: PlatformConfig) -> str:
    """Where `config` reaches, as a plan's binding and the journal's `run-start` name it."""
    return platform_identity(config, user="").where  # `where` does not depend on the user


log = logging.getLogger("reconciler")


def platform_time(client: ReadClient) -> datetime:
    """Now by the platform's clock (the Date header of its latest answer), which decides
    expiry dates; this machine's time only if the platform sent no date. A local clock
    far off the platform's is a warning naming the difference."""
    skew = client.clock_skew()
    local = datetime.now(UTC)
    if skew is None:
        return local
    warning = clock_skew_warning(skew)
    if warning is not None:
        log.warning("warning: %s", inert.terminal(warning))
    return local + skew


def token_signatures(orgs: Collection[DesiredOrg], env: Mapping[str, str]) -> dict[str, str | None]:
    """sha256 of each forwarding token the manifests name, read from the environment.

    The token itself goes no further than this function: plans compare signatures.
    """
    out: dict[str, str | None] = {}
    for org in orgs:
        if org.forwarding and org.forwarding.token_env:
            name = org.forwarding.token_env
            value = env.get(name)
            out[name] = hashlib.sha256(value.encode()).hexdigest() if value else None
    return out


def token_problems(
    orgs: Collection[DesiredOrg], env: Mapping[str, str], credentials: Collection[str]
) -> dict[str, str]:
    """Per forwarding token variable that may not be used (it names or holds a credential
    of this run), why: each such org is not planned, and nothing is sent from it."""
    out: dict[str, str] = {}
    for org in orgs:
        if org.forwarding and org.forwarding.token_env:
            name = org.forwarding.token_env
            problem = token_env_credential_problem(name, env, credentials)
            if problem is not None:
                out[name] = problem
    return out


def select_orgs(fleet: Fleet, only: Collection[str] | None) -> list[DesiredOrg]:
    if not only:
        return [fleet.orgs[k] for k in sorted(fleet.orgs)]
    unknown = sorted(set(only) - set(fleet.orgs))
    if unknown:
        raise DxorgError(f"--org {', '.join(unknown)}: no manifest declares this org")
    return [fleet.orgs[k] for k in sorted(only)]


def read_and_plan(
    desired: DesiredOrg, client: ReadClient, options: PlanOptions, caller: str
) -> tuple[LiveOrg | None, OrgPlan]:
    """One org read and planned; a failed read is the plan's error (and no live state)."""
    try:
        live = read_org(client, desired, caller)
    except ReadIncompleteError as exc:
        return None, failed_org_plan(desired, caller, str(exc))
    return live, plan_org(desired, live, options)


def read_and_plan_orgs(
    orgs: list[DesiredOrg], client: ReadClient, options: PlanOptions, caller: str
) -> list[tuple[LiveOrg | None, OrgPlan]]:
    # Orgs are read side by side up to the client's concurrency, which bounds the calls in
    # flight; on the client's threads, which a Ctrl-C or SIGTERM stops (see `map`).
    return client.map(lambda d: read_and_plan(d, client, options, caller), orgs)


def provisioning_problem(orgs: Collection[DesiredOrg], client: ReadClient) -> str | None:
    """Why accounts could not be created now, if any org provisions some: found at plan
    time, so that apply does not fail half-way."""
    if not any(org.provisioning for org in orgs):
        return None
    return client.auth_server_problem()


def plan_options(
    orgs: Collection[DesiredOrg],
    client: ReadClient,
    *,
    now: datetime,
    env: Mapping[str, str],
    overrides: Collection[str] = (),
    skip_removals: bool = False,
    only_expiries: bool = False,
    created_accounts: Mapping[str, str] | None = None,
) -> PlanOptions:
    """Everything a plan depends on besides the manifests and the live orgs."""
    credentials = credentials_in(env, client.config.token)
    return PlanOptions.at(
        now,
        token_signatures=token_signatures(orgs, env),
        token_problems=token_problems(orgs, env, credentials),
        overrides=frozenset(overrides),
        skip_removals=skip_removals,
        only_expiries=only_expiries,
        created_accounts=created_accounts,
        auth_server_problem=provisioning_problem(orgs, client),
    )


def plan_fleet(
    fleet: Fleet,
    client: ReadClient,
    *,
    now: datetime | None = None,
    only: Collection[str] | None = None,
    overrides: Collection[str] = (),
    skip_removals: bool = False,
    only_expiries: bool = False,
    env: Mapping[str, str] | None = None,
    created_accounts: Mapping[str, str] | None = None,
) -> Plan:
    orgs = select_orgs(fleet, only)
    caller = client.whoami()
    moment = now or platform_time(client)
    options = plan_options(
        orgs,
        client,
        now=moment,
        env=os.environ if env is None else env,
        overrides=overrides,
        skip_removals=skip_removals,
        only_expiries=only_expiries,
        created_accounts=created_accounts,
    )
    planned = read_and_plan_orgs(orgs, client, options, caller)
    return Plan(
        orgs=tuple(org_plan for _, org_plan in planned),
        created_at=moment.astimezone(UTC).isoformat(timespec="seconds"),
        tool_version=__version__,
        platform=platform_identity(client.config, caller),
        overrides=tuple(sorted(overrides)),
        skip_removals=skip_removals,
        only_expiries=only_expiries,
    )
