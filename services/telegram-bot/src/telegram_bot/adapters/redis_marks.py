"""Things remembered for a week: unknown users refused, alerts given, messages answered."""

from __future__ import annotations

from redis.asyncio import Redis
from shared.keys import WEEK_S

from telegram_bot.adapters.redis_errors import redis_unavailable
from telegram_bot.keys import ANSWERED, REFUSED, TOLD


class RedisRefusals:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def first_refusal(self, telegram_id: int) -> bool:
        with redis_unavailable():
            key = REFUSED.name(telegram_id=str(telegram_id))
            return bool(await self._redis.set(key, "1", nx=True, ex=WEEK_S))


class RedisTold:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def already(self, kind: str, key: str) -> bool:
        with redis_unavailable():
            return bool(await self._redis.exists(TOLD.name(kind=kind, key=key)))

    async def remember(self, kind: str, key: str) -> None:
        with redis_unavailable():
            await self._redis.set(TOLD.name(kind=kind, key=key), "1", ex=WEEK_S)


class RedisTurns:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def answered(self, request_id: str) -> bool:
        with redis_unavailable():
            return bool(await self._redis.exists(ANSWERED.name(request_id=request_id)))

    async def mark_answered(self, request_id: str) -> None:
        with redis_unavailable():
            await self._redis.set(ANSWERED.name(request_id=request_id), "1", ex=WEEK_S)
