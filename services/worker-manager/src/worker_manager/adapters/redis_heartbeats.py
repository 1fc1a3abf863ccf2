"""Workers' heartbeats (`worker:heartbeat:{id}`, written by the wrapper) read from Redis."""

from __future__ import annotations

from typing import cast

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis
from shared.contracts import WorkerHeartbeat
from shared.keys import WORKER_HEARTBEAT

log = structlog.get_logger("worker_manager")


class RedisHeartbeats:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def heartbeat(self, worker_id: str) -> WorkerHeartbeat | None:
        raw = await self._redis.get(WORKER_HEARTBEAT.name(worker_id=worker_id))
        if not raw:
            return None
        try:
            return cast(WorkerHeartbeat, WORKER_HEARTBEAT.parse(raw))
        except ValidationError as exc:
            # Written by the worker: one it cannot read says nothing (as a missing one).
            log.warning("an unreadable heartbeat", worker_id=worker_id, error=str(exc)[:300])
            return None
