"""Seeds: validate against ``seed.schema.json`` (shipped in ``reconciler/schemas/``), check references, load in bulk.

Also the reverse, ``dump_state``: the whole state in the seed's shape (without tokens),
for tests and for ``GET /_emulator/state``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Mapping
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import yaml

from reconciler.emulator.access import (
    ADMIN_FORCED,
    FLAG_COLUMNS,
    MEMBER_COLUMNS,
    Membership,
    membership_from_row,
)
from reconciler.emulator.ids import stable_id

# Package data (the schemas directory beside this package), so an installed wheel finds it.
SCHEMA_PATH: Traversable = files("reconciler") / "schemas" / "seed.schema.json"
DEFAULT_POLICIES = {"memberListVisibility": "ADMIN", "restrictProjectTransfer": "ADMIN"}
DEFAULT_REGION = "aws:us-east-1"
PROJECT_SETTING_KEYS = (
    "protected",
    "restricted",
    "downloadRestricted",
    "previewViewerRestricted",
    "containsPHI",
    "databaseUIViewOnly",
    "externalUploadRestricted",
    "httpsAppIsolatedBrowsing",
)

SeedSource = Mapping[str, Any] | Path | str
# libyaml's safe loader when PyYAML has it (several times faster), else pure Python.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SeedError(ValueError):
    """A seed that does not match the schema or refers to objects it does not define."""


def read_seed(source: SeedSource) -> dict[str, Any]:
    """A seed from a mapping or a YAML/JSON file, validated against the schema."""
    if isinstance(source, Mapping):
        data: Any = dict(source)
        origin = "seed"
    else:
        path = Path(source)
        origin = str(path)
        try:
            text = path.read_text(encoding="utf-8")
            # A .json seed skips the YAML parser: ~100x faster for the benchmarks' 50k members.
            data = json.loads(text) if path.suffix == ".json" else yaml.load(text, _YAML_LOADER)
        except OSError as exc:
            raise SeedError(f"{origin}: cannot read the seed: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise SeedError(
                f"{origin}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
            ) from exc
        except yaml.YAMLError as exc:
            raise SeedError(f"{origin}: not valid YAML: {exc}") from exc
        if data is None:
            data = {}
    validate_seed(data, origin)
    return dict(data)


def json_path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


@cache
def seed_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


@cache
def quick_check() -> Callable[[Any], Any]:
    """The schema compiled to Python by fastjsonschema: 50,000 members in ~0.4 s, where
    jsonschema takes ~7 s (bench/seed_check_bench.py). It raises
    JsonSchemaValueException on an invalid seed; use_default=False, or it would write the
    schema's defaults into the seed it checks."""
    return fastjsonschema.compile(seed_schema(), use_default=False)


def validate_seed(data: Any, origin: str = "seed") -> None:
    try:
        quick_check()(data)
    except fastjsonschema.JsonSchemaValueException:
        # Not valid: jsonschema decides, and words the error (the field's path, the rule).
        validator = jsonschema.Draft202012Validator(seed_schema())
        error = jsonschema.exceptions.best_match(validator.iter_errors(data))
        if error is not None:
            raise SeedError(
                f"{origin}: {json_path(error.absolute_path)}: {error.message}"
            ) from None
    check_references(data, origin)


def check_references(data: Mapping[str, Any], origin: str) -> None:
    """What a schema cannot say: uniqueness and references between objects."""
    references = _References(data, origin)
    references.users()
    references.orgs()
    references.projects()
    references.apps()
    references.tags()


