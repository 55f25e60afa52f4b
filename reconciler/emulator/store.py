"""The emulator's state in SQLite: schema, connection, and one transaction per API call.

One connection per Store, guarded by a lock: the threads of one process take turns, which
keeps ``:memory:`` (a private per-connection database) correct and simple. Several
processes may share one file: WAL lets readers run beside a writer, writers start with
BEGIN IMMEDIATE (so a read-then-write never deadlocks on lock upgrade) and wait on
``busy_timeout`` instead of failing.
"""

from __future__ import annotations

import fnmatch
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MEMORY = ":memory:"
BUSY_TIMEOUT_MS = 30_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    handle TEXT NOT NULL UNIQUE,
    first TEXT NOT NULL,
    middle TEXT NOT NULL,
    last TEXT NOT NULL,
    email TEXT,
    email_key TEXT UNIQUE,
    token TEXT UNIQUE,
    bill_to TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orgs (
    id TEXT PRIMARY KEY,
    handle TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    policies TEXT NOT NULL,
    expires_at INTEGER,
    user_provisioning INTEGER NOT NULL,
    job_logs_forwarding TEXT,
    saml_idp TEXT,
    created INTEGER NOT NULL,
    phi_features INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS members (
    org_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    level TEXT NOT NULL,
    allow_billable INTEGER NOT NULL,
    app_access INTEGER NOT NULL,
    project_access TEXT NOT NULL,
    archival_management INTEGER NOT NULL DEFAULT 0,
    data_deletion INTEGER NOT NULL DEFAULT 0,
    data_search INTEGER NOT NULL DEFAULT 0,
    project_member_demotion INTEGER NOT NULL DEFAULT 0,
    tre_management INTEGER NOT NULL DEFAULT 0,
    cloud_integration_management INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS members_by_user ON members (user_id, org_id);
CREATE INDEX IF NOT EXISTS members_by_level ON members (org_id, level, user_id);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    bill_to TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created INTEGER NOT NULL,
    modified INTEGER NOT NULL,
    data_usage REAL NOT NULL,
    region TEXT NOT NULL,
    summary TEXT NOT NULL,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    properties TEXT NOT NULL,
    settings TEXT NOT NULL,
    version INTEGER NOT NULL,
    -- Every folder path, "/" always; the emulator holds no data objects in them.
    folders TEXT NOT NULL DEFAULT '["/"]'
);
CREATE INDEX IF NOT EXISTS projects_by_bill_to ON projects (bill_to, id);
CREATE INDEX IF NOT EXISTS projects_by_name ON projects (name);
CREATE TABLE IF NOT EXISTS project_permissions (
    project_id TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    level TEXT NOT NULL,
    PRIMARY KEY (project_id, entity_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS project_permissions_by_entity
    ON project_permissions (entity_id, project_id);
CREATE TABLE IF NOT EXISTS apps (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    title TEXT,
    summary TEXT NOT NULL,
    bill_to TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created INTEGER NOT NULL,
    modified INTEGER NOT NULL,
    published INTEGER NOT NULL,
    authorized_users TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    UNIQUE (name, version)
);
CREATE INDEX IF NOT EXISTS apps_by_bill_to ON apps (bill_to, id);
CREATE INDEX IF NOT EXISTS apps_by_name ON apps (name, created);
-- Developers belong to the app name: every version shares them, as on the platform.
CREATE TABLE IF NOT EXISTS app_developers (
    app_name TEXT NOT NULL,
    developer TEXT NOT NULL,
    PRIMARY KEY (app_name, developer)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS app_developers_by_developer ON app_developers (developer, app_name);
-- A nonce-carrying request (org/new) and the answer it got, replayed for a repeat.
CREATE TABLE IF NOT EXISTS nonces (
    caller TEXT NOT NULL,
    route TEXT NOT NULL,
    nonce TEXT NOT NULL,
    input TEXT NOT NULL,
    response TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (caller, route, nonce)
) WITHOUT ROWID;
-- Projects project-x/destroy removed, and by whom: a repeat of that call (destroy is
-- retryable) is answered again instead of ResourceNotFound.
CREATE TABLE IF NOT EXISTS destroyed_projects (
    id TEXT PRIMARY KEY,
    destroyed_by TEXT NOT NULL,
    at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS admin_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL,
    admins INTEGER NOT NULL,
    admin_ids TEXT NOT NULL,
    method TEXT NOT NULL,
    at INTEGER NOT NULL
);
"""

# Columns added after the first release: a state file made before gets them on open.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    *(
        ("members", column, "INTEGER NOT NULL DEFAULT 0")
        for column in (
            "archival_management",
            "data_deletion",
            "data_search",
            "project_member_demotion",
            "tre_management",
            "cloud_integration_management",
        )
    ),
    ("apps", "tags", "TEXT NOT NULL DEFAULT '[]'"),
    ("orgs", "phi_features", "INTEGER NOT NULL DEFAULT 0"),
    ("projects", "folders", "TEXT NOT NULL DEFAULT '[\"/\"]'"),
)

# Wiped by a reset, in an order that never leaves dangling rows mid-way.
ENTITY_TABLES = (
    "destroyed_projects",
    "nonces",
    "app_developers",
    "apps",
    "project_permissions",
    "projects",
    "members",
    "orgs",
    "users",
    "admin_history",
)


def glob_match(pattern: str | None, value: str | None) -> bool:
    """SQL function: the platform's name globs (`*`, `?`, `[...]`), case-sensitive."""
    if pattern is None or value is None:
        return False
    return fnmatch.fnmatchcase(value, pattern)


def regexp_match(pattern: str | None, flags: str | None, value: str | None) -> bool:
    """SQL function: a regexp search; the caller has compiled the pattern once already."""
    if pattern is None or value is None:
        return False
    re_flags = re.IGNORECASE if flags and "i" in flags else 0
    return re.search(pattern, value, re_flags) is not None


class Store:
    """The SQLite database behind one Emulator."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        if self.path != MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            self.path,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if self.path != MEMORY:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.create_function("glob_match", 2, glob_match, deterministic=True)
        self._conn.create_function("regexp_match", 3, regexp_match, deterministic=True)
        self._create_schema()

    def _create_schema(self) -> None:
        with self._lock:
            # executescript commits on its own, so the schema is created outside our
            # transactions; IF NOT EXISTS makes it safe when two processes start together.
            self._conn.executescript(SCHEMA)
            self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        for table, column, declaration in ADDED_COLUMNS:
            present = {row["name"] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            if column in present:
                continue
            try:
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            except sqlite3.OperationalError as exc:
                # Another process opening the same file may have added it first.
                if "duplicate column" not in str(exc).lower():
                    raise

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One all-or-nothing transaction; rolled back if the body raises."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def is_empty(conn: sqlite3.Connection) -> bool:
    """True when no entity has ever been stored (the condition for loading a seed)."""
    for table in ("users", "orgs", "projects", "apps"):
        if conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:
            return False
    return True


def wipe(conn: sqlite3.Connection) -> None:
    for table in ENTITY_TABLES:
        conn.execute(f"DELETE FROM {table}")
