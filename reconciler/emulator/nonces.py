"""Nonces: a repeat of a nonce-carrying request gets the first answer again.

The platform's Nonces page: a request sent again with the same nonce is recognised and
answered with a replica of the first response; the same nonce with a changed input is
InvalidInput; a nonce is at most 128 bytes of UTF-8; the replay is guaranteed for an hour.
dxpy adds a nonce to the methods `wrapper_table.json` marks `acceptNonce` (here: org/new)
and, because of it, resends them after a lost answer like any retryable method.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from reconciler.emulator.api_errors import InvalidInput
from reconciler.emulator.routing import Call

NONCE_MAX_BYTES = 128
NONCE_LIFETIME_MS = 60 * 60 * 1000


def _canonical_input(call: Call) -> str:
    return json.dumps(call.body.data, sort_keys=True, separators=(",", ":"))


def call_nonce(call: Call) -> str | None:
    nonce = call.body.optional_string("nonce")
    if nonce is not None and not 0 < len(nonce.encode("utf-8")) <= NONCE_MAX_BYTES:
        raise InvalidInput(f"Field 'nonce' must be 1 to {NONCE_MAX_BYTES} bytes of UTF-8")
    return nonce


def replayed_answer(call: Call, conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The answer a first request with this nonce got, or None when this is the first."""
    nonce = call_nonce(call)
    if nonce is None:
        return None
    conn.execute("DELETE FROM nonces WHERE at < ?", (call.now - NONCE_LIFETIME_MS,))
    row = conn.execute(
        "SELECT input, response FROM nonces WHERE caller = ? AND route = ? AND nonce = ?",
        (call.caller, call.route.method_name, nonce),
    ).fetchone()
    if row is None:
        return None
    if row["input"] != _canonical_input(call):
        raise InvalidInput(
            "Field 'nonce': this nonce was already used with a different input; "
            "a changed request needs a new nonce"
        )
    answer: dict[str, Any] = json.loads(row["response"])
    return answer


def remember_answer(call: Call, conn: sqlite3.Connection, answer: dict[str, Any]) -> None:
    nonce = call_nonce(call)
    if nonce is None:
        return
    conn.execute(
        "INSERT INTO nonces (caller, route, nonce, input, response, at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            call.caller,
            call.route.method_name,
            nonce,
            _canonical_input(call),
            json.dumps(answer),
            call.now,
        ),
    )
