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
message names every place that was searched. A token that is present is checked here,
before any I/O: surrounding whitespace is dropped, anything else an HTTP header cannot
carry is a ConfigError naming where the token came from (never the token).

Where each setting came from is kept (`PlatformConfig.origins`), so that an error about
an unreachable server can say which variable, option or file put it there.
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
# The only API hosts for which dxpy reads DX_AUTHSERVER_HOST and DX_AUTHSERVER_PORT
# (and then requires both); for any other host not in the table it has no auth server.
LOCAL_API_HOSTS = frozenset({"localhost", "127.0.0.1", "apiserver"})
AUTH_SERVER_VARS = ("DX_AUTHSERVER_HOST", "DX_AUTHSERVER_PORT")

# Whitespace a token may carry around it from a file, jq or a CI variable. HTTP drops
# leading and trailing whitespace from a header value anyway (RFC 9110, 5.5), so no
# token can depend on it: stripping it loses nothing. Only ASCII whitespace: a no-break
# space is not whitespace to a header, and is refused below like any non-ASCII character.
_TOKEN_PADDING = " \t\r\n\f\v"

GLOBAL_CONF_DIR = Path("/etc/dnanexus")


@dataclass(frozen=True)
class ConfigOverrides:
    """Values given explicitly (CLI options); each one set wins over every other source."""

    protocol: str | None = None
    host: str | None = None
    port: int | str | None = None
    token: str | None = field(default=None, repr=False)
    # How errors name these values: "option" (the CLI's --apiserver-host ...) or
    # "input" (the GitHub Action's apiserver-host ... inputs).
    kind: str = "option"

    def origin_of(self, name: str) -> str:
        """``host`` -> "the --apiserver-host option" (or "the apiserver-host input")."""
        if name == "token":
            return f"the token {self.kind}"
        return f"the {'--' if self.kind == 'option' else ''}apiserver-{name} {self.kind}"

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
    # Where each setting came from, for errors: keys "protocol", "host", "port", "token",
    # "auth_server"; values like "the environment variable DX_APISERVER_PORT".
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)
    # The embedded sandbox's state file (resolved), when this config reaches the sandbox:
    # what tells one sandbox from another, as the URL tells one API server from another.
    sandbox_state: str | None = None

    def __post_init__(self) -> None:
        # Every config is checked, however it was made, before any client can send its token.
        if self.token is not None:
            source = self.origins.get("token", "the platform configuration")
            object.__setattr__(self, "token", checked_token(self.token, source))

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
                '(\'{"auth_token_type":"Bearer","auth_token":"..."}\'), or log in with '
                "`dx login` (its ~/.dnanexus_config, or DX_USER_CONF_DIR), or use --sandbox; "
                f"searched: {where}"
            )
        return self.token

    @property
    def server_id(self) -> str:
        """The API server as one canonical URL (host lowercased, a protocol's default port
        left out), so two spellings of one server compare equal."""
        default = {"https": 443, "http": 80}.get(self.protocol.lower())
        port = "" if self.port is None or self.port == default else f":{self.port}"
        return f"{self.protocol.lower()}://{self.host.lower()}{port}"

    def describe_api_server(self) -> str:
        """``http://h:9 (host from ..., port from ...)``: the URL and where it came from."""
        return _with_origins(self.api_url, self.origins, ("protocol", "host", "port"))

    def describe_auth_server(self) -> str:
        if self.auth_server_url is None:
            return "no auth server"
        return _with_origins(self.auth_server_url, self.origins, ("auth_server",))

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

    origins: dict[str, str] = {}

    def pick(name: str, override: str | None, variable: str, default: str) -> str:
        if override:
            origins[name] = overrides.origin_of(name)
            return override
        if values.get(variable):
            origins[name] = _origin_text(variable, origin[variable])
            return values[variable]
        origins[name] = "dxpy's default"
        return default

    protocol = pick("protocol", overrides.protocol, "DX_APISERVER_PROTOCOL", DEFAULT_PROTOCOL)
    if protocol not in ("http", "https"):
        raise ConfigError(
            f"API server protocol from {origins['protocol']} must be http or https, "
            f"got {protocol!r}"
        )
    host = pick("host", overrides.host, "DX_APISERVER_HOST", DEFAULT_HOST)

    port: int | None
    if overrides.port is not None and overrides.port != "":
        origins["port"] = overrides.origin_of("port")
        port = _parse_port(overrides.port, origins["port"])
    elif "DX_APISERVER_PORT" in values:
        origins["port"] = _origin_text("DX_APISERVER_PORT", origin["DX_APISERVER_PORT"])
        # dxpy leaves the port out of the URL when it is set but empty.
        raw = values["DX_APISERVER_PORT"]
        port = _parse_port(raw, origins["port"]) if raw != "" else None
    else:
        origins["port"] = "dxpy's default"
        port = DEFAULT_PORT

    searched = [
        # The CLI has no token option (a token on a command line ends up in shell
        # histories): only the Action's token input is searched first.
        *([overrides.origin_of("token")] if overrides.kind == "input" else []),
        *(_origin_text("DX_SECURITY_CONTEXT", s) for s, _ in reversed(layers)),
    ]
    token: str | None
    if overrides.token is not None:
        origins["token"] = overrides.origin_of("token")
        token = overrides.token
    elif "DX_SECURITY_CONTEXT" in values:
        origins["token"] = _origin_text("DX_SECURITY_CONTEXT", origin["DX_SECURITY_CONTEXT"])
        token = _token_from_security_context(values["DX_SECURITY_CONTEXT"], origins["token"])
    else:
        token = None

    # dxpy reads these two from its process environment, into which it has copied every
    # key of the config files it read: so a file may set them too (the environment wins
    # here, as it does for every other variable).
    file_values = {k: (v, origin[k]) for k, v in values.items() if k in AUTH_SERVER_VARS}
    auth_vars = {
        name: (env[name], "environment") if name in env else file_values[name]
        for name in AUTH_SERVER_VARS
        if name in env or name in file_values
    }
    auth_url, auth_origin, auth_problem = _auth_server(host, auth_vars)
    if auth_origin is not None:
        origins["auth_server"] = auth_origin
    return PlatformConfig(
        protocol=protocol,
        host=host,
        port=port,
        token=token,
        auth_server_url=auth_url,
        searched=tuple(searched),
        auth_server_problem=auth_problem,
        origins=origins,
    )


