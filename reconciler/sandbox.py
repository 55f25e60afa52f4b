"""The embedded sandbox: an in-process emulator whose state lives in a local file.

`--sandbox` on plan, apply and export runs against it, so a demo or a rehearsal needs
no server and no credentials; a later run (or `dxorg emulator serve --state` on the
same file, driven by the real `dx`) sees what an earlier one did.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import yaml

from reconciler.errors import ConfigError
from reconciler.platform import PlatformConfig

DEFAULT_STATE = Path(".dxorg") / "sandbox.db"
DEFAULT_SEED = Path("examples") / "sandbox" / "seed.yaml"


def sandbox_token(seed_path: Path) -> str:
    """The token of the seed's busiest admin: the user who administers the most orgs."""
    try:
        seed = yaml.safe_load(seed_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{seed_path}: cannot read the sandbox seed: {exc}") from exc
    if not isinstance(seed, dict):
        raise ConfigError(f"{seed_path}: the sandbox seed is not a mapping")
    admin_of: Counter[str] = Counter()
    for org in seed.get("orgs") or []:
        for user_id, member in (org.get("members") or {}).items():
            if isinstance(member, dict) and member.get("level") == "ADMIN":
                admin_of[user_id] += 1
    tokens = {u.get("id"): u.get("token") for u in seed.get("users") or [] if isinstance(u, dict)}
    for user_id, _ in admin_of.most_common():
        if tokens.get(user_id):
            return str(tokens[user_id])
    raise ConfigError(f"{seed_path}: no org admin with a token in the sandbox seed")


def open_sandbox(state: Path, seed: Path) -> tuple[httpx.BaseTransport, PlatformConfig]:
    """An in-process transport to the sandbox emulator, and a config to reach it."""
    from reconciler.emulator import Emulator

    if not seed.is_file():
        raise ConfigError(
            f"{seed}: sandbox seed not found (run from the dxorg checkout, or pass --sandbox-seed)"
        )
    state.parent.mkdir(parents=True, exist_ok=True)
    emulator = Emulator(state_path=state, seed=seed)
    config = PlatformConfig(
        protocol="http",
        host="sandbox.invalid",
        port=None,
        token=sandbox_token(seed),
        auth_server_url="http://sandbox.invalid",
    )
    return emulator.transport(), config
