"""Which commands an agent may run, checked before anything is called: those `ALLOWED_COMMANDS`
names (patterns such as `project.get`, `deploy.*`, `*` and profile names; unset or empty allows
nothing, docs/decisions/0005-cli-permissions.md) that its API key's scopes also cover.

The check is only a fast, friendly refusal: the API enforces the key's scopes and Redis the
worker's ACL user whatever the environment says (docs/SECURITY.md), so widening ALLOWED_COMMANDS
gains nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.permissions import commands_within, expand, is_allowed, key_claims


@dataclass(frozen=True)
class Grant:
    patterns: tuple[str, ...]
    """What ALLOWED_COMMANDS allows."""
    key_commands: tuple[str, ...] | None
    """What the key's scopes allow; None when the key names no scopes (its principal's rights)."""

    def allows(self, command: str) -> bool:
        if self.key_commands is not None and command not in self.key_commands:
            return False
        return is_allowed(command, self.patterns)

    def why_not(self, command: str) -> str:
        if not self.patterns:
            return "; ALLOWED_COMMANDS is not set, so nothing is allowed"
        if self.key_commands is not None and command not in self.key_commands:
            return "; this worker's API key does not carry the scopes it needs"
        return ""


def grant(allowed_commands: str | None, api_key: str) -> Grant:
    scopes = key_claims(api_key) if api_key else None
    return Grant(expand(allowed_commands), None if scopes is None else commands_within(scopes))


__all__ = ["Grant", "expand", "grant", "is_allowed"]
