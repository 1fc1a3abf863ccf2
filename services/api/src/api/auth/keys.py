"""API keys: random, shown once, stored as a SHA-256 digest.

Keys carry 256 bits of randomness, so a fast digest is enough: there is nothing to brute-force
that a slow password hash would protect (see docs/decisions/0004-api-keys.md).

A scoped key ends in its claims, `.<scopes>`, for the CLI to read offline. The digest covers them,
so an edited claim is an unknown key; the API trusts only the scopes stored with the digest.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from shared.permissions import CLAIMS_SEPARATOR, encode_claims

KEY_PREFIX = "cgo_"
# `generate_key` makes 43 url-safe characters; a key made elsewhere needs at least this many.
MIN_SECRET_CHARS = 32
_URLSAFE = re.compile(r"[A-Za-z0-9_-]*")


def generate_key(scopes: tuple[str, ...] | None = None) -> str:
    """`cgo_<token>`, followed by the claims when the key is scoped (None: unscoped)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key if scopes is None else key + CLAIMS_SEPARATOR + encode_claims(scopes)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def display_prefix(key: str) -> str:
    return key[: len(KEY_PREFIX) + 6]


def unscoped_key_problem(key: str) -> str | None:
    """What keeps `key` from being an unscoped key as this API makes them, or None. The answer
    never repeats any of the key: it is meant for messages."""
    if not key:
        return "is empty"
    if not key.startswith(KEY_PREFIX):
        return f"does not start with {KEY_PREFIX}"
    secret = key.removeprefix(KEY_PREFIX)
    if CLAIMS_SEPARATOR in secret:
        return f"carries scope claims after '{CLAIMS_SEPARATOR}'; a service key is unscoped"
    if not _URLSAFE.fullmatch(secret):
        return f"has characters a key never has (only A-Z a-z 0-9 - _ after {KEY_PREFIX})"
    if len(secret) < MIN_SECRET_CHARS:
        return f"is too short: at least {MIN_SECRET_CHARS} characters after {KEY_PREFIX}"
    return None
