"""DXORG_MAX_RETRY_SECONDS is read in one place, for the CLI and the Action alike."""

from __future__ import annotations

import pytest

from reconciler.errors import ConfigError
from reconciler.platform import RetryPolicy, retry_policy_from_env


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, 120.0), ("", 120.0), ("  ", 120.0), ("0", 0.0), ("2.5", 2.5), (" 30 ", 30.0)],
)
def test_the_budget_is_read_from_the_mapping(value: str | None, seconds: float) -> None:
    env = {} if value is None else {"DXORG_MAX_RETRY_SECONDS": value}
    policy = retry_policy_from_env(env)
    assert policy.max_total_seconds == seconds
    assert policy.max_attempts == RetryPolicy().max_attempts


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf", "-inf", "1e999", "12s"])
def test_a_bad_budget_is_a_config_error_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        retry_policy_from_env({"DXORG_MAX_RETRY_SECONDS": value})
    assert str(info.value).startswith(f"DXORG_MAX_RETRY_SECONDS={value!r}: expected a number")
