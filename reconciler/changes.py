"""What one action changes, typed per kind of action. Pure.

An action's change says, in the model's own types, what the object is before and what it
is after: the steps read it to build the calls, the rails to replay the admin count. Each
type also writes (and reads back) the JSON form a plan file and the reviews show as the
action's `before` and `after`: `before_json`, `after_json` and `from_json`, which
`change_from_json` checks by writing the value it read back out again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.access_rules import access_from_json, access_json
from reconciler.model import Access

Json = dict[str, object]


def _keys(value: Mapping[str, object] | None, *keys: str) -> Mapping[str, object]:
    if value is None or set(value) != set(keys):
        raise ValueError(f"expected the keys {sorted(keys)}, not {value!r}")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


def _texts(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"{value!r} is not a list")
    return tuple(_text(v) for v in value)


def _absent(value: Mapping[str, object] | None) -> None:
    if value is not None:
        raise ValueError(f"expected null, not {value!r}")


def _present(value: Json | None) -> Json:
    if value is None:
        raise ValueError("expected a value, not null")
    return value


@dataclass(frozen=True, slots=True)
class MemberInvitation:
    """Someone not a member invited, to end with this access."""

    access: Access

    def before_json(self) -> Json | None:
        return None

    def after_json(self) -> Json | None:
        return access_json(self.access)

    @classmethod
    def from_json(cls, before: Json | None, after: Json | None) -> MemberInvitation:
        _absent(before)
        return cls(access_from_json(_present(after)))


@dataclass(frozen=True, slots=True)
class MemberAccessChange:
    """A member's complete access, before and after (promoted, updated or demoted)."""

    before: Access
    after: Access

    def before_json(self) -> Json | None:
        return access_json(self.before)

    def after_json(self) -> Json | None:
        return access_json(self.after)

    @classmethod
    def from_json(cls, before: Json | None, after: Json | None) -> MemberAccessChange:
        return cls(access_from_json(_present(before)), access_from_json(_present(after)))


@dataclass(frozen=True, slots=True)
class MemberRemoval:
    """A member removed, who had this access."""

    access: Access

    def before_json(self) -> Json | None:
        return access_json(self.access)

    def after_json(self) -> Json | None:
        return None

    @classmethod
    def from_json(cls, before: Json | None, after: Json | None) -> MemberRemoval:
        _absent(after)
        return cls(access_from_json(_present(before)))


@dataclass(frozen=True, slots=True)
class AccountChange:
    """A provisioning entry's account, created and invited (or, existing and shown to be
    the entry's, invited) with this access."""

    access: Access
    set_bill_to: bool

    def before_json(self) -> Json | None:
        return None

    def after_json(self) -> Json | None:
        return {**access_json(self.access), "setBillTo": self.set_bill_to}

    @classmethod
    def from_json(cls, before: Json | None, after: Json | None) -> AccountChange:
        _absent(before)
        if after is None or not isinstance(after.get("setBillTo"), bool):
            raise ValueError(f"expected an access and setBillTo, not {after!r}")
        access = {k: v for k, v in after.items() if k != "setBillTo"}
        return cls(access_from_json(access), bool(after["setBillTo"]))


@dataclass(frozen=True, slots=True)
class OrgSettingChange:
    """One of the org's own settings (`ORG_SETTINGS`, by API name): its value, live and wanted."""

    setting: str
    before: object
    after: object

    def before_json(self) -> Json | None:
        return {self.setting: self.before}

    def after_json(self) -> Json | None:
        return {self.setting: self.after}

    @classmethod
    def from_json(cls, before: Json | None, after: Json | None) -> OrgSettingChange:
        if before is None or after is None or len(after) != 1 or set(before) != set(after):
            raise ValueError(f"expected one setting, before and after, not {before!r}, {after!r}")
        (setting,) = after
        return cls(setting, before[setting], after[setting])


@dataclass(frozen=True, slots=True)
class ProjectGrantChange:
    """ADMINISTER for the token's user on a project, which holds `level` before the grant
    (recorded on the project, for the grant's expiry)."""

    level: str

    def before_json(self) -> Json | None:
        return {"level": self.level}

    def after_json(self) -> Json | None:
        return {"level": "ADMINISTER", "recorded": self.level}

    @classmethod
    def from_json(cls, before: Json | None, after: Json | None) -> ProjectGrantChange:
        return cls(_text(_keys(before, "level")["level"]))


@dataclass(frozen=True, slots=True)
class ProjectRevocationChange:
    """A self-grant taken back: the project's `level` (ADMINISTER) back to `recorded`."""

    level: str
    recorded: str

    def before_json(self) -> Json | None:
        return {"level": self.level, "recorded": self.recorded}

    def after_json(self) -> Json | None:
        return {"level": self.recorded}

    @classmethod
    def from_json(cls, before: Json | None, after: Json | None) -> ProjectRevocationChange:
        was = _keys(before, "level", "recorded")
        return cls(_text(was["level"]), _text(was["recorded"]))


@dataclass(frozen=True, slots=True)
class GrantRecordClearing:
    """The record of a self-grant that is over cleared; the access (`level`) stays."""

    level: str
    recorded: str

    def before_json(self) -> Json | None:
        return {"level": self.level, "recorded": self.recorded}

    def after_json(self) -> Json | None:
        return {"level": self.level, "recorded": None}

    @classmethod
    def from_json(cls, before: Json | None, after: Json | None) -> GrantRecordClearing:
        was = _keys(before, "level", "recorded")
        return cls(_text(was["level"]), _text(was["recorded"]))


