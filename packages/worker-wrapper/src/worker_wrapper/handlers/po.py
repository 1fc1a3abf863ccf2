"""A PO worker's turn: the user's message in, the agent's answer out, the session kept."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis
from shared.contracts import POWorkerInput, POWorkerOutput

from worker_wrapper.adapters.agent import Agent, TurnStatus
from worker_wrapper.domain.verdict import without_result_blocks
from worker_wrapper.handlers.developer import Stopped


class SessionStore:
    """The agent's session id, in Redis so a restarted wrapper continues the conversation."""

    def __init__(self, redis: Redis, worker_id: str) -> None:
        self._redis = redis
        self._key = f"worker:session:{worker_id}"

    async def get(self) -> str | None:
        value = await self._redis.get(self._key)
        return str(value) if value else None

    async def set(self, session_id: str) -> None:
        await self._redis.set(self._key, session_id, ex=7 * 24 * 3600)


async def answer(
    message: POWorkerInput,
    *,
    agent: Agent,
    sessions: SessionStore,
    cwd: Path,
    timeout_s: float,
    extra_env: dict[str, str],
) -> POWorkerOutput:
    """Run one turn; raises Stopped (the message then stays pending for a later delivery)."""
    env = {
        **extra_env,
        "REQUEST_ID": message.request_id,
        "CORRELATION_ID": message.correlation_id,
        "USER_ID": message.user_id,
    }
    result = await agent.turn(
        message.prompt, cwd=cwd, session_id=await sessions.get(), timeout_s=timeout_s, extra_env=env
    )
    if result.status is TurnStatus.STOPPED:
        raise Stopped
    if result.status is TurnStatus.TIMEOUT:
        text = "Sorry, that took too long and I had to stop. Could you ask again, more simply?"
    elif result.turn is None or result.status is TurnStatus.CRASHED:
        text = "Sorry, something went wrong on my side. Please try again."
    else:
        text = without_result_blocks(result.turn.text)
        if result.turn.session_id:
            await sessions.set(result.turn.session_id)
    return POWorkerOutput(
        request_id=message.request_id,
        correlation_id=message.correlation_id,
        user_id=message.user_id,
        text=text,
        is_final=True,
    )
