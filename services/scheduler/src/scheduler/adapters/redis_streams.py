"""Redis's streams for housekeeping: the work streams that exist, trimmed only where every group
the registry names for them has been made (a group made later must still find its entries)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import cast

import structlog
from redis.asyncio import Redis
from shared.keys import SCHEDULER_DLQ_SEEN
from shared.streams.registry import DLQ_SUFFIX, REGISTRY, StreamKind, StreamRegistry
from shared.streams.trim import trim_acknowledged

log = structlog.get_logger("scheduler")
SCAN_COUNT = 1000


class RedisStreams:
    def __init__(self, redis: Redis, registry: StreamRegistry = REGISTRY) -> None:
        self._redis = redis
        self._registry = registry

    async def work_streams(self) -> list[str]:
        found: set[str] = set()
        for spec in self._registry.specs:
            if spec.kind is not StreamKind.WORK:
                continue
            if not spec.is_pattern:
                if await self._redis.type(spec.pattern) == "stream":
                    found.add(spec.pattern)
                continue
            glob = re.sub(r"\{\w+\}", "*", spec.pattern)
            async for name in self._redis.scan_iter(match=glob, count=SCAN_COUNT, _type="STREAM"):
                if spec.matches(name) and not name.endswith(DLQ_SUFFIX):
                    found.add(name)
        return sorted(found)

    async def trim(self, stream: str) -> int:
        expected = set(self._registry.resolve(stream).groups)
        made = {group["name"] for group in await self._redis.xinfo_groups(stream)}
        if not expected <= made:
            log.info("a stream's groups are not all made; not trimmed", stream=stream,
                     missing=sorted(expected - made))  # fmt: skip
            return 0
        return await trim_acknowledged(self._redis, stream)

    async def dead_letters(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        async for name in self._redis.scan_iter(
            match="*" + DLQ_SUFFIX, count=SCAN_COUNT, _type="STREAM"
        ):
            counts[name] = int(await self._redis.xlen(name))
        return counts

    async def seen_dead_letters(self) -> dict[str, int]:
        seen = cast(dict[str, str], await self._redis.hgetall(SCHEDULER_DLQ_SEEN.name()))
        return {stream: int(count) for stream, count in seen.items()}

    async def remember_dead_letters(self, counts: Mapping[str, int]) -> None:
        key = SCHEDULER_DLQ_SEEN.name()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if counts:
                pipe.hset(key, mapping={stream: str(count) for stream, count in counts.items()})
            await pipe.execute()
