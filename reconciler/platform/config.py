"""Finding the platform to talk to, the way dxpy (and so `dx`) finds it.

Precedence, highest first (dxpy's order, plus dxorg's CLI overrides on top):

1. explicit overrides (``--apiserver-*`` / ``--auth-token`` style CLI options);
2. environment variables ``DX_APISERVER_PROTOCOL/HOST/PORT``, ``DX_SECURITY_CONTEXT``;
3. the session directory ``<conf>/sessions/<ancestor pid>/`` (nearest ancestor first);
4. the user directory ``$DX_USER_CONF_DIR`` (default ``~/.dnanexus_config``):
   ``environment.json`` and the standalone files dxpy writes next to it;
5. the global directory ``/etc/dnanexus``;
6. defaults: ``https://api.dnanexus.com:443``, no token.

A missing token is not an error here: only a call that needs one fails, and the
message names every place that was searched.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.errors import ConfigError

DEFAULT_PROTOCOL = "https"
DEFAULT_HOST = "api.dnanexus.com"
DEFAULT_PORT = 443

# The variables dxpy stores in environment.json (CORE) and as one file each (STANDALONE).
CORE_VARS = (
    "DX_APISERVER_HOST",
    "DX_APISERVER_PORT",
    "DX_APISERVER_PROTOCOL",
    "DX_PROJECT_CONTEXT_ID",
    "DX_WORKSPACE_ID",
    "DX_SECURITY_CONTEXT",
    "DX_JOB_ID",
)
STANDALONE_VARS = ("DX_CLI_WD", "DX_USERNAME", "DX_PROJECT_CONTEXT_NAME")

# dxpy's fixed API-server -> auth-server table (dxpy.get_auth_server_name).
KNOWN_AUTH_SERVERS: Mapping[str, str] = {
    "api.dnanexus.com": "https://auth.dnanexus.com",
    "stagingapi.dnanexus.com": "https://stagingauth.dnanexus.com",
    "api.cn.dnanexus.com": "https://auth.cn.dnanexus.com:8001",
    "stagingapi.cn.dnanexus.com": "https://stagingauth.cn.dnanexus.com:7001",
}
# Hosts for which dxpy requires DX_AUTHSERVER_HOST and DX_AUTHSERVER_PORT.
LOCAL_API_HOSTS = frozenset({"localhost", "127.0.0.1", "apiserver"})

GLOBAL_CONF_DIR = Path("/etc/dnanexus")


@dataclass(frozen=True)
class ConfigOverrides:
    """Values given explicitly (CLI options); each one set wins over every other source."""

    protocol: str | None = None
    host: str | None = None
    port: int | str | None = None
    token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        token = "<set>" if self.token is not None else None
        return (
            f"ConfigOverrides(protocol={self.protocol!r}, host={self.host!r}, "
            f"port={self.port!r}, token={token})"
        )


@dataclass(frozen=True, repr=False)
class PlatformConfig:
    """Where the platform is and how to authenticate. Never prints its token."""

    protocol: str = DEFAULT_PROTOCOL
    host: str = DEFAULT_HOST
    port: int | None = DEFAULT_PORT
    token: str | None = None
    auth_server_url: str | None = "https://auth.dnanexus.com"
    # Human-readable provenance, used in errors (e.g. "no token found in: ...").
    searched: tuple[str, ...] = field(default=(), compare=False)
    # Why auth_server_url is None, if it is.
    auth_server_problem: str | None = field(default=None, compare=False)

    @property
    def api_url(self) -> str:
        """``protocol://host[:port]`` as dxpy builds it (no port part when the port is unset)."""
        if self.port is None:
            return f"{self.protocol}://{self.host}"
        return f"{self.protocol}://{self.host}:{self.port}"

    def require_token(self) -> str:
        """The token, or a ConfigError saying where we looked."""
        if self.token is None:
            where = "; ".join(self.searched) if self.searched else "nowhere"
            raise ConfigError(
                "no API token configured: set DX_SECURITY_CONTEXT "
                '(\'{"auth_token_type":"Bearer","auth_token":"..."}\') or pass a token option; '
                f"searched: {where}"
            )
        return self.token

    def require_auth_server(self) -> str:
        if self.auth_server_url is None:
            raise ConfigError(
                self.auth_server_problem
                or f"could not determine the auth server for API server {self.host}"
            )
        return self.auth_server_url

    def __repr__(self) -> str:
        token = "<set>" if self.token is not None else None
        return (
            f"PlatformConfig(protocol={self.protocol!r}, host={self.host!r}, port={self.port!r}, "
            f"token={token}, auth_server_url={self.auth_server_url!r})"
        )

    def __str__(self) -> str:
        auth = "token set" if self.token is not None else "no token"
        return f"{self.api_url} ({auth})"


