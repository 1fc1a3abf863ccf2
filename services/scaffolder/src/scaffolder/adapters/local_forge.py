"""The `local` forge: bare repositories in a directory; their paths are the clone URLs that
workers and infra-service use on this machine."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from scaffolder.ports import ForgeRefused, Repository


class LocalForge:
    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    async def ensure_repository(self, name: str, *, description: str) -> Repository:
        path = self._root / f"{name}.git"
        if path.parent != self._root or name.startswith("-"):
            raise ForgeRefused(f"{name!r} is not a repository name")
        return await asyncio.to_thread(self._ensure, path, name, description)

    def _ensure(self, path: Path, name: str, description: str) -> Repository:
        self._root.mkdir(parents=True, exist_ok=True)
        if (path / "HEAD").exists():
            return Repository(name=name, clone_url=str(path), created=False)
        done = subprocess.run(
            ["git", "init", "--quiet", "--bare", "--initial-branch=main", "--", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise ForgeRefused(f"could not create {path}: {done.stderr.strip()[-300:]}")
        if description:
            (path / "description").write_text(description.replace("\n", " ") + "\n")
        return Repository(name=name, clone_url=str(path), created=True)

    async def git_environment(self) -> dict[str, str]:
        return {}
