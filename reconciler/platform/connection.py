"""Where the platform is and how to talk to it, without holding a client open.

Apply checks a plan through a read-only client and opens a write client only once every
check has passed; both come from one Connection, so they reach the same platform the
same way (the same config, transport, retry policy, limits and concurrency) and share
what the run has learnt about it (`PlatformHealth`: which servers answered, the circuit
breaker, the run's deadline, the platform's clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from reconciler.platform.client import DEFAULT_CONCURRENCY, ReadClient, WriteClient
from reconciler.platform.config import PlatformConfig
from reconciler.platform.health import PlatformHealth
from reconciler.platform.limits import PlatformLimits
from reconciler.platform.retry import RetryPolicy

C = TypeVar("C", bound=ReadClient)


@dataclass(frozen=True)
class Connection:
    config: PlatformConfig
    transport: httpx.BaseTransport | None = field(default=None, repr=False)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = DEFAULT_CONCURRENCY
    limits: PlatformLimits = field(default_factory=PlatformLimits)
    # One per run; made from the fields above unless given.
    health: PlatformHealth = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.health is None:
            health = PlatformHealth(
                self.limits, where=self.config.describe_api_server(), clock=self.retry.clock
            )
            object.__setattr__(self, "health", health)

    def read_client(self) -> ReadClient:
        return self._client(ReadClient)

    def write_client(self) -> WriteClient:
        return self._client(WriteClient)

    def _client(self, kind: type[C]) -> C:
        return kind(
            self.config,
            transport=self.transport,
            retry=self.retry,
            concurrency=self.concurrency,
            limits=self.limits,
            health=self.health,
        )
