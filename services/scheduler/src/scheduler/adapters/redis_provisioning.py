"""Provisioning retries in Redis: one hash per server (`scheduler:provisioning:{server_id}`) with
this round's attempts, when the next may go (ms of Redis's clock, whatever the replicas' clocks
say), how many requests ever went and the latest one infra-service answered. Forgetting a
server's retries keeps those counts, so a later round numbers its requests on from there."""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis
from shared.keys import SCHEDULER_PROVISIONING

KEPT_S = 7 * 24 * 3600
ATTEMPTS, NEXT_AT, REQUESTS, ANSWERED = "attempts", "next_at_ms", "requests", "answered"


class RedisProvisioningRetries:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def retry_state(self, server_id: str) -> tuple[int, int] | None:
        attempts, next_at = cast(
            list[str | None], await self._redis.hmget(_key(server_id), [ATTEMPTS, NEXT_AT])
        )
        if attempts is None or next_at is None:
            return None
        return int(attempts), int(next_at)

    async def record_retry(self, server_id: str, attempts: int, next_at_ms: int) -> None:
        key = _key(server_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={ATTEMPTS: str(attempts), NEXT_AT: str(next_at_ms)})
            pipe.hincrby(key, REQUESTS, 1)
            pipe.expire(key, KEPT_S)
            await pipe.execute()

    async def forget(self, server_id: str) -> None:
        await self._redis.hdel(_key(server_id), ATTEMPTS, NEXT_AT)

    async def record_answer(self, server_id: str, number: int) -> None:
        key = _key(server_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, ANSWERED, str(number))
            pipe.expire(key, KEPT_S)
            await pipe.execute()

    async def answered(self, server_id: str) -> int:
        number = cast(str | None, await self._redis.hget(_key(server_id), ANSWERED))
        return int(number or 0)

    async def requests_made(self, server_id: str) -> int:
        made = cast(str | None, await self._redis.hget(_key(server_id), REQUESTS))
        return int(made or 0)

    async def now_ms(self) -> int:
        seconds, micros = await self._redis.time()
        return int(seconds) * 1000 + int(micros) // 1000


def _key(server_id: str) -> str:
    return SCHEDULER_PROVISIONING.name(server_id=server_id)
