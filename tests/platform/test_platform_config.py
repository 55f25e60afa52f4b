"""Config discovery: dxpy's sources and precedence, plus explicit overrides. No real home."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.platform.config import ConfigOverrides, PlatformConfig, discover

TOKEN = "sekrit-token-123"


def ctx(token: str) -> str:
    return json.dumps({"auth_token_type": "Bearer", "auth_token": token})


def write_conf(directory: Path, env: dict[str, str], **standalone: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "environment.json").write_text(json.dumps(env))
    for name, value in standalone.items():
        (directory / name).write_text(value)
    return directory


@pytest.fixture
def conf_dir(tmp_path: Path) -> Path:
    d = tmp_path / "dxconf"
    d.mkdir()
    return d


def base_env(conf_dir: Path, **extra: str) -> dict[str, str]:
    return {"DX_USER_CONF_DIR": str(conf_dir), "HOME": str(conf_dir.parent / "home"), **extra}


def test_defaults_when_nothing_configured(conf_dir: Path) -> None:
    cfg = discover(base_env(conf_dir), global_conf_dir=None)
    assert (cfg.protocol, cfg.host, cfg.port, cfg.token) == ("https", "api.dnanexus.com", 443, None)
    assert cfg.api_url == "https://api.dnanexus.com:443"
    assert cfg.auth_server_url == "https://auth.dnanexus.com"


def test_missing_token_is_an_error_only_when_needed(conf_dir: Path) -> None:
    cfg = discover(base_env(conf_dir), global_conf_dir=None)
    with pytest.raises(ConfigError) as info:
        cfg.require_token()
    msg = str(info.value)
    assert "DX_SECURITY_CONTEXT" in msg and str(conf_dir) in msg and "environment" in msg


def test_env_variables(conf_dir: Path) -> None:
    env = base_env(
        conf_dir,
        DX_APISERVER_PROTOCOL="http",
        DX_APISERVER_HOST="127.0.0.1",
        DX_APISERVER_PORT="8124",
        DX_SECURITY_CONTEXT=ctx(TOKEN),
    )
    cfg = discover(env, global_conf_dir=None)
    assert cfg.api_url == "http://127.0.0.1:8124"
    assert cfg.token == TOKEN


def test_config_dir_used_when_env_absent(conf_dir: Path) -> None:
    write_conf(
        conf_dir,
        {
            "DX_APISERVER_PROTOCOL": "http",
            "DX_APISERVER_HOST": "dx.example.org",
            "DX_APISERVER_PORT": "9000",
            "DX_SECURITY_CONTEXT": ctx("from-file"),
        },
        DX_USERNAME="alice",
    )
    cfg = discover(base_env(conf_dir), global_conf_dir=None)
    assert cfg.api_url == "http://dx.example.org:9000"
    assert cfg.token == "from-file"


def test_env_beats_config_dir_per_variable(conf_dir: Path) -> None:
    write_conf(
        conf_dir,
        {
            "DX_APISERVER_HOST": "file-host",
            "DX_APISERVER_PORT": "9000",
            "DX_SECURITY_CONTEXT": ctx("from-file"),
        },
    )
    env = base_env(conf_dir, DX_APISERVER_HOST="env-host", DX_SECURITY_CONTEXT=ctx("from-env"))
    cfg = discover(env, global_conf_dir=None)
    assert cfg.host == "env-host"
    assert cfg.port == 9000  # not overridden by env: the file's value stays
    assert cfg.token == "from-env"


def test_overrides_beat_everything(conf_dir: Path) -> None:
    write_conf(conf_dir, {"DX_APISERVER_HOST": "file-host", "DX_SECURITY_CONTEXT": ctx("f")})
    env = base_env(
        conf_dir, DX_APISERVER_HOST="env-host", DX_APISERVER_PORT="1", DX_SECURITY_CONTEXT=ctx("e")
    )
    overrides = ConfigOverrides(protocol="http", host="cli-host", port="7777", token="cli-token")
    cfg = discover(env, overrides, global_conf_dir=None)
    assert (cfg.protocol, cfg.host, cfg.port, cfg.token) == ("http", "cli-host", 7777, "cli-token")


def test_partial_overrides_keep_other_sources(conf_dir: Path) -> None:
    env = base_env(conf_dir, DX_APISERVER_HOST="env-host", DX_SECURITY_CONTEXT=ctx("e"))
    cfg = discover(env, ConfigOverrides(port=1234), global_conf_dir=None)
    assert (cfg.host, cfg.port, cfg.token) == ("env-host", 1234, "e")


def test_global_dir_is_lowest(conf_dir: Path, tmp_path: Path) -> None:
    glob = write_conf(
        tmp_path / "etc", {"DX_APISERVER_HOST": "global-host", "DX_APISERVER_PORT": "1111"}
    )
    write_conf(conf_dir, {"DX_APISERVER_PORT": "2222"})
    cfg = discover(base_env(conf_dir), global_conf_dir=glob)
    assert (cfg.host, cfg.port) == ("global-host", 2222)


def test_session_dir_beats_user_dir(conf_dir: Path) -> None:
    write_conf(conf_dir, {"DX_APISERVER_HOST": "user-host", "DX_SECURITY_CONTEXT": ctx("u")})
    # dxpy looks for sessions/<pid of an ancestor>; our parent is one.
    write_conf(conf_dir / "sessions" / str(os.getppid()), {"DX_SECURITY_CONTEXT": ctx("s")})
    write_conf(conf_dir / "sessions" / "999999999", {"DX_APISERVER_HOST": "not-an-ancestor"})
    cfg = discover(base_env(conf_dir), global_conf_dir=None)
    assert (cfg.host, cfg.token) == ("user-host", "s")


def test_default_conf_dir_is_under_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_conf(home / ".dnanexus_config", {"DX_APISERVER_HOST": "home-host"})
    cfg = discover({"HOME": str(home)}, global_conf_dir=None)
    assert cfg.host == "home-host"


def test_broken_environment_json_is_ignored_like_dxpy(conf_dir: Path) -> None:
    (conf_dir / "environment.json").write_text("{not json")
    cfg = discover(base_env(conf_dir), global_conf_dir=None)
    assert cfg.host == "api.dnanexus.com"


def test_empty_port_means_no_port_in_url(conf_dir: Path) -> None:
    cfg = discover(base_env(conf_dir, DX_APISERVER_PORT=""), global_conf_dir=None)
    assert cfg.port is None
    assert cfg.api_url == "https://api.dnanexus.com"


@pytest.mark.parametrize(
    ("env_extra", "fragment"),
    [
        ({"DX_APISERVER_PORT": "eighty"}, "not an integer"),
        ({"DX_APISERVER_PORT": "70000"}, "out of range"),
        ({"DX_APISERVER_PROTOCOL": "ftp"}, "http or https"),
        ({"DX_SECURITY_CONTEXT": "{" + TOKEN}, "not valid JSON"),
        ({"DX_SECURITY_CONTEXT": json.dumps([TOKEN])}, "not a JSON object"),
        (
            {"DX_SECURITY_CONTEXT": json.dumps({"auth_token_type": "Basic", "auth_token": TOKEN})},
            "Bearer",
        ),
        ({"DX_SECURITY_CONTEXT": json.dumps({"auth_token_type": "Bearer"})}, "no auth_token"),
    ],
)
def test_bad_values_are_config_errors_without_the_token(
    conf_dir: Path, env_extra: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        discover(base_env(conf_dir, **env_extra), global_conf_dir=None)
    assert fragment in str(info.value)
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)


def test_security_context_source_named_in_errors(conf_dir: Path) -> None:
    write_conf(conf_dir, {"DX_SECURITY_CONTEXT": "garbage " + TOKEN})
    with pytest.raises(ConfigError, match=str(conf_dir)) as info:
        discover(base_env(conf_dir), global_conf_dir=None)
    assert TOKEN not in str(info.value)


def test_repr_and_str_never_show_token() -> None:
    cfg = PlatformConfig(token=TOKEN)
    for text in (repr(cfg), str(cfg), repr(ConfigOverrides(token=TOKEN))):
        assert TOKEN not in text
    assert "<set>" in repr(cfg)


@pytest.mark.parametrize(
    ("host", "env_extra", "expected"),
    [
        ("api.dnanexus.com", {}, "https://auth.dnanexus.com"),
        ("stagingapi.dnanexus.com", {}, "https://stagingauth.dnanexus.com"),
        ("api.cn.dnanexus.com", {}, "https://auth.cn.dnanexus.com:8001"),
        ("stagingapi.cn.dnanexus.com", {}, "https://stagingauth.cn.dnanexus.com:7001"),
        # dxpy consults its table first: the variables do not move a known host's server.
        (
            "api.dnanexus.com",
            {"DX_AUTHSERVER_HOST": "http://127.0.0.1", "DX_AUTHSERVER_PORT": "9001"},
            "https://auth.dnanexus.com",
        ),
        (
            "127.0.0.1",
            {"DX_AUTHSERVER_HOST": "http://127.0.0.1", "DX_AUTHSERVER_PORT": "9001"},
            "http://127.0.0.1:9001",
        ),
        (
            "apiserver",
            {"DX_AUTHSERVER_HOST": "https://auth.local", "DX_AUTHSERVER_PORT": "443"},
            "https://auth.local:443",
        ),
        (
            "localhost",
            {"DX_AUTHSERVER_HOST": "127.0.0.1", "DX_AUTHSERVER_PORT": "9001"},
            "http://127.0.0.1:9001",  # no scheme: http, as urllib3 does for dx
        ),
        ("127.0.0.1", {"DX_AUTHSERVER_HOST": "http://127.0.0.1"}, None),  # port missing
        ("localhost", {"DX_AUTHSERVER_PORT": "9001"}, None),  # host missing
        ("dx.example.org", {}, None),
        # Another host has no auth server for dx, whatever the variables say.
        (
            "dx.example.org",
            {"DX_AUTHSERVER_HOST": "http://auth.example.org", "DX_AUTHSERVER_PORT": "9001"},
            None,
        ),
    ],
)
def test_auth_server_rules_are_dxpys(
    conf_dir: Path, host: str, env_extra: dict[str, str], expected: str | None
) -> None:
    env = base_env(conf_dir, DX_APISERVER_HOST=host, DX_APISERVER_PROTOCOL="http", **env_extra)
    cfg = discover(env, global_conf_dir=None)
    assert cfg.auth_server_url == expected
    if expected is None:
        with pytest.raises(ConfigError, match="DX_AUTHSERVER_HOST") as info:
            cfg.require_auth_server()
        if env_extra and host not in ("127.0.0.1", "localhost"):
            assert "reads them only for those hosts" in str(info.value)
        for name in ("DX_AUTHSERVER_HOST", "DX_AUTHSERVER_PORT"):
            if host in ("127.0.0.1", "localhost") and name not in env_extra:
                assert f"not set: {name}" in str(info.value)
    else:
        assert cfg.require_auth_server() == expected


def test_auth_server_origin_is_named(conf_dir: Path) -> None:
    env = base_env(
        conf_dir,
        DX_APISERVER_HOST="127.0.0.1",
        DX_AUTHSERVER_HOST="http://127.0.0.1",
        DX_AUTHSERVER_PORT="9001",
    )
    described = discover(env, global_conf_dir=None).describe_auth_server()
    assert described == (
        "http://127.0.0.1:9001 (auth server from the environment variable DX_AUTHSERVER_HOST "
        "and the environment variable DX_AUTHSERVER_PORT)"
    )
    table = discover(base_env(conf_dir), global_conf_dir=None).describe_auth_server()
    assert "dxpy's table" in table and "api.dnanexus.com" in table


def test_auth_server_variables_from_a_config_file(conf_dir: Path) -> None:
    # dxpy copies every key of environment.json into its environment, these two included.
    write_conf(
        conf_dir,
        {
            "DX_APISERVER_HOST": "localhost",
            "DX_AUTHSERVER_HOST": "http://localhost",
            "DX_AUTHSERVER_PORT": "7001",
        },
    )
    cfg = discover(base_env(conf_dir, DX_AUTHSERVER_PORT="7002"), global_conf_dir=None)
    assert cfg.auth_server_url == "http://localhost:7002"  # the environment wins
    assert f"DX_AUTHSERVER_HOST in {conf_dir / 'environment.json'}" in cfg.describe_auth_server()


def test_where_each_setting_came_from(conf_dir: Path) -> None:
    write_conf(conf_dir, {"DX_APISERVER_PORT": "9", "DX_SECURITY_CONTEXT": ctx(TOKEN)})
    env = base_env(conf_dir, DX_APISERVER_HOST="127.0.0.1")
    cfg = discover(env, ConfigOverrides(protocol="http"), global_conf_dir=None)
    assert cfg.describe_api_server() == (
        "http://127.0.0.1:9 (protocol from the --apiserver-protocol option; host from the "
        "environment variable DX_APISERVER_HOST; port from DX_APISERVER_PORT in "
        f"{conf_dir / 'environment.json'})"
    )
    assert cfg.origins["token"] == f"DX_SECURITY_CONTEXT in {conf_dir / 'environment.json'}"
    inputs = discover(
        base_env(conf_dir), ConfigOverrides(port=1, token="t", kind="input"), global_conf_dir=None
    )
    assert inputs.origins["port"] == "the apiserver-port input"
    assert inputs.origins["token"] == "the token input"
    assert (
        discover(base_env(conf_dir, DX_APISERVER_PORT=""), global_conf_dir=None).origins["host"]
        == "dxpy's default"
    )


# ---------------------------------------------------------------- the token itself

# Distinctive enough that no 5-character piece of it occurs in a message by chance.
ODD_TOKEN = "Qz7xWv3Kp9Lm2Rt8"


def fragments(token: str, size: int = 5) -> list[str]:
    core = "".join(c for c in token if c.isascii() and c.isalnum())
    return [core[i : i + size] for i in range(len(core) - size + 1)]


def assert_token_absent(text: str, token: str = ODD_TOKEN) -> None:
    assert token not in text
    assert [f for f in fragments(token) if f in text] == []


@pytest.mark.parametrize("padding", ["\n", "\r\n", " ", "\t\n", "\n\n  "])
def test_surrounding_whitespace_is_stripped(conf_dir: Path, padding: str) -> None:
    env = base_env(conf_dir, DX_SECURITY_CONTEXT=ctx(ODD_TOKEN + padding))
    assert discover(env, global_conf_dir=None).token == ODD_TOKEN
    write_conf(conf_dir, {"DX_SECURITY_CONTEXT": ctx(padding + ODD_TOKEN + padding)})
    assert discover(base_env(conf_dir), global_conf_dir=None).token == ODD_TOKEN
    overridden = discover(
        base_env(conf_dir), ConfigOverrides(token=ODD_TOKEN + padding), global_conf_dir=None
    )
    assert overridden.token == ODD_TOKEN
    assert PlatformConfig(token=padding + ODD_TOKEN).token == ODD_TOKEN


BAD_TOKENS = {
    "non-ASCII": (ODD_TOKEN[:8] + "é" + ODD_TOKEN[8:], "non-ASCII"),
    "no-break space": (ODD_TOKEN + "\u00a0", "non-ASCII"),
    "line break inside": (ODD_TOKEN[:8] + "\n" + ODD_TOKEN[8:], "control character"),
    "NUL": (ODD_TOKEN + "\x00", "control character"),
    "escape": ("\x1b[31m" + ODD_TOKEN, "control character"),
    "only whitespace": (" \n\t", "is empty"),
}


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
def test_a_token_no_header_can_carry_is_a_config_error_naming_its_source(
    conf_dir: Path, name: str
) -> None:
    token, kind = BAD_TOKENS[name]
    with pytest.raises(ConfigError) as from_env:
        discover(base_env(conf_dir, DX_SECURITY_CONTEXT=ctx(token)), global_conf_dir=None)
    write_conf(conf_dir, {"DX_SECURITY_CONTEXT": ctx(token)})
    with pytest.raises(ConfigError) as from_file:
        discover(base_env(conf_dir), global_conf_dir=None)
    with pytest.raises(ConfigError) as from_input:
        discover(
            base_env(conf_dir), ConfigOverrides(token=token, kind="input"), global_conf_dir=None
        )
    with pytest.raises(ConfigError) as made_directly:
        PlatformConfig(token=token)
    sources = {
        "the environment variable DX_SECURITY_CONTEXT": from_env,
        f"DX_SECURITY_CONTEXT in {conf_dir / 'environment.json'}": from_file,
        "the token input": from_input,
        "the platform configuration": made_directly,
    }
    for source, info in sources.items():
        message = str(info.value)
        assert message.startswith(f"the API token from {source} ")
        assert kind in message
        assert_token_absent(message, token)
        assert_token_absent(repr(info.value), token)


def test_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch, conf_dir: Path) -> None:
    monkeypatch.setenv("DX_USER_CONF_DIR", str(conf_dir))
    monkeypatch.setenv("DX_APISERVER_HOST", "os-env-host")
    assert discover(global_conf_dir=None).host == "os-env-host"
