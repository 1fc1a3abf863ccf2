"""Status messages edited at most once per interval each, the latest text always shown last.

`show` never waits: the text is kept as the message's wanted text and one task per message
edits it as soon as the interval since its last edit allows (texts wanted in between are never
sent: only the newest is). `settle` waits until the message reads its final text."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from telegram_bot.domain.progress import edit_delay
from telegram_bot.ports import Chat, ChatRefused, Unavailable

log = structlog.get_logger("telegram_bot")

# An edit that failed for want of Telegram is tried again this many times.
EDIT_ATTEMPTS = 3


@dataclass
class _Message:
    chat: str
    message_id: str
    wanted: str
    shown: str | None = None
    last_edit: float | None = None
    editor: asyncio.Task[None] | None = field(default=None, repr=False)


class CoalescingBoard:
    def __init__(
        self,
        chat: Chat,
        *,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._chat = chat
        self._interval_s = interval_s
        self._clock = clock
        self._sleep = sleep
        self._messages: dict[tuple[str, str], _Message] = {}

    def show(self, chat: str, message_id: str, text: str) -> None:
        message = self._messages.get((chat, message_id))
        if message is None:
            message = self._messages[chat, message_id] = _Message(chat, message_id, text)
        message.wanted = text
        if message.wanted != message.shown and (message.editor is None or message.editor.done()):
            message.editor = asyncio.create_task(self._edit(message), name=f"edit {message_id}")

    async def settle(self, chat: str, message_id: str, text: str) -> None:
        self.show(chat, message_id, text)
        message = self._messages.pop((chat, message_id))
        if message.editor is not None:
            await asyncio.shield(message.editor)

    @property
    def editing(self) -> int:
        """Messages with an edit still to make."""
        return sum(1 for m in self._messages.values() if m.editor and not m.editor.done())

    async def _edit(self, message: _Message) -> None:
        failures = 0
        while message.wanted != message.shown:
            delay = edit_delay(message.last_edit, self._clock(), self._interval_s)
            if delay > 0:
                await self._sleep(delay)
            text = message.wanted
            try:
                await self._chat.edit(message.chat, message.message_id, text)
            except ChatRefused as exc:
                log.info("a status message can no longer be edited", error=str(exc))
                return
            except Unavailable as exc:
                failures += 1
                if failures >= EDIT_ATTEMPTS:
                    log.warning("a status message was not edited", error=str(exc))
                    return
            else:
                message.shown = text
            message.last_edit = self._clock()
