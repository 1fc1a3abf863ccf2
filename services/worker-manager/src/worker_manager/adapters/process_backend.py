"""Workers as child processes of worker-manager (the embedded default)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from worker_manager.ports import WorkerSpec


class ProcessBackend:
    """Each worker is `worker-wrapper` in its own process group and workspace directory (a PO
    worker's: its user's home; its log stays in its own directory).

    A worker started by an earlier run of worker-manager is not our child: its liveness is read
    from /proc, and its exit code is unknown (-1).
    """

    def __init__(self, wrapper_command: str) -> None:
        self._command = wrapper_command
        self._children: dict[int, asyncio.subprocess.Process] = {}

    async def start(self, spec: WorkerSpec) -> str:
        spec.workspace.mkdir(parents=True, exist_ok=True)
        workspace = spec.workspace
        if spec.home is not None:
            workspace = spec.home.path
            workspace.mkdir(parents=True, exist_ok=True)
        log = (spec.workspace / "worker.log").open("ab")
        try:
            process = await asyncio.create_subprocess_exec(
                self._command,
                cwd=workspace,
                env=spec.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        self._children[process.pid] = process
        return str(process.pid)

    async def exit_code(self, handle: str) -> int | None:
        pid = int(handle)
        child = self._children.get(pid)
        if child is not None:
            if child.returncode is None:
                return None
            code = child.returncode
            # A signal's death shows as -N; report it the way shells and engines do (128 + N).
            return 128 - code if code < 0 else code
        return None if _alive(pid) else -1

    async def stop(self, handle: str, grace_s: float) -> int | None:
        pid = int(handle)
        _signal_group(pid, signal.SIGCONT)  # a paused worker cannot handle SIGTERM
        _signal_group(pid, signal.SIGTERM)
        child = self._children.get(pid)
        if child is not None:
            try:
                await asyncio.wait_for(child.wait(), grace_s)
            except TimeoutError:
                _signal_group(pid, signal.SIGKILL)
                await child.wait()
            return await self.exit_code(handle)
        deadline = asyncio.get_running_loop().time() + grace_s
        while _alive(pid) and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110 - not our child: /proc is all there is to watch
            await asyncio.sleep(0.1)
        _signal_group(pid, signal.SIGKILL)
        return -1

    async def remove(self, handle: str, worker_id: str) -> None:
        pid = int(handle)
        child = self._children.pop(pid, None)
        if child is not None and child.returncode is None:
            _signal_group(pid, signal.SIGKILL)
            await child.wait()  # reaped: no zombie, and no Process object kept
        # Agents run in sessions of their own and outlive a killed wrapper: find what is left by
        # the worker id every process of the worker inherits (never by a pid, which may be reused).
        for orphan in await asyncio.to_thread(_processes_of, worker_id):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(orphan, signal.SIGKILL)

    async def pause(self, handle: str) -> None:
        _signal_group(int(handle), signal.SIGSTOP)

    async def resume(self, handle: str) -> None:
        _signal_group(int(handle), signal.SIGCONT)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _processes_of(worker_id: str) -> list[int]:
    marker = f"WORKER_ID={worker_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" not in status.read_text()
    except FileNotFoundError:
        return False
