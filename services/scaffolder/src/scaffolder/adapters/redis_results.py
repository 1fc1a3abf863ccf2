"""Each request's result in Redis (`shared.keys.SCAFFOLDER_RESULT`), kept a week."""

from __future__ import annotations

from redis.asyncio import Redis
from shared.contracts import ScaffolderResult
from shared.keys import SCAFFOLDER_RESULT, WEEK_S


class RedisResults:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def get(self, request_id: str) -> ScaffolderResult | None:
        raw = await self._redis.get(SCAFFOLDER_RESULT.name(request_id=request_id))
        return None if raw is None else ScaffolderResult.model_validate_json(raw)

    async def put(self, result: ScaffolderResult) -> None:
        key = SCAFFOLDER_RESULT.name(request_id=result.request_id)
        await self._redis.set(key, result.model_dump_json(), ex=WEEK_S)
