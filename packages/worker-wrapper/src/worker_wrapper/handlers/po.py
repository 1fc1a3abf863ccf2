"""A PO worker's turn: the user's message in, the agent's answer out, the session kept."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import structlog
from shared.contracts import POWorkerInput, WorkerActivity
from shared.streams.registry import PO_OUTPUT

from worker_wrapper.domain import chat
from worker_wrapper.ports import Agent, Heartbeat, InterimReplies, Publisher, Sessions

log = structlog.get_logger("worker_wrapper")


def prepare_workspace(*, cwd: Path, instructions_file: str, instructions: str) -> None:
    """The directory the agent works in, with the role's instructions where it reads them
    (replaced whole: another worker of the same user may be reading them)."""
    cwd.mkdir(parents=True, exist_ok=True)
    if instructions:
        handle, name = tempfile.mkstemp(dir=cwd, prefix=f".{instructions_file}.")
        os.fchmod(handle, 0o644)  # the agent may run as another user: it reads them
        with os.fdopen(handle, "w") as file:
            file.write(instructions)
        os.replace(name, cwd / instructions_file)


async def handle_message(
    message: POWorkerInput,
    *,
    worker_id: str,
    cwd: Path,
    timeout_s: float,
    extra_env: Mapping[str, str],
    inherited_session: str | None,
    agent: Agent,
    sessions: Sessions,
    interim: InterimReplies,
    heartbeat: Heartbeat,
    publisher: Publisher,
) -> None:
    """One final answer per message; raises Stopped (the message then stays pending for a later
    delivery). The first turn of a worker created to continue a conversation
    (`inherited_session`) resumes it."""
    await heartbeat.show(WorkerActivity.BUSY, request_id=message.request_id)
    session_id = await sessions.get() or await _continued(inherited_session, agent)
    mark = await interim.mark()
    result = await agent.turn(
        message.prompt,
        cwd=cwd,
        session_id=session_id,
        timeout_s=timeout_s,
        extra_env=chat.turn_env(extra_env, message),
    )
    reply = chat.reply(result)
    if reply.session_id:
        await sessions.set(reply.session_id)
    text = chat.final_text(reply.text, await interim.since(mark))
    output = chat.answer(message, text, reply.session_id or session_id)
    await publisher.publish(PO_OUTPUT.name(worker_id=worker_id), output)
    await heartbeat.show(WorkerActivity.IDLE)


async def _continued(session_id: str | None, agent: Agent) -> str | None:
    if session_id is None or await agent.has_session(session_id):
        return session_id
    log.warning("the session to continue is not in the agent's home: a new one starts")
    return None
