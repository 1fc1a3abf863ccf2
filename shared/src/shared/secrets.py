"""Secret references — what messages and configs carry instead of a secret — and how a service
resolves them on its own machine; keeping values out of text.

A reference is `env:NAME` (the service's variable SECRET_ENV_PREFIX + NAME, never one of its own
settings) or `file:path` (a file under its SECRETS_DIR). Errors name the reference, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

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
    """`env:NAME` or `file:relative/path` (never `..`)."""
    scheme, sep, name = ref.partition(":")
    if not sep or scheme not in SCHEMES:
        raise SecretUnavailable(
            f"secret reference {ref!r} must look like one of {', '.join(s + ':…' for s in SCHEMES)}"
        )
    valid = _ENV_NAME if scheme == "env" else _FILE_NAME
    if not valid.match(name) or ".." in name.split("/"):
        raise SecretUnavailable(f"secret reference {ref!r} has an invalid name")
    return SecretRef(scheme, name)


class LocalSecrets:
    """Resolves references on this machine: `env:` from `variables` (a settings class's
    `secret_variables()`), `file:` under `directory`, never through a link that leaves it."""

    def __init__(self, *, variables: Mapping[str, str], directory: Path | None) -> None:
        self._variables = variables
        self._directory = directory

    def resolve(self, ref: str) -> str:
        parsed = parse_ref(ref)
        if parsed.scheme == "env":
            value = self._variables.get(parsed.name)
            if value is None:
                raise SecretUnavailable(f"secret {ref!r} is not set")
            return value
        if self._directory is None:
            raise SecretUnavailable(f"secret {ref!r}: no secrets directory is configured")
        root = self._directory.resolve()
        path = (root / parsed.name).resolve()
        if not path.is_relative_to(root):
            raise SecretUnavailable(f"secret {ref!r} leads out of the secrets directory")
        try:
            return path.read_text().strip("\n")
        except OSError as exc:
            raise SecretUnavailable(f"secret {ref!r} cannot be read: {exc.strerror}") from None


def scrub(text: str | None, values: Iterable[str]) -> str | None:
    """Replace every secret value in `text`; the last line of defence before text leaves us."""
    if text is None:
        return None
    # Longest first, so a secret containing another is not half-replaced.
    for value in sorted({v for v in values if len(v) >= 4}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text
