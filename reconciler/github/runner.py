"""What a GitHub Actions runner gives a step, and what a step gives back.

In: the action's inputs (``INPUT_*`` variables that action.yml sets from ``inputs.*``) and
the ``GITHUB_*`` variables the runner sets. Out: the log (workflow commands such as
``::error``), the job summary (``$GITHUB_STEP_SUMMARY``) and step outputs
(``$GITHUB_OUTPUT``, in the heredoc form so a value may span lines).

Every text going out passes through `Secrets.scrub`, so a token that slipped into a
message is replaced before it reaches a log, a summary, an output or a comment.
"""

from __future__ import annotations

import json
import secrets as random_tokens
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from reconciler.errors import DxorgError
from reconciler.render import inert

COMMANDS = ("validate", "plan", "apply", "drift", "report", "doctor")
# GitHub shows at most 1 MiB of summary per step; keep a margin for the truncation note.
SUMMARY_LIMIT = 1_000_000
MIN_SECRET_LENGTH = 4  # shorter values would scrub ordinary words


class InputError(DxorgError):
    pass


def _flag(name: str, raw: str, default: bool) -> bool:
    value = raw.strip().lower()
    if not value:
        return default
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0"):
        return False
    raise InputError(f"input {name}: expected true or false, got {raw!r}")


def _words(raw: str) -> tuple[str, ...]:
    """A list input: items separated by commas, spaces or new lines."""
    return tuple(w for w in raw.replace(",", " ").split() if w)


@dataclass(frozen=True, repr=False)
class Inputs:
    """The action's inputs. Tokens are kept out of repr."""

    command: str
    paths: tuple[str, ...]
    orgs: tuple[str, ...]
    token: str
    apiserver_host: str | None
    apiserver_port: str | None
    apiserver_protocol: str | None
    comment: bool
    fail_on_drift: bool
    plan_file: str
    journal: str
    github_token: str
    report_dir: str = ""
    only_expiries: bool = False
    report_journals: tuple[str, ...] = ()  # more apply journals for the report (globs)
    github_logins: str = ""  # the report's user-id -> GitHub login mapping file
    # The only org ids a manifest may name (empty: any); see load_fleet.
    allowed_orgs: tuple[str, ...] = ()
    # The branch holding the apply journals of record, restored before planning (empty: none).
    journal_branch: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Inputs:
        def get(name: str) -> str:
            return env.get(f"INPUT_{name}", "").strip()

        command = get("COMMAND")
        if command not in COMMANDS:
            raise InputError(
                f"input command: expected one of {', '.join(COMMANDS)}, got {command!r}"
            )
        return cls(
            command=command,
            paths=_words(get("PATH")) or ("orgs",),
            orgs=_words(get("ORG")),
            token=env.get("INPUT_TOKEN", "").strip(),
            apiserver_host=get("APISERVER_HOST") or None,
            apiserver_port=get("APISERVER_PORT") or None,
            apiserver_protocol=get("APISERVER_PROTOCOL") or None,
            comment=_flag("comment", get("COMMENT"), True),
            fail_on_drift=_flag("fail-on-drift", get("FAIL_ON_DRIFT"), False),
            plan_file=get("PLAN_FILE"),
            # Empty: journal.jsonl in the config repository's state directory.
            journal=get("JOURNAL"),
            github_token=env.get("INPUT_GITHUB_TOKEN", "").strip(),
            report_dir=get("REPORT_DIR"),
            only_expiries=_flag("only-expiries", get("ONLY_EXPIRIES"), False),
            report_journals=_words(get("REPORT_JOURNALS")),
            github_logins=get("GITHUB_LOGINS"),
            allowed_orgs=_words(get("ALLOWED_ORGS")),
            journal_branch=get("JOURNAL_BRANCH"),
        )

    def __repr__(self) -> str:
        return f"Inputs(command={self.command!r}, paths={self.paths!r}, orgs={self.orgs!r})"