def checked_token(token: str, source: str, *, what: str = "API token") -> str:
    """`token` without surrounding whitespace, or a ConfigError naming `source`.

    The messages never show the token, any part of it, or its length.
    """
    stripped = token.strip(_TOKEN_PADDING)
    if not stripped:
        raise ConfigError(f"the {what} from {source} is empty")
    if not stripped.isascii():
        raise ConfigError(
            f"the {what} from {source} contains a non-ASCII character, which an HTTP "
            "header cannot carry: check the value (not shown here)"
        )
    # Inside the value a header allows visible ASCII, spaces and tabs; nothing else.
    if any(not (c.isprintable() or c == "\t") for c in stripped):
        raise ConfigError(
            f"the {what} from {source} contains a line break or other control "
            "character, which an HTTP header cannot carry: check the value (not shown here)"
        )
    return stripped


def _origin_text(variable: str, source: str) -> str:
    """``DX_APISERVER_PORT``, ``environment`` -> "the environment variable DX_APISERVER_PORT"."""
    if source == "environment":
        return f"the environment variable {variable}"
    return f"{variable} in {Path(source) / 'environment.json'}"


def _with_origins(url: str, origins: Mapping[str, str], names: tuple[str, ...]) -> str:
    known = [f"{name.replace('_', ' ')} from {origins[name]}" for name in names if name in origins]
    return f"{url} ({'; '.join(known)})" if known else url


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
    """The token in a security context; `source` names it ("the environment variable ...")."""
    # Messages here never quote the raw value: it holds the token.
    try:
        context = json.loads(raw)
    except ValueError:
        raise ConfigError(f"{source} is not valid JSON") from None
    if not isinstance(context, dict):
        raise ConfigError(f"{source} is not a JSON object")
    token_type = context.get("auth_token_type")
    if token_type != "Bearer":
        # Not quoted: a value pasted into the wrong field could be the token itself.
        raise ConfigError(
            f"{source}: auth_token_type must be 'Bearer', the only type dxpy supports"
        )
    token = context.get("auth_token")
    if not isinstance(token, str) or not token:
        raise ConfigError(f"{source} has no auth_token string")
    return checked_token(token, source)


def _auth_server(
    host: str, variables: Mapping[str, tuple[str, str]]
) -> tuple[str | None, str | None, str | None]:
    """dxpy's auth-server rules (dxpy.get_auth_server_name): (url, origin, problem).

    The public hosts have a fixed auth server. For ``localhost``, ``127.0.0.1`` and
    ``apiserver``, DX_AUTHSERVER_HOST and DX_AUTHSERVER_PORT must both be set, and the URL
    is the one joined with a colon. Any other host has none: dx cannot provision there,
    whatever the variables say, and neither does dxorg.
    """
    if host in KNOWN_AUTH_SERVERS:
        return KNOWN_AUTH_SERVERS[host], f"dxpy's table of auth servers for {host}", None
    present = {name: value for name, (value, _) in variables.items() if value}
    if host not in LOCAL_API_HOSTS:
        ignored = (
            f" ({' and '.join(present)} {'is' if len(present) == 1 else 'are'} set, but dx "
            "reads them only for those hosts)"
            if present
            else ""
        )
        return (
            None,
            None,
            f"dx cannot tell which auth server goes with the API server {host}: it knows "
            f"{', '.join(sorted(KNOWN_AUTH_SERVERS))}, and reads DX_AUTHSERVER_HOST and "
            f"DX_AUTHSERVER_PORT only when the API server is "
            f"{', '.join(sorted(LOCAL_API_HOSTS))}{ignored}",
        )
    missing = [name for name in AUTH_SERVER_VARS if name not in present]
    if missing:
        return (
            None,
            None,
            f"the API server is {host}, so dx and dxorg need DX_AUTHSERVER_HOST (with its "
            f"scheme, e.g. http://127.0.0.1) and DX_AUTHSERVER_PORT to reach the auth "
            f"server; not set: {', '.join(missing)}",
        )
    auth_host, auth_port = present["DX_AUTHSERVER_HOST"], present["DX_AUTHSERVER_PORT"]
    # dxpy joins the two without adding a scheme; urllib3 then uses http for a bare host,
    # and so does dxorg (httpx needs the scheme spelled out).
    base = auth_host if "://" in auth_host else f"http://{auth_host}"
    origin = " and ".join(_origin_text(name, variables[name][1]) for name in AUTH_SERVER_VARS)
    return f"{base}:{auth_port}", origin, None
