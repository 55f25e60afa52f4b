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
command line. The branch only ever grows: its archive is streamed from git to the files,
never held in memory, and a journal file or a total beyond `JournalLimits` is refused,
naming the file and the variable that raises the limit.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import IO

from reconciler.errors import DxorgError
from reconciler.platform.limits import (
    MAX_JOURNAL_BYTES_VAR,
    MAX_JOURNALS_BYTES_VAR,
    JournalLimits,
    journal_limits_from_env,
)

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
    into.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the state directory
    into.mkdir(mode=0o700)
    git_env = _git_env(token, env)
    ref = f"refs/heads/{branch}"
    listed = _git(["ls-remote", "--exit-code", url, ref], git_env, "git ls-remote")
    if listed.returncode == _NO_SUCH_REF:
        return 0
    if listed.returncode != 0:
        said = listed.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
        raise DxorgError(f"the {branch} branch could not be read: {said[0]}")
    limits = journal_limits_from_env(env)
    with tempfile.TemporaryDirectory() as scratch:
        steps = (
            (["init", "--quiet", "--bare", scratch], "git init"),
            (["-C", scratch, "fetch", "--quiet", "--depth=1", url, ref], "git fetch"),
        )
        for args, what in steps:
            done = _git(args, git_env, what)
            if done.returncode != 0:
                said = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
                raise DxorgError(f"the {branch} branch could not be read: {what}: {said[0]}")
        try:
            return _extract_streamed(scratch, git_env, branch, into, limits)
        except DxorgError:
            shutil.rmtree(into)  # nothing half-restored is read as evidence
            into.mkdir(mode=0o700)
            raise


def _extract_streamed(
    scratch: str, git_env: Mapping[str, str], branch: str, into: Path, limits: JournalLimits
) -> int:
    """The `journal/**/*.jsonl` files of the fetched commit, streamed from `git archive`
    into `into`; how many."""
    with tempfile.TemporaryFile() as errors:
        try:
            archive = subprocess.Popen(
                ["git", "-C", scratch, "archive", "--format=tar", "FETCH_HEAD"],
                env=dict(git_env),
                stdout=subprocess.PIPE,
                stderr=errors,
            )
        except OSError as exc:
            raise DxorgError(f"the journal branch: git archive: {exc}") from None
        assert archive.stdout is not None
        try:
            count = _extract(archive.stdout, branch, into, limits)
        except BaseException:
            archive.kill()
            archive.wait()
            raise
        finally:
            archive.stdout.close()
        try:
            code = archive.wait(timeout=300)
        except subprocess.TimeoutExpired:
            archive.kill()
            archive.wait()
            raise DxorgError(
                f"the {branch} branch could not be read: git archive: timed out"
            ) from None
        if code != 0:
            errors.seek(0)
            said = errors.read().decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise DxorgError(f"the {branch} branch could not be read: git archive: {said[0]}")
    return count


def _extract(stream: IO[bytes], branch: str, into: Path, limits: JournalLimits) -> int:
    count = 0
    total = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                name = PurePosixPath(member.name)
                if not (member.isfile() and name.parts[:1] == (BRANCH_DIR,)):
                    continue
                if name.suffix != ".jsonl" or ".." in name.parts:
                    continue
                if member.size > limits.max_file_bytes:
                    raise DxorgError(
                        f"the {branch} branch: {name} holds {member.size} bytes, more than "
                        f"{limits.max_file_bytes} ({MAX_JOURNAL_BYTES_VAR}): journals not "
                        f"restored. Raise {MAX_JOURNAL_BYTES_VAR} if it is a real apply's journal"
                    )
                total += member.size
                if total > limits.max_total_bytes:
                    raise DxorgError(
                        f"the {branch} branch: its journals hold more than "
                        f"{limits.max_total_bytes} bytes ({MAX_JOURNALS_BYTES_VAR}), reached at "
                        f"{name}: journals not restored. Raise {MAX_JOURNALS_BYTES_VAR}"
                    )
                source = tar.extractfile(member)
                if source is None:
                    continue
                target = into.joinpath(*name.parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                with os.fdopen(os.open(target, flags, 0o644), "wb") as sink:
                    shutil.copyfileobj(source, sink, 1024 * 1024)
                count += 1
    except (tarfile.TarError, OSError) as exc:
        raise DxorgError(f"the {branch} branch could not be restored: {exc}") from None
    return count
