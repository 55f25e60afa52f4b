"""Where the platform is and how to talk to it, without holding a client open.

Apply checks a plan through a read-only client and opens a write client only once every
check has passed; both come from one Connection, so they reach the same platform the
same way (the same config, transport, retry policy and concurrency).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from reconciler.platform.client import DEFAULT_CONCURRENCY, ReadClient, WriteClient
from reconciler.platform.config import PlatformConfig
from reconciler.platform.retry import RetryPolicy


@dataclass(frozen=True)
class Connection:
    config: PlatformConfig
    transport: httpx.BaseTransport | None = field(default=None, repr=False)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = DEFAULT_CONCURRENCY

    def read_client(self) -> ReadClient:
        return ReadClient(
            self.config, transport=self.transport, retry=self.retry, concurrency=self.concurrency
        )

    def write_client(self) -> WriteClient:
        return WriteClient(
            self.config, transport=self.transport, retry=self.retry, concurrency=self.concurrency
        )
