"""`dxorg init`: the files of a new config repository besides the exported manifests.

The workflows are the example workflows shipped with dxorg (`reconciler/workflows/`, the
checkout's `examples/workflows/`), every one of them, so a workflow added there is
written by init too. Each is adapted in four ways only: `uses: ./` names the pinned
Action, the forwarding token line becomes one line per `tokenEnv` the manifests name,
`allowed-orgs` lists the orgs exported, and the file is named `dxorg-<name>` (apply.yml
finds the plan run by `dxorg-plan.yml`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml

from reconciler import __version__
from reconciler.errors import ConfigError
from reconciler.manifest.fleet import DEFAULTS_FILE_NAMES
from reconciler.manifest.schema import ORG_SCHEMA
from reconciler.read_and_export import refuse_links

# A placeholder until the Action is published under a name of its own: the README init
# writes says to replace it (docs/releasing.md: what a tag such as v1 means).
DEFAULT_ACTION_REF = "your-org/dxorg@v1"
WORKFLOWS: Traversable = files("reconciler") / "workflows"
WORKFLOW_PREFIX = "dxorg-"
# The one forwarding-token line of the example workflows, in every `env:` that needs it.
_TOKEN_LINE = re.compile(
    r"^(?P<indent>[ ]*)SPLUNK_HEC_TOKEN: \$\{\{ secrets\.SPLUNK_HEC_TOKEN \}\}$"
)
# The allowlist of the example workflows' dxorg steps: the example orgs, replaced.
_ALLOWED_LINE = re.compile(r"^(?P<indent>[ ]*)allowed-orgs: [^#]*(?P<comment>#.*)?$")
_USES_HERE = re.compile(r"^(?P<indent>[ ]*)(?P<dash>- )?uses: \./$")
_SECRET = re.compile(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)")
_ACTION_REF = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+(/[^@\s]+)?@[A-Za-z0-9_.\-/]+$"
)

DEFAULTS_TEXT = """\
# yaml-language-server: $schema=defaults.schema.json
# Fleet defaults for every org file in this directory (docs/manifest-reference.md). An
# org file's own members.defaults and safety win over these, flag by flag and key by key.
# `departed` lists the people who have left: each is removed from every org here.
departed: []
"""


def check_target(directory: Path) -> None:
    """Refuse a directory init would write into that already holds something (a lone
    `.git`, from `git init`, aside)."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise ConfigError(f"{directory}: not a directory")
    present = sorted(p.name for p in directory.iterdir() if p.name != ".git")
    if present:
        shown = ", ".join(present[:5]) + (", ..." if len(present) > 5 else "")
        raise ConfigError(
            f"{directory}: not empty ({shown}); init writes a new config repository and "
            "would replace files there. Give an empty directory, or --force"
        )