@dataclass(frozen=True, slots=True)
class AppGrantChange:
    """The token's user made a developer of an app (and the app tagged with the record)."""

    developers: tuple[str, ...]
    developers_after: tuple[str, ...]

    def before_json(self) -> Json | None:
        return {"developers": list(self.developers)}

    def after_json(self) -> Json | None:
        return {"developers": list(self.developers_after), "recorded": True}

    @classmethod
    def from_json(cls, before: Json | None, after: Json | None) -> AppGrantChange:
        was = _keys(before, "developers")
        will = _keys(after, "developers", "recorded")
        return cls(_texts(was["developers"]), _texts(will["developers"]))


@dataclass(frozen=True, slots=True)
class AppRevocationChange:
    """The token's user, made a developer by a self-grant that is over, no longer one."""

    developers: tuple[str, ...]
    developers_after: tuple[str, ...]

    def before_json(self) -> Json | None:
        return {"developers": list(self.developers), "recorded": True}

    def after_json(self) -> Json | None:
        return {"developers": list(self.developers_after)}

    @classmethod
    def from_json(cls, before: Json | None, after: Json | None) -> AppRevocationChange:
        was = _keys(before, "developers", "recorded")
        will = _keys(after, "developers")
        return cls(_texts(was["developers"]), _texts(will["developers"]))


@dataclass(frozen=True, slots=True)
class ProjectSettingsChange:
    """The restriction settings project policies require, raised from false to true on a
    project read at `version`, where the token's user has `level`."""

    settings: tuple[str, ...]
    version: int | None
    level: str
    irreversible: tuple[str, ...]

    def before_json(self) -> Json | None:
        return {
            "settings": {s: False for s in self.settings},
            "version": self.version,
            "level": self.level,
        }

    def after_json(self) -> Json | None:
        return {
            "settings": {s: True for s in self.settings},
            "irreversible": list(self.irreversible),
        }

    @classmethod
    def from_json(cls, before: Json | None, after: Json | None) -> ProjectSettingsChange:
        was = _keys(before, "settings", "version", "level")
        will = _keys(after, "settings", "irreversible")
        settings = was["settings"]
        version = was["version"]
        if not isinstance(settings, dict) or (version is not None and type(version) is not int):
            raise ValueError(f"expected settings and a version, not {before!r}")
        return cls(
            tuple(_text(s) for s in settings),
            version,
            _text(was["level"]),
            _texts(will["irreversible"]),
        )


@dataclass(frozen=True, slots=True)
class ForwardingState:
    """Job-log forwarding as planned from: the URL and the sha256 of the token."""

    url: str | None
    token_signature: str | None

    def to_json(self) -> Json:
        return {"url": self.url, "tokenSignature": self.token_signature}

    @classmethod
    def from_json(cls, value: Json | None) -> ForwardingState:
        shown = _keys(value, "url", "tokenSignature")
        url, signature = shown["url"], shown["tokenSignature"]
        return cls(
            None if url is None else _text(url), None if signature is None else _text(signature)
        )


@dataclass(frozen=True, slots=True)
class ForwardingSetting:
    """Job-log forwarding set up (nothing before) or changed."""

    before: ForwardingState | None
    after: ForwardingState

    def before_json(self) -> Json | None:
        return self.before.to_json() if self.before is not None else None

    def after_json(self) -> Json | None:
        return self.after.to_json()

    @classmethod
    def from_json(cls, before: Json | None, after: Json | None) -> ForwardingSetting:
        return cls(
            ForwardingState.from_json(before) if before is not None else None,
            ForwardingState.from_json(_present(after)),
        )


@dataclass(frozen=True, slots=True)
class ForwardingRemoval:
    """Job-log forwarding turned off."""

    before: ForwardingState

    def before_json(self) -> Json | None:
        return self.before.to_json()

    def after_json(self) -> Json | None:
        return None

    @classmethod
    def from_json(cls, before: Json | None, after: Json | None) -> ForwardingRemoval:
        _absent(after)
        return cls(ForwardingState.from_json(_present(before)))


Change = (
    MemberInvitation
    | MemberAccessChange
    | MemberRemoval
    | AccountChange
    | OrgSettingChange
    | ProjectGrantChange
    | ProjectRevocationChange
    | GrantRecordClearing
    | AppGrantChange
    | AppRevocationChange
    | ProjectSettingsChange
    | ForwardingSetting
    | ForwardingRemoval
)


def change_from_json(types: tuple[type[Change], ...], before: Any, after: Any) -> Change:
    """The change of one of `types` whose JSON form is exactly `before` and `after`."""
    problems = []
    for change_type in types:
        try:
            change: Change = change_type.from_json(before, after)
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(str(exc))
            continue
        if _exactly(change.before_json(), before) and _exactly(change.after_json(), after):
            return change
        problems.append("other keys or values than it writes")
    raise ValueError("; ".join(problems))


def _exactly(written: object, read: object) -> bool:
    # Compared as JSON text, so that 1 is not taken for true.
    return json.dumps(written, sort_keys=True) == json.dumps(read, sort_keys=True)
