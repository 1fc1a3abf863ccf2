"""A PO worker's rules: what the user is told after a turn of the agent.

A turn ends with exactly one final output (`is_final`, the input's request id). The agent may
have told the user things during the turn (`orchestrator respond`: interim outputs); the final
answer never repeats them, so its text may be empty: the user has read everything, and the final
output only marks the end of the turn. With nothing sent during the turn it is never empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.contracts import POWorkerInput, POWorkerOutput

from worker_wrapper.domain.turns import Stopped, TurnResult, TurnStatus
from worker_wrapper.domain.verdict import without_result_blocks

TOO_LONG = "Sorry, that took too long and I had to stop. Could you ask again, more simply?"
WENT_WRONG = "Sorry, something went wrong on my side. Please try again."
NO_ANSWER = "Sorry, I have no answer to that. Could you put it another way?"


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


def final_text(text: str, sent: Sequence[str]) -> str:
    """The final answer's text: empty when it only repeats (whitespace aside) what the agent
    sent during the turn, one of those messages or all of them in order; a fallback when the
    agent said nothing at all."""
    said = _normalised(text)
    if not said:
        return "" if sent else NO_ANSWER
    already = {_normalised(one) for one in sent} | {_normalised(" ".join(sent))}
    return "" if said in already else text


def answer(message: POWorkerInput, text: str, session_id: str | None) -> POWorkerOutput:
    """The turn's final output; `session_id` is the agent's session after the turn."""
    return POWorkerOutput(
        request_id=message.request_id,
        correlation_id=message.correlation_id,
        user_id=message.user_id,
        text=text,
        is_final=True,
        session_id=session_id,
    )


def _normalised(text: str) -> str:
    return " ".join(text.split())
