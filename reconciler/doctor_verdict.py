"""`dxorg doctor`'s verdicts: what was observed -> ok, warn or fail, with a remedy. Pure.

reconciler/doctor.py makes the read-only calls and hands what it saw to the functions
here; rendering is reconciler/render/doctor.py. A failure blocks a plan or an apply (exit
1); a warning is shown and does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from reconciler.forwarding_token import credentials_in, token_env_credential_problem

Status = Literal["ok", "warn", "fail"]

# An org expiring this soon is a warning.
EXPIRY_WARN = timedelta(days=30)

PLATFORM = "platform"  # the scope of checks that are not about one org


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report. `detail` and `remedy` may quote the platform (names,
    error messages): foreign text, which the renderers make inert (render.inert)."""

    scope: str  # PLATFORM or an org id
    name: str
    status: Status
    detail: str
    remedy: str | None = None


@dataclass(frozen=True)
class DoctorReport:
    api_server: str  # the URL, and where each part of it came from
    caller: str | None  # the token's user, if the token worked
    clock_skew_seconds: float | None
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def blocks(self) -> bool:
        """Would a plan or an apply fail, or be unsafe to make, on this platform?"""
        return any(c.status == "fail" for c in self.checks)

    @property
    def stops_planning(self) -> bool:
        """A failure that a plan would not report itself: the platform-wide checks (the
        server, the token) and the contract. An org's own failure (not an ADMIN,
        a forwarding token that is a credential) is one the plan reports for that org."""
        return any(
            c.status == "fail" and (c.scope == PLATFORM or c.name == "contract")
            for c in self.checks
        )

    @property
    def exit_code(self) -> int:
        return 1 if self.blocks else 0

    def count(self, status: Status) -> int:
        return sum(1 for c in self.checks if c.status == status)

    def summary(self) -> str:
        ok, warn, fail = self.count("ok"), self.count("warn"), self.count("fail")
        verdict = (
            "plan and apply would fail or be unsafe here: fix the failures first."
            if fail
            else "ready to plan."
        )
        return (
            f"Doctor: {ok} ok, {warn} warning(s), {fail} failure(s) on {self.api_server}: {verdict}"
        )


# ---------------------------------------------------------------- the platform


def clock_check(skew: timedelta | None, warning: str | None) -> Check:
    """`warning`: the platform client's sentence about a skew worth fixing (None: none).
    Never a failure: dxorg decides expiry dates by the platform's clock, not this one."""
    if skew is None:
        return Check(
            PLATFORM,
            "clock",
            "warn",
            "the API server sent no usable Date header: clock skew unknown",
        )
    if warning is not None:
        return Check(PLATFORM, "clock", "warn", warning, "set this machine's clock (NTP)")
    off = abs(skew)
    direction = "behind" if skew > timedelta(0) else "ahead of"
    return Check(
        PLATFORM,
        "clock",
        "ok",
        f"local clock is {off.total_seconds():.0f} s {direction} the platform's",
    )


def scope_check(own_describe: Mapping[str, object]) -> Check:
    """The token's scope, as far as the platform shows it. `/system/whoami` answers only the
    id; a user's describe shows their own `email` only to a full-scope token of theirs
    (the API reference, 6.2), and org admin calls need one."""
    if isinstance(own_describe.get("email"), str):
        return Check(
            PLATFORM,
            "token scope",
            "ok",
            "full scope: the platform shows the account's own email to this token "
            "(no API call shows a token's scope itself)",
        )
    return Check(
        PLATFORM,
        "token scope",
        "warn",
        "the platform hides the account's own email from this token: it may be a "
        "limited-scope token, and the org admin calls need a full-scope one",
        "use a full-scope API token of an org admin",
    )


# ---------------------------------------------------------------- one org


def admin_check(org_id: str, caller: str, level: object) -> Check:
    if level == "ADMIN":
        return Check(org_id, "admin", "ok", f"{caller} is an ADMIN of {org_id}")
    shown = level if isinstance(level, str) else "none shown"
    return Check(
        org_id,
        "admin",
        "fail",
        f"{caller} is not an ADMIN of {org_id} (level: {shown})",
        f"use the token of an ADMIN of {org_id}, or have one promote {caller}",
    )


def expiry_check(org_id: str, expires_at: object, now: datetime) -> Check:
    """`expiresAt` (epoch milliseconds), as `dx describe org` shows it when set."""
    if expires_at is None:
        return Check(org_id, "expiry", "ok", "no expiry date set")
    if not isinstance(expires_at, int) or isinstance(expires_at, bool):
        return Check(org_id, "expiry", "fail", "expiresAt is not a timestamp")
    when = datetime.fromtimestamp(expires_at / 1000, UTC)
    shown = when.strftime("%Y-%m-%d %H:%M UTC")
    if when <= now:
        return Check(
            org_id,
            "expiry",
            "fail",
            f"the org expired on {shown}: billable operations fail (OrgExpired)",
            "ask DNAnexus Support about the org's expiry date",
        )
    if when - now <= EXPIRY_WARN:
        return Check(
            org_id,
            "expiry",
            "warn",
            f"the org expires on {shown}, in {(when - now).days} day(s); its data is then deleted",
            "ask DNAnexus Support about the org's expiry date",
        )
    return Check(org_id, "expiry", "ok", f"the org expires on {shown}")


def forwarding_checks(
    org_id: str, token_env: str, env: Mapping[str, str], api_token: str | None
) -> list[Check]:
    """The forwarding token's variable: not a credential of this run (the same rule plan and
    apply apply, `forwarding_token`), and set."""
    problem = token_env_credential_problem(token_env, env, credentials_in(env, api_token))
    if problem is not None:
        return [
            Check(
                org_id,
                "forwarding",
                "fail",
                problem,
                "put the Splunk HEC token in a variable of its own (e.g. SPLUNK_HEC_TOKEN) "
                "and name that in tokenEnv",
            )
        ]
    if not env.get(token_env):
        return [
            Check(
                org_id,
                "forwarding",
                "warn",
                f"tokenEnv {token_env} is not set: forwarding will be left unchecked (plan "
                "--detailed-exitcode exits 2, apply never says converged)",
                f"export {token_env} (in the Action: from a secret, in the step's env)",
            )
        ]
    return [Check(org_id, "forwarding", "ok", f"{token_env} is set (value not shown)")]


def contract_check(scope: str, route: str, problems: list[str]) -> Check:
    if not problems:
        return Check(scope, "contract", "ok", f"{route}: every field dxorg reads is as expected")
    shown = "; ".join(problems[:3]) + (
        f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
    )
    return Check(
        scope,
        "contract",
        "fail",
        shown,
        "this platform answers differently from what dxorg was built against: report it "
        "(dxorg's issue tracker) with this line; do not plan or apply until it is understood",
    )
