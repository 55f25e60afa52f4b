"""Object ids in the platform's format: ``<class>-`` and 24 characters of [0-9A-Za-z]."""

from __future__ import annotations

import hashlib
import secrets
import string

ID_ALPHABET = string.digits + string.ascii_letters
HASH_ID_LENGTH = 24


def random_id(prefix: str) -> str:
    return f"{prefix}-" + "".join(secrets.choice(ID_ALPHABET) for _ in range(HASH_ID_LENGTH))


def stable_id(prefix: str, *parts: str) -> str:
    """A deterministic id for seed objects that name none (same seed, same ids)."""
    digest = int.from_bytes(hashlib.sha256("\x00".join(parts).encode()).digest(), "big")
    chars = []
    for _ in range(HASH_ID_LENGTH):
        digest, index = divmod(digest, len(ID_ALPHABET))
        chars.append(ID_ALPHABET[index])
    return f"{prefix}-" + "".join(chars)


def is_hash_id(value: str, prefix: str) -> bool:
    tail = value[len(prefix) + 1 :]
    return (
        value.startswith(f"{prefix}-")
        and len(tail) == HASH_ID_LENGTH
        and all(char in ID_ALPHABET for char in tail)
    )
