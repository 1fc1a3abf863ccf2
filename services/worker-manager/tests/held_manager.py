"""A worker-manager replica whose starts of workers named `held` wait, as a first image build
does, until the file `release` appears in the hold directory (argv[1]). Each held start first
leaves a file `entered-<worker id>` there, so a test sees how many starts began.

The real runtime and `build` run; only the backend is wrapped. Run as a script by
manager_testing.ManagerProcess.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from shared.lifetime import Lifetime
from worker_manager.adapters.process_backend import ProcessBackend
from worker_manager.bootstrap import build
from worker_manager.config import ManagerSettings
from worker_manager.ports import WorkerBackend, WorkerSpec

from shared import runtime

HELD_NAME = "held"


class HeldBackend:
    def __init__(self, inner: WorkerBackend, directory: Path) -> None:
        self._inner = inner
        self._directory = directory

    async def start(self, spec: WorkerSpec) -> str:
        if spec.config.name == HELD_NAME:
            (self._directory / f"entered-{spec.worker_id}").touch()
            while not (self._directory / "release").exists():  # noqa: ASYNC110 - the gate is a file
                await asyncio.sleep(0.05)
        return await self._inner.start(spec)

    async def stop(self, handle: str, grace_s: float) -> int | None:
        return await self._inner.stop(handle, grace_s)

    async def pause(self, handle: str) -> None:
        await self._inner.pause(handle)

    async def resume(self, handle: str) -> None:
        await self._inner.resume(handle)

    async def exit_code(self, handle: str) -> int | None:
        return await self._inner.exit_code(handle)

    async def remove(self, handle: str, worker_id: str) -> None:
        await self._inner.remove(handle, worker_id)


def main() -> None:
    directory = Path(sys.argv[1])

    def build_held(settings: ManagerSettings, lifetime: Lifetime) -> runtime.Service:
        backend = HeldBackend(ProcessBackend(settings.wrapper_command), directory)
        return build(settings, lifetime, backend=backend)

    runtime.main(ManagerSettings, build_held, name="worker-manager")


if __name__ == "__main__":
    main()
