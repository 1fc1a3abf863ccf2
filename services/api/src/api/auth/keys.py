"""API keys: random, shown once, stored as a SHA-256 digest.

Keys carry 256 bits of randomness, so a fast digest is enough: there is nothing to brute-force
that a slow password hash would protect (see docs/decisions/0004-api-keys.md).

A scoped key ends in its claims, `.<scopes>`, for the CLI to read offline. The digest covers them,
so an edited claim is an unknown key; the API trusts only the scopes stored with the digest.
"""

from __future__ import annotations

import hashlib
import secrets

from shared.permissions import CLAIMS_SEPARATOR, encode_claims

KEY_PREFIX = "cgo_"


def generate_key(scopes: tuple[str, ...] | None = None) -> str:
    """`cgo_<token>`, followed by the claims when the key is scoped (None: unscoped)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key if scopes is None else key + CLAIMS_SEPARATOR + encode_claims(scopes)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def display_prefix(key: str) -> str:
    return key[: len(KEY_PREFIX) + 6]
