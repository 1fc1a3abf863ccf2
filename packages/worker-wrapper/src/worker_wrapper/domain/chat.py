"""A PO worker's rules: what the user is told after a turn of the agent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.contracts import POWorkerInput, POWorkerOutput

from worker_wrapper.domain.turns import Stopped, TurnResult, TurnStatus
from worker_wrapper.domain.verdict import without_result_blocks

TOO_LONG = "Sorry, that took too long and I had to stop. Could you ask again, more simply?"
WENT_WRONG = "Sorry, something went wrong on my side. Please try again."


@dataclass(frozen=True)
class Reply:
    text: str
    session_id: str | None = None
    """The session to continue next turn; None keeps the one there was."""


def turn_env(extra_env: Mapping[str, str], message: POWorkerInput) -> dict[str, str]:
    """What the agent's turn sees besides the runner's allowlist: the request and its user."""
    return {
        **extra_env,
        "REQUEST_ID": message.request_id,
        "CORRELATION_ID": message.correlation_id,
        "USER_ID": message.user_id,
    }


def reply(result: TurnResult) -> Reply:
    """An answer for a person, never silence; raises Stopped when the worker was stopped during
    the turn (the message then stays pending for a later delivery)."""
    if result.status is TurnStatus.STOPPED:
        raise Stopped
    if result.status is TurnStatus.TIMEOUT:
        return Reply(TOO_LONG)
    if result.turn is None or result.status is TurnStatus.CRASHED:
        return Reply(WENT_WRONG)
    return Reply(without_result_blocks(result.turn.text), result.turn.session_id or None)


def answer(message: POWorkerInput, text: str) -> POWorkerOutput:
    return POWorkerOutput(
        request_id=message.request_id,
        correlation_id=message.correlation_id,
        user_id=message.user_id,
        text=text,
        is_final=True,
    )
