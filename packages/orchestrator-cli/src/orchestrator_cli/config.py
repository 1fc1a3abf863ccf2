"""The CLI's configuration, from the worker's environment.

Read by hand rather than with pydantic-settings: an agent may call the CLI hundreds of times,
and start-up time matters more here than anywhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from orchestrator_cli.errors import ConfigurationError


@dataclass(frozen=True)
class CliConfig:
    api_url: str
    api_key: str = field(repr=False)
    redis_url: str
    user_id: str | None
    worker_id: str | None
    allowed_commands: str | None
    correlation_id: str | None
    request_id: str | None
    http_timeout_s: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CliConfig:
        env = os.environ if env is None else env
        try:
            timeout = float(env.get("ORCHESTRATOR_HTTP_TIMEOUT", "10"))
        except ValueError as exc:
            raise ConfigurationError("ORCHESTRATOR_HTTP_TIMEOUT must be a number") from exc
        return cls(
            api_url=env.get("API_URL", "http://127.0.0.1:8000").rstrip("/"),
            api_key=env.get("API_KEY", ""),
            redis_url=env.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            user_id=env.get("USER_ID") or None,
            worker_id=env.get("WORKER_ID") or None,
            allowed_commands=env.get("ALLOWED_COMMANDS"),
            correlation_id=env.get("CORRELATION_ID") or None,
            request_id=env.get("REQUEST_ID") or None,
            http_timeout_s=timeout,
        )

    def require(self, name: str) -> str:
        value = getattr(self, name)
        if not value:
            raise ConfigurationError(f"{name.upper()} is not set")
        return str(value)
