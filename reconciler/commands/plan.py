"""`plan`: the ordered API calls that would make the live orgs match the manifests.

Read-only. The accounts earlier applies created (the state directory's journal and the
journals restored beside it) are evidence for planning, exactly as apply reads them, so
the plan apply proves is the one shown here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.commands.doctor import DoctorRequest, examine_fleet
from reconciler.commands.platform import PlatformRequest
from reconciler.commands.validate import Manifests
from reconciler.errors import DxorgError

if TYPE_CHECKING:
    from reconciler.doctor_verdict import DoctorReport
    from reconciler.manifest import Fleet
    from reconciler.plan import Plan
    from reconciler.platform import Connection


@dataclass(frozen=True)
class PlanRequest:
    manifests: Manifests
    platform: PlatformRequest
    only: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()
    skip_removals: bool = False
    only_expiries: bool = False
    journal: Path | None = None  # default: journal.jsonl in the state directory
    save_to: Path | None = None  # the JSON plan, for apply --plan (paths relative to the root)
    # Run the doctor first: where a plan would mislead (the platform answers differently
    # from what dxorg reads, the server or the token is wrong), none is made.
    doctor_first: bool = False
    # The plan's JSON, for a presenter that prints it (made once, with `save_to`'s).
    want_json: bool = False


@dataclass(frozen=True)
class Planned:
    plan: Plan | None  # None: the doctor stopped planning
    doctor: DoctorReport | None = None
    saved: Path | None = None
    json: str = ""


def check_overrides(overrides: tuple[str, ...]) -> None:
    from reconciler.planner import OVERRIDABLE_RULES

    unknown = sorted(set(overrides) - set(OVERRIDABLE_RULES))
    if unknown:
        raise DxorgError(
            f"--override {', '.join(unknown)}: not an overridable rule "
            f"(choose from {', '.join(OVERRIDABLE_RULES)})"
        )


def plan(request: PlanRequest) -> Planned:
    from reconciler.config_repo import plan_for_file
    from reconciler.plan_file import dumps_plan

    check_overrides(request.overrides)
    fleet = request.manifests.load()
    doctor = None
    if request.doctor_first:
        doctor = examine_fleet(
            DoctorRequest(
                request.platform, request.manifests, request.only, config_error_as_check=False
            ),
            fleet,
        )
        if doctor.stops_planning:
            return Planned(None, doctor)
    root = request.manifests.root_for(request.platform)
    connection = request.platform.connection(root)
    made = plan_loaded(request, fleet, connection, created_accounts(request, connection))
    # As JSON (saved or printed), its manifest paths are relative to the config
    # repository's root, so apply --plan finds them from any directory. A big plan's JSON
    # takes a while to write: once, when both want it.
    wanted = request.save_to is not None or request.want_json
    text = dumps_plan(plan_for_file(made, root)) if wanted else ""
    saved = None
    if request.save_to is not None:
        request.save_to.parent.mkdir(parents=True, exist_ok=True)
        request.save_to.write_text(text, encoding="utf-8")
        saved = request.save_to.resolve()
    return Planned(made, doctor, saved, text if request.want_json else "")


def created_accounts(request: PlanRequest, connection: Connection) -> dict[str, str]:
    """Accounts earlier applies created on this platform, from the journals in the state
    directory: an invite a stopped run left undone is planned again."""
    from reconciler.apply.journal import created_accounts as created_in
    from reconciler.config_repo import evidence_journals
    from reconciler.read_and_plan import platform_where

    root = request.manifests.root_for(request.platform)
    journals = evidence_journals(
        request.platform.journals_state(root), request.platform.journal(root, request.journal)
    )
    return created_in(journals, platform_where(connection.config))


def plan_loaded(
    request: PlanRequest, fleet: Fleet, connection: Connection, created: dict[str, str]
) -> Plan:
    """The plan of an already loaded fleet (apply without --plan plans this way too)."""
    from reconciler.read_and_plan import plan_fleet

    with connection.read_client() as client:
        return plan_fleet(
            fleet,
            client,
            only=request.only or None,
            overrides=request.overrides,
            skip_removals=request.skip_removals,
            only_expiries=request.only_expiries,
            env=request.platform.env,
            created_accounts=created,
        )
