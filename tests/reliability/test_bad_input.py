"""Bad input through the real entry points: every hostile or broken manifest ends in a
clear error (file:line:column lines, then a count) with exit 1: no traceback, no hang, and
`plan` never reaches the platform, let alone writes to it.

The corpus is tests/manifest/invalid (each case there is also checked problem by problem
by tests/manifest) plus the hostile files below; then hypothesis fuzzes YAML text,
random structures, and valid manifests with one injected mistake.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.emulator import Emulator
from tests.integration.conftest import CONTROL_TOKEN, base_seed
from tests.reliability.conftest import CliResult, CliRunner, Served

REPO = Path(__file__).resolve().parents[2]
INVALID_CORPUS = sorted(
    p for p in (REPO / "tests" / "manifest" / "invalid").iterdir() if p.is_dir()
)
DXORG = str(Path(sys.executable).parent / "dxorg")
PROBLEM_LINE = re.compile(r"^.+:\d+:\d+: .*\S.*$")
COUNT_LINE = re.compile(r"^\d+ problem\(s\) found$")
SECONDS = 20  # no single bad input may take longer than this

BOMB = "org: org-demo\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)
VALID = """\
org: org-demo
members:
  mode: additive
  users:
    alice: ADMIN
"""

# name -> file content (bytes), each broken in its own way.
HOSTILE: dict[str, bytes] = {
    "alias-bomb": BOMB.encode(),
    "huge-file": b"org: org-demo\n" + b"# padding\n" * (17 * 1024 * 1024 // 10),
    "a-million-values": b"org: org-demo\nname:\n" + b"  - 0\n" * 1_000_100,
    "deep-nesting": b"org: org-demo\nname: " + b"[" * 100_000,
    "deep-mappings": b"org: org-demo\nname:\n" + b"".join(b"  " * i + b"a:\n" for i in range(200)),
    "not-utf8": b"org: org-demo\nname: caf\xe9\n",
    "utf16": VALID.encode("utf-16"),
    "nul-byte": b"org: org-demo\x00\n",
    "binary": bytes(range(256)) * 64,
    "control-characters": b"org: org-demo\nname: \x1b[31mred\x07\n",
    # Keys are quoted in messages: escapes and line breaks in them must not reach the
    # terminal or fake a problem line (found by the structure fuzzer below).
    "control-characters-in-keys": (
        b'org: org-demo\n"\\e[2J\\nfake.yaml:1:1: all good\\u2028\\x1e": 1\n'
    ),
    "tab-indentation": b"org: org-demo\nmembers:\n\tmode: additive\n",
    "python-tag": b"org: !!python/object/apply:os.system ['touch /tmp/dxorg-pwned']\n",
    "custom-tag": b"org: !include other.yaml\n",
    "scalar-document": b"just a string\n",
    "list-document": b"- org: org-demo\n",
    "null-document": b"~\n",
    "wrong-types": b"org: 42\nname: [a]\npolicies: yes\nmembers: [alice]\n",
    "org-id-wrong-form": b"org: demo\n",
    "org-id-uppercase-and-spaces": b"org: org-Demo Org\n",
    "user-id-wrong-form": VALID.replace("alice:", "'Alice Smith!':").encode(),
    "user-id-email": VALID.replace("alice:", "alice@example.com:").encode(),
    "project-id-wrong-form": (VALID + "selfGrants:\n  projects: [{id: project-123}]\n").encode(),
    "app-id-wrong-form": (
        VALID + "selfGrants:\n  apps: [{id: applet-" + "A" * 24 + "}]\n"
    ).encode(),
    "level-wrong-case": VALID.replace("ADMIN", "admin").encode(),
    "number-as-level": VALID.replace("ADMIN", "1").encode(),
    "very-long-key": b"org: org-demo\n" + b"k" * 1_000_000 + b": 1\n",
    "very-long-line-of-flow": b"org: org-demo\npolicies: {" + b"a: 1, " * 5_000 + b"}\n",
    "unterminated-quote": b"org: 'org-demo\n",
    "bom-then-garbage": b"\xef\xbb\xbf\xff\xfe",
    "two-documents": (VALID + "---\n" + VALID).encode(),
    "forwarding-literal-token": (
        VALID
        + "jobLogsForwarding: {url: https://x.example.com, tokenEnv: 'hec-abc123-not-a-name'}\n"
    ).encode(),
}


@pytest.fixture(scope="module")
def platform() -> Iterator[Served]:
    """One emulator for the module (the cases only check that nothing reaches it)."""
    emulator = Emulator(seed=base_seed(), control_token=CONTROL_TOKEN)
    with emulator.serve(port=0) as server:
        platform = Served(emulator, server.url, server.port)
        yield platform
        platform.control.close()
    emulator.close()


@pytest.fixture
def served(platform: Served) -> Served:
    platform.control.post("/requests/clear").raise_for_status()
    return platform


def check_clear_error(result: CliResult, path: Path | None = None) -> None:
    """Exit 1, no traceback, and every line of stderr a located problem or the count
    (or one `error:` line for a problem that is not in a file, or the parser's usage
    message ending in its one `Error:` line for a bad option value)."""
    assert result.code == 1, (result.code, result.text[-2000:])
    assert "Traceback" not in result.text
    lines = result.err.splitlines()
    assert lines, "no error message"
    if lines[0].startswith("error: "):
        assert len(lines) == 1, lines
        return
    if lines[0].startswith("Usage: dxorg "):
        assert lines[-1].startswith("Error: ") and sum(x.startswith("Error") for x in lines) == 1
        return
    assert COUNT_LINE.match(lines[-1]), lines[-1]
    assert int(lines[-1].split()[0]) == len(lines) - 1
    for line in lines[:-1]:
        assert PROBLEM_LINE.match(line), line
        if path is not None:
            assert line.startswith(str(path)), line


def timed(run: Callable[[], CliResult]) -> CliResult:
    start = time.monotonic()
    result = run()
    assert time.monotonic() - start < SECONDS, "took too long"
    return result


@pytest.mark.parametrize("case", INVALID_CORPUS, ids=lambda p: p.name)
def test_the_invalid_corpus_through_validate_and_plan(
    cli: CliRunner, served: Served, case: Path
) -> None:
    check_clear_error(timed(lambda: cli("validate", str(case))))
    check_clear_error(timed(lambda: cli("plan", str(case), env=served.env())))
    assert served.requests() == [], "plan contacted the platform about a bad manifest"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_files_through_validate_and_plan(
    cli: CliRunner, served: Served, tmp_path: Path, name: str
) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(HOSTILE[name])
    check_clear_error(timed(lambda: cli("validate", str(path))), path)
    if name != "a-million-values":  # seconds to parse each time: validate is enough
        check_clear_error(timed(lambda: cli("plan", str(path), env=served.env())), path)
        check_clear_error(
            timed(lambda: cli("apply", str(path), "--auto-approve", env=served.env())), path
        )
    assert served.requests() == []
    assert not Path("/tmp/dxorg-pwned").exists()
    if name == "control-characters-in-keys":
        result = cli("validate", str(path))
        assert "\x1b" not in result.err and "\\x1b[2J\\nfake.yaml:1:1: all good" in result.err


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "/nonexistent/orgs"],
        ["plan", "/nonexistent/orgs"],
        ["validate", "EMPTY_DIR"],
        ["plan", "--format", "yaml", "EMPTY_DIR"],
        ["apply", "--plan", "NOT_A_PLAN"],
        ["apply", "--plan", "/nonexistent/plan.json", "--auto-approve"],
    ],
)
def test_bad_paths_and_plan_files(
    cli: CliRunner, served: Served, tmp_path: Path, args: list[str]
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "plan.json").write_text('{"formatVersion": "9", "orgs": "x"}')
    args = [
        {"EMPTY_DIR": str(tmp_path / "empty"), "NOT_A_PLAN": str(tmp_path / "plan.json")}.get(a, a)
        for a in args
    ]
    if args[0] == "apply" and "--auto-approve" not in args:
        args.append("--auto-approve")
    check_clear_error(cli(*args, env=served.env()))
    assert [r for r in served.requests() if r["route"] != "/system/whoami"] == []


def test_unknown_users_make_plan_exit_1_and_apply_write_nothing(
    cli: CliRunner, served: Served, tmp_path: Path
) -> None:
    """An unknown user is not a manifest error validate can see (it contacts nothing), but
    plan finds it: a violation, exit 1, and apply refuses the whole plan."""
    path = tmp_path / "org-demo.yaml"
    path.write_text(VALID + "    ghost: MEMBER\n    dave: MEMBER\n")
    plan = cli("plan", str(path), env=served.env())
    assert plan.code == 1 and "unknown-user: user-ghost" in plan.out
    assert "Traceback" not in plan.text
    applied = cli(
        "apply", str(path), "--auto-approve", "--journal", str(tmp_path / "j"), env=served.env()
    )
    assert applied.code == 1 and "Traceback" not in applied.text
    assert "unknown-user" in applied.err
    assert served.writes() == []


# ---------------------------------------------------------------- the real process


@pytest.mark.parametrize("name", ["alias-bomb", "huge-file", "python-tag"])
def test_a_sample_through_the_real_dxorg_process(served: Served, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(HOSTILE[name])
    env = {**served.env(), "PATH": str(Path(sys.executable).parent)}
    for command in ("validate", "plan"):
        done = subprocess.run(
            [DXORG, command, str(path)], env=env, capture_output=True, text=True, timeout=SECONDS,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        check_clear_error(CliResult(done.returncode, done.stdout, done.stderr), path)
    assert served.requests() == []


# ---------------------------------------------------------------- fuzzing

FUZZ = settings(
    max_examples=int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
YAML_TOKENS = [
    "org:", " org-demo", "members:", "mode:", " authoritative", "users:", "alice:", " ADMIN",
    "level:", "\n", "\n  ", "\n    ", "- ", "{", "}", "[", "]", ",", ": ", "&a ", "*a", "!!str ",
    "!tag ", "'", '"', "#", "---", "...", "? ", "|", ">", "<<: ", "~", "null", "yes", "1e3",
    "0x1F", "2026-01-01", "\t", "\\", "%YAML 1.1", "@", "`", "é", "\u2028", "\ufeff",
]  # fmt: skip
yaml_texts = st.lists(st.sampled_from(YAML_TOKENS) | st.text(max_size=4), max_size=40).map("".join)
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
)
structures = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "org",
                    "members",
                    "users",
                    "mode",
                    "level",
                    "policies",
                    "selfGrants",
                    "projects",
                    "apps",
                    "safety",
                    "x",
                ]
            )
            | st.text(max_size=5),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


def write(tmp: Path, content: str | bytes) -> Path:
    path = tmp / "fuzzed.yaml"
    path.write_bytes(
        content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    )
    return path


def validate_outcome(cli: CliRunner, path: Path) -> CliResult:
    result = timed(lambda: cli("validate", str(path)))
    assert result.code in (0, 1), result.text
    assert "Traceback" not in result.text
    if result.code == 1:
        check_clear_error(result, path)
    return result


@FUZZ
@given(text=yaml_texts)
def test_fuzzed_yaml_text(cli: CliRunner, tmp_path: Path, text: str) -> None:
    validate_outcome(cli, write(tmp_path, text))


@FUZZ
@given(value=structures)
def test_fuzzed_structures(cli: CliRunner, tmp_path: Path, value: Any) -> None:
    text = yaml.safe_dump(value, allow_unicode=True) if value is not None else ""
    validate_outcome(cli, write(tmp_path, text))


def set_in(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(manifest: dict[str, Any]) -> None:
        node = manifest
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = value

    return mutate


# Each one a mistake the schema or the loader must catch; the rest of the manifest is valid.
MISTAKES: list[Callable[[dict[str, Any]], None]] = [
    set_in(("org",), 42),
    set_in(("org",), "demo"),
    set_in(("org",), "org-"),
    set_in(("name",), ""),
    set_in(("members", "mode"), "sometimes"),
    set_in(("members", "users"), ["alice"]),
    set_in(("members", "users", "bob"), "OWNER"),
    set_in(("members", "users", "bob"), {"level": "MEMBER", "appAccess": "yes"}),
    set_in(("members", "users", "bob"), {"level": "MEMBER", "projectAccess": "ALL"}),
    set_in(("members", "users", "bob"), {"level": "ADMIN", "appAccess": False}),
    set_in(("members", "users", "Bob Smith"), "MEMBER"),
    set_in(("members", "protected"), ["nobody"]),
    set_in(("members", "requiredAdmins"), ["carol"]),
    set_in(("members", "unknownKey"), True),
    set_in(("policies", "memberListVisibility"), "EVERYONE"),
    set_in(("policies", "jobReuse"), "true"),
    set_in(("policies", "bogusPolicy"), True),
    set_in(("selfGrants", "projects"), [{"id": "project-1"}]),
    set_in(("selfGrants", "projects"), [{"glob": "*", "name": "x"}]),
    set_in(("selfGrants", "apps"), [{"all": False}]),
    set_in(("selfGrants", "projects"), [{"all": True, "expires": "tomorrow"}]),
    set_in(("jobLogsForwarding",), {"url": "http://insecure.example.com", "tokenEnv": "T"}),
    set_in(("jobLogsForwarding",), {"url": "https://x.example.com", "token": "literal"}),
    set_in(("provisioning",), [{"username": "new"}]),
    set_in(("safety", "minAdmins"), -1),
    set_in(("safety", "removalBudget", "members"), {"count": "ten"}),
    set_in(("safety", "removalBudget", "everything"), {"count": 1}),
    set_in(("unknownSection",), {}),
]
valid_manifests = st.fixed_dictionaries(
    {"org": st.just("org-demo")},
    optional={
        "name": st.text(min_size=1, max_size=10),
        "policies": st.fixed_dictionaries({}, optional={"jobReuse": st.booleans()}),
        "members": st.fixed_dictionaries(
            {
                "mode": st.sampled_from(["authoritative", "additive"]),
                "users": st.just({"alice": "ADMIN", "bob": "MEMBER", "carol": "MEMBER"}),
            }
        ),
    },
)


@FUZZ
@given(
    manifest=valid_manifests,
    mistakes=st.lists(st.sampled_from(MISTAKES), min_size=1, max_size=3),
    as_json=st.booleans(),
)
def test_valid_manifests_with_injected_mistakes_are_always_refused(
    cli: CliRunner, tmp_path: Path, manifest: dict[str, Any], mistakes: list[Any], as_json: bool
) -> None:
    manifest = json.loads(json.dumps(manifest))
    for mistake in mistakes:
        mistake(manifest)
    text = json.dumps(manifest) if as_json else yaml.safe_dump(manifest, allow_unicode=True)
    result = validate_outcome(cli, write(tmp_path, text))
    assert result.code == 1, (text, result.text)
