"""The plan for a terminal: Terraform-like `+ ~ -` lines grouped by org, then a summary line.

`styled_text` carries the colours as rich styles; the console that prints it decides whether
to show them (not when NO_COLOR is set, TERM=dumb, or the output is not a terminal).
`render_text` is the same text without styles.

Every foreign value (names, ids, reasons, messages: see render.inert) is written through
`inert.terminal`, so none can move the cursor, erase a line or fake one; rich prints the
text as given (Text objects, no markup parsed).
"""

from __future__ import annotations

import json

from rich.text import Text

from reconciler.plan import OrgPlan, Plan, Step
from reconciler.render import inert
from reconciler.render.offboarding import offboarding_text

STYLES = {"+": "green", "~": "yellow", "-": "red", "!": "bold red", "warn": "magenta", "dim": "dim"}


def summary_line(plan: Plan) -> str:
    counts = plan.counts()
    errors = sum(1 for o in plan.orgs if o.error)
    blocked = sum(1 for o in plan.orgs if o.blocking_violations)
    if plan.has_changes:
        text = f"Plan: {counts['+']} to add, {counts['~']} to change, {counts['-']} to remove."
    elif errors and errors == len(plan.orgs):
        # Not "no changes": nothing is known about any org (its error is shown above).
        text = f"No org could be planned ({errors} org(s), the errors above): nothing is known."
    elif errors:
        text = "No changes in the orgs that could be planned."
    elif plan.left_out or plan.unresolved or plan.unchecked:
        text = "No changes to make."
    else:
        text = "No changes. The live orgs match the manifests."
    if plan.left_out:
        what = "removal(s)" if plan.left_out_by == "--skip-removals" else "change(s)"
        text += f" {plan.left_out} {what} left out ({plan.left_out_by})."
    if plan.unresolved:
        text += f" {plan.unresolved} difference(s) dxorg does not change: a person must."
    unchecked = sum(1 for o in plan.orgs if o.unchecked)
    if unchecked:
        text += (
            f" Job-log forwarding was not checked in {unchecked} org(s): its token variable "
            "is unset (see the warnings)."
        )
    if errors and errors < len(plan.orgs):
        text += f" {errors} org(s) could not be planned."
    if blocked and not errors and any(o.has_changes and o.applyable for o in plan.orgs):
        # Apply refuses each such org on its own and applies the others.
        names = ", ".join(inert.terminal(o.org_id) for o in plan.orgs if o.blocking_violations)
        text += (
            f" {blocked} org(s) violate safety rails and cannot be applied ({names}); apply "
            "makes the other orgs' changes."
        )
    elif blocked:
        text += f" {blocked} org(s) violate safety rails: the plan cannot be applied."
    return text


def platform_line(plan: Plan) -> str:
    """Where the plan was read from, and as whom: apply --plan refuses it anywhere else."""
    return f"Platform: {plan.platform.describe()}"


def call_text(step: Step, *, preview: int | None = None) -> str:
    """The exact call, its whole body (what the README promises a reviewer sees) unless a
    `preview` length is given (a pull-request comment has a size limit)."""
    body = json.dumps(step.call.body, separators=(",", ":"))
    if preview is not None and len(body) > preview:
        body = body[:preview] + f"… ({len(body)} chars)"
    server = " [auth server]" if step.call.server == "auth" else ""
    # The body is JSON with every non-ASCII character escaped; the route holds ids.
    return f"POST {inert.terminal(step.call.route)}{server} {body}"


def step_label(org: OrgPlan, step: Step) -> str:
    """What a step does, by the kinds of the actions it serves (`promote`, `grant-project`),
    not the phase it is sent in (a promotion is sent with the invitations)."""
    kinds = {a.id: a.kind for a in org.actions}
    return ",".join(dict.fromkeys(kinds.get(a, step.phase) for a in step.actions)) or step.phase


def styled_org(org: OrgPlan, *, left_out_by: str = "--skip-removals") -> Text:
    out = Text()

    def line(text: str, style: str | None = None) -> None:
        if out:
            out.append("\n")
        out.append(text, style=STYLES[style] if style else None)

    t = inert.terminal
    line(f"{t(org.org_id)}  ({t(org.source)}, as {t(org.caller)})")
    if org.error:
        line(f"  ! error: {t(org.error, limit=inert.MESSAGE_LIMIT)}", "!")
        return out
    if not org.actions and not org.unresolved:
        line("  no changes (forwarding not checked)" if org.unchecked else "  no changes")
    for action in org.actions:
        line(f"  {action.symbol} {t(action.summary)}", action.symbol)
        line(f"      why: {t(action.reason)}", "dim")
    for summary in org.left_out:
        line(f"  (left out: {left_out_by}) - {t(summary)}", "dim")
    for drift in org.unresolved:
        line(f"  ! drift dxorg does not change: {t(drift, limit=inert.MESSAGE_LIMIT)}", "!")
    if org.steps:
        line("  API calls, in order:")
        for step in org.steps:
            after = f" (after {t(', '.join(step.depends_on))})" if step.depends_on else ""
            call = call_text(step)
            line(f"    {t(step.id)} [{t(step_label(org, step))}] {call}{after}")
    for violation in org.violations:
        state = " (overridden)" if violation.overridden else ""
        line(
            f"  ! {t(violation.rule)}{state}: {t(violation.message, limit=inert.MESSAGE_LIMIT)}",
            "!",
        )
    for warning in org.warnings:
        line(f"  warning: {t(warning.message, limit=inert.MESSAGE_LIMIT)}", "warn")
    return out


def styled_text(plan: Plan) -> Text:
    offboarding = offboarding_text(plan)
    # Departures first: one decision for the whole fleet, reviewed as one.
    parts = [Text(platform_line(plan))]
    parts += [Text("\n".join(offboarding), style=STYLES["-"])] if offboarding else []
    # Whole bodies: on a terminal the CLI crops each line to the screen (cli._show_plan).
    parts += [styled_org(org, left_out_by=plan.left_out_by) for org in plan.orgs]
    if plan.overrides:
        parts.append(Text(f"Overrides: {inert.terminal(', '.join(plan.overrides))}"))
    parts.append(Text(summary_line(plan)))
    return Text("\n\n").join(parts).append("\n")


def render_text(plan: Plan) -> str:
    return styled_text(plan).plain
