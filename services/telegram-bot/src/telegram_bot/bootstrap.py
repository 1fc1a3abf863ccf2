"""The composition root of telegram-bot: the only module that builds adapters. Binds the
handlers to them; runs Telegram's updates, the stream consumers (the inbox of what people send,
worker-manager's answers, the intent queues, provisioning results) and the two watchers
(progress, incidents). In local mode (MODE=local) there is no Telegram: a terminal appends to
the inbox and reads what the bot says from its local chat's outbox stream."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

import structlog
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from redis.asyncio import Redis
from shared.api_client import ApiClient, api_client
from shared.runtime import Lifetime, Service
from shared.streams import ConsumerOptions, Group, Handler, StreamConsumer, connect_redis
from shared.streams.registry import (
    DEPLOY_QUEUE,
    ENGINEERING_QUEUE,
    PROVISIONER_RESULTS,
    TELEGRAM_INBOX,
    WORKER_RESPONSES_PO,
)

from telegram_bot.adapters.api_directory import ApiDirectory
from telegram_bot.adapters.coalescing_board import CoalescingBoard
from telegram_bot.adapters.local_chat import LocalChat
from telegram_bot.adapters.redis_inbox import RedisInbox, RedisQueues
from telegram_bot.adapters.redis_marks import RedisRefusals, RedisTold, RedisTurns
from telegram_bot.adapters.redis_progress import RedisProgressBook, RedisProgressFeed
from telegram_bot.adapters.redis_sessions import RedisSessions
from telegram_bot.adapters.redis_workers import RedisWorkers
from telegram_bot.adapters.telegram_chat import TelegramChat
from telegram_bot.config import BotSettings
from telegram_bot.domain.lanes import Lanes
from telegram_bot.entrypoints import telegram, watchers
from telegram_bot.entrypoints.front import Front
from telegram_bot.handlers import alerts, conversation, progress
from telegram_bot.handlers.conversation import PoOptions
from telegram_bot.ports import Chat, Unavailable

log = structlog.get_logger("telegram_bot")

INSTRUCTIONS = "product_owner.md"


@dataclass(frozen=True)
class Adapters:
    redis: Redis
    http: ApiClient
    bot: Bot | None
    """None in local mode: nothing calls Telegram."""
    directory: ApiDirectory
    chat: Chat
    board: CoalescingBoard
    sessions: RedisSessions
    refusals: RedisRefusals
    told: RedisTold
    turns: RedisTurns
    inbox: RedisInbox
    queues: RedisQueues
    workers: RedisWorkers
    book: RedisProgressBook
    feed: RedisProgressFeed


class BotSession:
    """The Bot API client's HTTP session, closed with the other resources."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def aclose(self) -> None:
        await self._bot.session.close()


def build_adapters(settings: BotSettings) -> Adapters:
    redis = connect_redis(settings.redis_url)
    http = api_client(settings)
    bot: Bot | None = None
    chat: Chat
    if settings.mode == "local":
        chat = LocalChat(redis)
    else:
        assert settings.bot_token is not None  # the settings refuse a Telegram mode without it
        bot = Bot(
            settings.bot_token.get_secret_value(),
            session=AiohttpSession(api=TelegramAPIServer.from_base(settings.bot_api_url)),
        )
        chat = TelegramChat(bot)
    directory = ApiDirectory(http)
    return Adapters(
        redis=redis,
        http=http,
        bot=bot,
        directory=directory,
        chat=chat,
        board=CoalescingBoard(chat, interval_s=settings.edit_interval_s),
        sessions=RedisSessions(redis),
        refusals=RedisRefusals(redis),
        told=RedisTold(redis),
        turns=RedisTurns(redis),
        inbox=RedisInbox(redis),
        queues=RedisQueues(redis),
        workers=RedisWorkers(
            redis,
            consumer=settings.consumer_name,
            # One reader per worker at a time (its user's turn), so whatever is pending is an
            # output left unrelayed (a failed relay, a restart): it comes first, at once.
            options=ConsumerOptions(block_ms=5_000, claim_idle_ms=0),
        ),
        book=RedisProgressBook(redis),
        feed=RedisProgressFeed(redis),
    )


def po_instructions() -> str:
    """The PO's instructions, shipped with the package (empty, with a warning, without them)."""
    source = resources.files("telegram_bot.instructions").joinpath(INSTRUCTIONS)
    try:
        return source.read_text(encoding="utf-8")
    except FileNotFoundError:
        log.warning("no PO instructions: the PO agent starts without any", file=INSTRUCTIONS)
        return ""


