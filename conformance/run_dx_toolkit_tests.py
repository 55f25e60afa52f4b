"""Run dx-toolkit's own org and admin tests, unchanged, against `dxorg emulator serve`.

    .venv/bin/python conformance/run_dx_toolkit_tests.py /path/to/dx-toolkit [--group in-scope]

The checkout is dnanexus/dx-toolkit (any clone; its code is only run, never copied here).
Its tests run with this interpreter, which must have dxpy (the `dx` beside it), pytest,
pexpect and mock: `.venv/bin/pip install -e '.[dx-toolkit-tests]'`.

The script starts the emulator on a free loopback port, seeded with
conformance/dx_toolkit_seed.yaml (the users, orgs, projects and apps the tests assume; they
run as user-alice), sets the `DXTEST_*` switches the suite documents in dxpy_testutil.py and
the `DX_*` variables that point `dx` and dxpy at the emulator, runs pytest on the listed test
ids in the checkout's src/python/test, and prints how many passed. Exit 0 when every
selected test passed.

The tests are listed below in three groups: IN_SCOPE (each must pass), OUT_OF_DATE (the test
expects what the platform no longer answers, or Python 2's argparse wording; dx-toolkit
updated their siblings later) and NEEDS_BUILD (they run `dx build`, which the emulator does
not emulate: applets, apps, global workflows). The emulator's README lists them with why.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SEED = Path(__file__).resolve().parent / "dx_toolkit_seed.yaml"
TOKEN = "alice-token"  # user-alice's token in the seed: the tests run as her
TEST_DIR = Path("src/python/test")
CLIENT = "test_dxclient.py"
DXPY = "test_dxpy.py"

IN_SCOPE: tuple[str, ...] = (
    # project sharing: dx invite / dx uninvite / DXProject.invite
    f"{CLIENT}::TestDXClient::test_dx_invite",
    f"{CLIENT}::TestDXClient::test_dx_uninvite",
    f"{CLIENT}::TestDXClient::test_dx_project_invite_without_email",
    f"{DXPY}::TestDXProject::test_invite_without_email",
    # project/new and project-x/update settings, tags and properties (DXProject)
    f"{DXPY}::TestDXProject::test_new",
    f"{DXPY}::TestDXProject::test_update_describe",
    # dx find orgs / dx find projects (PHI, region)
    f"{CLIENT}::TestDXClientFind::test_find_orgs",
    f"{CLIENT}::TestDXClientFind::test_find_orgs_format",
    f"{CLIENT}::TestDXClientFind::test_dx_find_projects_phi",
    f"{CLIENT}::TestDXClientFind::test_dx_find_projects_by_region",
    # dx find org members / projects
    f"{CLIENT}::TestDXClientFindInOrg::test_dx_find_org_members",
    f"{CLIENT}::TestDXClientFindInOrg::test_dx_find_org_projects_invalid",
    f"{CLIENT}::TestDXClientFindInOrg::test_dx_find_org_projects",
    f"{CLIENT}::TestDXClientFindInOrg::test_dx_find_org_projects_public",
    f"{CLIENT}::TestDXClientFindInOrg::test_dx_find_org_projects_created",
    f"{CLIENT}::TestDXClientFindInOrg::test_dx_find_org_projects_format",
    f"{CLIENT}::TestDXClientFindInOrg::test_dx_find_org_projects_phi",
    # dx new org / dx update org
    f"{CLIENT}::TestDXClientOrg::test_create_new_org",
    f"{CLIENT}::TestDXClientOrg::test_create_new_org_prompt",
    f"{CLIENT}::TestDXClientOrg::test_org_update",
    f"{CLIENT}::TestDXClientOrg::test_org_update_format",
    f"{DXPY}::TestIdempotentRequests::test_idempotent_org_creation",
    # dx new project
    f"{CLIENT}::TestDXClientNewProject::test_dx_new_project_with_region",
    f"{CLIENT}::TestDXClientNewProject::test_dx_create_new_project_with_bill_to",
    f"{CLIENT}::TestDXClientNewProject::test_dx_create_new_project_with_phi",
    # dx new user (the auth server's user/new)
    f"{CLIENT}::TestDXClientNewUser::test_create_user_account_and_set_bill_to_negative",
    f"{CLIENT}::TestDXClientNewUser::test_create_user_on_behalf_of",
    f"{CLIENT}::TestDXClientNewUser::test_create_user_on_behalf_of_negative",
    f"{CLIENT}::TestDXClientNewUser::test_self_signup_negative",
    f"{CLIENT}::TestDXClientNewUser::test_create_user_account_only",
    f"{CLIENT}::TestDXClientNewUser::test_create_user_account_and_invite_to_org",
    f"{CLIENT}::TestDXClientNewUser::test_create_user_account_and_set_token_duration_negative",
    f"{CLIENT}::TestDXClientNewUser::test_create_user_account_and_set_token_duration",
    # dx add / update / remove member
    f"{CLIENT}::TestDXClientMembership::test_add_membership_default",
    f"{CLIENT}::TestDXClientMembership::test_add_membership_negative",
    f"{CLIENT}::TestDXClientMembership::test_remove_membership_default",
    f"{CLIENT}::TestDXClientMembership::test_remove_membership_negative",
    f"{CLIENT}::TestDXClientMembership::test_update_membership_positive",
    f"{CLIENT}::TestDXClientMembership::test_update_membership_negative",
    # dx update project
    f"{CLIENT}::TestDXClientUpdateProject::test_update_strings",
    f"{CLIENT}::TestDXClientUpdateProject::test_update_multiple_items",
    f"{CLIENT}::TestDXClientUpdateProject::test_update_project_by_name",
    f"{CLIENT}::TestDXClientUpdateProject::test_update_booleans",
    f"{CLIENT}::TestDXClientUpdateProject::test_bill_non_existent_user",
    # app developers and authorized users (the apps are seeded, so no `dx build` runs)
    f"{CLIENT}::TestDXBuildApp::test_dx_add_list_remove_developers_of_apps",
    f"{CLIENT}::TestDXBuildApp::test_dx_add_list_remove_users_of_apps",
    # dxpy's retry on 503 + Retry-After (system/comeBackLater; about 40 s of waiting)
    f"{DXPY}::TestHTTPResponses::test_retry_after",
    f"{DXPY}::TestHTTPResponses::test_retry_after_exceeding_max_retries",
    f"{DXPY}::TestHTTPResponses::test_retry_after_without_header_set",
)

# test id -> why it fails on the platform of today too.
_PY2_ARGPARSE = "expects Python 2's argparse wording"
_FLAGS = (
    "expects {} keys in a findMembers row where the platform answers the level and nine flags"
    " (id included, 11); dx-toolkit's commit 72c6246e8 (TITAN-183) updated its siblings"
)
OUT_OF_DATE: dict[str, str] = {
    f"{CLIENT}::TestDXClientOrg::test_create_new_org_negative": (
        f"{_PY2_ARGPARSE} ('argument --handle is required'; Python 3 says 'the following"
        " arguments are required: --handle')"
    ),
    f"{CLIENT}::TestDXClientOrg::test_org_update_negative": f"{_PY2_ARGPARSE} ('too few arguments')",
    f"{CLIENT}::TestDXClientFindInOrg::test_dx_find_org_members_negative": (
        f"{_PY2_ARGPARSE} ('too few arguments')"
    ),
    f"{CLIENT}::TestDXClientFindInOrg::test_dx_find_org_members_format": _FLAGS.format(
        "the 4 flags of 2015 plus id, level and describe:"
    ),
    f"{CLIENT}::TestDXClientNewUser::test_create_user_account_and_set_bill_to": _FLAGS.format(6),
    f"{CLIENT}::TestDXClientMembership::test_add_membership_with_options": _FLAGS.format(6),
    f"{CLIENT}::TestDXClientMembership::test_remove_membership_interactive_conf": _FLAGS.format(6),
    f"{CLIENT}::TestDXClientMembership::test_remove_membership_interactive_conf_format": (
        _FLAGS.format(6)
    ),
    f"{CLIENT}::TestDXClientMembership::test_update_membership_to_member_without_membership_flags": (
        _FLAGS.format(6)
    ),
    f"{CLIENT}::TestDXClientMembership::test_add_update_remove_membership": _FLAGS.format(6),
    f"{CLIENT}::TestDXClientMembership::test_add_update_remove_membership_with_user_id": (
        _FLAGS.format(6)
    ),
}

# test id -> what it builds.
NEEDS_BUILD: dict[str, str] = {
    f"{CLIENT}::TestDXClientFindInOrg::test_dx_find_org_apps": "builds apps billed to the org",
    f"{CLIENT}::TestDXClientDescribe::test_user_describe_self_shows_bill_to": (
        "its class's setUp (DXTestCaseBuildWorkflows) builds applets"
    ),
    f"{CLIENT}::TestDXBuildWorkflow::test_dx_add_list_remove_users_of_global_workflows": (
        "builds a global workflow"
    ),
    f"{CLIENT}::TestDXBuildWorkflow::test_dx_add_list_remove_developers_of_global_workflows": (
        "builds a global workflow"
    ),
    f"{DXPY}::TestDXApp::test_add_and_remove_tags": "makes an applet and an app (applet/new, app/new)",
    f"{DXPY}::TestDXApp::test_create_app": "makes an applet and an app (applet/new, app/new)",
    f"{DXPY}::TestIdempotentRequests::test_idempotent_applet_and_app_creation": (
        "makes applets and apps (applet/new, app/new)"
    ),
}

GROUPS = {
    "in-scope": IN_SCOPE,
    "out-of-date": tuple(OUT_OF_DATE),
    "needs-build": tuple(NEEDS_BUILD),
}
GROUPS["all"] = GROUPS["in-scope"] + GROUPS["out-of-date"] + GROUPS["needs-build"]

_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")


@contextmanager
def emulator(work: Path) -> Iterator[int]:
    """`dxorg emulator serve` on a free port with the seed; yields the port."""
    log_path = work / "emulator.log"
    command = [
        str(Path(sys.executable).parent / "dxorg"),
        "emulator",
        "serve",
        "--state",
        str(work / "state.db"),
        "--seed",
        str(SEED),
        "--port",
        "0",
    ]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, text=True, stdin=subprocess.DEVNULL
        )
        try:
            assert process.stdout is not None
            port = None
            for line in process.stdout:
                match = _LISTENING.search(line)
                if match:
                    port = int(match.group(2))
                    break
            if port is None:
                raise SystemExit(f"error: the emulator did not start; see {log_path}")
            yield port
        finally:
            process.terminate()
            process.wait(timeout=30)


def suite_environment(port: int, conf_dir: Path) -> dict[str, str]:
    """No DX_* from the caller's shell; this emulator, user-alice, and the suite's switches."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("DX_", "DXTEST_"))
    }
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "DX_APISERVER_PROTOCOL": "http",
            "DX_APISERVER_HOST": "127.0.0.1",
            "DX_APISERVER_PORT": str(port),
            "DX_AUTHSERVER_HOST": "http://127.0.0.1",
            "DX_AUTHSERVER_PORT": str(port),
            "DX_SECURITY_CONTEXT": json.dumps({"auth_token_type": "Bearer", "auth_token": TOKEN}),
            "DX_USERNAME": "alice",
            "DX_USER_CONF_DIR": str(conf_dir),
            # dxpy_testutil.py: the test users and orgs exist, user/new is served, and many
            # calls in a row are fine.
            "DXTEST_ISOLATED_ENV": "1",
            "DXTEST_WITH_AUTHSERVER": "1",
            "DXTEST_NO_RATE_LIMITS": "1",
        }
    )
    return env


