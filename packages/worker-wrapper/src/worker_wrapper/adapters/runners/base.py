"""What every runner shares: its protocol, and the agent's environment allowlist."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from worker_wrapper.domain.turns import AgentTurn

# Variables every agent may see. Everything else in the wrapper's environment (its own secrets,
# Redis passwords, the git token) stays out unless a runner or AGENT_EXTRA_ENV names it.
BASE_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS")
CLI_ENV = (
    "API_URL",
    "API_KEY",
    "REDIS_URL",
    "USER_ID",
    "WORKER_ID",
    "ALLOWED_COMMANDS",
    "CORRELATION_ID",
    "REQUEST_ID",
)


@dataclass(frozen=True)
class Invocation:
    argv: list[str]
    env: dict[str, str]
    stdin: bytes | None = None
    extra_files: dict[Path, str] = field(default_factory=dict)


class Runner(Protocol):
    """Builds an agent's exact command line and environment, and reads its output."""

    instructions_file: str

    def invocation(
        self, prompt: str, *, session_id: str | None, home: Path, env: Mapping[str, str]
    ) -> Invocation: ...

    def parse(self, stdout: str) -> AgentTurn: ...

    def has_session(self, session_id: str, *, home: Path) -> bool:
        """Whether `home` holds the session's files (so `--resume` can find it)."""
        ...


def any_file(home: Path, pattern: str) -> bool:
    """Whether a file under `home` matches the glob `pattern`."""
    return next(home.glob(pattern), None) is not None


def allowed_env(source: Mapping[str, str], *names: str) -> dict[str, str]:
    return {name: source[name] for name in names if name in source}
