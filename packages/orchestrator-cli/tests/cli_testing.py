"""Helpers for the CLI's tests (on pytest's pythonpath as `cli_testing`)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import httpx
from api.testing import LiveApi


@dataclass
class Worker:
    """A worker's environment: a user, its user-scoped key, and where things are."""

    env: dict[str, str]
    user_id: str
    api: LiveApi

    def service(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.api.url, headers={"Authorization": f"Bearer {self.api.service_key}"}
        )


def run_subprocess(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, as an agent runs it."""
    script = os.path.join(os.path.dirname(sys.executable), "orchestrator")
    clean = {k: v for k, v in os.environ.items() if k not in ("ALLOWED_COMMANDS", "API_KEY")}
    return subprocess.run(
        [script, *argv], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )
