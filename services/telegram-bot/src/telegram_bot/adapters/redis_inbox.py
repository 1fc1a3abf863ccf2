"""What people send, kept in Redis from the moment the front end takes it until it is handled:
`telegram:inbox` (the stream the front end appends to), then each lane's queue
(`telegram-bot:queue:{lane}`, a list, oldest first) with the lanes that have messages waiting
(`telegram-bot:queues`). A message is queued once (`telegram-bot:queued:{request_id}`), and the
three writes are one script, so a delivery cut short and made again queues it exactly once."""

from __future__ import annotations

import json
from typing import Any, cast

import structlog
from redis.asyncio import Redis
from shared.contracts import TelegramMessage
from shared.keys import DAY_S
from shared.streams import RedisStreamPublisher
from shared.streams.registry import TELEGRAM_INBOX

from telegram_bot.adapters.redis_errors import redis_unavailable
from telegram_bot.domain.conversation import Incoming, Kind
from telegram_bot.keys import QUEUE, QUEUED, QUEUES

log = structlog.get_logger("telegram_bot")

_ADD = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
return 1
"""
# The first message leaves if it is the one handled (or cannot be read at all); an emptied
# lane leaves the set.
_DONE = """
local first = redis.call('LINDEX', KEYS[1], 0)
if first then
  local ok, item = pcall(cjson.decode, first)
  if not ok or type(item) ~= 'table' or type(item['request_id']) ~= 'string'
      or item['request_id'] == ARGV[1] then
    redis.call('LPOP', KEYS[1])
  end
end
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return 1
"""


class RedisInbox:
    """`telegram:inbox`: what the front end was handed, appended before it confirms receipt."""

    def __init__(self, redis: Redis) -> None:
        self._publisher = RedisStreamPublisher(redis)

    async def keep(self, message: TelegramMessage) -> None:
        with redis_unavailable():
            await self._publisher.publish(TELEGRAM_INBOX.pattern, message)


class RedisQueues:
    def __init__(self, redis: Redis, *, remember_s: int = DAY_S) -> None:
        self._redis = redis
        self._remember_s = remember_s
        self._add = redis.register_script(_ADD)
        self._done = redis.register_script(_DONE)

    async def add(self, lane: str, incoming: Incoming) -> bool:
        keys = [QUEUED.name(request_id=incoming.request_id), QUEUE.name(lane=lane), QUEUES.name()]
        with redis_unavailable():
            added = await self._add(keys=keys, args=[self._remember_s, _dump(incoming), lane])
        return bool(added)

    async def first(self, lane: str) -> Incoming | None:
        while True:
            with redis_unavailable():
                raw = cast(str | None, await self._redis.lindex(QUEUE.name(lane=lane), 0))
            if raw is None:
                return None
            try:
                return _load(raw)
            except (ValueError, KeyError, TypeError) as exc:
                log.error("an unreadable queued message is dropped", lane=lane, error=str(exc))
                await self._drop_first(lane, _request_id_in(raw))

    async def done(self, lane: str, incoming: Incoming) -> None:
        await self._drop_first(lane, incoming.request_id)

    async def lanes(self) -> list[str]:
        with redis_unavailable():
            return sorted(cast(set[str], await self._redis.smembers(QUEUES.name())))

    async def _drop_first(self, lane: str, request_id: str) -> None:
        with redis_unavailable():
            await self._done(keys=[QUEUE.name(lane=lane), QUEUES.name()], args=[request_id, lane])


def _dump(incoming: Incoming) -> str:
    return json.dumps(
        {
            "request_id": incoming.request_id,
            "chat": incoming.chat,
            "telegram_id": incoming.telegram_id,
            "kind": incoming.kind.value,
            "text": incoming.text,
        }
    )


def _load(raw: str) -> Incoming:
    item = json.loads(raw)
    if not isinstance(item["chat"], str) or not isinstance(item["telegram_id"], int):
        raise TypeError("chat must be text and telegram_id a number")
    return Incoming(
        chat=item["chat"],
        telegram_id=item["telegram_id"],
        text=str(item["text"]),
        kind=Kind(item["kind"]),
        request_id=str(item["request_id"]),
    )


def _request_id_in(raw: str) -> str:
    try:
        item: Any = json.loads(raw)
    except ValueError:
        return ""
    request_id = item.get("request_id") if isinstance(item, dict) else None
    return request_id if isinstance(request_id, str) else ""
