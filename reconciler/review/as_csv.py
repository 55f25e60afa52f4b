"""The report as CSV: one row per user and org, columns documented in docs/report.md.

The column names are stable; one column per permission flag comes from the report's
flag list, so a flag the model gains adds its column after the existing flag columns.
A cell that a spreadsheet would run as a formula (it starts with = + - @ or a tab) is
prefixed with an apostrophe, and control characters are written as their escapes
(render.inert.csv_cell): names come from the platform, and an audit file must not
execute anything when an auditor opens it.
"""

from __future__ import annotations

import csv
import io

from reconciler.render import inert
from reconciler.review.value import (
    AccessReport,
    Approval,
    DepartedPresence,
    HeldGrant,
    MemberReview,
    OrgReview,
)

LEADING_COLUMNS: tuple[str, ...] = (
    "org",
    "org_name",
    "membership",
    "user",
    "name",
    "status",
    "level",
)
TRAILING_COLUMNS: tuple[str, ...] = (
    "declared_at",
    "line_state",
    "commit",
    "author",
    "author_email",
    "date",
    "subject",
    "approval",
    "approval_flags",
    "pull_request",
    "pull_author",
    "approvers",
    "merged_at",
    "inherited",
    "unmanaged_flags",
    "drift",
    "departed",
    "membership_ends",
    "self_grants",
    "provisioned_at",
    "departure_merged_at",
    "removed_at",
    "removal_delay_seconds",
    "error",
)


def columns(report: AccessReport) -> list[str]:
    return [*LEADING_COLUMNS, *report.flags, *TRAILING_COLUMNS]


def _cell(value: object) -> str:
    return inert.csv_cell(value)


def _grant(grant: HeldGrant) -> str:
    text = f"{grant.kind} {grant.object_id} ({grant.name}) {grant.level}"
    if grant.expires:
        text += f" until {grant.expires} ({grant.days_left} days left, {grant.state})"
    return text + (f": {grant.reason}" if grant.reason else "")


def _approval(approval: Approval | None) -> dict[str, object]:
    if approval is None:
        return {}
    pull = approval.pull
    return {
        "approval": approval.state,
        "approval_flags": " ".join(approval.flags),
        "pull_request": pull.url or f"#{pull.number}" if pull else None,
        "pull_author": pull.author if pull else None,
        "approvers": " ".join(approval.approvers),
        "merged_at": pull.merged_at if pull else None,
    }


def _merged_at(presence: DepartedPresence) -> str | None:
    approval = presence.approval
    return approval.pull.merged_at if approval and approval.pull else None


def _row(report: AccessReport, org: OrgReview, member: MemberReview) -> dict[str, object]:
    live = member.live or {}
    origin = member.declared.origin if member.declared else None
    return {
        "org": org.org_id,
        "org_name": org.name,
        "membership": org.mode or "unmanaged",
        "user": member.user_id,
        "name": member.name,
        "status": member.status,
        "level": live.get("level"),
        **{flag: live.get(flag) for flag in report.flags},
        "declared_at": member.declared,
        "line_state": origin.state if origin else None,
        "commit": origin.commit if origin else None,
        "author": origin.author if origin else None,
        "author_email": origin.email if origin else None,
        "date": origin.date if origin else None,
        "subject": origin.subject if origin else None,
        **_approval(member.approval),
        "inherited": "; ".join(
            f"{f.name}={_cell(f.manifest)} from {f.where}" for f in member.inherited
        ),
        "unmanaged_flags": " ".join(member.unmanaged_flags),
        "drift": member.drift.summary if member.drift else None,
        "departed": member.departed.describe() if member.departed else None,
        "membership_ends": (
            f"{member.membership_ends.describe()} ({member.membership_ends.state})"
            if member.membership_ends
            else None
        ),
        "self_grants": "; ".join(_grant(g) for g in member.self_grants),
        "provisioned_at": member.provisioned,
    }


def render_report_csv(report: AccessReport) -> str:
    names = columns(report)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    departed = {p.departure.user_id: p for p in report.departed}
    for org, member in report.members:
        row = _row(report, org, member)
        presence = departed.get(member.user_id)
        if member.departed and presence:
            row["departure_merged_at"] = _merged_at(presence)
        writer.writerow([_cell(row.get(name)) for name in names])
    # A departed user no longer a member has no member row: one row per org a journal
    # shows them removed from, with the time it took.
    for presence in report.departed:
        for removal in presence.removals:
            if removal.state != "removed":
                continue
            row = {
                "org": removal.org_id,
                "user": presence.departure.user_id,
                "status": "removed",
                "departed": presence.departure.describe(),
                "departure_merged_at": _merged_at(presence),
                "removed_at": removal.removed_at,
                "removal_delay_seconds": removal.delay_seconds,
            }
            writer.writerow([_cell(row.get(name)) for name in names])
    # An org that could not be read still gets a row: the file must not look complete.
    for org in report.orgs:
        if org.error:
            row = {"org": org.org_id, "status": "not-read", "error": org.error}
            writer.writerow([_cell(row.get(name)) for name in names])
    return out.getvalue()
