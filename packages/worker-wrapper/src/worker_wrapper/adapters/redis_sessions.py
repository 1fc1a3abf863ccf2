"""A PO worker's agent session id under `shared.keys.WORKER_SESSION`."""

from __future__ import annotations

from redis.asyncio import Redis
from shared.keys import WEEK_S, WORKER_SESSION


class RedisSessions:
    """The `Sessions` port: kept a week after the last turn, so a restarted wrapper continues
    the conversation."""

    def __init__(self, redis: Redis, *, worker_id: str) -> None:
        self._redis = redis
        self._key = WORKER_SESSION.name(worker_id=worker_id)

    async def get(self) -> str | None:
        value = await self._redis.get(self._key)
        return str(value) if value else None

    async def set(self, session_id: str) -> None:
        await self._redis.set(self._key, session_id, ex=WEEK_S)
