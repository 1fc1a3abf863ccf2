"""`worker-manager`: creates, watches, pauses, wakes and removes workers (see bootstrap.py)."""

from __future__ import annotations

from shared import runtime
from worker_manager.bootstrap import build
from worker_manager.config import ManagerSettings


def main() -> None:
    runtime.main(ManagerSettings, build, name="worker-manager")