def build(settings: BotSettings, lifetime: Lifetime) -> Service:
    a = build_adapters(settings)
    now = functools.partial(datetime.now, UTC)
    options = PoOptions(
        agent=settings.po_agent,
        instructions=po_instructions(),
        allowed_commands=settings.po_allowed_commands,
        start_timeout_s=settings.worker_start_timeout_s,
        liveness_check_s=settings.liveness_check_s,
        turn_timeout_s=settings.turn_timeout_s,
    )
    front = Front(
        talk=functools.partial(
            conversation.talk_to_po, users=a.directory, refusals=a.refusals, chat=a.chat,
            sessions=a.sessions, workers=a.workers, turns=a.turns, options=options,
        ),
        command=functools.partial(
            conversation.answer_command, users=a.directory, refusals=a.refusals, chat=a.chat,
            catalog=a.directory,
        ),
        other=lambda incoming, edited: conversation.answer_non_text(
            incoming, edited=edited, users=a.directory, refusals=a.refusals, chat=a.chat
        ),
        keep=a.inbox.keep,
        unkept=lambda incoming, error: conversation.tell_unavailable(
            incoming, error, chat=a.chat
        ),
        left_over=functools.partial(
            conversation.relay_left_over, sessions=a.sessions, workers=a.workers,
            turns=a.turns, chat=a.chat, options=options,
        ),
        queues=a.queues,
        sessions=a.sessions,
        lanes=Lanes(),
    )  # fmt: skip
    follow = functools.partial(
        progress.follow_task, users=a.directory, catalog=a.directory, chat=a.chat, book=a.book,
        window_s=settings.follow_window_s, now=now,
    )  # fmt: skip
    provisioning = functools.partial(
        alerts.notify_provisioning, users=a.directory, chat=a.chat, told=a.told,
        admin_ids=settings.admin_ids, window_s=settings.follow_window_s, now=now,
    )  # fmt: skip
    # The inbox has one reader (this process): what is pending there was read by a run that
    # stopped before queueing it, and is queued first, at once, so the order holds.
    inbox = ConsumerOptions(claim_idle_ms=0)
    others = ConsumerOptions(claim_idle_ms=60_000)
    plan: list[tuple[str, Handler, ConsumerOptions]] = [
        (TELEGRAM_INBOX.pattern, front.admit, inbox),
        (WORKER_RESPONSES_PO.pattern, a.workers.answered, others),
        (ENGINEERING_QUEUE.pattern, follow, others),
        (DEPLOY_QUEUE.pattern, follow, others),
        (PROVISIONER_RESULTS.pattern, provisioning, others),
    ]
    consumers = [
        StreamConsumer(
            a.redis,
            stream=stream,
            group=Group.TELEGRAM_BOT,
            consumer=settings.consumer_name,
            handler=handler,
            options=options,
        )
        for stream, handler, options in plan
    ]
    bot = a.bot
    dp = telegram.dispatcher(front) if bot is not None else None

    async def updates(lifetime: Lifetime) -> None:
        try:
            if not await resume(front, lifetime):
                return
            if bot is None or dp is None:
                # The local chat: its messages come through the inbox alone.
                await lifetime.stopping.wait()
            elif settings.mode == "webhook":
                assert settings.webhook_secret is not None
                await telegram.serve_webhook(
                    dp, bot, lifetime,
                    url=settings.webhook_url, secret=settings.webhook_secret.get_secret_value(),
                    host=settings.webhook_host, port=settings.webhook_port,
                    path=settings.webhook_path,
                )  # fmt: skip
            else:
                await telegram.poll(dp, bot, lifetime, timeout_s=settings.polling_timeout_s)
        finally:
            # The turns in flight may finish within most of the grace period; the messages
            # waiting stay queued, and a turn cut short is taken up again at the next start.
            front.stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(front.lanes.idle(), settings.shutdown_grace_s * 0.8)
            await front.lanes.cancel()

    show = functools.partial(progress.show_progress, chat=a.chat, board=a.board, book=a.book)
    incidents = functools.partial(
        alerts.notify_incidents, catalog=a.directory, users=a.directory, chat=a.chat,
        told=a.told, admin_ids=settings.admin_ids,
    )  # fmt: skip
    follow_progress = functools.partial(
        watchers.follow_progress, book=a.book, feed=a.feed, changed=a.book.changed, show=show
    )
    return Service(
        "telegram-bot",
        consumers=consumers,
        tasks={
            "telegram": updates,
            "progress": follow_progress,
            "incidents": functools.partial(
                watchers.watch_incidents, check=incidents, every_s=settings.incident_check_s
            ),
        },
        cancel_at_once=("incidents",),
        # Closed last first: the Bot API session, the API client, then Redis.
        resources=[a.redis, a.http, *([BotSession(bot)] if bot is not None else [])],
        grace_s=settings.shutdown_grace_s,
    )


async def resume(front: Front, lifetime: Lifetime) -> bool:
    """Take up what the last run left (Redis away at start is waited for); False: stopping."""
    delay = 0.5
    while True:
        try:
            await front.resume()
            return True
        except Unavailable as exc:
            log.warning("cannot take up the queues yet", error=str(exc), in_s=delay)
            if await lifetime.sleep(delay):
                return False
            delay = min(delay * 2, 10.0)
