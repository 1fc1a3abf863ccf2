"""A person's messages: who may talk, the quick commands, and the turns with their PO.

Front ends (the Telegram bot today; a terminal chat and a web console later) turn what the
person sends into an `Incoming` and call these handlers: one message of a person at a time for
`talk_to_po` (the front end keeps them in order), the others as they come.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import structlog
from shared.contracts import (
    AgentType,
    CreateWorkerCommand,
    DeleteWorkerCommand,
    POWorkerInput,
    UserRead,
    WorkerConfig,
    WorkerType,
    new_id,
)

from telegram_bot.domain import commands
from telegram_bot.domain.commands import Command, UnknownCommand
from telegram_bot.domain.conversation import (
    ALIVE,
    DIED_TWICE,
    EDITS_UNSEEN,
    NEW_CONVERSATION,
    NO_ANSWER,
    NO_WORKER,
    REFUSED,
    TEXT_ONLY,
    TRY_AGAIN_SHORTLY,
    WORKER_DIED,
    Session,
    TurnEnd,
    worker_name,
)
from telegram_bot.ports import (
    Catalog,
    Chat,
    ChatRefused,
    Refusals,
    Sessions,
    Unavailable,
    Users,
    Workers,
)

log = structlog.get_logger("telegram_bot")


@dataclass(frozen=True)
class Incoming:
    """What a person sent, as the core sees it."""

    chat: str
    """Where to answer."""
    telegram_id: int
    """Who sent it: the API knows users by their Telegram id."""
    text: str = ""


class NoWorker(Exception):
    """worker-manager refused to start a PO worker."""


@dataclass(frozen=True)
class PoOptions:
    agent: AgentType
    instructions: str
    allowed_commands: str
    start_timeout_s: float
    liveness_check_s: float
    turn_timeout_s: float
    clock: Callable[[], float] = field(default=lambda: asyncio.get_running_loop().time())


async def answer_command(
    incoming: Incoming, *, users: Users, refusals: Refusals, catalog: Catalog, chat: Chat
) -> None:
    """A quick command, answered from the API (an unknown one with the help)."""
    try:
        user = await _known(incoming, users=users, refusals=refusals, chat=chat)
        if user is None:
            return
        try:
            command = commands.parse(incoming.text)
        except UnknownCommand as unknown:
            await chat.send(incoming.chat, commands.unknown_command(str(unknown)))
            return
        await chat.send(incoming.chat, await _command_text(command, user, catalog))
    except Unavailable as exc:
        await _try_again_shortly(incoming, chat, exc)
    except ChatRefused as exc:
        log.info("the chat refused the answer", chat=incoming.chat, error=str(exc))


async def answer_non_text(
    incoming: Incoming, *, edited: bool, users: Users, refusals: Refusals, chat: Chat
) -> None:
    """Stickers, photos, voice, edits: a polite word (nothing reaches the PO)."""
    try:
        if await _known(incoming, users=users, refusals=refusals, chat=chat) is not None:
            await chat.send(incoming.chat, EDITS_UNSEEN if edited else TEXT_ONLY)
    except Unavailable as exc:
        await _try_again_shortly(incoming, chat, exc)
    except ChatRefused as exc:
        log.info("the chat refused the answer", chat=incoming.chat, error=str(exc))


async def talk_to_po(
    incoming: Incoming,
    *,
    users: Users,
    refusals: Refusals,
    sessions: Sessions,
    workers: Workers,
    chat: Chat,
    options: PoOptions,
) -> None:
    """One message for the user's PO (or `/new`): the PO's answers relayed as they come. A
    worker that dies on it is replaced once, in the same agent session."""
    try:
        user = await _known(incoming, users=users, refusals=refusals, chat=chat)
        if user is None:
            return
        if _is_new(incoming.text):
            await _start_afresh(user, incoming, sessions=sessions, workers=workers, chat=chat)
            return
        await _turns(user, incoming, sessions=sessions, workers=workers, chat=chat, options=options)
    except Unavailable as exc:
        await _try_again_shortly(incoming, chat, exc)
    except NoWorker as exc:
        log.warning("no PO worker", user_id=incoming.telegram_id, error=str(exc))
        await _say(chat, incoming.chat, NO_WORKER)
    except ChatRefused as exc:
        log.info("the chat refused the answer", chat=incoming.chat, error=str(exc))


async def _turns(
    user: UserRead,
    incoming: Incoming,
    *,
    sessions: Sessions,
    workers: Workers,
    chat: Chat,
    options: PoOptions,
) -> None:
    kept = await sessions.get(user.id)
    session = replace(kept, chat=incoming.chat) if kept else Session(chat=incoming.chat)
    correlation_id = new_id()
    for attempt in (1, 2):
        session = await _worker_for(
            user, session, correlation_id, sessions=sessions, workers=workers, options=options
        )
        end, session = await _turn(
            user, incoming.text, session, correlation_id,
            sessions=sessions, workers=workers, chat=chat, options=options,
        )  # fmt: skip
        if end is TurnEnd.ANSWERED:
            return
        if end is TurnEnd.TIMED_OUT:
            await chat.send(session.chat, NO_ANSWER)
            return
        log.warning("the PO worker died on a message", worker_id=session.worker_id, attempt=attempt)
        session = session.without_worker()
        await sessions.save(user.id, session)
        await chat.send(session.chat, WORKER_DIED if attempt == 1 else DIED_TWICE)


async def _worker_for(
    user: UserRead,
    session: Session,
    correlation_id: str,
    *,
    sessions: Sessions,
    workers: Workers,
    options: PoOptions,
) -> Session:
    """The session with a live worker: the user's own if it lives, else a new one that
    continues the agent session."""
    if session.worker_id and await workers.state(session.worker_id) in ALIVE:
        await sessions.save(user.id, session)
        return session
    request_id = session.creating or new_id()
    session = replace(session.without_worker(), creating=request_id)
    await sessions.save(user.id, session)
    context = {"user_id": user.id}
    if session.agent_session:
        context["session_id"] = session.agent_session
    command = CreateWorkerCommand(
        request_id=request_id,
        correlation_id=correlation_id,
        config=WorkerConfig(
            name=worker_name(user.id),
            worker_type=WorkerType.PO,
            agent_type=options.agent,
            instructions=options.instructions,
            allowed_commands=options.allowed_commands,
        ),
        context=context,
    )
    response = await workers.create(command, options.start_timeout_s)
    if not response.success or not response.worker_id:
        await sessions.save(user.id, session.without_worker())
        raise NoWorker(response.error or "no worker id in the answer")
    session = session.with_worker(response.worker_id)
    await sessions.save(user.id, session)
    log.info("PO worker started", user_id=user.id, worker_id=response.worker_id)
    return session


async def _turn(
    user: UserRead,
    text: str,
    session: Session,
    correlation_id: str,
    *,
    sessions: Sessions,
    workers: Workers,
    chat: Chat,
    options: PoOptions,
) -> tuple[TurnEnd, Session]:
    """Send the message, relay every output until the final one for it; how it ended."""
    worker_id = session.worker_id
    assert worker_id is not None
    message = POWorkerInput(user_id=user.id, prompt=text, correlation_id=correlation_id)
    deadline = options.clock() + options.turn_timeout_s
    async with workers.replies(worker_id) as replies:
        await workers.send(worker_id, message)
        while (left := deadline - options.clock()) > 0:
            output = await replies.next(min(options.liveness_check_s, left))
            if output is None:
                if await workers.state(worker_id) not in ALIVE:
                    return TurnEnd.DIED, session
                continue
            ours = output.request_id == message.request_id
            if output.worker_died:
                if ours:
                    return TurnEnd.DIED, session
                continue  # an earlier message's, told by worker-manager's own text below
            if session.continuing(output.session_id) != session:
                session = session.continuing(output.session_id)
                await sessions.save(user.id, session)
            if output.text.strip():
                await chat.send(session.chat, output.text)
            if ours and output.is_final:
                return TurnEnd.ANSWERED, session
    return TurnEnd.TIMED_OUT, session


async def _start_afresh(
    user: UserRead, incoming: Incoming, *, sessions: Sessions, workers: Workers, chat: Chat
) -> None:
    session = await sessions.get(user.id)
    await sessions.drop(user.id)
    if session is not None and session.worker_id:
        await workers.delete(
            DeleteWorkerCommand(worker_id=session.worker_id, reply_to=WorkerType.PO)
        )
    await chat.send(incoming.chat, NEW_CONVERSATION)


async def _known(
    incoming: Incoming, *, users: Users, refusals: Refusals, chat: Chat
) -> UserRead | None:
    """The API's user who wrote, or None (told once that they are not let in)."""
    user = await users.by_telegram_id(incoming.telegram_id)
    if user is None:
        if await refusals.first_refusal(incoming.telegram_id):
            await chat.send(incoming.chat, REFUSED)
        log.info("an unknown user was refused", telegram_id=incoming.telegram_id)
    return user


async def _command_text(command: Command | None, user: UserRead, catalog: Catalog) -> str:
    if command is Command.PROJECTS:
        return commands.projects_text(await catalog.projects(user.id))
    if command is Command.TASKS:
        tasks = await catalog.tasks(user.id)
        names = {project.id: project.name for project in await catalog.projects(user.id)}
        return commands.tasks_text(tasks, names)
    if command is Command.SERVERS:
        return commands.servers_text(await catalog.servers())
    return commands.HELP


def _is_new(text: str) -> bool:
    try:
        return commands.parse(text) is Command.NEW
    except UnknownCommand:
        return False


async def _try_again_shortly(incoming: Incoming, chat: Chat, error: Exception) -> None:
    log.warning("a service is unavailable", chat=incoming.chat, error=str(error))
    await _say(chat, incoming.chat, TRY_AGAIN_SHORTLY)


async def _say(chat: Chat, address: str, text: str) -> None:
    """Tell the user something about a failure; a failure to tell them is only logged."""
    try:
        await chat.send(address, text)
    except (ChatRefused, Unavailable) as exc:
        log.warning("could not tell the user", chat=address, error=str(exc))
