"""Secrets are put into a call only as it is sent, and only if they are the ones planned."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from reconciler.apply.journal import is_env_ref
from reconciler.errors import DxorgError
from reconciler.plan import OrgPlan, Step


class SecretUnavailable(DxorgError):
    """The variable a call's secret comes from is unset, or holds another secret."""


def materialise(
    body: Mapping[str, Any], env: Mapping[str, str], org: OrgPlan, step: Step
) -> dict[str, Any]:
    """Replace each {"$env": NAME} with the variable's value, checked against the plan."""

    def expected_signature() -> str | None:
        for action in org.actions:
            if action.id in step.actions and action.after and "tokenSignature" in action.after:
                return str(action.after["tokenSignature"])
        return None

    def walk(value: Any) -> Any:
        if is_env_ref(value):
            name = value["$env"]
            secret = env.get(name)
            if not secret:
                raise SecretUnavailable(
                    f"{step.id}: environment variable {name} is not set; the call was not sent"
                )
            expected = expected_signature()
            if expected is not None and hashlib.sha256(secret.encode()).hexdigest() != expected:
                raise SecretUnavailable(
                    f"{step.id}: the token in {name} is not the one the plan was made with "
                    "(sha256 differs); the call was not sent"
                )
            return secret
        if isinstance(value, Mapping):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    result: dict[str, Any] = walk(body)
    return result
