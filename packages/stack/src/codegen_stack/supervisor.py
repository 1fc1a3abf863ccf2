"""Programs run as supervised child processes: started in order, each once it is ready the next;
restarted with a growing delay when one dies; stopped in reverse order, each by its own signal,
then killed after its grace. Every line a program prints goes to its log file and to a sink (the
console)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from shared.local_servers import as_user

log = structlog.get_logger("codegen")

Probe = Callable[[], Awaitable[bool]]
Sink = Callable[[str, str], None]
"""(program name, one line of its output)."""

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 30.0
# A program up this long had a good run: its next crash is restarted after the first delay again.
HEALTHY_AFTER_S = 60.0
PR_SET_PDEATHSIG = 1


class StartFailed(RuntimeError):
    """A program exited, or was not ready in time, while the stack was starting."""


@dataclass(frozen=True)
class Program:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    ready: Probe | None = None
    """Answers True once the program serves; None: ready once started."""
    ready_within_s: float = 120.0
    stop_signal: signal.Signals = signal.SIGTERM
    stop_grace_s: float = 30.0
    user: str | None = None
    """Run as this user (Postgres refuses to run as root)."""


@dataclass
class Supervised:
    """One program's life: its current process and how often it was started."""

    program: Program
    sink: Sink
    process: asyncio.subprocess.Process | None = None
    starts: int = 0
    stopping: bool = False
    changed: Callable[[], None] = lambda: None
    _runner: asyncio.Task[None] | None = field(default=None, repr=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _pumps: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.returncode is None else None

    async def start(self) -> None:
        """Start the program and wait until it is ready; then keep it running."""
        await self._spawn()
        await self._until_ready()
        self._runner = asyncio.create_task(self._keep_running(), name=self.program.name)

    async def stop(self) -> int | None:
        """Stop it (its signal, then SIGKILL after its grace); its exit code."""
        self.stopping = True
        self._wake.set()
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(self.program.stop_signal)
            try:
                await asyncio.wait_for(process.wait(), self.program.stop_grace_s)
            except TimeoutError:
                log.warning("did not stop in time: killed", program=self.program.name)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._runner is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        return process.returncode if process else None

    async def _spawn(self) -> None:
        program = self.program
        program.log.parent.mkdir(parents=True, exist_ok=True)
        self.process = await asyncio.create_subprocess_exec(
            *program.argv,
            env=program.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # Its own session: Ctrl-C reaches the supervisor only, which stops programs in
            # order; and if the supervisor dies, the program is told to stop.
            start_new_session=True,
            preexec_fn=_terminate_with_parent,
            **as_user(program.user),
            limit=1 << 20,
        )
        self.starts += 1
        self.changed()
        self._pumps.add(pump := asyncio.create_task(self._pump(self.process)))
        pump.add_done_callback(self._pumps.discard)

    async def _pump(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        with self.program.log.open("ab") as sink:
            while line := await process.stdout.readline():
                sink.write(line)
                sink.flush()
                self.sink(self.program.name, line.decode(errors="replace").rstrip("\n"))

    async def _until_ready(self) -> None:
        program, process = self.program, self.process
        assert process is not None
        deadline = time.monotonic() + program.ready_within_s
        while True:
            if process.returncode is not None:
                raise StartFailed(
                    f"{program.name} exited with {process.returncode} while starting; "
                    f"see {program.log}:\n{tail(program.log)}"
                )
            if program.ready is None or await _answers(program.ready):
                return
            if time.monotonic() > deadline:
                raise StartFailed(
                    f"{program.name} was not ready within {program.ready_within_s:.0f} s; "
                    f"see {program.log}:\n{tail(program.log)}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 0.1)

    async def _keep_running(self) -> None:
        delay = FIRST_DELAY_S
        while True:
            assert self.process is not None
            started = time.monotonic()
            code = await self.process.wait()
            if self.stopping:
                return
            if time.monotonic() - started > HEALTHY_AFTER_S:
                delay = FIRST_DELAY_S
            log.warning(
                "program exited; restarting", program=self.program.name, code=code, in_s=delay
            )
            self.sink(self.program.name, f"exited with {code}; restarting in {delay:.1f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            if self.stopping:
                return
            delay = min(delay * 2, MAX_DELAY_S)
            try:
                await self._spawn()
            except OSError as exc:
                self.sink(self.program.name, f"could not start: {exc}")


class Supervisor:
    """The stack's programs, in start order."""

    def __init__(self, sink: Sink, changed: Callable[[], None] = lambda: None) -> None:
        self._sink = sink
        self._changed = changed
        self.programs: list[Supervised] = []

    async def start(self, program: Program) -> Supervised:
        supervised = Supervised(program, self._sink, changed=self._changed)
        self.programs.append(supervised)
        await supervised.start()
        return supervised

    async def stop(self) -> None:
        """Every program, last started first; each is stopped even if another failed to."""
        for supervised in reversed(self.programs):
            try:
                await supervised.stop()
            except Exception:
                log.exception("could not stop a program", program=supervised.program.name)

    def pids(self) -> dict[str, dict[str, int | None]]:
        return {s.program.name: {"pid": s.pid, "starts": s.starts} for s in self.programs}


async def _answers(probe: Probe) -> bool:
    try:
        return await asyncio.wait_for(probe(), 5)
    except Exception:
        return False


def _terminate_with_parent() -> None:
    """Runs in the child before exec: SIGTERM when the supervisor dies (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its parent to notice it exited."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return status.rpartition(")")[2].split()[0] != "Z"
