"""A project's runtime secrets file (references themselves: `shared.secrets`)."""

from __future__ import annotations

import re

from shared.secrets import SecretUnavailable

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
