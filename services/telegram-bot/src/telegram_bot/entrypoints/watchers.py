"""The bot's background loops: the progress streams of every followed task (one blocking XREAD
over all of them, woken when a task joins), and the API's open incidents, looked at
periodically (the API is the only place incidents are kept)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

import structlog
from shared.runtime import Lifetime

from telegram_bot.domain.progress import ProgressEntry
from telegram_bot.ports import FollowedTask, ProgressBook, ProgressFeed, Unavailable

log = structlog.get_logger("telegram_bot")

Show = Callable[
    [FollowedTask, Sequence[tuple[str, ProgressEntry | None]]], Awaitable[FollowedTask | None]
]
# A blocking read ends this often even with nothing new (it must end before Redis' socket
# timeout); a new task interrupts it at once.
READ_BLOCK_S = 10.0
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0


async def follow_progress(
    lifetime: Lifetime,
    *,
    book: ProgressBook,
    feed: ProgressFeed,
    changed: asyncio.Event,
    show: Show,
) -> None:
    """Read every followed task's progress stream from where it was left, show what comes,
    until the service stops. Redis or Telegram away: wait and go on."""
    tasks: dict[str, FollowedTask] = {}
    delay = RETRY_FIRST_S
    while not lifetime.stopping.is_set():
        try:
            if changed.is_set():
                changed.clear()
                tasks = {task.task_id: task for task in await book.followed()}
            entries = await _next_entries(lifetime, tasks, feed, changed)
            for task_id, batch in _by_task(entries).items():
                if (task := tasks.get(task_id)) is not None:
                    moved = await show(task, batch)
                    if moved is None:
                        tasks.pop(task_id)
                    else:
                        tasks[task_id] = moved
            delay = RETRY_FIRST_S
        except Unavailable as exc:
            log.warning("progress not read; trying again", error=str(exc), in_s=delay)
            changed.set()  # read the followed tasks again: what was shown may not be recorded
            await lifetime.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)


async def _next_entries(
    lifetime: Lifetime, tasks: dict[str, FollowedTask], feed: ProgressFeed, changed: asyncio.Event
) -> list[tuple[str, str, ProgressEntry | None]]:
    """The next entries of the tasks' streams; none when a task joined or the service stops."""
    read = asyncio.ensure_future(
        feed.read({task_id: task.after for task_id, task in tasks.items()}, READ_BLOCK_S)
        if tasks
        else lifetime.stopping.wait()
    )
    woken = asyncio.ensure_future(changed.wait())
    stopping = asyncio.ensure_future(lifetime.stopping.wait())
    try:
        await asyncio.wait({read, woken, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in (woken, stopping):
            waiter.cancel()
        if not read.done():
            read.cancel()
            with contextlib.suppress(asyncio.CancelledError, Unavailable):
                await read
    if read.cancelled() or not tasks:
        return []
    return cast(list[tuple[str, str, ProgressEntry | None]], read.result())


def _by_task(
    entries: list[tuple[str, str, ProgressEntry | None]],
) -> dict[str, list[tuple[str, ProgressEntry | None]]]:
    grouped: dict[str, list[tuple[str, ProgressEntry | None]]] = {}
    for task_id, entry_id, entry in entries:
        grouped.setdefault(task_id, []).append((entry_id, entry))
    return grouped


async def watch_incidents(
    lifetime: Lifetime, *, check: Callable[[], Awaitable[int]], every_s: float
) -> None:
    """Look at the open incidents every `every_s` until the service stops."""
    while not lifetime.stopping.is_set():
        try:
            told = await check()
            if told:
                log.info("admins told of incidents", count=told)
        except Unavailable as exc:
            log.warning("incidents not looked at", error=str(exc))
        await lifetime.sleep(every_s)
