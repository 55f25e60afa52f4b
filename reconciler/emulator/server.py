"""`dxorg emulator serve`: the emulator over HTTP in the foreground until Ctrl-C."""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
from pathlib import Path

from reconciler.emulator.emulator import Emulator
from reconciler.emulator.seed import SeedError
from reconciler.emulator.store import MEMORY

CONTROL_TOKEN_SUFFIX = ".control-token"


def control_token_file(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + CONTROL_TOKEN_SUFFIX)


def generated_control_token(state_path: Path) -> tuple[str, str]:
    """A fresh control token, written next to the state file (mode 0600).

    Returns the token and a line telling where to find it; the token itself is not printed.
    """
    token = secrets.token_urlsafe(24)
    if str(state_path) == MEMORY:
        return token, f"control token: {token} (state is in memory, so it is shown here)"
    path = control_token_file(state_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token, f"control token: written to {path}"


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve_forever(
    *,
    host: str,
    port: int,
    state_path: Path | str,
    seed_path: Path | str | None,
    reset: bool,
    control_token: str | None,
    seed_name: str | None = None,
) -> None:
    """Serve until interrupted. Prints the URL and where the control token is; never a
    user token (those come from the seed, which the user already has).

    `seed_name` says which seed `seed_path` is in the start-up message (default: its path).
    """
    state = Path(state_path)
    # What this run creates, removed again if it cannot listen (a busy port): a failed
    # start leaves no state file or control token behind.
    created = [
        p
        for p in (state, state.with_name(state.name + "-journal"), control_token_file(state))
        if str(state_path) != MEMORY and not p.exists()
    ]
    if control_token:
        token, token_hint = (
            control_token,
            "control token: as given (--control-token / DXORG_EMULATOR_CONTROL_TOKEN)",
        )
    else:
        token, token_hint = generated_control_token(state)
    try:
        emulator = Emulator(
            state_path=MEMORY if str(state_path) == MEMORY else state,
            seed=None if seed_path is None else Path(seed_path),
            reset=reset,
            control_token=token,
        )
    except SeedError as exc:
        for path in created:
            path.unlink(missing_ok=True)
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    try:
        running = emulator.start(host, port, quiet=False)
    except (OSError, SystemExit):  # werkzeug exits on a busy port, after saying so
        emulator.close()
        for path in created:
            path.unlink(missing_ok=True)
        raise
    shown_seed = seed_name or str(seed_path)
    if seed_path is None:
        seed_line = "seed: none (an empty platform)"
    elif emulator.seed_loaded:
        seed_line = f"seed: {shown_seed}, loaded"
    else:
        seed_line = (
            f"seed: {shown_seed} not loaded, the state already holds data (--reset reloads it)"
        )
    lines = [
        f"dxorg emulator listening on {running.url}",
        f"state: {state_path}",
        seed_line,
        token_hint,
        "point dx at it:",
        "  export DX_APISERVER_PROTOCOL=http DX_APISERVER_HOST=127.0.0.1"
        f" DX_APISERVER_PORT={running.port}",
        f"  export DX_AUTHSERVER_HOST=http://127.0.0.1 DX_AUTHSERVER_PORT={running.port}",
        '  export DX_SECURITY_CONTEXT=\'{"auth_token_type":"Bearer","auth_token":"<a seed user\'s token>"}\'',
        "Ctrl-C stops it.",
    ]
    print("\n".join(lines), flush=True)
    if threading.current_thread() is threading.main_thread():
        # A service manager's SIGTERM stops it as cleanly as Ctrl-C.
        signal.signal(signal.SIGTERM, interrupt)
    try:
        running.thread.join()
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        running.stop()
        emulator.close()
