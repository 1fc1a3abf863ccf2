"""Secrets kept on infra-service's own machine: prefixed environment variables and a directory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from infra_service.domain.secrets import SecretUnavailable, parse_ref


class LocalSecrets:
    def __init__(
        self, *, env_prefix: str, directory: Path | None, environ: Mapping[str, str] | None = None
    ) -> None:
        self._env_prefix = env_prefix
        self._directory = directory
        self._environ = os.environ if environ is None else environ

    def resolve(self, ref: str) -> str:
        parsed = parse_ref(ref)
        if parsed.scheme == "env":
            value = self._environ.get(self._env_prefix + parsed.name)
            if value is None:
                raise SecretUnavailable(
                    f"secret {ref!r} is not set ({self._env_prefix}{parsed.name})"
                )
            return value
        if self._directory is None:
            raise SecretUnavailable(f"secret {ref!r}: no secrets directory is configured")
        path = self._directory / parsed.name
        try:
            return path.read_text().strip("\n")
        except OSError as exc:
            raise SecretUnavailable(f"secret {ref!r} cannot be read: {exc.strerror}") from None
