"""The plan for a terminal: Terraform-like `+ ~ -` lines grouped by org, then a summary line."""

from __future__ import annotations

import json

from reconciler.plan import OrgPlan, Plan, Step

_COLOURS = {"+": "32", "~": "33", "-": "31", "!": "1;31", "warn": "35", "dim": "2"}
BODY_PREVIEW = 160


def _paint(text: str, colour: str, enabled: bool) -> str:
    return f"\x1b[{_COLOURS[colour]}m{text}\x1b[0m" if enabled else text


def summary_line(plan: Plan) -> str:
    counts = plan.counts()
    errors = sum(1 for o in plan.orgs if o.error)
    blocked = sum(1 for o in plan.orgs if o.blocking_violations)
    if plan.has_changes:
        text = f"Plan: {counts['+']} to add, {counts['~']} to change, {counts['-']} to remove."
    elif errors:
        text = "No changes in the orgs that could be planned."
    elif plan.left_out:
        text = "No changes to make."
    else:
        text = "No changes. The live orgs match the manifests."
    if plan.left_out:
        text += f" {plan.left_out} removal(s) left out (--skip-removals)."
    if errors:
        text += f" {errors} org(s) could not be planned."
    if blocked:
        text += f" {blocked} org(s) violate safety rails: the plan cannot be applied."
    return text


def call_text(step: Step, *, preview: int | None = BODY_PREVIEW) -> str:
    body = json.dumps(step.call.body, separators=(",", ":"))
    if preview is not None and len(body) > preview:
        body = body[:preview] + f"… ({len(body)} chars)"
    server = " [auth server]" if step.call.server == "auth" else ""
    return f"POST {step.call.route}{server} {body}"


def render_org(org: OrgPlan, *, colour: bool = False, full_bodies: bool = False) -> str:
    lines = [_paint(f"{org.org_id}", "dim", False) + f"  ({org.source}, as {org.caller})"]
    if org.error:
        lines.append(_paint(f"  ! error: {org.error}", "!", colour))
        return "\n".join(lines)
    if not org.actions:
        lines.append("  no changes")
    for action in org.actions:
        lines.append(_paint(f"  {action.symbol} {action.summary}", action.symbol, colour))
        lines.append(_paint(f"      why: {action.reason}", "dim", colour))
    for summary in org.left_out:
        lines.append(_paint(f"  (left out: --skip-removals) - {summary}", "dim", colour))
    if org.steps:
        lines.append("  API calls, in order:")
        for step in org.steps:
            after = f" (after {', '.join(step.depends_on)})" if step.depends_on else ""
            preview = None if full_bodies else BODY_PREVIEW
            lines.append(f"    {step.id} [{step.phase}] {call_text(step, preview=preview)}{after}")
    for violation in org.violations:
        state = " (overridden)" if violation.overridden else ""
        lines.append(_paint(f"  ! {violation.rule}{state}: {violation.message}", "!", colour))
    for warning in org.warnings:
        lines.append(_paint(f"  warning: {warning.message}", "warn", colour))
    return "\n".join(lines)


def render_text(plan: Plan, *, colour: bool = False, full_bodies: bool = False) -> str:
    parts = [render_org(org, colour=colour, full_bodies=full_bodies) for org in plan.orgs]
    if plan.overrides:
        parts.append(f"Overrides: {', '.join(plan.overrides)}")
    parts.append(summary_line(plan))
    return "\n\n".join(parts) + "\n"
