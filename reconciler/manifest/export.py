"""Live org -> manifest YAML, for bootstrapping a repo from what the platform has (pure).

The text is built line by line rather than by `yaml.safe_dump` so that each member can
carry their name as an end-of-line comment and keys follow the schema's order. Free text
(names, URLs) is quoted by PyYAML's own emitter; comments are scrubbed of line breaks and
characters YAML forbids. The output loads back (`loads_org`) to the live members,
policies and samlIdP exactly: `members.defaults` holds every permission flag (read-only
ones too), at the values most MEMBERs share; a MEMBER whose flags are those uses the level
shorthand, any other spells out the flags that differ. An ADMIN spells out a flag
independent of the level only when it is not the platform's default.

The forwarding token cannot be read back from the platform, so an enabled forwarding is
exported as `tokenEnv: <placeholder>`: the admin must export that variable before plan.

Departed users (the fleet's `departed` list) are never written back: they are left out,
and a comment says who was and why, so the file loads beside that defaults file.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

import yaml

from reconciler.manifest.build import departure_text
from reconciler.manifest.schema import ORG_SCHEMA, read_schema
from reconciler.model import (
    FLAGS,
    ORG_POLICY_KEYS,
    PROJECT_ACCESS_LEVELS,
    TOP_LEVEL_SETTINGS,
    Access,
    Departure,
    FlagValue,
    LiveMember,
    LiveOrg,
)
from reconciler.render import inert

# The schema file beside the manifest (dxorg export writes it there).
DEFAULT_SCHEMA_REF = ORG_SCHEMA
# The platform's invite defaults: preferred for `members.defaults` when counts tie.
_INVITE_DEFAULTS = Access.member().values
_PLAIN_KEY = re.compile(r"[a-z0-9][a-z0-9._-]*")
_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Line breaks (YAML 1.1 counts NEL and the Unicode separators) and anything YAML refuses.

Flags = tuple[FlagValue, ...]  # a MEMBER's flags, in the order of `model.FLAGS`


def render_manifest(
    live: LiveOrg,
    *,
    names: Mapping[str, str] | None = None,
    membership_mode: str = "authoritative",
    schema_ref: str = DEFAULT_SCHEMA_REF,
    departed: Mapping[str, Departure] | None = None,
    keep_admin: str | None = None,
    token_env: str | None = None,
) -> str:
    """The manifest for `live` as YAML text; deterministic, and never contains a token.
    `token_env` names its forwarding token's variable (default `token_env_placeholder`).

    `names` maps user ids to display names for the end-of-line comments (falling back to
    each LiveMember's own `name`). `schema_ref` is the `$schema` path editors resolve
    relative to where the file will be saved. Members in `departed` are left out.
    `keep_admin` (the token's user, for `dxorg init`), when an ADMIN of the org, is made
    `protected` and listed in `requiredAdmins`: the token that applies is never cut off.
    """
    if membership_mode not in ("authoritative", "additive"):
        raise ValueError(
            f"membership_mode must be authoritative or additive, not {membership_mode!r}"
        )
    lines = [
        f"# yaml-language-server: $schema={schema_ref}",
        f"# Exported from {_comment(live.org_id)} by dxorg. Sections left out are unmanaged.",
        f"org: {_plain_or_quoted(live.org_id, _PLAIN_ID)}",
    ]
    if live.name:
        lines.append(f"name: {_quoted(live.name)}")
    lines += _policies(live.policies)
    for setting in TOP_LEVEL_SETTINGS:
        # A value the schema does not admit (an empty samlIdP) stays unmanaged.
        value = _setting_value(live.settings.get(setting.name), _org_schema()[setting.name])
        if value is not None:
            lines.append(f"{setting.name}: {value}")
    gone = departed or {}
    lines += [
        f"# Left out: {_comment(user_id)} has departed ({_comment(departure_text(gone[user_id]))})."
        for user_id in sorted(live.members)
        if user_id in gone
    ]
    members = {u: m for u, m in live.members.items() if u not in gone}
    kept = (
        keep_admin
        if keep_admin in members and members[keep_admin].access.level == "ADMIN"
        else None
    )
    lines += _members(members, names or {}, membership_mode, kept)
    lines += _forwarding(live, token_env or token_env_placeholder(live.org_id))
    return "\n".join(lines) + "\n"


def _org_schema() -> dict[str, Any]:
    properties: dict[str, Any] = read_schema(ORG_SCHEMA)["properties"]
    return properties


def _setting_value(value: object, spec: Mapping[str, Any]) -> str | None:
    """An org setting's value as YAML, if the manifest schema admits it."""
    if spec.get("type") == "boolean" and isinstance(value, bool):
        return _bool(value)
    if isinstance(value, str) and value in spec.get("enum", ()):
        return value
    if (
        spec.get("type") == "string"
        and "enum" not in spec
        and isinstance(value, str)
        and len(value) >= spec.get("minLength", 0)
    ):
        return _quoted(value)
    return None


def _policies(policies: Mapping[str, object]) -> list[str]:
    allowed: dict[str, Any] = _org_schema()["policies"]["properties"]
    out: list[str] = []
    managed = False
    for key in ORG_POLICY_KEYS:
        if key not in policies:
            continue
        value = _setting_value(policies[key], allowed[key])
        if value is not None:
            out.append(f"  {key}: {value}")
            managed = True
        else:
            # A value this dxorg does not know stays unmanaged rather than invalid.
            out.append(f"  # {key}: {_comment(json.dumps(value))} is not a known value; unmanaged")
    if not managed:  # a `policies:` holding only comments would load as null
        return [line[2:] for line in out]
    return ["policies:", *out]


def _members(
    members: Mapping[str, LiveMember], names: Mapping[str, str], mode: str, kept: str | None
) -> list[str]:
    out = ["members:", f"  mode: {mode}"]
    if kept is not None:
        key = _user_key(kept)
        out += [
            "  # The API token's user: never removed, demoted or changed, and always an ADMIN.",
            f"  protected: [{key}]",
            f"  requiredAdmins: [{key}]",
        ]
    if not members and mode == "authoritative":
        out.append("  allowEmpty: true")
    defaults = _common_flags(members.values())
    if defaults is not None:
        out.append("  defaults:")
        out += [
            f"    {flag.name}: {_value(value)}" for flag, value in zip(FLAGS, defaults, strict=True)
        ]
    if not members:
        out.append("  users: {}")
        return out
    out.append("  users:")
    for user_id in sorted(members):
        member = members[user_id]
        entry = _entry(member, defaults)
        line = f"    {_user_key(user_id)}: {entry}"
        name = names.get(user_id) or member.name
        if name:
            line += f"  # {_comment(name)}"
        out.append(line)
    return out


def _entry(member: LiveMember, defaults: Flags | None) -> str:
    access = member.access
    if access.level == "ADMIN":
        base = Access.admin().values
        if access.values == base:
            return "ADMIN"
        parts = ["level: ADMIN"]
    else:
        base = defaults or _INVITE_DEFAULTS
        if access.values == base:
            return "MEMBER"
        parts = ["level: MEMBER"]
    for flag, value, default in zip(FLAGS, access.values, base, strict=True):
        if value != default:
            parts.append(f"{flag.name}: {_value(value)}")
    return "{" + ", ".join(parts) + "}"


def _common_flags(members: Any) -> Flags | None:
    """The most common MEMBER flags (ties: the invite defaults, then a fixed order)."""
    counts: Counter[Flags] = Counter(m.access.values for m in members if m.access.level == "MEMBER")
    if not counts:
        return None
    return max(
        counts,
        key=lambda flags: (
            counts[flags],
            flags == _INVITE_DEFAULTS,
            tuple(
                PROJECT_ACCESS_LEVELS.index(str(v)) if f.kind == "projectAccess" else bool(v)
                for f, v in zip(FLAGS, flags, strict=True)
            ),
        ),
    )


def _value(value: FlagValue) -> str:
    return _bool(value) if isinstance(value, bool) else value


def _forwarding(live: LiveOrg, token_env: str) -> list[str]:
    forwarding = live.forwarding
    if forwarding is None or not forwarding.url:
        return ["jobLogsForwarding: {disabled: true}"]
    return [
        "# The platform never returns the HEC token: set this environment variable to it",
        "# wherever dxorg runs (or rename it here).",
        "jobLogsForwarding:",
        f"  url: {_quoted(forwarding.url)}",
        f"  tokenEnv: {token_env}",
    ]


def token_env_placeholder(org_id: str) -> str:
    """`SPLUNK_HEC_TOKEN_DEMO` for org-demo: a valid variable name. Not unique by itself
    (org-lab.a and org-lab_a both give SPLUNK_HEC_TOKEN_LAB_A): `token_env_names`."""
    handle = org_id.removeprefix("org-").upper()
    return "SPLUNK_HEC_TOKEN_" + re.sub(r"[^A-Z0-9]", "_", handle)


def token_env_names(org_ids: Iterable[str]) -> dict[str, str]:
    """A forwarding token variable for each org, distinct across `org_ids`: the
    placeholder, and where two orgs' would be the same, each followed by a digest of its
    org id (one secret wired to two orgs would send one org's token to the other's URL)."""
    names = {org_id: token_env_placeholder(org_id) for org_id in sorted(set(org_ids))}
    for digits in (8, 64):  # 64: even a handle spelling another's digest cannot clash
        taken = Counter(names.values())
        clashing = [org_id for org_id, name in names.items() if taken[name] > 1]
        for org_id in clashing:
            digest = hashlib.sha256(org_id.encode()).hexdigest()[:digits].upper()
            names[org_id] = f"{token_env_placeholder(org_id)}_{digest}"
    return names


def _user_key(user_id: str) -> str:
    """The handle (`alice`) when it normalises back to `user_id`, else the id itself."""
    handle = user_id.removeprefix("user-")
    key = handle if handle != user_id and not handle.startswith("user-") else user_id
    return _plain_or_quoted(key, _PLAIN_KEY)


def _plain_or_quoted(text: str, plain: re.Pattern[str]) -> str:
    # Plain only when every YAML reader sees a string (`123`, `true`, `null` would not be).
    if plain.fullmatch(text) and _resolves_to_str(text):
        return text
    return _quoted(text)


def _resolves_to_str(text: str) -> bool:
    # The stubs leave `resolve` unannotated; it answers a tag name.
    resolve = cast(
        "Callable[[type[yaml.Node], str, tuple[bool, bool]], str]",
        yaml.resolver.Resolver().resolve,
    )
    return resolve(yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str"


def _quoted(text: str) -> str:
    dumped = yaml.safe_dump(text, default_style='"', width=1 << 30, allow_unicode=True)
    return dumped.rstrip("\n")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _comment(text: str) -> str:
    return inert.yaml_comment(text)
