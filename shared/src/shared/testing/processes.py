"""Our own services as real processes in tests: started with exactly the environment given,
their output in a log file a failing test shows, stopped as a supervisor would stop them."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Sequence
from enum import Enum
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings

LOG_TAIL_CHARS = 4000


def settings_env(settings: BaseSettings) -> dict[str, str]:
    """The environment that gives a service process exactly these settings."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, Enum):
            value = value.value
        env[name.upper()] = str(value)
    return env


class ServiceProcess:
    """One process of ours; stdout and stderr go to `log`."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.argv, self.log = list(argv), log
        with log.open("ab") as sink:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                self.argv, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def exit_code(self) -> int | None:
        return self.process.poll()

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def describe(self) -> str:
        return (
            f"{Path(self.argv[0]).name} pid {self.pid} (exit {self.exit_code}), log tail:\n"
            f"{self.logs()[-LOG_TAIL_CHARS:]}"
        )

    def stop(self, within: float = 30, *, must_stop: bool = True) -> int:
        """SIGTERM, then SIGKILL if it is not gone within `within` s; the exit code. Prints the
        log's tail (pytest shows it when the test failed); with `must_stop`, a process that had
        to be killed fails the test."""
        killed = False
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(within)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                killed = True
        print(f"--- {self.log.name} ---\n{self.logs()[-LOG_TAIL_CHARS:]}")
        if killed and must_stop:
            raise AssertionError(f"{self.describe()}\ndid not stop within {within} s of SIGTERM")
        return self.process.returncode

    async def exited(self, within: float = 60) -> int:
        """Wait for the process to end by itself; its exit code."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while (code := self.process.poll()) is None:
            if loop.time() > deadline:
                raise AssertionError(f"did not exit within {within} s: {self.describe()}")
            await asyncio.sleep(0.05)
        return code