class _References:
    """One seed's ids, and the checks of each section against them."""

    def __init__(self, data: Mapping[str, Any], origin: str) -> None:
        self.data = data
        self.origin = origin
        self.user_list = [user["id"] for user in data.get("users", [])]
        self.org_list = [org["id"] for org in data.get("orgs", [])]
        self.user_ids = set(self.user_list)
        self.known = self.user_ids | set(self.org_list)

    def fail(self, where: str, message: str) -> SeedError:
        return SeedError(f"{self.origin}: {where}: {message}")

    def unique(self, values: list[str], where: str) -> None:
        seen: set[str] = set()
        for index, value in enumerate(values):
            if value in seen:
                raise self.fail(f"{where}[{index}]", f"duplicate {value!r}")
            seen.add(value)

    def entity(self, value: object, where: str, *, users_only: bool = False) -> None:
        if value is not None and value not in (self.user_ids if users_only else self.known):
            kind = "a user" if users_only else "a user or org"
            raise self.fail(where, f"{value!r} is not {kind} of the seed")

    def users(self) -> None:
        self.unique(self.user_list, "users")
        for field in ("email", "token", "handle"):
            users = self.data.get("users", [])
            self.unique(
                [str(u.get(field)).lower() for u in users if u.get(field)], f"users.{field}"
            )
        for index, user in enumerate(self.data.get("users", [])):
            self.entity(user.get("billTo"), f"users[{index}].billTo")

    def orgs(self) -> None:
        self.unique(self.org_list, "orgs")
        for index, org in enumerate(self.data.get("orgs", [])):
            for user_id, member in org.get("members", {}).items():
                where = f"orgs[{index}].members.{user_id}"
                self.entity(user_id, where, users_only=True)
                forced = sorted(set(member) & set(ADMIN_FORCED))
                if member["level"] == "ADMIN" and forced:
                    raise self.fail(
                        where, f"an ADMIN always has full access; give none of {', '.join(forced)}"
                    )

    def projects(self) -> None:
        project_ids = []
        for index, project in enumerate(self.data.get("projects", [])):
            where = f"projects[{index}]"
            project_ids.append(project.get("id") or seed_project_id(project, index))
            self.entity(project["billTo"], f"{where}.billTo")
            self.entity(project.get("createdBy"), f"{where}.createdBy", users_only=True)
            for entity, level in project.get("permissions", {}).items():
                if entity == "PUBLIC":
                    if level != "VIEW":
                        raise self.fail(f"{where}.permissions.PUBLIC", "PUBLIC can only have VIEW")
                elif entity not in self.known:
                    raise self.fail(
                        f"{where}.permissions.{entity}", "not a user or org of the seed"
                    )
        self.unique(project_ids, "projects.id")

    def apps(self) -> None:
        app_keys = []
        for index, app in enumerate(self.data.get("apps", [])):
            where = f"apps[{index}]"
            app_keys.append(f"{app['name']}/{app['version']}")
            self.entity(app["billTo"], f"{where}.billTo")
            for key in ("developers", "authorizedUsers"):
                for entity in app.get(key, []):
                    if not (key == "authorizedUsers" and entity == "PUBLIC"):
                        self.entity(entity, f"{where}.{key}")
            self.entity(app.get("createdBy"), f"{where}.createdBy", users_only=True)
        self.unique(app_keys, "apps (name/version)")
        self.unique(
            [app.get("id") or seed_app_id(app) for app in self.data.get("apps", [])], "apps.id"
        )

    def tags(self) -> None:
        """A tag is an alias of one version of a name: never a version, nor reserved."""
        apps = self.data.get("apps", [])
        versions_by_name: dict[str, set[str]] = {}
        for app in apps:
            versions_by_name.setdefault(app["name"], set()).add(app["version"])
        tagged: dict[tuple[str, str], int] = {}
        for index, app in enumerate(apps):
            for tag in app.get("tags", []):
                if tag in ("default", "latest") or tag in versions_by_name[app["name"]]:
                    raise self.fail(
                        f"apps[{index}].tags", f"{tag!r} is a version or a reserved alias"
                    )
                if tagged.setdefault((app["name"], tag), index) != index:
                    raise self.fail(
                        f"apps[{index}].tags",
                        f"{tag!r} is already on apps[{tagged[(app['name'], tag)]}]; a tag names one version",
                    )


def seed_project_id(project: Mapping[str, Any], index: int) -> str:
    return stable_id("project", project["name"], project["billTo"], str(index))


def seed_app_id(app: Mapping[str, Any]) -> str:
    return stable_id("app", app["name"], app["version"])


def stored_forwarding(value: Mapping[str, Any] | None, now: int) -> str | None:
    """A seed may give the token (hashed here) or the stored form with tokenSignature."""
    if value is None:
        return None
    stored = {
        key: value[key] for key in ("url", "tokenSignature", "updated", "updatedBy") if key in value
    }
    if "token" in value:
        stored["tokenSignature"] = hashlib.sha256(str(value["token"]).encode()).hexdigest()
    if stored:
        stored.setdefault("updated", now)
    return json.dumps(stored)


