"""Which environment variable may hold a job-log forwarding (Splunk HEC) token. Pure.

The platform sends job logs, with the forwarding token as the HEC token, to the URL the
manifest names: whoever can edit a manifest chooses both. So a manifest must not be able
to send one of dxorg's own credentials there.

- By name (static, `dxorg validate` too): `tokenEnv` may not name a variable of the
  DNAnexus tools (`DX_*`, DX_SECURITY_CONTEXT among them), of GitHub or its runner
  (`GITHUB_*`, `ACTIONS_*`, `RUNNER_*`), or an Action input (`INPUT_*`: the token input).
- By value (where the environment is read, before plan and apply): the variable may not
  hold, or be part of, the API token dxorg uses, the Action's token input, or the value of
  GITHUB_TOKEN, GH_TOKEN or INPUT_GITHUB_TOKEN; nor may it hold anything with the form of
  a GitHub token (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), wherever it
  came from: a personal access token kept in a variable of any name (GH_PAT) is refused.

Messages name the variable, never its value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

# Variables set by dx, the Action's runner and its inputs: credentials live among them.
RESERVED_PREFIXES: tuple[str, ...] = ("DX_", "GITHUB_", "INPUT_", "ACTIONS_", "RUNNER_")
# Variables that conventionally hold a GitHub token outside the reserved prefixes.
GITHUB_TOKEN_VARIABLES: tuple[str, ...] = ("GITHUB_TOKEN", "GH_TOKEN", "INPUT_GITHUB_TOKEN")
# GitHub's token formats (its documented prefixes): a value holding one is a GitHub
# credential, whichever variable it is in. A Splunk HEC token is a UUID: never matches.
GITHUB_TOKEN_FORM = re.compile(r"(?<![A-Za-z0-9])(?:gh[pousr]_|github_pat_)[A-Za-z0-9_]{16,}")
# A forwarding token this long or longer that occurs inside a credential is a piece of it.
MIN_SHARED_LENGTH = 8


def reserved_name_problem(name: str) -> str | None:
    """Why `name` may not be a `tokenEnv` (the static rule), or None."""
    upper = name.upper()
    for prefix in RESERVED_PREFIXES:
        if upper.startswith(prefix):
            return (
                f"names {name}, a variable of dxorg, dx or the GitHub runner ({prefix}*): "
                "the forwarding token would be sent to the forwarding URL, so it may not come "
                f"from a variable that can hold a credential; use a variable of your own "
                f"(e.g. SPLUNK_HEC_TOKEN)"
            )
    return None


def credentials_in(env: Mapping[str, str], *also: str | None) -> tuple[str, ...]:
    """The credentials a run of dxorg holds: the API token of DX_SECURITY_CONTEXT, the
    Action's token input, GitHub tokens, and `also` (the token the platform client uses)."""
    found = [env.get("INPUT_TOKEN", ""), *(env.get(name, "") for name in GITHUB_TOKEN_VARIABLES)]
    try:
        context = json.loads(env.get("DX_SECURITY_CONTEXT", ""))
    except ValueError:
        context = None
    if isinstance(context, dict) and isinstance(context.get("auth_token"), str):
        found.append(context["auth_token"])
    found += [token or "" for token in also]
    return tuple(sorted({token.strip() for token in found if token.strip()}))


def holds_credential(value: str, credentials: Iterable[str]) -> bool:
    """`value` equals or contains a credential, is a sizeable piece of one, or holds
    something with the form of a GitHub token."""
    value = value.strip()
    if not value:
        return False
    if GITHUB_TOKEN_FORM.search(value):
        return True
    for credential in credentials:
        if credential in value:
            return True
        if len(value) >= MIN_SHARED_LENGTH and value in credential:
            return True
    return False


def token_env_credential_problem(
    name: str, env: Mapping[str, str], credentials: Iterable[str]
) -> str | None:
    """Why the forwarding token may not be read from `name`, or None: the one check of
    "is this tokenEnv a credential", by name and by the value `env` gives it."""
    reserved = reserved_name_problem(name)
    if reserved is not None:
        return f"jobLogsForwarding.tokenEnv {reserved}"
    value = env.get(name)
    if value and holds_credential(value, credentials):
        return (
            f"jobLogsForwarding.tokenEnv: environment variable {name} holds a credential of "
            "this run (the DNAnexus API token or a GitHub token, value not shown): it would "
            "be sent to the forwarding URL as the HEC token. Put the Splunk HEC token in it"
        )
    return None