@dataclass(frozen=True)
class Runner:
    """The ``GITHUB_*`` variables this action reads; all optional outside a runner."""

    api_url: str
    server_url: str
    repository: str
    event_name: str
    event: Mapping[str, object]
    sha: str
    run_id: str
    summary_path: Path | None
    output_path: Path | None
    temp_dir: Path | None
    in_actions: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Runner:
        event: Mapping[str, object] = {}
        event_path = env.get("GITHUB_EVENT_PATH")
        if event_path:
            try:
                loaded = json.loads(Path(event_path).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise DxorgError(f"GITHUB_EVENT_PATH={event_path}: cannot read: {exc}") from exc
            if isinstance(loaded, dict):
                event = loaded

        def path(name: str) -> Path | None:
            value = env.get(name)
            return Path(value) if value else None

        return cls(
            api_url=env.get("GITHUB_API_URL", "https://api.github.com"),
            server_url=env.get("GITHUB_SERVER_URL", "https://github.com"),
            repository=env.get("GITHUB_REPOSITORY", ""),
            event_name=env.get("GITHUB_EVENT_NAME", ""),
            event=event,
            sha=env.get("GITHUB_SHA", ""),
            run_id=env.get("GITHUB_RUN_ID", ""),
            summary_path=path("GITHUB_STEP_SUMMARY"),
            output_path=path("GITHUB_OUTPUT"),
            temp_dir=path("RUNNER_TEMP"),
            in_actions=env.get("GITHUB_ACTIONS") == "true",
        )

    @property
    def pull_request_number(self) -> int | None:
        """The pull request of a ``pull_request`` event, or of the ``pull_request_target``
        one the example plan workflow runs on (its head commit, planned read-only)."""
        if self.event_name not in ("pull_request", "pull_request_target"):
            return None
        pr = self.event.get("pull_request")
        number = pr.get("number") if isinstance(pr, dict) else self.event.get("number")
        return number if isinstance(number, int) else None

    @property
    def head_sha(self) -> str:
        """The commit a reviewer looks at: the PR head, else the commit the run is for."""
        pr = self.event.get("pull_request")
        if isinstance(pr, dict):
            head = pr.get("head")
            if isinstance(head, dict) and isinstance(head.get("sha"), str):
                return str(head["sha"])
        return self.sha

    @property
    def run_url(self) -> str | None:
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    def provenance(self) -> str:
        """One Markdown line: which commit, which run."""
        bits = []
        if self.head_sha:
            bits.append(f"commit {inert.code_span(self.head_sha[:12])}")
        if self.run_url:
            bits.append(f"[workflow run {self.run_id}]({self.run_url})")
        return " · ".join(bits)


@dataclass
class Secrets:
    """Values that must never be printed; `scrub` replaces them wherever they appear."""

    values: set[str] = field(default_factory=set)

    def add(self, *values: str | None) -> None:
        for value in values:
            # Each line of a value too, as GitHub masks them: output scrubbed a run of whole
            # lines at a time (a streamed report file) still never shows any of it.
            for part in (value, *(value or "").splitlines()):
                if part and len(part) >= MIN_SECRET_LENGTH:
                    self.values.add(part)

    def scrub(self, text: str) -> str:
        # Longest first, so a secret containing another is replaced whole.
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, "***")
        return text


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


class Log:
    """The step's log: plain lines and workflow commands, scrubbed of secrets."""

    def __init__(self, stream: TextIO, secrets: Secrets) -> None:
        self._stream = stream
        self._secrets = secrets

    def line(self, text: str = "") -> None:
        self._stream.write(self._secrets.scrub(text) + "\n")
        self._stream.flush()

    def annotate(
        self,
        level: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        col: int | None = None,
    ) -> None:
        """``::error file=...,line=...::message`` (level error, warning or notice)."""
        props = []
        if file:
            props.append(f"file={_escape_property(file)}")
        if line:
            props.append(f"line={line}")
        if col:
            props.append(f"col={col}")
        head = f"::{level} {','.join(props)}" if props else f"::{level}"
        self.line(f"{head}::{_escape_data(message)}")

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        self.line(f"::group::{title}")
        try:
            yield
        finally:
            self.line("::endgroup::")

    @contextmanager
    def commands_stopped(self) -> Iterator[None]:
        """Lines written inside are never run as workflow commands, whatever they say: for
        text that carries foreign values (the plan, apply's progress). The window's token is
        fresh and random, so no foreign text can close it early. Workflow commands of
        dxorg's own (a group, an annotation, a mask) go outside it."""
        token = random_tokens.token_hex(16)
        self._stream.write(f"::stop-commands::{token}\n")
        try:
            yield
        finally:
            self._stream.write(f"::{token}::\n")
            self._stream.flush()

    @contextmanager
    def records(self) -> Iterator[None]:
        """dxorg's log records (a read given up after its retries, an outage), at WARNING
        and above as Python shows them by default, written as lines of this log: each one
        visible line (inert.log_message, whatever its call site did), scrubbed of secrets,
        never a workflow command. Without this, Python prints them raw to stderr, which the
        runner reads as the log too, outside any ::stop-commands:: window."""
        from reconciler.presenters.log_records import records_as_lines

        def write(lines: list[str]) -> None:
            for line in lines:
                self.line(line)

        with records_as_lines(write):
            yield

    def mask(self, values: Iterable[str]) -> None:
        """Ask the runner to mask values in its log (the runner hides these lines)."""
        for value in values:
            if value:
                # Written raw: scrubbing here would mask the mask command itself.
                self._stream.write(f"::add-mask::{_escape_data(value)}\n")


class StepFiles:
    """The job summary and the outputs file; without a runner, both are skipped."""

    def __init__(self, runner: Runner, secrets: Secrets) -> None:
        self._runner = runner
        self._secrets = secrets

    def summary(self, markdown: str) -> None:
        path = self._runner.summary_path
        if path is None:
            return
        text = self._secrets.scrub(markdown)
        if len(text) > SUMMARY_LIMIT:
            text = text[:SUMMARY_LIMIT] + "\n\n…(truncated: the summary limit is 1 MiB)\n"
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text.rstrip("\n") + "\n\n")

    def outputs(self, values: Mapping[str, str]) -> None:
        path = self._runner.output_path
        if path is None:
            return
        with path.open("a", encoding="utf-8") as handle:
            for name, raw in values.items():
                value = self._secrets.scrub(raw)
                delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
                while delimiter in value:  # never, in practice; but a value must not end early
                    delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
                handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
