"""Lifecycle events for worker-manager, the heartbeat key, and publishing that outlives Redis
restarts (an agent's hour of work must not be lost to a blip)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import structlog
from pydantic import BaseModel
from redis.asyncio import Redis
from shared.contracts import LifecycleEventKind, WorkerLifecycleEvent
from shared.streams import RedisStreamPublisher
from shared.streams.consumer import REDIS_UNAVAILABLE, Backoff
from shared.streams.registry import WORKER_LIFECYCLE

log = structlog.get_logger("worker_wrapper")


def heartbeat_key(worker_id: str) -> str:
    return f"worker:heartbeat:{worker_id}"


class Reporter:
    def __init__(self, redis: Redis, *, worker_id: str, heartbeat_ttl_s: int) -> None:
        self._redis = redis
        self._publisher = RedisStreamPublisher(redis)
        self._worker_id = worker_id
        self._ttl_s = heartbeat_ttl_s
        self.state: dict[str, Any] = {"state": "idle"}

    async def publish(
        self, stream: str, message: BaseModel, *, give_up_after_s: float = 600
    ) -> None:
        """Publish, retrying with backoff while Redis is away."""
        backoff = Backoff(0.1, 5.0)
        deadline = time.monotonic() + give_up_after_s
        while True:
            try:
                await self._publisher.publish(stream, message)
                return
            except REDIS_UNAVAILABLE as exc:
                if time.monotonic() > deadline:
                    raise
                delay = backoff.next_delay()
                log.warning("redis unavailable, retrying publish", stream=stream, error=str(exc))
                await asyncio.sleep(delay)

    async def lifecycle(
        self,
        event: LifecycleEventKind,
        *,
        task_id: str | None = None,
        exit_code: int | None = None,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        correlation_id: str | None = None,
    ) -> None:
        meta = {"correlation_id": correlation_id} if correlation_id else {}
        message = WorkerLifecycleEvent(
            worker_id=self._worker_id,
            event=event,
            task_id=task_id,
            exit_code=exit_code,
            error=error,
            result=result,
            **meta,
        )
        await self.publish(WORKER_LIFECYCLE.pattern, message)

    async def set_state(self, state: dict[str, Any]) -> None:
        """Change what the heartbeat says, at once: worker-manager must not see a busy worker
        as idle (and pause it) for a third of a heartbeat."""
        self.state = state
        await self._beat()

    async def _beat(self) -> None:
        try:
            value = json.dumps({**self.state, "at": time.time()})
            await self._redis.set(heartbeat_key(self._worker_id), value, ex=self._ttl_s)
        except REDIS_UNAVAILABLE as exc:
            log.warning("heartbeat failed", error=str(exc))

    async def beat_forever(self) -> None:
        """Refresh the heartbeat key every third of its lifetime until cancelled."""
        while True:
            await self._beat()
            await asyncio.sleep(self._ttl_s / 3)

    async def clear_heartbeat(self) -> None:
        with contextlib.suppress(*REDIS_UNAVAILABLE):
            await self._redis.delete(heartbeat_key(self._worker_id))