def discover(
    env: Mapping[str, str] = os.environ,
    overrides: ConfigOverrides | None = None,
    *,
    global_conf_dir: Path | None = GLOBAL_CONF_DIR,
) -> PlatformConfig:
    """Find the platform configuration as dxpy does; `overrides` win over everything.

    `global_conf_dir` is dxpy's ``/etc/dnanexus``; tests pass None or a temp dir.
    """
    overrides = overrides or ConfigOverrides()
    user_dir = _user_conf_dir(env)

    # Lowest precedence first; later layers overwrite earlier ones (dxpy's order).
    layers: list[tuple[str, dict[str, str]]] = []
    if global_conf_dir is not None:
        layers.append((str(global_conf_dir), _read_conf_dir(global_conf_dir)))
    layers.append((str(user_dir), _read_conf_dir(user_dir)))
    session_dir = _session_conf_dir(user_dir)
    if session_dir is not None:
        layers.append((str(session_dir), _read_conf_dir(session_dir)))
    layers.append(("environment", {k: env[k] for k in (*CORE_VARS, *STANDALONE_VARS) if k in env}))

    values: dict[str, str] = {}
    origin: dict[str, str] = {}
    for source, layer in layers:
        for key, value in layer.items():
            values[key] = value
            origin[key] = source

    protocol = overrides.protocol or values.get("DX_APISERVER_PROTOCOL") or DEFAULT_PROTOCOL
    if protocol not in ("http", "https"):
        raise ConfigError(f"API server protocol must be http or https, got {protocol!r}")
    host = overrides.host or values.get("DX_APISERVER_HOST") or DEFAULT_HOST

    port: int | None
    if overrides.port is not None and overrides.port != "":
        port = _parse_port(overrides.port, "the port option")
    elif "DX_APISERVER_PORT" in values:
        # dxpy leaves the port out of the URL when it is set but empty.
        raw = values["DX_APISERVER_PORT"]
        port = _parse_port(raw, origin["DX_APISERVER_PORT"]) if raw != "" else None
    else:
        port = DEFAULT_PORT

    searched = ["token option", *(f"DX_SECURITY_CONTEXT in {s}" for s, _ in reversed(layers))]
    token: str | None
    if overrides.token is not None:
        token = overrides.token
    elif "DX_SECURITY_CONTEXT" in values:
        token = _token_from_security_context(
            values["DX_SECURITY_CONTEXT"], origin["DX_SECURITY_CONTEXT"]
        )
    else:
        token = None

    auth_url, auth_problem = _auth_server(host, protocol, env)
    return PlatformConfig(
        protocol=protocol,
        host=host,
        port=port,
        token=token,
        auth_server_url=auth_url,
        searched=tuple(searched),
        auth_server_problem=auth_problem,
    )


def _user_conf_dir(env: Mapping[str, str]) -> Path:
    raw = env.get("DX_USER_CONF_DIR", "~/.dnanexus_config")
    # Expand "~" against the given mapping's HOME so a test env never touches the real home.
    if (raw == "~" or raw.startswith("~/")) and "HOME" in env:
        raw = env["HOME"] + raw[1:]
    return Path(os.path.expanduser(raw))


