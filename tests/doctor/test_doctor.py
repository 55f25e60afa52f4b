"""`dxorg doctor`: each check against the emulator, in process and over HTTP, and through a
proxy that changes what the platform answers. Doctor writes nothing: the emulator's
request log shows no write, whatever it finds."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from reconciler.doctor import examine
from reconciler.doctor_verdict import Check, DoctorReport
from reconciler.emulator import Emulator
from reconciler.manifest import Fleet
from reconciler.manifest.schema import SCHEMA_DIR
from reconciler.model import DesiredOrg, Forwarding
from reconciler.platform import ReadClient
from reconciler.render.doctor import doctor_json, doctor_markdown
from tests.as_seen import markup_from_text, mentions
from tests.emulator_harness import is_write
from tests.integration.conftest import (
    APP1,
    CONTROL_TOKEN,
    FAST_RETRY,
    base_seed,
    config_for,
    write_manifest,
)
from tests.reliability.conftest import CliRunner, Served

HEC = "hec-token-for-doctor"
FULL = """\
org: org-demo
members:
  mode: additive
  users:
    alice: ADMIN
selfGrants:
  projects:
    - {glob: "clinical-*", expires: 2027-06-30, reason: "incident 42"}
  apps:
    - {name: tool}
provisioning:
  - {username: newbie, email: newbie@example.com, first: New, last: Bie}
jobLogsForwarding:
  url: https://splunk.example.com/services/collector/event
  tokenEnv: SPLUNK_HEC_TOKEN
"""
ENV = {"SPLUNK_HEC_TOKEN": HEC}


def fleet_of(tmp_path: Path, text: str = FULL) -> Fleet:
    return write_manifest(tmp_path / "orgs", text)


def run(
    emulator: Emulator,
    orgs: list[DesiredOrg],
    *,
    token: str = "alice-token",
    env: dict[str, str] | None = None,
    proxy: Callable[[httpx.Request, httpx.Response], httpx.Response] | None = None,
    now: datetime | None = None,
) -> DoctorReport:
    transport: httpx.BaseTransport = emulator.transport()
    if proxy is not None:
        transport = Rewriting(transport, proxy)
    with ReadClient(config_for(token), transport=transport, retry=FAST_RETRY) as client:
        kwargs: dict[str, Any] = {}
        if now is not None:
            kwargs["now"] = lambda: now
        return examine(orgs, client, env=ENV if env is None else env, **kwargs)


def check(report: DoctorReport, scope: str, name: str) -> list[Check]:
    found = [c for c in report.checks if c.scope == scope and c.name == name]
    assert found, f"no {name} check for {scope}: {report.checks}"
    return found


def no_writes(emulator: Emulator) -> None:
    calls = emulator.log.calls()
    assert calls, "doctor made no call at all"
    assert [c["route"] for c in calls if is_write(c["route"])] == []


def assert_no_writes(served: Served) -> None:
    """Only read methods, and the auth server probe (a GET of its root, which the served
    emulator also answers) in the request log."""
    requests = served.requests()
    assert requests
    assert [r["route"] for r in requests if is_write(r["route"])] == []
    assert [(r["httpMethod"], r["route"]) for r in served.writes()] in ([], [("GET", "/")])


class Rewriting(httpx.BaseTransport):
    """A proxy in front of the emulator's transport: `rewrite` may change each answer."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        rewrite: Callable[[httpx.Request, httpx.Response], httpx.Response],
    ) -> None:
        self.inner, self.rewrite = inner, rewrite

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        return self.rewrite(request, response)