def make_repository_root(directory: Path) -> list[str]:
    """Make `directory` a git repository of its own (`git init`, branch main) unless it is
    one already, so that it is the config repository's root, and its state directory
    `directory/.dxorg`, from the first run: inside another checkout, dxorg would otherwise
    keep its journal in that checkout's state directory until someone ran `git init`.
    What was done, to tell the user."""
    if (directory / ".git").exists():
        return []
    git = shutil.which("git")
    if git is None:
        return [
            f"warning: git not found: {directory} is not a git repository yet; until `git "
            "init` there, dxorg keeps its state in the state directory of the git work tree "
            "above it, if any (give --state-dir to be sure)"
        ]
    directory.mkdir(parents=True, exist_ok=True)
    for args in (["init", "--quiet"], ["symbolic-ref", "HEAD", "refs/heads/main"]):
        done = subprocess.run(
            [git, "-C", str(directory), *args], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            said = (done.stderr.strip().splitlines() or ["failed"])[-1]
            raise ConfigError(f"{directory}: git {args[0]}: {said}")
    return [f"{directory}: a new git repository (branch main), the config repository's root"]


def scaffold_targets(
    directory: Path, exported: Iterable[Path], scaffold: dict[str, str]
) -> tuple[dict[Path, str], list[str]]:
    """The scaffold's files to write into `directory` (by path), and what init should
    say about them; every target, the exported manifests' too, checked first for a
    symbolic link (refused, naming it: nothing is written through one).

    A fleet defaults file already there (init --force) is kept, not replaced: its
    `departed` list is the record of who was offboarded (the export left them out), and
    its defaults are a person's."""
    targets = {directory / relative: text for relative, text in scaffold.items()}
    notes = []
    defaults = directory / "orgs" / DEFAULTS_FILE_NAMES[0]
    refuse_links([*exported, directory / "orgs" / ORG_SCHEMA, *targets], directory)
    if defaults.exists():
        del targets[defaults]
        notes.append(f"kept {defaults} (its departed list and defaults: init never replaces it)")
    return targets, notes


def org_ids(manifests: Iterable[str]) -> list[str]:
    """Every org id the manifest texts name, sorted."""
    found = {data.get("org") for data in map(yaml.safe_load, manifests) if isinstance(data, dict)}
    return sorted(org for org in found if isinstance(org, str))


def token_envs(manifests: Iterable[str]) -> list[str]:
    """Every `jobLogsForwarding.tokenEnv` the manifest texts name, sorted."""
    names: set[str] = set()
    for text in manifests:
        data = yaml.safe_load(text)
        forwarding = data.get("jobLogsForwarding") if isinstance(data, dict) else None
        if isinstance(forwarding, dict) and isinstance(forwarding.get("tokenEnv"), str):
            names.add(forwarding["tokenEnv"])
    return sorted(names)


def adapt_workflow(name: str, text: str, *, action: str, tokens: list[str], orgs: list[str]) -> str:
    """An example workflow as a config repository uses it (see the module's docstring)."""
    out = [
        f"# Written by dxorg init from its example workflow {name} (dxorg {__version__}), with",
        f"# the Action pinned as {action}, the forwarding tokens the manifests name, and",
        "# allowed-orgs listing the orgs exported (add an org there before its manifest).",
        "# What the comments below say about `uses: ./` is done here already.",
    ]
    for line in text.splitlines():
        uses = _USES_HERE.match(line)
        token = _TOKEN_LINE.match(line)
        allowed = _ALLOWED_LINE.match(line)
        if allowed:
            out.append(
                f"{allowed['indent']}allowed-orgs: {' '.join(orgs)} {allowed['comment'] or ''}".rstrip()
            )
        elif uses:
            out.append(f"{uses['indent']}{uses['dash'] or ''}uses: {action}")
        elif token and tokens:
            out += [f"{token['indent']}{name}: ${{{{ secrets.{name} }}}}" for name in tokens]
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def workflow_files(*, action: str, tokens: list[str], orgs: list[str]) -> dict[str, str]:
    """Every shipped example workflow, adapted, by its path in the config repository."""
    return {
        f".github/workflows/{WORKFLOW_PREFIX}{source.name}": adapt_workflow(
            source.name, source.read_text(encoding="utf-8"), action=action, tokens=tokens, orgs=orgs
        )
        for source in sorted(WORKFLOWS.iterdir(), key=lambda s: s.name)
        if source.name.endswith((".yml", ".yaml"))
    }


def scaffold_files(manifests: Iterable[str], *, action: str) -> dict[str, str]:
    """The files of a new config repository besides the manifests, by relative path."""
    if not _ACTION_REF.fullmatch(action):
        raise ConfigError(
            f"--action {action!r}: give owner/repo@ref (a tag such as v1, or a commit SHA)"
        )
    texts = list(manifests)
    tokens = token_envs(texts)
    workflows = workflow_files(action=action, tokens=tokens, orgs=org_ids(texts))
    repo, _, rev = action.partition("@")
    return {
        f"orgs/{DEFAULTS_FILE_NAMES[0]}": DEFAULTS_TEXT,
        "orgs/defaults.schema.json": (
            files("reconciler") / "schemas" / "defaults.schema.json"
        ).read_text(encoding="utf-8"),
        **workflows,
        ".pre-commit-config.yaml": _PRE_COMMIT.format(repo="/".join(repo.split("/")[:2]), rev=rev),
        ".gitignore": _GITIGNORE,
        "README.md": _readme(action=action, environments=environments(workflows), tokens=tokens),
    }


# The environments a job may name: a name, or an expression choosing between quoted names
# (`cond && 'a' || 'b'`: the names are the values after && and ||).
_ENVIRONMENT_NAME = re.compile(r"(?:&&|\|\|)\s*'([A-Za-z0-9_.-]+)'")
REPOSITORY_SECRETS = ""  # the key of `environments` for secrets read outside any environment


def environments(workflows: dict[str, str]) -> dict[str, set[str]]:
    """The secrets each environment the workflows name must hold, by environment (the
    secrets of jobs that name none under REPOSITORY_SECRETS)."""
    found: dict[str, set[str]] = {}
    for text in workflows.values():
        for job in (yaml.safe_load(text).get("jobs") or {}).values():
            named = str(job.get("environment") or "")
            names = _ENVIRONMENT_NAME.findall(named) if "${{" in named else [named]
            secrets = set(_SECRET.findall(yaml.safe_dump(job)))
            for name in names:
                if name or secrets:
                    found.setdefault(name, set()).update(secrets)
    return found


_PRE_COMMIT = """\
# dxorg validate on every commit that touches a manifest (pre-commit install).
repos:
  - repo: https://github.com/{repo}
    rev: {rev}
    hooks:
      - id: dxorg-validate
"""

_GITIGNORE = """\
# dxorg's state directory: the sandbox, the apply lock, local journals and plans. Apply
# journals of record are kept by the apply workflow (the dxorg-journal branch), not here.
# No trailing slash: a symbolic link named .dxorg is ignored too (dxorg refuses one).
.dxorg
"""


def _readme(*, action: str, environments: dict[str, set[str]], tokens: list[str]) -> str:
    why = {
        "DX_PLAN_TOKEN": "a DNAnexus API token of the same user as `DX_APPLY_TOKEN`, for "
        "plan, drift and the access review (read-only use: docs/github-action.md)",
        "DX_APPLY_TOKEN": "the DNAnexus API token that applies: an ADMIN of every org here",
        **{
            t: "the Splunk HEC token of the orgs whose manifest names it (`tokenEnv`)"
            for t in tokens
        },
    }
    reviewers = {
        "dxorg-plan": "no reviewers (it plans every pull request into `main`)",
        "dxorg-apply": "no reviewers needed (the plan it applies was approved on its pull request)",
        "dxorg-apply-manual": "**required reviewers** (it applies a plan made by hand)",
        "dxorg-expiry": "**required reviewers** (it applies the day's expiries)",
    }
    secrets = sorted({s for names in environments.values() for s in names})
    in_environments = "\n".join(
        f"   - `{name}`: deployment branches limited to `main`; "
        f"{reviewers.get(name, 'reviewers as you see fit')}; secrets "
        + ", ".join(f"`{s}`" for s in sorted(environments[name]))
        for name in sorted(environments)
        if name != REPOSITORY_SECRETS
    )
    outside = sorted(environments.get(REPOSITORY_SECRETS, set()))
    repository = (
        "\n   Read outside any environment (repository secrets, given to every branch's "
        "runs): " + ", ".join(f"`{s}`" for s in outside)
        if outside
        else "\n   Add none of them as repository secrets: GitHub gives those to the runs of "
        "every branch, so anyone who can push a branch could print them."
    )
    listed = "\n".join(f"   - `{name}`: {why.get(name, 'see the workflows')}" for name in secrets)
    return f"""\
# Org configuration (dxorg)

The DNAnexus orgs in `orgs/`, one manifest each, managed by
[dxorg](https://github.com/{action.partition("@")[0]}) {__version__}: a pull request shows
the plan, the merge applies exactly that plan, a scheduled run opens an issue on drift,
and a monthly run writes the access review. Written by `dxorg init`; the token's user is
`protected` and a `requiredAdmins` entry in every org, so dxorg never cuts it off.

## Set up, once

1. The secrets the workflows read:

{listed}

2. The environments (Settings > Environments), each created with its branch rule
   **before** its secrets are added (GitHub creates an environment a job names on first
   use, with no rule at all), each holding its secrets as environment secrets:

{in_environments}
{repository}
3. Branch protection on `main`: pull requests required, with an approving review and the
   `dxorg plan` check passing; no direct pushes. Protect the `dxorg-journal` branch too
   (pushes from GitHub Actions only, no force push, no deletion): the apply journals of
   record live there, and dxorg reads them as evidence of the accounts it created. Any
   workflow run of this repository acts as GitHub Actions, a branch's too: give push
   access only to people you would let attest an account's creation.
4. The workflows use `{action}`: pin it to a release tag or, better, its commit SHA
   (docs/releasing.md in dxorg).
5. `pip install pre-commit && pre-commit install`: manifests are validated on commit.

## Day to day

Every dxorg step of the workflows names the orgs this repository manages
(`allowed-orgs`); a manifest naming any other org is refused. To add an org, first merge
the change of `allowed-orgs` in every workflow to `main`, then open the pull request that
adds its manifest (the plan uses the workflows as `main` has them). Pull requests from
forks are not planned.

Change a manifest on a branch, open a pull request, read the plan comment, merge. Check
locally with `dxorg validate orgs` and `dxorg plan orgs` (the token as `dx` finds it).
dxorg keeps its local state in `.dxorg/` at the root of this repository (ignored by git);
each apply's journal of record is committed to the `dxorg-journal` branch by the apply
workflow, where the access review reads it.
"""
