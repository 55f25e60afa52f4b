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
        (
            "127.0.0.1",
            {"DX_AUTHSERVER_HOST": "http://127.0.0.1", "DX_AUTHSERVER_PORT": "9001"},
            "http://127.0.0.1:9001",
        ),
        (
            "localhost",
            {"DX_AUTHSERVER_HOST": "localhost", "DX_AUTHSERVER_PORT": "9001"},
            "http://localhost:9001",  # scheme taken from the API protocol when missing
        ),
        ("127.0.0.1", {"DX_AUTHSERVER_HOST": "http://127.0.0.1"}, None),  # port missing
        ("dx.example.org", {}, None),
    ],
)
def test_auth_server_rules(
    conf_dir: Path, host: str, env_extra: dict[str, str], expected: str | None
) -> None:
    env = base_env(conf_dir, DX_APISERVER_HOST=host, DX_APISERVER_PROTOCOL="http", **env_extra)
    cfg = discover(env, global_conf_dir=None)
    assert cfg.auth_server_url == expected
    if expected is None:
        with pytest.raises(ConfigError, match="DX_AUTHSERVER_HOST"):
            cfg.require_auth_server()
    else:
        assert cfg.require_auth_server() == expected


def test_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch, conf_dir: Path) -> None:
    monkeypatch.setenv("DX_USER_CONF_DIR", str(conf_dir))
    monkeypatch.setenv("DX_APISERVER_HOST", "os-env-host")
    assert discover(global_conf_dir=None).host == "os-env-host"
