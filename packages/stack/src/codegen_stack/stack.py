"""A running local stack: the data directory locked, Postgres and Redis, the schema and seeds,
then every service, supervised; stopped in reverse order, and with it whatever the stack
started indirectly (workers, deployed apps). One composition root for `codegen`."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import structlog
from shared.local_servers import free_port

from codegen_stack import seed
from codegen_stack.config import StackSettings
from codegen_stack.layout import Layout
from codegen_stack.servers import (
    Postgres,
    redis_password,
    redis_program,
    redis_url,
    take_app_ports,
)
from codegen_stack.services import MARKER, SERVICES, Wiring, service_program
from codegen_stack.supervisor import Sink, Supervisor, alive

log = structlog.get_logger("codegen")

LEFTOVER_GRACE_S = 10.0


class AlreadyRunning(RuntimeError):
    """Another `codegen up` runs on this data directory."""


@dataclass(frozen=True)
class Running:
    """What the commands that talk to a running stack need."""

    layout: Layout
    wiring: Wiring
    telegram_id: int
    local_user_id: str


class Stack:
    def __init__(self, settings: StackSettings, sink: Sink, *, agent_script: Path | None) -> None:
        self.settings = settings
        self.layout = Layout.at(settings.data_dir)
        self.supervisor = Supervisor(sink, changed=self._save_state)
        self.agent_script = agent_script
        self._lock: IO[str] | None = None
        self._app_ports_lock: IO[str] | None = None
        self._state: dict[str, Any] = {}

    async def __aenter__(self) -> Running:
        self._take_lock()
        try:
            return await self._start()
        except BaseException:
            await self._stop()
            raise

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()

    async def _start(self) -> Running:
        layout, settings = self.layout, self.settings
        await asyncio.to_thread(stop_leftovers, layout)
        postgres = Postgres(layout)
        await asyncio.to_thread(postgres.prepare)
        pg_port, redis_port, api_port = free_port(), free_port(), free_port()
        self._app_ports_lock, app_ports = take_app_ports(layout)
        self._state = {"pid": os.getpid(), "started_at": time.time()}
        await self.supervisor.start(postgres.program(pg_port))
        await postgres.ensure_database(pg_port)
        password = redis_password(layout)
        await self.supervisor.start(
            redis_program(layout, redis_port, password, settings.redis_server)
        )
        database_url = Postgres.url(pg_port)
        key = await asyncio.to_thread(
            seed.migrate_and_key, layout, database_url, settings.telegram_id
        )
        wiring = Wiring(
            database_url=database_url,
            redis_url=redis_url(redis_port, password),
            api_url=f"http://127.0.0.1:{api_port}",
            api_port=api_port,
            api_key=key,
            agent=settings.chosen_agent(),
            agent_script=self.agent_script,
            app_ports=app_ports,
        )
        for name in SERVICES:
            await self.supervisor.start(service_program(name, layout, wiring, settings))
            if name == "api":
                await seed.ensure_local_server(wiring.api_url, key)
        running = Running(
            layout, wiring, settings.telegram_id, layout.read_secrets().get("local_user_id", "")
        )
        self._state |= {
            "api_url": wiring.api_url,
            "redis_url": wiring.redis_url,
            "database_url": database_url,
            "agent": wiring.agent.value,
            "telegram_id": settings.telegram_id,
            "front_door": "telegram" if settings.bot_token else "local",
            "app_ports": list(app_ports),
        }
        self._save_state()
        return running

    async def _stop(self) -> None:
        try:
            await self.supervisor.stop()
            await asyncio.to_thread(stop_leftovers, self.layout)
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.layout.state_file.unlink()
            self._release_lock()

    def _save_state(self) -> None:
        if self._state:
            self.layout.write_state(self._state | {"programs": self.supervisor.pids()})

    def _take_lock(self) -> None:
        lock = self.layout.lock.open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            state = self.layout.read_state() or {}
            raise AlreadyRunning(
                f"a stack already runs on {self.layout.root} (pid {state.get('pid', '?')}); "
                "stop it with `codegen down`"
            ) from None
        self._lock = lock

    def _release_lock(self) -> None:
        if self._app_ports_lock is not None:
            self._app_ports_lock.close()  # the block of app ports is free again
            self._app_ports_lock = None
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None


def running_stack(layout: Layout) -> dict[str, Any] | None:
    """The state of the stack running on this data directory, if one runs."""
    state = layout.read_state()
    if state is None or not isinstance(state.get("pid"), int) or not alive(state["pid"]):
        return None
    return state


def leftovers(layout: Layout) -> list[int]:
    """Processes a stack on this data directory started, found by the marker in their
    environment (services, workers, agents) or by working under its deploy root (apps)."""
    marker = f"{MARKER}={layout.root}".encode()
    deploy_root = str(layout.deploy_root)
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            argv = (entry / "cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        under = cwd == deploy_root or cwd.startswith(deploy_root + "/") or deploy_root in argv
        if marker in environ or under:
            found.append(pid)
    return found


def stop_leftovers(layout: Layout, grace_s: float = LEFTOVER_GRACE_S) -> list[int]:
    """SIGTERM everything left, SIGKILL what is still there after the grace; the pids found."""
    found = leftovers(layout)
    for pid in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while (left := [p for p in found if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return found
