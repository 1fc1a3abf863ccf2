"""Typed publishing to registered streams."""

from __future__ import annotations

from pydantic import BaseModel
from redis.asyncio import Redis

from shared.streams.registry import REGISTRY, StreamKind, StreamRegistry
from shared.streams.wire import encode


class RedisStreamPublisher:
    """Publishes DTOs to the streams the registry allows them on.

    Work streams are never capped here: only `trim_acknowledged` shortens them, and it keeps every
    entry a group has not acknowledged. Event streams are capped at their registered length.
    """

    def __init__(self, redis: Redis, registry: StreamRegistry = REGISTRY) -> None:
        self._redis = redis
        self._registry = registry

    async def publish(self, stream: str, message: BaseModel) -> str:
        """Append the message; returns the entry id."""
        spec = self._registry.check_message(stream, message)
        maxlen = spec.maxlen if spec.kind is StreamKind.EVENTS else None
        entry_id = await self._redis.xadd(
            stream,
            encode(message),  # type: ignore[arg-type]
            maxlen=maxlen,
            approximate=True,
        )
        return str(entry_id)
