"""A PO worker's turn: the user's message in, the agent's answer out, the session kept."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from shared.contracts import POWorkerInput, WorkerActivity
from shared.streams.registry import PO_OUTPUT

from worker_wrapper.domain import chat
from worker_wrapper.ports import Agent, Heartbeat, Publisher, Sessions


def prepare_workspace(*, cwd: Path, instructions_file: str, instructions: str) -> None:
    """The directory the agent works in, with the role's instructions where it reads them."""
    cwd.mkdir(parents=True, exist_ok=True)
    if instructions:
        (cwd / instructions_file).write_text(instructions)


async def handle_message(
    message: POWorkerInput,
    *,
    worker_id: str,
    cwd: Path,
    timeout_s: float,
    extra_env: Mapping[str, str],
    agent: Agent,
    sessions: Sessions,
    heartbeat: Heartbeat,
    publisher: Publisher,
) -> None:
    """One answer per message; raises Stopped (the message then stays pending for a later
    delivery)."""
    await heartbeat.show(WorkerActivity.BUSY, request_id=message.request_id)
    result = await agent.turn(
        message.prompt,
        cwd=cwd,
        session_id=await sessions.get(),
        timeout_s=timeout_s,
        extra_env=chat.turn_env(extra_env, message),
    )
    reply = chat.reply(result)
    if reply.session_id:
        await sessions.set(reply.session_id)
    await publisher.publish(PO_OUTPUT.name(worker_id=worker_id), chat.answer(message, reply.text))
    await heartbeat.show(WorkerActivity.IDLE)