def _read_conf_dir(directory: Path) -> dict[str, str]:
    """environment.json plus the standalone files, silently skipping what is absent or unreadable.

    That leniency is dxpy's; a broken environment.json is ignored by `dx` too.
    """
    values: dict[str, str] = {}
    try:
        loaded = json.loads((directory / "environment.json").read_text())
    except (OSError, ValueError):
        loaded = {}
    if isinstance(loaded, dict):
        for key, value in loaded.items():
            # dxpy writes strings; tolerate a hand-written numeric port.
            if (
                isinstance(key, str)
                and isinstance(value, str | int)
                and not isinstance(value, bool)
            ):
                values[key] = str(value)
    for name in STANDALONE_VARS:
        with contextlib.suppress(OSError):
            values[name] = (directory / name).read_text()
    return values


def _session_conf_dir(user_dir: Path) -> Path | None:
    """The nearest ``sessions/<pid>`` directory of an ancestor process, as dxpy looks it up."""
    sessions = user_dir / "sessions"
    if not sessions.is_dir():
        return None
    for pid in _ancestor_pids():
        candidate = sessions / str(pid)
        if candidate.is_dir():
            return candidate
    return None


def _ancestor_pids() -> list[int]:
    """Parent, grandparent, ... of this process (Linux /proc; just the parent elsewhere)."""
    pids: list[int] = []
    pid = os.getppid()
    while pid > 0 and pid not in pids:
        pids.append(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            # The command name may contain spaces and parentheses: split after the last ')'.
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _parse_port(raw: int | str, source: str) -> int:
    try:
        port = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"API server port from {source} is not an integer: {raw!r}") from None
    if not 0 < port < 65536:
        raise ConfigError(f"API server port from {source} is out of range: {port}")
    return port


def _token_from_security_context(raw: str, source: str) -> str:
    # Messages here never quote the raw value: it holds the token.
    try:
        context = json.loads(raw)
    except ValueError:
        raise ConfigError(f"DX_SECURITY_CONTEXT from {source} is not valid JSON") from None
    if not isinstance(context, dict):
        raise ConfigError(f"DX_SECURITY_CONTEXT from {source} is not a JSON object")
    token_type = context.get("auth_token_type")
    if token_type != "Bearer":
        raise ConfigError(
            f"DX_SECURITY_CONTEXT from {source}: auth_token_type must be 'Bearer' "
            f"(got {token_type!r}), the only type dxpy supports"
        )
    token = context.get("auth_token")
    if not isinstance(token, str) or not token:
        raise ConfigError(f"DX_SECURITY_CONTEXT from {source} has no auth_token string")
    return token


def _auth_server(host: str, protocol: str, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """dxpy's auth-server rules: a fixed table for the public hosts, env vars for local ones."""
    if host in KNOWN_AUTH_SERVERS:
        return KNOWN_AUTH_SERVERS[host], None
    auth_host = env.get("DX_AUTHSERVER_HOST")
    auth_port = env.get("DX_AUTHSERVER_PORT")
    if auth_host and auth_port:
        # dxpy concatenates without adding a scheme; add the API's when it is missing,
        # since httpx cannot use a scheme-less URL.
        base = auth_host if "://" in auth_host else f"{protocol}://{auth_host}"
        return f"{base}:{auth_port}", None
    if host in LOCAL_API_HOSTS:
        return None, (
            f"API server is {host}: set both DX_AUTHSERVER_HOST (with scheme, e.g. "
            "http://127.0.0.1) and DX_AUTHSERVER_PORT to reach the auth server"
        )
    return None, (
        f"could not determine which auth server is associated with {host}; "
        "set DX_AUTHSERVER_HOST and DX_AUTHSERVER_PORT"
    )