def load_seed(conn: sqlite3.Connection, seed: Mapping[str, Any], now: int) -> None:
    """Insert a validated seed with executemany, inside the caller's transaction."""
    users = seed.get("users", [])
    conn.executemany(
        "INSERT INTO users (id, handle, first, middle, last, email, email_key, token, bill_to,"
        " created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                user["id"],
                user.get("handle") or user["id"][len("user-") :],
                user.get("first") or user.get("handle") or user["id"][len("user-") :],
                user.get("middle") or "",
                user.get("last") or "",
                user.get("email"),
                user["email"].lower() if user.get("email") else None,
                user.get("token"),
                user.get("billTo") or user["id"],
                user.get("created", now),
            )
            for user in users
        ],
    )
    orgs = seed.get("orgs", [])
    conn.executemany(
        "INSERT INTO orgs (id, handle, name, policies, expires_at, user_provisioning,"
        " job_logs_forwarding, saml_idp, created, phi_features)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                org["id"],
                org.get("handle") or org["id"][len("org-") :],
                org["name"],
                json.dumps({**DEFAULT_POLICIES, **org.get("policies", {})}),
                org.get("expiresAt"),
                int(org.get("userProvisioning", False)),
                stored_forwarding(org.get("jobLogsForwarding"), now),
                org.get("samlIdP"),
                org.get("created", now),
                int(org.get("phiFeatures", False)),
            )
            for org in orgs
        ],
    )
    conn.executemany(
        f"INSERT INTO members (org_id, user_id, {', '.join(MEMBER_COLUMNS)})"
        f" VALUES (?, ?, {', '.join('?' * len(MEMBER_COLUMNS))})",
        [
            member_row(org["id"], user_id, member)
            for org in orgs
            for user_id, member in org.get("members", {}).items()
        ],
    )
    load_projects(conn, seed.get("projects", []), now)
    load_apps(conn, seed.get("apps", []), now)


def seed_membership(member: Mapping[str, Any]) -> Membership:
    flags = {name: member[name] for name in FLAG_COLUMNS if name in member}
    return Membership.admin(flags) if member["level"] == "ADMIN" else Membership.member(flags)


def member_row(org_id: str, user_id: str, member: Mapping[str, Any]) -> tuple[Any, ...]:
    return (org_id, user_id, *seed_membership(member).column_values())


def default_creator(project: Mapping[str, Any]) -> str:
    for entity, level in project.get("permissions", {}).items():
        if level == "ADMINISTER" and entity.startswith("user-"):
            return str(entity)
    return str(project["billTo"])


def load_projects(conn: sqlite3.Connection, projects: list[Any], now: int) -> None:
    rows = []
    permissions: list[tuple[str, str, str]] = []
    for index, project in enumerate(projects):
        project_id = project.get("id") or seed_project_id(project, index)
        created = project.get("created", now)
        settings = {key: project[key] for key in PROJECT_SETTING_KEYS if key in project}
        rows.append(
            (
                project_id,
                project["name"],
                project["billTo"],
                project.get("createdBy") or default_creator(project),
                created,
                project.get("modified", created),
                float(project.get("dataUsage", 0)),
                project.get("region", DEFAULT_REGION),
                project.get("summary", ""),
                project.get("description", ""),
                json.dumps(project.get("tags", [])),
                json.dumps(project.get("properties", {})),
                json.dumps(settings),
                1,
            )
        )
        permissions.extend(
            (project_id, entity, level) for entity, level in project.get("permissions", {}).items()
        )
    conn.executemany(
        "INSERT INTO projects (id, name, bill_to, created_by, created, modified, data_usage,"
        " region, summary, description, tags, properties, settings, version)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.executemany(
        "INSERT INTO project_permissions (project_id, entity_id, level) VALUES (?, ?, ?)",
        permissions,
    )


def load_apps(conn: sqlite3.Connection, apps: list[Any], now: int) -> None:
    rows = []
    developers: set[tuple[str, str]] = set()
    for app in apps:
        created = app.get("created", now)
        published = app.get("published", True)
        if isinstance(published, bool):
            published = created if published else 0
        app_developers = app.get("developers", [])
        creator = app.get("createdBy") or next(
            (dev for dev in app_developers if dev.startswith("user-")), app["billTo"]
        )
        rows.append(
            (
                app.get("id") or seed_app_id(app),
                app["name"],
                app["version"],
                app.get("title"),
                app.get("summary", ""),
                app["billTo"],
                creator,
                created,
                app.get("modified", created),
                published,
                json.dumps(sorted(set(app.get("authorizedUsers", [])))),
                json.dumps(list(dict.fromkeys(app.get("tags", [])))),
            )
        )
        developers.update((app["name"], developer) for developer in app_developers)
    conn.executemany(
        "INSERT INTO apps (id, name, version, title, summary, bill_to, created_by, created,"
        " modified, published, authorized_users, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.executemany(
        "INSERT INTO app_developers (app_name, developer) VALUES (?, ?)", sorted(developers)
    )


