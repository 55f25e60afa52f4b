"""The embedded sandbox: an in-process emulator whose state lives in a local file.

`--sandbox` on plan, apply and export runs against it, so a demo or a rehearsal needs
no server and no credentials; a later run (or `dxorg emulator serve --state` on the
same file, driven by the real `dx`) sees what an earlier one did.

The demo seed ships inside the package, so `--sandbox` works from any directory.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path

import httpx
import yaml

from reconciler.errors import ConfigError
from reconciler.platform import PlatformConfig

# The live state the example manifests (examples/orgs/ in the checkout) drift from.
DEMO_SEED: Traversable = files("reconciler") / "demo" / "seed.yaml"
DEMO_SEED_NAME = "the demo seed (the one --sandbox uses)"
_SQLITE_HEADER = b"SQLite format 3\x00"


@contextmanager
def demo_seed_file() -> Iterator[Path]:
    """The packaged demo seed as a file on disk, for as long as the context lasts."""
    with as_file(DEMO_SEED) as path:
        yield path


def check_state_file(path: Path, option: str) -> None:
    """Refuse, before anything is written, a state path that cannot hold an emulator's state."""
    if path.is_dir():
        raise ConfigError(
            f"{option} {path}: is a directory; give the path of a state file "
            f"(e.g. {path / 'sandbox.db'})"
        )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{option} {path}: {parent} is not a directory")
            break
    if path.is_file():
        try:
            with path.open("rb") as handle:
                header = handle.read(len(_SQLITE_HEADER))
        except OSError as exc:
            raise ConfigError(f"{option} {path}: cannot read it: {exc.strerror}") from exc
        # An empty file is an empty database to SQLite; anything else must be one.
        if header and header != _SQLITE_HEADER:
            raise ConfigError(
                f"{option} {path}: not an emulator state file (not an SQLite database); "
                "give the path of a state file, or of a file to create"
            )


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


def open_sandbox(
    state: Path, seed: Path | None = None
) -> tuple[httpx.BaseTransport, PlatformConfig]:
    """An in-process transport to the sandbox emulator, and a config to reach it.

    `seed` None is the packaged demo seed.
    """
    if seed is None:
        with demo_seed_file() as demo:
            return open_sandbox(state, demo)
    from reconciler.emulator import Emulator, SeedError

    if not seed.is_file():
        raise ConfigError(f"--sandbox-seed {seed}: no such file")
    check_state_file(state, "--sandbox-state")
    token = sandbox_token(seed)
    state.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        emulator = Emulator(state_path=state, seed=seed)
    except SeedError as exc:
        raise ConfigError(f"--sandbox-seed {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"--sandbox-state {state}: cannot use it as a state file: {exc}") from exc
    config = PlatformConfig(
        protocol="http",
        host="sandbox.invalid",
        port=None,
        token=token,
        auth_server_url="http://sandbox.invalid",
        sandbox_state=str(state.resolve()),
    )
    return emulator.transport(), config
