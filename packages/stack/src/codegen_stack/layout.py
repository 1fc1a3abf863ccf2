"""One data directory holds everything a local stack keeps: its servers' data, every service's
files and logs, the secrets it made, and, while it runs, what other commands need to find it.

    DATA_DIR/
      postgres/ redis/           the servers' data
      services/<name>/           each service's DATA_DIR (scaffolder's forge, workers, infra jobs)
      logs/<name>.log            each program's output (JSON lines from our services)
      home/                      the services' HOME
      secrets.json               the API key the services use (0600), made once
      stack.json                 while `codegen up` runs: its pid, the URLs, each program's pid
      codegen.lock               held by the running `codegen up` (one at a time)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A Unix socket path has at most 107 bytes: the local deploy target's supervisor keeps one.
SOCKET_PATH_MAX = 100


@dataclass(frozen=True)
class Layout:
    root: Path

    @classmethod
    def at(cls, root: Path) -> Layout:
        """The layout, its directories made."""
        layout = cls.of(root)
        for path in (layout.root, layout.root / "logs", layout.home, layout.root / "services"):
            path.mkdir(parents=True, exist_ok=True)
        return layout

    @classmethod
    def of(cls, root: Path) -> Layout:
        """The layout, for reading: nothing is made."""
        return cls(root.expanduser().resolve())

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def redis(self) -> Path:
        return self.root / "redis"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def lock(self) -> Path:
        return self.root / "codegen.lock"

    @property
    def state_file(self) -> Path:
        return self.root / "stack.json"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    def service_dir(self, name: str) -> Path:
        path = self.root / "services" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    @property
    def deploy_root(self) -> Path:
        """Where the `local` target runs apps: in the data dir when its supervisor's socket
        path fits, else a short directory named after the data dir."""
        inside = self.root / "deploy"
        if len(str(inside / "run" / "supervisor.sock")) <= SOCKET_PATH_MAX:
            return inside
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"codegen-deploy-{digest}"

    def read_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return state if isinstance(state, dict) else None

    def write_state(self, state: dict[str, Any]) -> None:
        write_private(self.state_file, json.dumps(state, indent=2))

    def read_secrets(self) -> dict[str, str]:
        try:
            secrets = json.loads(self.secrets_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return {k: v for k, v in secrets.items() if isinstance(v, str)}

    def write_secrets(self, secrets: dict[str, str]) -> None:
        write_private(self.secrets_file, json.dumps(secrets))


def write_private(path: Path, text: str) -> None:
    """Replace the file atomically, readable by its owner only."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as sink:
        sink.write(text)
    temporary.replace(path)