def outcomes(junit_xml: Path) -> dict[str, str]:
    """test id (file::Class::name) -> passed / failed / skipped."""
    results: dict[str, str] = {}
    for case in ElementTree.parse(junit_xml).iter("testcase"):
        module, _, cls = case.get("classname", "").rpartition(".")
        test_id = f"{module.replace('.', '/')}.py::{cls}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            results[test_id] = "failed"
        elif case.find("skipped") is not None:
            results[test_id] = "skipped"
        else:
            results[test_id] = "passed"
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="a dnanexus/dx-toolkit checkout")
    parser.add_argument("--group", choices=sorted(GROUPS), default="in-scope")
    parser.add_argument("-k", dest="keyword", help="pytest -k: run only the matching tests")
    parser.add_argument("--verbose", action="store_true", help="show pytest's output")
    args = parser.parse_args(argv)
    test_dir = args.checkout / TEST_DIR
    if not (test_dir / CLIENT).is_file():
        print(f"error: {args.checkout}: no {TEST_DIR / CLIENT} (not a dx-toolkit checkout)")
        return 2
    selected = GROUPS[args.group]
    with tempfile.TemporaryDirectory(prefix="dx-toolkit-tests-") as scratch:
        work = Path(scratch)
        conf_dir = work / "dx-config"
        conf_dir.mkdir()
        junit = work / "results.xml"
        with emulator(work) as port:
            command = [
                sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                f"--junitxml={junit}", *selected,
            ]  # fmt: skip
            if args.keyword:
                command += ["-k", args.keyword]
            run = subprocess.run(
                command,
                cwd=test_dir,
                env=suite_environment(port, conf_dir),
                stdin=subprocess.DEVNULL,
                capture_output=not args.verbose,
                text=True,
            )
        if not junit.exists():
            print(run.stdout or "", run.stderr or "", sep="\n")
            print("error: pytest produced no results")
            return 2
        results = outcomes(junit)
    for test_id in selected:
        status = results.get(test_id)
        if status not in (None, "passed"):
            print(f"{status.upper()}: {test_id}")
    ran = [test_id for test_id in selected if test_id in results]
    passed = sum(results[test_id] == "passed" for test_id in ran)
    print(f"{passed} of {len(ran)} {args.group} dx-toolkit tests passed against the emulator")
    return 0 if ran and passed == len(ran) else 1


if __name__ == "__main__":
    sys.exit(main())
