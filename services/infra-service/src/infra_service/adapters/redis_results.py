"""Each request's result in Redis (`INFRA_RESULT`), for a redelivered request to get it again."""

from __future__ import annotations

from typing import TypeVar, cast

from pydantic import BaseModel
from redis.asyncio import Redis
from shared.keys import INFRA_RESULT, WEEK_S

M = TypeVar("M", bound=BaseModel)


class RedisResultStore:
    def __init__(self, redis: Redis, *, ttl_s: int = WEEK_S) -> None:
        self._redis = redis
        self._ttl_s = ttl_s

    async def keep(self, scope: str, request_id: str, result: BaseModel) -> None:
        key = INFRA_RESULT.name(scope=scope, request_id=request_id)
        await self._redis.set(key, result.model_dump_json(), ex=self._ttl_s)

    async def kept(self, scope: str, request_id: str, result_type: type[M]) -> M | None:
        key = INFRA_RESULT.name(scope=scope, request_id=request_id)
        stored = cast(str | None, await self._redis.get(key))
        return None if stored is None else result_type.model_validate_json(stored)
