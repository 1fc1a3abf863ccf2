"""The terminal's side of the front door's local chat: what the person types goes into the
bot's inbox as a message of their private chat; what the bot says comes back on the chat's
outbox stream (a new message, or an edit of one it sent: progress is kept up to date that way).
Message ids come from the chat's counter, so none repeats across restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import cast

from redis.asyncio import Redis
from shared.contracts import LocalChatOutput, TelegramMessage, TelegramMessageKind
from shared.keys import LOCAL_CHAT_MESSAGE_IDS
from shared.streams import RedisStreamPublisher
from shared.streams.registry import LOCAL_CHAT_OUTBOX, TELEGRAM_INBOX
from shared.streams.wire import InvalidEntry, decode

READ_BLOCK_MS = 1_000


class LocalChat:
    def __init__(self, redis: Redis, telegram_id: int) -> None:
        self._redis = redis
        self.telegram_id = telegram_id
        self.chat_id = telegram_id  # a private chat's id is its person's
        self.outbox = LOCAL_CHAT_OUTBOX.name(chat_id=str(self.chat_id))

    async def say(self, text: str) -> TelegramMessage:
        message_id = await self._redis.incr(LOCAL_CHAT_MESSAGE_IDS.name(chat_id=str(self.chat_id)))
        message = TelegramMessage.received(
            telegram_id=self.telegram_id, chat_id=self.chat_id, message_id=int(message_id),
            kind=TelegramMessageKind.TEXT, date=datetime.now(UTC), text=text,
        )  # fmt: skip
        await RedisStreamPublisher(self._redis).publish(TELEGRAM_INBOX.pattern, message)
        return message

    async def last_id(self) -> str:
        """The outbox's newest entry now ("0-0" when empty): read after it for what comes next."""
        entries = await self._redis.xrevrange(self.outbox, count=1)
        return str(entries[0][0]) if entries else "0-0"

    async def replies(self, after: str) -> AsyncIterator[LocalChatOutput]:
        """What the bot says after entry `after`, as it comes (forever; cancel to stop)."""
        while True:
            answer = cast(
                list[tuple[str, list[tuple[str, dict[str, str]]]]],
                await self._redis.xread({self.outbox: after}, block=READ_BLOCK_MS, count=100),
            )
            for _, entries in answer or []:
                for entry_id, fields in entries:
                    after = entry_id
                    try:
                        yield cast(LocalChatOutput, decode(fields, LOCAL_CHAT_OUTBOX.adapter))
                    except InvalidEntry:
                        continue
