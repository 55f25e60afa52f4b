"""Where the platform is and where the state lives: the part of a request every command
that reads the platform shares, whichever entry point built it."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.config_repo import JOURNAL_NAME, SANDBOX_NAME, state_dir
from reconciler.platform.client import DEFAULT_CONCURRENCY

if TYPE_CHECKING:
    from reconciler.platform import ConfigOverrides, Connection, ReadClient


@dataclass(frozen=True)
class PlatformRequest:
    """The platform to reach and how: the CLI's options or the Action's inputs.

    `env` is the process environment the run reads (dx's configuration, the DXORG_*
    limits and retry budget, the state directory variable, forwarding tokens).
    """

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    overrides: ConfigOverrides | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    sandbox: bool = False
    sandbox_state: Path | None = None
    sandbox_seed: Path | None = None
    state_dir: Path | None = None
    # Called with the state directory before a command reads the journals in it (the
    # Action restores the journal branch's journals there first).
    on_state: Callable[[Path], None] | None = None

    def state(self, root: Path) -> Path:
        """The state directory of the config repository at `root` (reconciler.config_repo)."""
        return state_dir(root, self.state_dir, self.env)

    def journals_state(self, root: Path) -> Path:
        """The state directory, made ready for its journals to be read (`on_state`)."""
        state = self.state(root)
        if self.on_state is not None:
            self.on_state(state)
        return state

    def journal(self, root: Path, given: Path | None = None) -> Path:
        """Apply's journal: the one given, else journal.jsonl in the state directory."""
        return given or self.state(root) / JOURNAL_NAME

    def sandbox_file(self, root: Path) -> Path:
        return self.sandbox_state or self.state(root) / SANDBOX_NAME

    def connection(self, root: Path) -> Connection:
        """The only place where the platform is decided; `root`: the config repository's.

        DXORG_MAX_RETRY_SECONDS bounds the time spent retrying one call (default 120); the
        other DXORG_* limits (request deadline, response size, pages, outage, run
        deadline) are read by `limits_from_env`.
        """
        from reconciler.platform import (
            Connection,
            discover,
            limits_from_env,
            retry_policy_from_env,
        )

        retry = retry_policy_from_env(self.env)
        limits = limits_from_env(self.env)
        transport = None
        if self.sandbox:
            from reconciler.sandbox import open_sandbox

            transport, config = open_sandbox(self.sandbox_file(root), self.sandbox_seed)
        else:
            config = discover(env=self.env, overrides=self.overrides)
        return Connection(
            config, transport=transport, retry=retry, concurrency=self.concurrency, limits=limits
        )

    def read_client(self, root: Path) -> ReadClient:
        """A read-only client: plan, export, report, and apply's checks never write."""
        return self.connection(root).read_client()
