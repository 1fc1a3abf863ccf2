"""API keys: random, shown once, stored as a SHA-256 digest.

Keys carry 256 bits of randomness, so a fast digest is enough: there is nothing to brute-force
that a slow password hash would protect (see docs/decisions/0004-api-keys.md).
"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "cgo_"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def display_prefix(key: str) -> str:
    return key[: len(KEY_PREFIX) + 6]