# Always in a dumped membership; the other six only where they differ from the level's own.
DUMPED_FLAGS = ("allowBillableActivities", "appAccess", "projectAccess")


def dumped_membership(row: sqlite3.Row) -> dict[str, Any]:
    membership = membership_from_row(row)
    usual = Membership.admin() if membership.is_admin else Membership.member()
    return {
        "level": membership.level,
        **{
            name: value
            for name, value in membership.ordered_flags().items()
            if name in DUMPED_FLAGS or value != usual.flags[name]
        },
    }


def dump_state(conn: sqlite3.Connection) -> dict[str, Any]:
    """Everything, shaped like a seed; user tokens are left out (only `hasToken`)."""
    users = [
        {
            "id": row["id"],
            "handle": row["handle"],
            "first": row["first"],
            "middle": row["middle"],
            "last": row["last"],
            "email": row["email"],
            "billTo": row["bill_to"],
            "created": row["created"],
            "hasToken": row["token"] is not None,
        }
        for row in conn.execute("SELECT * FROM users ORDER BY id")
    ]
    members: dict[str, dict[str, Any]] = {}
    for row in conn.execute("SELECT * FROM members ORDER BY org_id, user_id"):
        members.setdefault(row["org_id"], {})[row["user_id"]] = dumped_membership(row)
    orgs = []
    for row in conn.execute("SELECT * FROM orgs ORDER BY id"):
        org: dict[str, Any] = {
            "id": row["id"],
            "handle": row["handle"],
            "name": row["name"],
            "policies": json.loads(row["policies"]),
            "expiresAt": row["expires_at"],
            "userProvisioning": bool(row["user_provisioning"]),
            "created": row["created"],
            "members": members.get(row["id"], {}),
        }
        if row["job_logs_forwarding"] is not None:
            org["jobLogsForwarding"] = json.loads(row["job_logs_forwarding"])
        if row["saml_idp"] is not None:
            org["samlIdP"] = row["saml_idp"]
        if row["phi_features"]:
            org["phiFeatures"] = True
        orgs.append(org)
    permissions: dict[str, dict[str, str]] = {}
    for row in conn.execute("SELECT * FROM project_permissions ORDER BY project_id, entity_id"):
        permissions.setdefault(row["project_id"], {})[row["entity_id"]] = row["level"]
    projects = [
        {
            "id": row["id"],
            "name": row["name"],
            "billTo": row["bill_to"],
            "createdBy": row["created_by"],
            "created": row["created"],
            "modified": row["modified"],
            "dataUsage": row["data_usage"],
            "region": row["region"],
            "summary": row["summary"],
            "description": row["description"],
            "tags": json.loads(row["tags"]),
            "properties": json.loads(row["properties"]),
            **json.loads(row["settings"]),
            "version": row["version"],
            "permissions": permissions.get(row["id"], {}),
        }
        for row in conn.execute("SELECT * FROM projects ORDER BY id")
    ]
    developers: dict[str, list[str]] = {}
    for row in conn.execute("SELECT * FROM app_developers ORDER BY app_name, developer"):
        developers.setdefault(row["app_name"], []).append(row["developer"])
    apps = [
        {
            "id": row["id"],
            "name": row["name"],
            "version": row["version"],
            "title": row["title"],
            "summary": row["summary"],
            "billTo": row["bill_to"],
            "createdBy": row["created_by"],
            "created": row["created"],
            "modified": row["modified"],
            "published": row["published"],
            "authorizedUsers": json.loads(row["authorized_users"]),
            "tags": json.loads(row["tags"]),
            "developers": developers.get(row["name"], []),
        }
        for row in conn.execute("SELECT * FROM apps ORDER BY id")
    ]
    return {"users": users, "orgs": orgs, "projects": projects, "apps": apps}
