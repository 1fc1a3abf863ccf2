"""The `Chat` port for the local chat (MODE=local): no Telegram, a terminal reads what is said.

Every message and edit is one `LocalChatOutput` appended to the chat's event stream
`chat:local:{chat_id}:outbox`, in the order said; the terminal reads it with XREAD. A message's
id is taken from the chat's counter (`chat:local:{chat_id}:message_ids`, INCR), which the
terminal takes its own messages' ids from too, so no id repeats, whoever restarts. A text goes
whole (no 4096-unit pieces) and plain, as written."""

from __future__ import annotations

from redis.asyncio import Redis
from shared.contracts import LocalChatOp, LocalChatOutput
from shared.keys import LOCAL_CHAT_MESSAGE_IDS
from shared.streams import RedisStreamPublisher
from shared.streams.registry import LOCAL_CHAT_OUTBOX

from telegram_bot.adapters.redis_errors import redis_unavailable
from telegram_bot.ports import ChatRefused


class LocalChat:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._publisher = RedisStreamPublisher(redis)

    async def send(self, chat: str, text: str) -> str:
        chat_id = _number(chat, "chat")
        with redis_unavailable():
            message_id = int(
                await self._redis.incr(LOCAL_CHAT_MESSAGE_IDS.name(chat_id=str(chat_id)))
            )
            await self._say(chat_id, message_id, LocalChatOp.SEND, text)
        return str(message_id)

    async def edit(self, chat: str, message_id: str, text: str) -> None:
        chat_id, number = _number(chat, "chat"), _number(message_id, "message")
        if number <= 0:
            raise ChatRefused(f"no such message: {message_id[:40]!r}")
        with redis_unavailable():
            await self._say(chat_id, number, LocalChatOp.EDIT, text)

    async def _say(self, chat_id: int, message_id: int, op: LocalChatOp, text: str) -> None:
        output = LocalChatOutput(chat_id=chat_id, message_id=message_id, op=op, text=text)
        await self._publisher.publish(LOCAL_CHAT_OUTBOX.name(chat_id=str(chat_id)), output)


def _number(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ChatRefused(f"not a local {what} id: {value[:40]!r}") from None
