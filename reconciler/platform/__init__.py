"""The DNAnexus platform client: configuration discovery, read and write clients, retries."""

from __future__ import annotations

from reconciler.platform.client import CallOutcome, ReadClient, WriteClient
from reconciler.platform.config import ConfigOverrides, PlatformConfig, discover
from reconciler.platform.connection import Connection
from reconciler.platform.health import PlatformHealth, clock_skew, clock_skew_warning
from reconciler.platform.limits import PlatformLimits, limits_from_env
from reconciler.platform.retry import RetryPolicy, retry_policy_from_env

__all__ = [
    "CallOutcome",
    "ConfigOverrides",
    "Connection",
    "PlatformConfig",
    "PlatformHealth",
    "PlatformLimits",
    "ReadClient",
    "RetryPolicy",
    "WriteClient",
    "clock_skew",
    "clock_skew_warning",
    "discover",
    "limits_from_env",
    "retry_policy_from_env",
]
