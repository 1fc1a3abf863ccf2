"""Secret references (what a message carries instead of a secret); keeping values out of text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

SCHEMES = ("env", "file")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
REDACTED = "***"


class SecretUnavailable(Exception):
    """A reference that is malformed or names nothing. The message names the reference only."""


@dataclass(frozen=True)
class SecretRef:
    scheme: str
    name: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.name}"


def parse_ref(ref: str) -> SecretRef:
    """`env:NAME` (a variable of infra-service's environment) or `file:path` (under its secrets
    directory)."""
    scheme, sep, name = ref.partition(":")
    if not sep or scheme not in SCHEMES:
        raise SecretUnavailable(
            f"secret reference {ref!r} must look like one of {', '.join(s + ':…' for s in SCHEMES)}"
        )
    valid = _ENV_NAME if scheme == "env" else _FILE_NAME
    if not valid.match(name) or ".." in name.split("/"):
        raise SecretUnavailable(f"secret reference {ref!r} has an invalid name")
    return SecretRef(scheme, name)


def parse_app_secrets(text: str, ref: str) -> dict[str, str]:
    """A project's runtime secrets: `KEY=value` lines (blank lines and `#` comments allowed)."""
    secrets: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        key = key.strip()
        if not sep or not _ENV_NAME.match(key):
            # The line may hold a secret: say where, never what.
            raise SecretUnavailable(f"secrets {ref!r}: line {number} is not KEY=value")
        if key == "PORT":
            raise SecretUnavailable(f"secrets {ref!r}: PORT is set by the deploy, not a secret")
        secrets[key] = value.strip()
    return secrets


def scrub(text: str | None, values: Iterable[str]) -> str | None:
    """Replace every secret value in `text`; the last line of defence before text leaves us."""
    if text is None:
        return None
    # Longest first, so a secret containing another is not half-replaced.
    for value in sorted({v for v in values if len(v) >= 4}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text
