"""Workers' workspaces: a directory each under the data directory, and a PO home per user under
`po/` (user ids are identifiers: never a path, `.` or `..`)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import structlog

log = structlog.get_logger("worker_manager")


class LocalWorkspaces:
    def __init__(self, root: Path) -> None:
        self._root = root

    def path(self, worker_id: str) -> Path:
        return self._root / worker_id

    def home_of(self, user_id: str) -> Path:
        return self._root / "po" / user_id

    async def remove(self, worker_id: str) -> None:
        try:
            await asyncio.to_thread(shutil.rmtree, self.path(worker_id))
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not delete a workspace", worker_id=worker_id, error=str(exc))

    async def kept(self) -> set[str]:
        """None kept apart: a directory goes with its worker's remains."""
        return set()