def answer_edit(
    route_suffix: str, edit: Callable[[dict[str, Any]], None]
) -> Callable[[httpx.Request, httpx.Response], httpx.Response]:
    """A proxy rewrite that applies `edit` to the JSON answer of routes ending so."""

    def rewrite(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if not request.url.path.endswith(route_suffix) or response.status_code != 200:
            return response
        body = response.json()
        edit(body)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(200, headers=headers, json=body)

    return rewrite


# ---------------------------------------------------------------- a platform that is ready


def test_a_ready_platform_passes_every_check_and_nothing_is_written(
    emulator: Emulator, tmp_path: Path
) -> None:
    fleet = fleet_of(tmp_path)
    report = run(emulator, list(fleet.orgs.values()))
    failures = [c for c in report.checks if c.status == "fail"]
    assert failures == []
    assert report.exit_code == 0
    assert report.caller == "user-alice"
    assert "valid" in check(report, "platform", "token")[0].detail
    assert "Alice Tester" in check(report, "platform", "account")[0].detail
    assert check(report, "platform", "token scope")[0].status == "ok"
    assert check(report, "org-demo", "admin")[0].status == "ok"
    assert check(report, "org-demo", "members")[0].detail == "5 member(s) listed, 2 ADMIN(s)"
    assert check(report, "org-demo", "projects")[0].detail == "2 project(s) listed"
    assert check(report, "org-demo", "apps")[0].detail == "1 app(s) listed"
    grants = check(report, "org-demo", "self-grants")
    assert [g.status for g in grants] == ["ok", "ok"]
    assert "select 1 listed project(s)" in grants[0].detail
    assert "select 1 listed app(s)" in grants[1].detail
    assert check(report, "org-demo", "forwarding")[0].status == "ok"
    provisioning = check(report, "org-demo", "provisioning")
    assert [p.status for p in provisioning] == ["ok", "warn"]  # the licence cannot be seen
    contract = check(report, "org-demo", "contract")
    assert [c.status for c in contract] == ["ok"]
    for route in ("/org-xxxx/describe", "/org-xxxx/findMembers", "/app-xxxx/listDevelopers"):
        assert route in contract[0].detail
    no_writes(emulator)
    routes = {c["route"].rsplit("/", 1)[-1] for c in emulator.log.calls()}
    assert routes <= {
        "whoami",
        "describe",
        "findMembers",
        "findProjects",
        "findApps",
        "listDevelopers",
        "",
    }


def test_over_http_the_cli_reports_json_in_the_documented_shape_and_writes_nothing(
    served: Served, cli: CliRunner, tmp_path: Path
) -> None:
    fleet_of(tmp_path)
    result = cli("doctor", str(tmp_path / "orgs"), "--format", "json", env=served.env(**ENV))
    assert result.code == 0, result.text
    report = json.loads(result.out)
    schema = json.loads((SCHEMA_DIR / "doctor.schema.json").read_text())
    Draft202012Validator(schema).validate(report)
    assert report["blocks"] is False
    assert report["caller"] == "user-alice"
    # Where the platform came from: the variables that set it.
    assert "DX_APISERVER_HOST" in report["apiServer"] and str(served.port) in report["apiServer"]
    # Served over HTTP, the emulator's Date header gives the skew: a real clock, near zero.
    assert report["clockSkewSeconds"] is not None and abs(report["clockSkewSeconds"]) < 30
    assert_no_writes(served)


def test_text_output_has_a_line_per_check_and_a_remedy_under_each_failure(
    served: Served, cli: CliRunner, tmp_path: Path
) -> None:
    fleet_of(tmp_path)
    result = cli("doctor", str(tmp_path / "orgs"), env=served.env())  # SPLUNK_HEC_TOKEN unset
    assert result.code == 0, result.text  # a warning does not fail
    lines = result.out.splitlines()
    (warned,) = [i for i, line in enumerate(lines) if line.lstrip().startswith("warn  forwarding")]
    assert "SPLUNK_HEC_TOKEN is not set: forwarding will be left unchecked" in lines[warned]
    assert lines[warned + 1].strip() == (
        "remedy: export SPLUNK_HEC_TOKEN (in the Action: from a secret, in the step's env)"
    )
    assert any(line.lstrip().startswith("ok") and "members" in line for line in lines)

    result = cli("doctor", str(tmp_path / "orgs"), env=served.env(token="bob-token", **ENV))
    assert result.code == 1
    lines = result.out.splitlines()
    (failed,) = [i for i, line in enumerate(lines) if line.lstrip().startswith("FAIL")]
    assert "admin" in lines[failed] and "user-bob is not an ADMIN of org-demo" in lines[failed]
    assert "remedy: use the token of an ADMIN of org-demo" in lines[failed + 1]
    assert "1 failure(s)" in lines[-1]
    assert_no_writes(served)


# ---------------------------------------------------------------- the contract


def _drop(*path: str) -> Callable[[dict[str, Any]], None]:
    def edit(body: dict[str, Any]) -> None:
        target: Any = body
        for key in path[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        del target[path[-1]]

    return edit


def _set(value: Any, *path: str) -> Callable[[dict[str, Any]], None]:
    def edit(body: dict[str, Any]) -> None:
        target: Any = body
        for key in path[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[path[-1]] = value

    return edit


def _member_row(
    user: str, edit: Callable[[dict[str, Any]], None]
) -> Callable[[dict[str, Any]], None]:
    def apply(body: dict[str, Any]) -> None:
        for row in body["results"]:
            if row["id"] == user:
                edit(row)

    return apply


@pytest.mark.parametrize(
    ("suffix", "edit", "route", "field"),
    [
        ("/org-demo/describe", _drop("level"), "/org-xxxx/describe", "'level' is missing"),
        ("/org-demo/describe", _set(7, "name"), "/org-xxxx/describe", "'name' is not a string"),
        (
            "/org-demo/describe",
            _set("2027-01-01", "expiresAt"),
            "/org-xxxx/describe",
            "'expiresAt' is not an integer",
        ),
        (
            "/org-demo/findMembers",
            _member_row("user-bob", _drop("projectAccess")),
            "/org-xxxx/findMembers",
            "'projectAccess' is missing",
        ),
        (
            "/org-demo/findMembers",
            _member_row("user-bob", _set("yes", "appAccess")),
            "/org-xxxx/findMembers",
            "'appAccess' is not a boolean",
        ),
        (
            "/org-demo/findMembers",
            _drop("next"),
            "/org-xxxx/findMembers",
            "page without a 'next' field",
        ),
        (
            "/org-demo/findProjects",
            _set(None, "results", "0", "describe", "name"),
            "/org-xxxx/findProjects",
            "'describe.name' is not a string",
        ),
        (
            "/org-demo/findApps",
            _set("v1", "results", "0", "describe", "tags"),
            "/org-xxxx/findApps",
            "'describe.tags' is not an array or null",
        ),
        (
            f"/{APP1}/listDevelopers",
            _set("user-root", "developers"),
            "/app-xxxx/listDevelopers",
            "no list of developer ids",
        ),
        ("/system/whoami", _set(12, "id"), "/system/whoami", "'id' is not a string"),
    ],
)
def test_a_field_the_contract_needs_removed_or_retyped_is_named_and_exits_1(
    emulator: Emulator,
    tmp_path: Path,
    suffix: str,
    edit: Callable[[dict[str, Any]], None],
    route: str,
    field: str,
) -> None:
    fleet = fleet_of(tmp_path)
    report = run(emulator, list(fleet.orgs.values()), proxy=answer_edit(suffix, edit))
    assert report.exit_code == 1
    failed = [c for c in report.checks if c.name == "contract" and c.status == "fail"]
    assert len(failed) == 1, report.checks
    assert route in failed[0].detail or suffix in failed[0].detail
    assert field in failed[0].detail
    assert failed[0].remedy
    no_writes(emulator)


def test_the_contract_names_the_row_and_never_quotes_the_value(
    emulator: Emulator, tmp_path: Path
) -> None:
    edit = _member_row("user-bob", _set("\x1b[31mSECRET-ish", "projectAccess"))
    report = run(emulator, [DesiredOrg("org-demo", "x")], proxy=answer_edit("/findMembers", edit))
    (failed,) = [c for c in report.checks if c.name == "contract" and c.status == "fail"]
    assert "/org-xxxx/findMembers row " in failed.detail
    assert (
        "'projectAccess' is not one of NONE, VIEW, UPLOAD, CONTRIBUTE, ADMINISTER" in failed.detail
    )
    assert "SECRET" not in failed.detail and "\x1b" not in failed.detail


# ---------------------------------------------------------------- the token and the orgs


def test_a_member_token_is_not_an_admin_and_the_level_is_shown(emulator: Emulator) -> None:
    report = run(emulator, [DesiredOrg("org-demo", "x")], token="bob-token")
    (admin,) = check(report, "org-demo", "admin")
    assert admin.status == "fail"
    assert admin.detail == "user-bob is not an ADMIN of org-demo (level: MEMBER)"
    assert "promote user-bob" in (admin.remedy or "")
    assert report.exit_code == 1
    no_writes(emulator)


def test_an_unknown_org_fails_naming_it(emulator: Emulator, cli: CliRunner) -> None:
    report = run(emulator, [DesiredOrg("org-nope", "(--org)")])
    (org,) = check(report, "org-nope", "org")
    assert org.status == "fail"
    assert "org-nope cannot be read as user-alice: ResourceNotFound" in org.detail
    assert report.exit_code == 1


def test_an_invalid_token_fails_over_http_without_showing_it(
    served: Served, cli: CliRunner
) -> None:
    result = cli("doctor", "--org", "org-demo", env=served.env(token="not-a-real-token-4711"))
    assert result.code == 1
    assert "FAIL  token" in result.out
    assert "is not valid (" in result.out
    assert "DX_SECURITY_CONTEXT" in result.out
    assert "not-a-real-token-4711" not in result.text
    assert "Traceback" not in result.text
    assert_no_writes(served)


def test_no_token_at_all_is_a_failure_not_a_traceback(served: Served, cli: CliRunner) -> None:
    env = served.env()
    env["DX_SECURITY_CONTEXT"] = ""
    result = cli("doctor", env=env)
    assert result.code == 1
    assert "FAIL  api server" in result.out
    assert "DX_SECURITY_CONTEXT is not valid JSON" in result.out
    assert "Traceback" not in result.text


def test_no_token_configured_is_a_token_failure(emulator: Emulator) -> None:
    config = replace(config_for(), token=None, searched=("the environment",))
    with ReadClient(config, transport=emulator.transport(), retry=FAST_RETRY) as client:
        report = examine([DesiredOrg("org-demo", "x")], client, env={})
    (token,) = check(report, "platform", "token")
    assert token.status == "fail" and "no API token configured" in token.detail
    assert report.exit_code == 1
    assert emulator.log.calls() == []  # refused before any request


def test_an_api_server_that_does_not_answer_fails_naming_where_it_was_configured(
    served: Served, cli: CliRunner
) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    result = cli("doctor", env=served.env(DX_APISERVER_PORT=str(port)))
    assert result.code == 1
    assert "FAIL  api server" in result.out
    assert f"127.0.0.1:{port}" in result.out and "DX_APISERVER_PORT" in result.out


def test_the_auth_server_unreachable_fails_when_provisioning_is_declared(
    served: Served, cli: CliRunner, tmp_path: Path
) -> None:
    fleet_of(tmp_path)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    result = cli(
        "doctor",
        str(tmp_path / "orgs"),
        "--format",
        "json",
        env=served.env(DX_AUTHSERVER_PORT=str(port), **ENV),
    )
    assert result.code == 1
    report = json.loads(result.out)
    (failed,) = [c for c in report["checks"] if c["status"] == "fail"]
    assert failed["check"] == "provisioning"
    assert "did not answer" in failed["detail"] and f":{port}" in failed["detail"]
    assert_no_writes(served)


def test_without_provisioning_the_auth_server_is_not_asked(
    served: Served, cli: CliRunner, tmp_path: Path
) -> None:
    write_manifest(tmp_path / "orgs", "org: org-demo\n")
    result = cli("doctor", str(tmp_path / "orgs"), env=served.env(DX_AUTHSERVER_PORT="1"))
    assert result.code == 0, result.text
    assert "provisioning" not in result.out


# ---------------------------------------------------------------- forwarding


def test_a_token_env_unset_is_a_warning_forwarding_left_unchecked(
    emulator: Emulator, tmp_path: Path
) -> None:
    report = run(emulator, list(fleet_of(tmp_path).orgs.values()), env={})
    (forwarding,) = check(report, "org-demo", "forwarding")
    assert forwarding.status == "warn"
    assert "SPLUNK_HEC_TOKEN is not set: forwarding will be left unchecked" in forwarding.detail
    assert report.exit_code == 0  # plan and apply go on without forwarding, as they do


@pytest.mark.parametrize("name", ["DX_TOKEN_COPY", "GITHUB_TOKEN", "INPUT_TOKEN", "RUNNER_TEMP"])
def test_a_token_env_naming_a_credential_variable_fails(emulator: Emulator, name: str) -> None:
    """Manifest validation refuses these names; doctor applies the same rule to what it is given."""
    org = DesiredOrg(
        "org-demo",
        "x",
        forwarding=Forwarding(enabled=True, url="https://splunk.example.com", token_env=name),
    )
    report = run(emulator, [org], env={name: "anything"})
    (forwarding,) = check(report, "org-demo", "forwarding")
    assert forwarding.status == "fail"
    assert f"names {name}, a variable of dxorg, dx or the GitHub runner" in forwarding.detail
    assert report.exit_code == 1


@pytest.mark.parametrize(
    ("value", "env"),
    [("alice-token", {}), ("ghs_someGitHubToken99", {"GITHUB_TOKEN": "ghs_someGitHubToken99"})],
)
def test_a_token_env_holding_a_credential_fails_without_showing_it(
    emulator: Emulator, tmp_path: Path, value: str, env: dict[str, str]
) -> None:
    report = run(
        emulator, list(fleet_of(tmp_path).orgs.values()), env={"SPLUNK_HEC_TOKEN": value, **env}
    )
    (forwarding,) = check(report, "org-demo", "forwarding")
    assert forwarding.status == "fail"
    assert "SPLUNK_HEC_TOKEN holds a credential of this run" in forwarding.detail
    assert all(value not in c.detail + (c.remedy or "") for c in report.checks)
    assert report.exit_code == 1


# ---------------------------------------------------------------- time


@pytest.mark.parametrize(
    ("offset", "status"),
    [(timedelta(0), "ok"), (timedelta(minutes=10), "warn"), (timedelta(days=-2), "warn")],
)
def test_a_platform_clock_far_from_the_local_one_is_a_warning(
    tmp_path: Path, offset: timedelta, status: str
) -> None:
    """From the Date header; never a failure: dxorg judges dates by the platform's clock."""
    platform_ms = int((datetime.now(UTC) + offset).timestamp() * 1000)
    with Emulator(
        state_path=tmp_path / "s.db",
        seed=base_seed(),
        control_token=CONTROL_TOKEN,
        clock=lambda: platform_ms,
    ) as emulator:
        report = run(emulator, [])
    (clock,) = check(report, "platform", "clock")
    assert clock.status == status
    assert report.clock_skew_seconds is not None
    assert abs(report.clock_skew_seconds - offset.total_seconds()) < 30
    if status == "warn":
        assert "the platform's (from its Date header)" in clock.detail
    assert report.exit_code == 0


@pytest.mark.parametrize(
    ("expires_in", "status"),
    [(None, "ok"), (timedelta(days=400), "ok"), (timedelta(days=10), "warn")],
)
def test_the_orgs_expiry_is_shown(
    tmp_path: Path, expires_in: timedelta | None, status: str
) -> None:
    now = datetime.now(UTC)
    seed = base_seed()
    if expires_in is not None:
        seed["orgs"][0]["expiresAt"] = int((now + expires_in).timestamp() * 1000)
    with Emulator(state_path=tmp_path / "s.db", seed=seed, control_token=CONTROL_TOKEN) as emu:
        report = run(emu, [DesiredOrg("org-demo", "x")], now=now)
    (expiry,) = check(report, "org-demo", "expiry")
    assert expiry.status == status
    if expires_in is not None:
        assert (now + expires_in).strftime("%Y-%m-%d") in expiry.detail


# ---------------------------------------------------------------- foreign text


def test_names_from_the_platform_are_printed_inert(served: Served, cli: CliRunner) -> None:
    served.control.post(
        "/rules", json={"route": "/nowhere", "fault": "500", "count": 0}
    )  # the control plane is up
    root = httpx.post(
        f"{served.url}/org-demo/update",
        json={"name": "Evil\x1b[2J\nFAIL  token  forged"},
        headers={"Authorization": "Bearer root-token"},
    )
    assert root.status_code == 200
    result = cli("doctor", "--org", "org-demo", env=served.env())
    assert "\x1b" not in result.out
    assert "Evil\\x1b[2J\\nFAIL  token  forged" in result.out
    assert not any(line.startswith("FAIL  token  forged") for line in result.out.splitlines())


def test_self_grants_for_another_admin_fail_and_a_grant_selecting_nothing_warns(
    emulator: Emulator, tmp_path: Path
) -> None:
    other = fleet_of(
        tmp_path,
        FULL.replace("selfGrants:\n", "selfGrants:\n  admin: root\n").replace(
            "    alice: ADMIN\n", "    alice: ADMIN\n    root: ADMIN\n"
        ),
    )
    report = run(emulator, list(other.orgs.values()))
    (grants,) = check(report, "org-demo", "self-grants")
    assert grants.status == "fail"
    assert "selfGrants.admin is user-root, but the token is user-alice's" in grants.detail
    none = fleet_of(tmp_path, FULL.replace('glob: "clinical-*"', 'glob: "nothing-*"'))
    report = run(emulator, list(none.orgs.values()))
    projects = check(report, "org-demo", "self-grants")[0]
    assert projects.status == "warn" and "1 grant(s) select none" in projects.detail
    assert report.exit_code == 0


def test_names_from_the_platform_are_plain_text_in_the_markdown_and_json(
    emulator: Emulator,
) -> None:
    hostile = "Acme | <!-- hide --> @security-team [click](https://evil.example) \u202e"
    root = httpx.Client(transport=emulator.transport(), base_url="http://emulator.invalid")
    answer = root.post(
        "/org-demo/update", json={"name": hostile}, headers={"Authorization": "Bearer root-token"}
    )
    assert answer.status_code == 200
    report = run(emulator, [DesiredOrg("org-demo", "x")])
    markdown = doctor_markdown(report)
    assert markup_from_text(markdown) == [] and mentions(markdown) == []
    assert "<!--" not in markdown and "@security-team" not in markdown
    assert "[click](" not in markdown and "\u202e" not in markdown
    shown = json.loads(doctor_json(report))
    (org,) = [c for c in shown["checks"] if c["check"] == "org"]
    assert "\\u202e" in org["detail"] and "\u202e" not in org["detail"]
