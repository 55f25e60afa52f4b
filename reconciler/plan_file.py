"""The plan file: a versioned public format (schemas/plan.schema.json), written by
`plan --out` and `--format json` and read back by `apply --plan`. An edge: it reads files.

The one place a plan becomes JSON and JSON a plan. Reading a plan back validates it
against the schema first, then rebuilds each typed value (kinds, phases, object keys, each
action's change) and refuses what does not read back as exactly what it says, so
`apply --plan` never acts on a file it does not understand. `tests/core/test_plan_file.py`
proves, on generated plans, that what `dumps_plan` writes validates and loads equal.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import jsonschema

from reconciler.changes import change_from_json
from reconciler.errors import DxorgError
from reconciler.plan import (
    CHANGE_TYPES,
    FORMAT_VERSION,
    Action,
    ActionKind,
    ApiCall,
    DepartureCause,
    ExpiryCause,
    ObjectKey,
    OrgPlan,
    Phase,
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
                **_departure_json(person.departure),
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
                "kind": a.kind.value,
                "symbol": a.symbol,
                "target": a.target,
                "summary": a.summary,
                "reason": a.reason,
                "phase": a.phase.value,
                "touches": [str(key) for key in a.touches],
                "before": a.before,
                "after": a.after,
                "removals": list(a.removals),
                "departure": _departure_json(a.departure) if a.departure is not None else None,
                "expiry": _expiry_json(a.expiry) if a.expiry is not None else None,
            }
            for a in org.actions
        ],
        "steps": [
            {
                "id": s.id,
                "phase": s.phase.value,
                "call": _call_json(s.call),
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


def _departure_json(departure: DepartureCause) -> dict[str, object]:
    return {"where": departure.where, "since": departure.since, "reason": departure.reason}


def _expiry_json(expiry: ExpiryCause) -> dict[str, object]:
    return {"where": expiry.where, "expires": expiry.expires, "reason": expiry.reason}


def _call_json(call: ApiCall) -> dict[str, object]:
    out: dict[str, object] = {"route": call.route, "body": call.body}
    if call.server != "api":
        out["server"] = call.server
    return out


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
    try:
        return _plan_from_json(data)
    except _NotAPlan as exc:
        raise PlanFileError(f"{path}: not a dxorg plan: at {exc.where}: {exc}") from None


class _NotAPlan(ValueError):
    """A value the schema admits that is not one dxorg writes (a change of another shape
    than its kind's, an unknown object key), and where it is."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where


def _plan_from_json(data: dict[str, Any]) -> Plan:
    return Plan(
        orgs=tuple(_org_from_json(f"orgs/{i}", o) for i, o in enumerate(data["orgs"])),
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


def _key(where: str, text: str) -> ObjectKey:
    try:
        return ObjectKey.parse(text)
    except ValueError as exc:
        raise _NotAPlan(where, str(exc)) from None


def _keyed(where: str, values: dict[str, Any]) -> dict[str, Any]:
    for text in values:
        _key(f"{where}/{text}", text)
    return values


def _action_from_json(where: str, a: dict[str, Any]) -> Action:
    kind = ActionKind(a["kind"])
    try:
        change = change_from_json(CHANGE_TYPES[kind], a["before"], a["after"])
    except ValueError as exc:
        raise _NotAPlan(
            where, f"before and after are not those of a {kind} action: {exc}"
        ) from None
    return Action(
        id=a["id"],
        kind=kind,
        symbol=a["symbol"],
        target=a["target"],
        summary=a["summary"],
        reason=a["reason"],
        phase=Phase(a["phase"]),
        touches=tuple(_key(f"{where}/touches/{i}", t) for i, t in enumerate(a["touches"])),
        change=change,
        removals=tuple(a["removals"]),
        departure=_departure_from_json(f"{where}/departure", a["departure"]),
        expiry=_expiry_from_json(f"{where}/expiry", a.get("expiry")),
    )


def _departure_from_json(where: str, data: dict[str, Any] | None) -> DepartureCause | None:
    if data is None:
        return None
    _all_of(where, data, "where", "since", "reason")
    return DepartureCause(data["where"], data["since"], data["reason"])


def _expiry_from_json(where: str, data: dict[str, Any] | None) -> ExpiryCause | None:
    if data is None:
        return None
    _all_of(where, data, "where", "expires", "reason")
    return ExpiryCause(data["where"], data["expires"], data["reason"])


def _all_of(where: str, data: dict[str, Any], *keys: str) -> None:
    # The schema admits a key left out; dxorg writes every one.
    if set(data) != set(keys):
        raise _NotAPlan(where, f"expected the keys {', '.join(keys)}, not {', '.join(data)}")


def _org_from_json(where: str, data: dict[str, Any]) -> OrgPlan:
    return OrgPlan(
        org_id=data["org"],
        source=data["source"],
        caller=data["caller"],
        error=data["error"],
        actions=tuple(
            _action_from_json(f"{where}/actions/{i}", a) for i, a in enumerate(data["actions"])
        ),
        steps=tuple(
            Step(
                id=s["id"],
                phase=Phase(s["phase"]),
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
        live_values=_keyed(f"{where}/liveValues", data["liveValues"]),
        manifests=data["manifests"],
        fingerprints=_keyed(f"{where}/fingerprints", data["fingerprints"]),
    )
