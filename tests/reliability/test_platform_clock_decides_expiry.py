"""Issue 19, item 7: expiry is decided by the platform's clock (the Date header of its
answers), not this machine's; a local clock more than a few minutes off is a warning.

The emulator's clock is put a day ahead of (or behind) the local one through its
control plane; a self-grant whose last day is on the boundary is then granted or not
as the platform's date says, and the warning names the difference.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from reconciler.emulator import Emulator
from reconciler.manifest import load_fleet
from reconciler.platform import ReadClient, RetryPolicy, clock_skew_warning, discover
from reconciler.read_and_plan import plan_fleet
from reconciler.review.collect import review_fleet
from tests.integration.conftest import P1, base_seed

DAY = 86400


def manifest(expires: str) -> str:
    return f"""\
org: org-demo
members:
  mode: additive
  users:
    alice: ADMIN
selfGrants:
  projects:
    - {{id: {P1}, expires: {expires}, reason: incident}}
"""


def plan_with_platform_offset(tmp_path: Path, offset_days: int, expires: str) -> list[str]:
    (tmp_path / "org-demo.yaml").write_text(manifest(expires))
    fleet = load_fleet([tmp_path])
    emulator = Emulator(seed=base_seed())
    emulator.control.set_clock_offset(offset_days * DAY)
    config = discover(
        env={
            "DX_APISERVER_PROTOCOL": "http",
            "DX_APISERVER_HOST": "127.0.0.1",
            "DX_APISERVER_PORT": "8124",
            "DX_SECURITY_CONTEXT": '{"auth_token_type":"Bearer","auth_token":"alice-token"}',
        },
        global_conf_dir=None,
    )
    with ReadClient(config, transport=emulator.transport(), retry=RetryPolicy()) as client:
        plan = plan_fleet(fleet, client, env={})
        # The report judges expiry by the same clock.
        report = review_fleet(fleet, client)
    emulator.close()
    (org,) = plan.orgs
    assert org.error is None, org.error
    assert report.generated_at[:10] == (datetime.now(UTC) + timedelta(days=offset_days)).strftime(
        "%Y-%m-%d"
    )
    return [a.kind for a in org.actions if a.target == P1 or P1 in a.summary]


def test_a_grant_expired_by_the_platforms_date_is_not_granted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    today = datetime.now(UTC).date().isoformat()
    # Its last day is today here, yesterday on the platform (a day ahead): expired.
    assert plan_with_platform_offset(tmp_path, +1, today) == []
    warnings = [r.getMessage() for r in caplog.records if "local clock" in r.getMessage()]
    assert warnings and "1 d" in warnings[0] and "behind the platform's" in warnings[0]


def test_a_grant_active_by_the_platforms_date_is_granted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    # Expired here, but its last day is today on the platform (a day behind): granted.
    assert plan_with_platform_offset(tmp_path, -1, yesterday) == ["grant-project"]
    warnings = [r.getMessage() for r in caplog.records if "local clock" in r.getMessage()]
    assert warnings and "ahead of the platform's" in warnings[0]


def test_a_clock_within_minutes_is_no_warning() -> None:
    assert clock_skew_warning(timedelta(minutes=4)) is None
    assert clock_skew_warning(timedelta(minutes=-4)) is None
    assert "6 min" in (clock_skew_warning(timedelta(minutes=-6)) or "")


def test_the_emulator_sends_its_clock_in_the_date_header(tmp_path: Path) -> None:
    emulator = Emulator(seed=base_seed())
    emulator.control.set_clock_offset(-3 * DAY)
    with emulator.serve() as server:
        response = httpx.post(
            f"{server.url}/system/whoami",
            json={},
            headers={"Authorization": "Bearer alice-token"},
        )
    emulator.close()
    dates = response.headers.get_list("Date")
    assert len(dates) == 1  # the server's own is replaced, not added to
    shown = parsedate_to_datetime(dates[0])
    assert abs(shown - (datetime.now(UTC) - timedelta(days=3))) < timedelta(minutes=1)
