"""What one turn of the agent gave: the words every port and rule of the wrapper speaks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.contracts import AgentUsage


class Stopped(Exception):
    """The worker was asked to stop while the agent was working."""


@dataclass(frozen=True)
class AgentTurn:
    """What one run of the agent produced, read from its own output format."""

    text: str
    session_id: str | None = None
    usage: AgentUsage | None = None
    is_error: bool = False


class TurnStatus(StrEnum):
    OK = "ok"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class TurnResult:
    status: TurnStatus
    turn: AgentTurn | None
    exit_code: int | None
    stderr_tail: str = ""

    @property
    def error(self) -> str:
        detail = self.stderr_tail.strip()[-2000:]
        return f"agent exited with {self.exit_code}" + (f": {detail}" if detail else "")
