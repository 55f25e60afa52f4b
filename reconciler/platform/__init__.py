"""The DNAnexus platform client: configuration discovery, read and write clients, retries."""

from __future__ import annotations

from reconciler.platform.client import CallOutcome, ReadClient, WriteClient
from reconciler.platform.config import ConfigOverrides, PlatformConfig, discover
from reconciler.platform.connection import Connection
from reconciler.platform.retry import RetryPolicy, retry_policy_from_env

__all__ = [
    "CallOutcome",
    "ConfigOverrides",
    "Connection",
    "PlatformConfig",
    "ReadClient",
    "RetryPolicy",
    "WriteClient",
    "discover",
    "retry_policy_from_env",
]
