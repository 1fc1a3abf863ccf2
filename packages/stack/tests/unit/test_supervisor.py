"""The supervisor with real child processes: started in order once ready, restarted after a
crash with a growing delay, stopped last-first by their own signal, killed after their grace."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from codegen_stack.supervisor import Program, StartFailed, Supervisor, alive
from shared.testing.waiting import eventually

ECHO_SIGNAL = """
import signal, sys, time
name = sys.argv[1]
def stop(number, frame):
    print(f"{name} got {signal.Signals(number).name}", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
print(f"{name} up", flush=True)
while True:
    time.sleep(1)
"""


def program(name: str, tmp_path: Path, code: str = ECHO_SIGNAL, **options: Any) -> Program:
    return Program(
        name, [sys.executable, "-c", code, name], {}, tmp_path / f"{name}.log", **options
    )


class Lines:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, name: str, line: str) -> None:
        self.seen.append((name, line))

    def of(self, name: str) -> list[str]:
        return [line for who, line in self.seen if who == name]


async def test_programs_stop_last_started_first_each_by_its_own_signal(tmp_path: Path) -> None:
    lines = Lines()
    supervisor = Supervisor(lines)
    await supervisor.start(program("first", tmp_path))
    await supervisor.start(program("second", tmp_path, stop_signal=signal.SIGINT))
    await eventually(lambda: _said(lines, "second", "second up"), within=30)

    await supervisor.stop()

    stops = [line for _, line in lines.seen if " got " in line]
    assert stops == ["second got SIGINT", "first got SIGTERM"]
    assert (tmp_path / "first.log").read_text().splitlines() == ["first up", "first got SIGTERM"]


async def test_a_program_that_dies_is_started_again(tmp_path: Path) -> None:
    lines = Lines()
    supervisor = Supervisor(lines)
    supervised = await supervisor.start(program("svc", tmp_path))
    first = supervised.pid
    assert first is not None

    supervised.process.kill()  # type: ignore[union-attr]

    await eventually(lambda: _restarted(supervised, first), within=30)
    assert supervised.starts == 2
    assert any("exited with -9; restarting" in line for line in lines.of("svc"))
    await supervisor.stop()
    assert not alive(supervised.pid or first) or supervised.pid is None


async def test_a_program_that_ignores_its_signal_is_killed_after_its_grace(
    tmp_path: Path,
) -> None:
    stubborn = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(600)"  # noqa: E501
    lines = Lines()
    supervisor = Supervisor(lines)

    async def ignoring() -> bool:
        return "up" in lines.of("stubborn")  # the signal is ignored from then on

    supervised = await supervisor.start(
        program("stubborn", tmp_path, stubborn, stop_grace_s=0.5, ready=ignoring)
    )

    code = await supervised.stop()

    assert code == -signal.SIGKILL


async def test_a_program_that_exits_while_starting_fails_the_start_with_its_log(
    tmp_path: Path,
) -> None:
    failing = "print('cannot bind the port'); raise SystemExit(3)"
    supervisor = Supervisor(Lines())

    async def never() -> bool:
        return False

    with pytest.raises(StartFailed, match=r"exited with 3(.|\n)*cannot bind the port"):
        await supervisor.start(program("bad", tmp_path, failing, ready=never))
    await supervisor.stop()


async def test_a_program_not_ready_in_time_fails_the_start(tmp_path: Path) -> None:
    supervisor = Supervisor(Lines())

    async def never() -> bool:
        return False

    with pytest.raises(StartFailed, match="not ready within"):
        await supervisor.start(program("slow", tmp_path, ready=never, ready_within_s=0.3))
    await supervisor.stop()
    assert all(s.pid is None for s in supervisor.programs)


async def _said(lines: Lines, name: str, text: str) -> bool:
    return text in lines.of(name)


async def _restarted(supervised: object, first: int) -> bool:
    pid = supervised.pid  # type: ignore[attr-defined]
    return pid is not None and pid != first
