"""Secrets kept on infra-service's own machine: its secret variables and a directory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from infra_service.domain.secrets import SecretUnavailable, parse_ref


class LocalSecrets:
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
        try:
            return (self._directory / parsed.name).read_text().strip("\n")
        except OSError as exc:
            raise SecretUnavailable(f"secret {ref!r} cannot be read: {exc.strerror}") from None
