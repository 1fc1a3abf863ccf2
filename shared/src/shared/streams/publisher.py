"""Typed publishing to registered streams."""

from __future__ import annotations

from pydantic import BaseModel
from redis.asyncio import Redis

from shared.keys import PUBLISHED, WEEK_S
from shared.streams.registry import REGISTRY, StreamKind, StreamRegistry
from shared.streams.wire import encode

# The marker and the entry are written together or not at all (a script runs atomically).
_PUBLISH_ONCE = """
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return false end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
if ARGV[2] ~= '' then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
end
return redis.call('XADD', KEYS[1], '*', unpack(fields))
"""


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

    async def publish_once(
        self, stream: str, message: BaseModel, *, remember_s: int = WEEK_S
    ) -> str | None:
        """Append the message unless one with its request_id was published to `stream` in the
        last `remember_s`; the new entry's id, or None when it was there already. A step that
        runs again after a crash publishes nothing twice, whoever reads the stream."""
        spec = self._registry.check_message(stream, message)
        maxlen = spec.maxlen if spec.kind is StreamKind.EVENTS else None
        request_id = str(getattr(message, "request_id", ""))
        if not request_id:
            raise ValueError("publish_once needs a message with a request_id")
        marker = PUBLISHED.name(stream=stream, request_id=request_id)
        fields = [item for pair in encode(message).items() for item in pair]
        entry_id = await self._redis.eval(
            _PUBLISH_ONCE, 2, stream, marker, remember_s, maxlen or "", *fields
        )
        if entry_id is None:
            return None
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
