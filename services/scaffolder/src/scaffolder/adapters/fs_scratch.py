"""Scratch directories under the data directory, removed whatever happens (off the loop)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path


class FsScratch:
    def __init__(self, root: Path) -> None:
        self._root = root

    async def clear(self) -> None:
        """Remove what a killed process left (its `finally` never ran)."""
        await asyncio.to_thread(shutil.rmtree, self._root, True)

    @asynccontextmanager
    async def directory(self) -> AsyncIterator[Path]:
        def make() -> Path:
            self._root.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix="scaffold-", dir=self._root))

        path = await asyncio.to_thread(make)
        try:
            yield path
        finally:
            await asyncio.to_thread(shutil.rmtree, path, True)
