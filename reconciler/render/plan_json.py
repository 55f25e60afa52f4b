"""The JSON plan: a versioned public format (schemas/plan.schema.json) that is also the saved-plan file.

Reading a plan back validates it against the schema first, so `apply --plan` never
acts on a file it does not understand.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import jsonschema

from reconciler.errors import DxorgError
from reconciler.plan import (
    FORMAT_VERSION,
    Action,
    ApiCall,
    OrgPlan,
    Plan,
    PlanWarning,
    PlatformIdentity,
    Step,
    Violation,
)

# Package data, so an installed wheel finds it wherever it runs.
SCHEMA_PATH: Traversable = files("reconciler") / "schemas" / "plan.schema.json"


class PlanFileError(DxorgError):
    pass


# A plan of 50,000 changes is tens of MB; anything far bigger is not one of dxorg's.
MAX_PLAN_BYTES = 256 * 2**20


@cache
def plan_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def plan_to_json(plan: Plan) -> dict[str, Any]:
    return {
        "formatVersion": plan.format_version,
        "createdAt": plan.created_at,
        "toolVersion": plan.tool_version,
        "platform": {
            "apiServer": plan.platform.api_server,
            "sandboxState": plan.platform.sandbox_state,
            "user": plan.platform.user,
        },
        "overrides": list(plan.overrides),
        "skipRemovals": plan.skip_removals,
        "onlyExpiries": plan.only_expiries,
        "applyable": plan.applyable,
        "counts": _counts(plan.counts()),
        "offboarding": [
            {
                "user": person.user_id,
                **dict(person.departure),
                "removals": [{"org": org_id, "action": a.id} for org_id, a in person.removals],
            }
            for person in plan.offboarding()
        ],
        "orgs": [_org_json(org) for org in plan.orgs],
        **({"root": plan.root} if plan.root is not None else {}),
    }


def _counts(counts: dict[str, int]) -> dict[str, int]:
    return {"add": counts["+"], "change": counts["~"], "remove": counts["-"]}


def _org_json(org: OrgPlan) -> dict[str, Any]:
    return {
        "org": org.org_id,
        "source": org.source,
        "caller": org.caller,
        "applyable": org.applyable,
        "error": org.error,
        "counts": _counts(org.counts()),
        "actions": [
            {
                "id": a.id,
                "kind": a.kind,
                "symbol": a.symbol,
                "target": a.target,
                "summary": a.summary,
                "reason": a.reason,
                "phase": a.phase,
                "touches": list(a.touches),
                "before": a.before,
                "after": a.after,
                "removals": list(a.removals),
                "departure": dict(a.departure) if a.departure is not None else None,
                "expiry": dict(a.expiry) if a.expiry is not None else None,
            }
            for a in org.actions
        ],
        "steps": [
            {
                "id": s.id,
                "phase": s.phase,
                "call": s.call.to_json(),
                "actions": list(s.actions),
                "dependsOn": list(s.depends_on),
            }
            for s in org.steps
        ],
        "violations": [
            {"rule": v.rule, "message": v.message, "step": v.step, "overridden": v.overridden}
            for v in org.violations
        ],
        "warnings": [{"code": w.code, "message": w.message} for w in org.warnings],
        "leftOut": list(org.left_out),
        "unresolved": list(org.unresolved),
        "liveValues": dict(org.live_values),
        "manifests": dict(org.manifests),
        "fingerprints": dict(org.fingerprints),
    }


def dumps_plan(plan: Plan) -> str:
    return json.dumps(plan_to_json(plan), indent=2, sort_keys=False) + "\n"


def load_plan(path: Path) -> Plan:
    """Read a saved plan, refusing anything that does not match the schema."""
    try:
        size = path.stat().st_size
        if size > MAX_PLAN_BYTES:
            raise PlanFileError(
                f"{path}: {size} bytes; a plan file may be at most {MAX_PLAN_BYTES // 2**20} MiB"
            )
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(f"{path}: cannot read the plan file: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from exc
    except RecursionError:
        raise PlanFileError(f"{path}: not a dxorg plan: nested too deeply") from None
    if not isinstance(data, dict):
        raise PlanFileError(f"{path}: not a dxorg plan: the top level is not an object")
    version = data.get("formatVersion")
    if isinstance(version, str) and version.split(".")[0] != FORMAT_VERSION.split(".")[0]:
        raise PlanFileError(
            f"{path}: plan format {version} is not supported (this dxorg "
            f"writes {FORMAT_VERSION}): plan again with this dxorg"
        )
    errors = sorted(
        jsonschema.Draft202012Validator(plan_schema()).iter_errors(data), key=lambda e: list(e.path)
    )
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise PlanFileError(f"{path}: not a dxorg plan: at {where}: {first.message}")
    return Plan(
        orgs=tuple(_org_from_json(o) for o in data["orgs"]),
        created_at=data["createdAt"],
        tool_version=data["toolVersion"],
        platform=PlatformIdentity(
            api_server=data["platform"]["apiServer"],
            user=data["platform"]["user"],
            sandbox_state=data["platform"]["sandboxState"],
        ),
        overrides=tuple(data["overrides"]),
        skip_removals=data["skipRemovals"],
        only_expiries=data.get("onlyExpiries", False),
        format_version=data["formatVersion"],
        root=data.get("root"),
    )


def _org_from_json(data: dict[str, Any]) -> OrgPlan:
    return OrgPlan(
        org_id=data["org"],
        source=data["source"],
        caller=data["caller"],
        error=data["error"],
        actions=tuple(
            Action(
                id=a["id"],
                kind=a["kind"],
                symbol=a["symbol"],
                target=a["target"],
                summary=a["summary"],
                reason=a["reason"],
                phase=a["phase"],
                touches=tuple(a["touches"]),
                before=a["before"],
                after=a["after"],
                removals=tuple(a["removals"]),
                departure=a["departure"],
                expiry=a.get("expiry"),
            )
            for a in data["actions"]
        ),
        steps=tuple(
            Step(
                id=s["id"],
                phase=s["phase"],
                call=ApiCall(s["call"]["route"], s["call"]["body"], s["call"].get("server", "api")),
                actions=tuple(s["actions"]),
                depends_on=tuple(s["dependsOn"]),
            )
            for s in data["steps"]
        ),
        violations=tuple(
            Violation(v["rule"], v["message"], v["step"], v["overridden"])
            for v in data["violations"]
        ),
        warnings=tuple(PlanWarning(w["code"], w["message"]) for w in data["warnings"]),
        left_out=tuple(data["leftOut"]),
        unresolved=tuple(data.get("unresolved", ())),
        live_values=data["liveValues"],
        manifests=data["manifests"],
        fingerprints=data["fingerprints"],
    )
