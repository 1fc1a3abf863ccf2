"""Telegram → the conversation core: aiogram's updates, by long polling or a webhook.

Only private chats are served. The handlers here only keep each update's message
(`Front.take`: appended to `telegram:inbox`) and return: the update is confirmed to Telegram
after that, so a message Telegram handed over is never lost, and updates are taken one after
the other, in order."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import structlog
from aiogram import Bot, Dispatcher, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from shared.contracts import TelegramMessage, TelegramMessageKind
from shared.runtime import Lifetime

from telegram_bot.entrypoints.front import Front

log = structlog.get_logger("telegram_bot")

ALLOWED_UPDATES = ["message", "edited_message"]
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0


def dispatcher(front: Front) -> Dispatcher:
    router = Router(name="telegram-bot")
    private = F.chat.type == ChatType.PRIVATE

    @router.message(private, F.text)
    async def on_text(message: Message) -> None:
        if (kept := _kept(message, TelegramMessageKind.TEXT)) is not None:
            await front.take(kept)

    @router.message(private)
    async def on_other(message: Message) -> None:
        if (kept := _kept(message, TelegramMessageKind.OTHER)) is not None:
            await front.take(kept)

    @router.edited_message(private)
    async def on_edited(message: Message) -> None:
        if (kept := _kept(message, TelegramMessageKind.EDIT)) is not None:
            await front.take(kept)

    dp = Dispatcher()
    dp.include_router(router)
    return dp


def _kept(message: Message, kind: TelegramMessageKind) -> TelegramMessage | None:
    if message.from_user is None or message.from_user.is_bot:
        return None
    edited = message.edit_date if kind is TelegramMessageKind.EDIT else None
    return TelegramMessage.received(
        telegram_id=message.from_user.id,
        chat_id=message.chat.id,
        message_id=message.message_id,
        kind=kind,
        text=(message.text or "") if kind is TelegramMessageKind.TEXT else "",
        date=message.date if edited is None else _as_datetime(edited),
    )


def _as_datetime(value: datetime | int) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)


async def poll(dp: Dispatcher, bot: Bot, lifetime: Lifetime, *, timeout_s: int) -> None:
    """Long polling until the service stops. A webhook left set by a webhook run is removed
    first (Telegram answers no poll while one is set). Telegram out of reach at start is waited
    for (aiogram's polling waits it out afterwards); a refused token ends the service."""
    delay = RETRY_FIRST_S
    while True:
        try:
            await bot.delete_webhook(drop_pending_updates=False)
            break
        except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter) as exc:
            log.warning("Telegram out of reach at start; trying again", error=str(exc), in_s=delay)
            if await lifetime.sleep(delay):
                return
            delay = min(delay * 2, RETRY_MAX_S)
    polling = asyncio.create_task(
        dp.start_polling(
            bot,
            polling_timeout=timeout_s,
            handle_as_tasks=False,
            allowed_updates=ALLOWED_UPDATES,
            handle_signals=False,
            close_bot_session=False,
        ),
        name="telegram polling",
    )
    stopping = asyncio.create_task(lifetime.stopping.wait())
    try:
        await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if polling.done():
        polling.result()  # polling ended by itself: its error, or the service stops (exit 1)
        return
    await dp.stop_polling()
    await polling


async def serve_webhook(
    dp: Dispatcher,
    bot: Bot,
    lifetime: Lifetime,
    *,
    url: str,
    secret: str,
    host: str,
    port: int,
    path: str,
) -> None:
    """Telegram's webhook on host:port/path (behind the public `url`) until the service stops."""
    app = web.Application()
    SimpleRequestHandler(
        dispatcher=dp, bot=bot, secret_token=secret, handle_in_background=False
    ).register(app, path=path)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        await bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        log.info("webhook set", url=url, listening=f"{host}:{port}{path}")
        await lifetime.stopping.wait()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()
