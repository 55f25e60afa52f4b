"""`dxorg report` end to end: a real process talking HTTP to an emulator on loopback."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from reconciler.emulator import Emulator
from reconciler.review.as_json import report_schema
from tests.integration.conftest import CONTROL_TOKEN
from tests.integration.test_cli import API_TOKEN, Platform, dxorg
from tests.review.conftest import FleetRepo, review_seed


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    emulator = Emulator(
        state_path=tmp_path / "state.db", seed=review_seed(), control_token=CONTROL_TOKEN
    )
    with emulator.serve(port=0) as server:
        yield Platform(server.url, server.port)
    emulator.close()


def test_report_in_every_format_exits_0_and_writes_nothing(
    platform: Platform, fleet_repo: FleetRepo, tmp_path: Path
) -> None:
    env = platform.env()
    markdown = dxorg("report", str(fleet_repo.orgs), env=env, cwd=fleet_repo.root)
    assert markdown.returncode == 0, markdown.stderr
    assert markdown.stdout.startswith("## dxorg access review")
    assert "Ben Reviewer" in markdown.stdout
    for fmt in ("csv", "json", "html"):
        out = tmp_path / f"review.{fmt}"
        result = dxorg(
            "report", "orgs", "--format", fmt, "--out", str(out), env=env, cwd=fleet_repo.root
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == "" and f"wrote {out}" in result.stderr
    data = json.loads((tmp_path / "review.json").read_text())
    jsonschema.validate(data, report_schema())
    assert data["orgs"][0]["members"][1]["declared"]["file"] == "orgs/org-demo.yaml"
    rows = list(csv.DictReader(io.StringIO((tmp_path / "review.csv").read_text())))
    assert len(rows) == 11
    assert (tmp_path / "review.html").read_text().startswith("<!DOCTYPE html>")
    assert platform.writes() == []
    for text in (
        markdown.stdout,
        markdown.stderr,
        *(p.read_text() for p in tmp_path.glob("review.*")),
    ):
        assert API_TOKEN not in text


def test_report_exits_1_when_an_org_cannot_be_read_and_still_writes_the_report(
    platform: Platform, fleet_repo: FleetRepo, tmp_path: Path
) -> None:
    (fleet_repo.orgs / "org-ghost.yaml").write_text("org: org-ghost\n")
    out = tmp_path / "review.json"
    result = dxorg(
        "report", str(fleet_repo.orgs), "--format", "json", "--out", str(out), env=platform.env()
    )
    assert result.returncode == 1
    assert "org-ghost: not read:" in result.stderr and "Traceback" not in result.stderr
    data = json.loads(out.read_text())
    assert [o["org"] for o in data["orgs"] if o["error"]] == ["org-ghost"]


def test_report_usage_and_manifest_errors_exit_1_without_a_traceback(
    platform: Platform, fleet_repo: FleetRepo, tmp_path: Path
) -> None:
    env = platform.env()
    bad_format = dxorg("report", str(fleet_repo.orgs), "--format", "pdf", env=env)
    assert bad_format.returncode == 1
    # A usage error, from the parser: exit 1 (never 2), naming the choices.
    assert "Invalid value for '--format'" in bad_format.stderr
    assert "'markdown', 'csv', 'json', 'html'" in bad_format.stderr
    assert "Traceback" not in bad_format.stderr
    (fleet_repo.orgs / "org-lab.yaml").write_text(
        "org: org-lab\nmembers: {mode: additive, users: {eve: MEMBER}}\n"
    )
    conflict = dxorg("report", str(fleet_repo.orgs), env=env)
    assert conflict.returncode == 1
    assert "org-lab.yaml:2:" in conflict.stderr and "user-eve has departed (" in conflict.stderr
    assert "_defaults.yaml:5" in conflict.stderr
    unreachable = dxorg(
        "report",
        str(fleet_repo.orgs / "org-demo.yaml"),
        env=Platform("http://127.0.0.1:9", 9).env(DXORG_MAX_RETRY_SECONDS="1"),
    )
    assert unreachable.returncode == 1 and "Traceback" not in unreachable.stderr
    assert "/system/whoami" in unreachable.stderr
