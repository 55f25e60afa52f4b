"""The apply journals of record, restored from the config repository's journal branch.

The apply and expiry workflows commit every apply's journal to the `dxorg-journal` branch
(`journal/<year>/<date>-run<id>-<attempt>-<org>.jsonl`). Each run of the Action starts on
a fresh runner, so a run that stopped between `/user/new` and the org invite left the
only proof that dxorg created that account (the platform shows an account's email only
to the account itself) in that branch. Before planning or applying, the Action restores
the branch's journals into the state directory (`journals/`), where the provisioning
evidence reader and the access review find them.

What was there before is removed first: only the branch's files are read, never a file a
commit of the checked-out branch (or a pull request's) placed there. Only regular
`*.jsonl` files under `journal/` are written; links and anything else in the branch are
skipped. Git is run as a program; the token goes to it in the environment, never on its
command line.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from reconciler.errors import DxorgError

BRANCH_DIR = "journal"
_NO_SUCH_REF = 2  # `git ls-remote --exit-code`: the repository answered, no such branch


def _git_env(token: str, base: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0="http.extraheader",
            GIT_CONFIG_VALUE_0=f"AUTHORIZATION: basic {basic}",
        )
    return env


def _git(args: list[str], env: Mapping[str, str], what: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", *args], env=dict(env), capture_output=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DxorgError(f"the journal branch: {what}: {exc}") from None


def restore_journals(
    *,
    url: str,
    branch: str,
    token: str,
    into: Path,
    env: Mapping[str, str] = os.environ,
) -> int:
    """Replace `into` with the `journal/` files of `branch` at `url`; how many were
    restored (0, and `into` empty, when the branch does not exist yet)."""
    if into.is_symlink() or into.parent.is_symlink():
        raise DxorgError(f"{into}: a symbolic link on the way: journals not restored")
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    git_env = _git_env(token, env)
    ref = f"refs/heads/{branch}"
    listed = _git(["ls-remote", "--exit-code", url, ref], git_env, "git ls-remote")
    if listed.returncode == _NO_SUCH_REF:
        return 0
    if listed.returncode != 0:
        said = listed.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
        raise DxorgError(f"the {branch} branch could not be read: {said[0]}")
    with tempfile.TemporaryDirectory() as scratch:
        steps = (
            (["init", "--quiet", "--bare", scratch], "git init"),
            (["-C", scratch, "fetch", "--quiet", "--depth=1", url, ref], "git fetch"),
            (["-C", scratch, "archive", "--format=tar", "FETCH_HEAD"], "git archive"),
        )
        for args, what in steps:
            done = _git(args, git_env, what)
            if done.returncode != 0:
                said = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
                raise DxorgError(f"the {branch} branch could not be read: {what}: {said[0]}")
        archive = done.stdout
    count = 0
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            name = PurePosixPath(member.name)
            if not (member.isfile() and name.parts[:1] == (BRANCH_DIR,)):
                continue
            if name.suffix != ".jsonl" or ".." in name.parts:
                continue
            source = tar.extractfile(member)
            if source is None:
                continue
            target = into.joinpath(*name.parts[1:])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())
            count += 1
    return count
