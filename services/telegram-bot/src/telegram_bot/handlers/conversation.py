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
    POWorkerOutput,
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
    Incoming,
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
    Turns,
    Unavailable,
    Users,
    Workers,
)

log = structlog.get_logger("telegram_bot")


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
    turns: Turns,
    chat: Chat,
    options: PoOptions,
) -> None:
    """One message for the user's PO (or `/new`): the PO's answers relayed as they come. A
    worker that dies on it is replaced once, in the same agent session. Handled again after a
    restart, a message already answered is left alone, and one the worker already has is not
    sent again: its answer is awaited."""
    try:
        user = await _known(incoming, users=users, refusals=refusals, chat=chat)
        if user is None:
            return
        if await turns.answered(incoming.request_id):
            log.info("a message answered before a restart", request_id=incoming.request_id)
            return
        if _is_new(incoming.text):
            await _start_afresh(user, incoming, sessions=sessions, workers=workers, chat=chat)
            await turns.mark_answered(incoming.request_id)
            return
        await _turns(
            user, incoming,
            sessions=sessions, workers=workers, turns=turns, chat=chat, options=options,
        )  # fmt: skip
    except Unavailable as exc:
        await _try_again_shortly(incoming, chat, exc)
    except NoWorker as exc:
        log.warning("no PO worker", user_id=incoming.telegram_id, error=str(exc))
        await _say(chat, incoming.chat, NO_WORKER)
    except ChatRefused as exc:
        log.info("the chat refused the answer", chat=incoming.chat, error=str(exc))


async def relay_left_over(
    user_id: str,
    *,
    sessions: Sessions,
    workers: Workers,
    turns: Turns,
    chat: Chat,
    options: PoOptions,
) -> None:
    """What the user's PO worker said that nobody relayed (it answered while the bot was
    down), relayed now; run as the bot starts, before the user's next message."""
    try:
        session = await sessions.get(user_id)
        if session is None or session.worker_id is None:
            return
        left = await workers.unread(session.worker_id)
        if not left:
            return
        log.info("relaying what the PO said meanwhile", user_id=user_id, outputs=left)
        async with workers.replies(session.worker_id) as replies:
            while left:
                output = await replies.next(options.liveness_check_s)
                if output is None:  # some were not for relaying (dead-lettered): count again
                    left = await workers.unread(session.worker_id)
                    continue
                left -= 1
                if not output.worker_died:  # a message it died on is still queued
                    session = await _relay(
                        user_id, output, session, sessions=sessions, turns=turns, chat=chat
                    )
    except Unavailable as exc:
        log.warning("could not relay what the PO said meanwhile", user_id=user_id, error=str(exc))
    except ChatRefused as exc:
        log.info("the chat refused the answer", user_id=user_id, error=str(exc))


async def tell_unavailable(incoming: Incoming, error: Exception, *, chat: Chat) -> None:
    """The message could not be taken (the bot's own store is away): try again shortly."""
    await _try_again_shortly(incoming, chat, error)


async def _turns(
    user: UserRead,
    incoming: Incoming,
    *,
    sessions: Sessions,
    workers: Workers,
    turns: Turns,
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
            user, incoming, session, correlation_id,
            sessions=sessions, workers=workers, turns=turns, chat=chat, options=options,
        )  # fmt: skip
        if end is TurnEnd.ANSWERED:
            return
        if end is TurnEnd.TIMED_OUT:
            await chat.send(session.chat, NO_ANSWER)
            await turns.mark_answered(incoming.request_id)
            return
        log.warning("the PO worker died on a message", worker_id=session.worker_id, attempt=attempt)
        session = session.without_worker()
        await sessions.save(user.id, session)
        await chat.send(session.chat, WORKER_DIED if attempt == 1 else DIED_TWICE)
    await turns.mark_answered(incoming.request_id)


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
    incoming: Incoming,
    session: Session,
    correlation_id: str,
    *,
    sessions: Sessions,
    workers: Workers,
    turns: Turns,
    chat: Chat,
    options: PoOptions,
) -> tuple[TurnEnd, Session]:
    """Send the message, relay every output until the final one for it; how it ended."""
    worker_id = session.worker_id
    assert worker_id is not None
    message = POWorkerInput(
        request_id=incoming.request_id,
        user_id=user.id,
        prompt=incoming.text,
        correlation_id=correlation_id,
    )
    deadline = options.clock() + options.turn_timeout_s
    async with workers.replies(worker_id) as replies:
        if not await workers.send(worker_id, message):
            log.info(
                "a message sent to the PO before a restart: its answer is awaited",
                request_id=message.request_id,
                worker_id=worker_id,
            )
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
            session = await _relay(
                user.id, output, session, sessions=sessions, turns=turns, chat=chat
            )
            if ours and output.is_final:
                return TurnEnd.ANSWERED, session
    return TurnEnd.TIMED_OUT, session


async def _relay(
    user_id: str,
    output: POWorkerOutput,
    session: Session,
    *,
    sessions: Sessions,
    turns: Turns,
    chat: Chat,
) -> Session:
    """Pass an output on; a final one marks its message answered (before the output is
    acknowledged: a restart in between relays it again rather than never)."""
    if (continued := session.continuing(output.session_id)) != session:
        session = continued
        await sessions.save(user_id, session)
    if output.text.strip():
        await chat.send(session.chat, output.text)
    if output.is_final:
        await turns.mark_answered(output.request_id)
    return session


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
