"""The heartbeat key: `shared.keys.WORKER_HEARTBEAT`, a `WorkerHeartbeat` with a short life."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import structlog
from redis.asyncio import Redis
from shared.contracts import WorkerActivity, WorkerHeartbeat
from shared.keys import WORKER_HEARTBEAT
from shared.streams.consumer import REDIS_UNAVAILABLE

log = structlog.get_logger("worker_wrapper")


class RedisHeartbeat:
    """The `Heartbeat` port. A beat Redis refuses is logged and skipped: the next one comes a
    third of the key's lifetime later."""

    def __init__(self, redis: Redis, *, worker_id: str, ttl_s: int) -> None:
        self._redis = redis
        self._key = WORKER_HEARTBEAT.name(worker_id=worker_id)
        self._ttl_s = ttl_s
        self._says: dict[str, Any] = {"state": WorkerActivity.IDLE}

    async def show(
        self,
        state: WorkerActivity,
        *,
        task_id: str | None = None,
        request_id: str | None = None,
        status: str | None = None,
    ) -> None:
        self._says = {
            "state": state,
            "task_id": task_id,
            "request_id": request_id,
            "status": status,
        }
        await self.beat()

    async def beat(self) -> None:
        beat = WorkerHeartbeat.model_validate({**self._says, "at": time.time()})
        value = beat.model_dump_json(exclude_none=True)
        try:
            await self._redis.set(self._key, value, ex=self._ttl_s)
        except REDIS_UNAVAILABLE as exc:
            log.warning("heartbeat failed", error=str(exc))

    async def clear(self) -> None:
        with contextlib.suppress(*REDIS_UNAVAILABLE):
            await self._redis.delete(self._key)
