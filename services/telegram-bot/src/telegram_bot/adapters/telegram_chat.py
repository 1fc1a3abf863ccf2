"""The `Chat` port on Telegram's Bot API (aiogram).

Texts go as plain text (no parse mode: an agent's `*`, `_` or `[` can never make Telegram refuse
a message), cut at 4096 characters on line ends. A flood limit (429) is waited out for as long as
Telegram asks, every time: nothing is dropped. A network error or a 5xx is tried again a few
times with backoff, then `Unavailable`; a user who blocked the bot, a chat or message that is gone,
is `ChatRefused`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)

from telegram_bot.domain.chunks import split_text
from telegram_bot.ports import ChatRefused, Unavailable

log = structlog.get_logger("telegram_bot")

T = TypeVar("T")
NOT_MODIFIED = "message is not modified"


class TelegramChat:
    def __init__(
        self,
        bot: Bot,
        *,
        attempts: int = 4,
        backoff_s: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._bot = bot
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._sleep = sleep

    async def send(self, chat: str, text: str) -> str:
        chat_id = _chat_id(chat)
        last = ""
        for piece in split_text(text):
            message = await self._call(
                lambda piece=piece: self._bot.send_message(  # type: ignore[misc]
                    chat_id=chat_id, text=piece, parse_mode=None
                )
            )
            last = str(message.message_id)
        return last

    async def edit(self, chat: str, message_id: str, text: str) -> None:
        pieces = split_text(text)
        if not pieces:
            return
        try:
            await self._call(
                lambda: self._bot.edit_message_text(
                    chat_id=_chat_id(chat), message_id=int(message_id), text=pieces[0],
                    parse_mode=None,
                )
            )  # fmt: skip
        except _NotModified:
            return

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        failures = 0
        while True:
            try:
                return await call()
            except TelegramRetryAfter as exc:
                log.warning("Telegram asks to wait", retry_after_s=exc.retry_after)
                await self._sleep(exc.retry_after)
            except (TelegramForbiddenError, TelegramNotFound) as exc:
                raise ChatRefused(exc.message) from exc
            except TelegramBadRequest as exc:
                if NOT_MODIFIED in exc.message:
                    raise _NotModified from exc
                raise ChatRefused(exc.message) from exc
            except TelegramAPIError as exc:  # network errors, 5xx, the rest
                failures += 1
                if failures >= self._attempts:
                    raise Unavailable(f"Telegram: {type(exc).__name__}: {exc.message}") from exc
                delay = self._backoff_s * 2 ** (failures - 1)
                log.warning("Telegram call failed, trying again", error=exc.message, in_s=delay)
                await self._sleep(delay)


class _NotModified(Exception):
    """An edit to the text the message has already: nothing to do."""


def _chat_id(chat: str) -> int:
    try:
        return int(chat)
    except ValueError:
        raise ChatRefused(f"not a Telegram chat: {chat[:40]!r}") from None
