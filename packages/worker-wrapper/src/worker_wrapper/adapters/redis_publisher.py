"""Publishing that outlives Redis restarts: an agent's hour of work must not be lost to a blip."""

from __future__ import annotations

import asyncio
import time

import structlog
from pydantic import BaseModel
from redis.asyncio import Redis
from shared.streams import RedisStreamPublisher
from shared.streams.consumer import REDIS_UNAVAILABLE, Backoff

log = structlog.get_logger("worker_wrapper")


class RetryingPublisher:
    """The `Publisher` port: publish, retrying with backoff while Redis is away."""

    def __init__(self, redis: Redis, *, give_up_after_s: float = 600) -> None:
        self._publisher = RedisStreamPublisher(redis)
        self._give_up_after_s = give_up_after_s

    async def publish(self, stream: str, message: BaseModel) -> None:
        backoff = Backoff(0.1, 5.0)
        deadline = time.monotonic() + self._give_up_after_s
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
