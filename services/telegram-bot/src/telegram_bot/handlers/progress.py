"""Progress of the tasks a user started: one status message per task, kept up to date, and the
URL as a message of its own at the end.

The bot learns of a task from its intent (`engineering:queue`, `deploy:queue`, read through the
bot's own group), then follows the task's `task_progress:{task_id}` until its result."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

import structlog
from shared.contracts import DeployMessage, EngineeringMessage

from telegram_bot.domain import alerts, progress
from telegram_bot.domain.conversation import chat_of
from telegram_bot.domain.progress import ProgressEntry, TaskKind, TaskView
from telegram_bot.ports import (
    Catalog,
    Chat,
    ChatRefused,
    FollowedTask,
    ProgressBook,
    StatusBoard,
    Users,
)

log = structlog.get_logger("telegram_bot")


async def follow_task(
    intent: EngineeringMessage | DeployMessage,
    *,
    users: Users,
    catalog: Catalog,
    chat: Chat,
    book: ProgressBook,
    window_s: float,
    now: Callable[[], datetime],
) -> None:
    """Open the task's status message and follow its progress (once per task; intents older
    than the window are history, not news). Raises Unavailable (the intent is read again)."""
    if not alerts.is_recent(intent.timestamp, now(), window_s):
        log.info("an old intent is not followed", task_id=intent.task_id)
        return
    if await book.knows(intent.task_id):
        return
    user = await users.get(intent.user_id)
    address = chat_of(user) if user is not None else None
    if address is None:
        log.info("the task's user has no chat", task_id=intent.task_id, user_id=intent.user_id)
        return
    project = await catalog.project(intent.project_id)
    kind = TaskKind.ENGINEERING if isinstance(intent, EngineeringMessage) else TaskKind.DEPLOY
    view = TaskView(intent.task_id, kind, project.name if project else intent.project_id[:8])
    try:
        message_id = await chat.send(address, progress.render(view))
    except ChatRefused as exc:
        log.info("the chat refused the task's status", task_id=intent.task_id, error=str(exc))
        return
    await book.follow(FollowedTask(view=view, chat=address, message_id=message_id))


async def show_progress(
    task: FollowedTask,
    entries: Sequence[tuple[str, ProgressEntry | None]],
    *,
    chat: Chat,
    board: StatusBoard,
    book: ProgressBook,
) -> FollowedTask | None:
    """The task after its new entries (None for an invalid one: skipped): its status message
    shown again; at its end the last text, the URL, and the task no longer followed (None)."""
    if not entries:
        return task
    view = task.view
    for _, entry in entries:
        if entry is not None:
            view = progress.apply(view, entry)
    task = replace(task, view=view, after=entries[-1][0])
    text = progress.render(view)
    if not view.ended:
        board.show(task.chat, task.message_id, text)
        await book.advance(task)
        return task
    try:
        await board.settle(task.chat, task.message_id, text)
        if live := progress.live_message(view):
            await chat.send(task.chat, live)
    except ChatRefused as exc:
        log.info("the chat refused the task's end", task_id=task.task_id, error=str(exc))
    await book.end(task)
    log.info("task followed to its end", task_id=task.task_id, outcome=view.outcome)
    return None
