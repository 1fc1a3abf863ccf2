"""Reading event streams (progress, dead letters): every watcher reads all entries, no group."""

from __future__ import annotations

from typing import Any

import structlog
from redis.asyncio import Redis

from shared.streams import raw
from shared.streams.registry import REGISTRY, StreamRegistry
from shared.streams.wire import InvalidEntry, decode, text_fields

log = structlog.get_logger("shared.streams")


async def read_events(
    redis: Redis,
    stream: str,
    *,
    after: str = "0-0",
    block_ms: int | None = None,
    count: int = 100,
    registry: StreamRegistry = REGISTRY,
) -> list[tuple[str, Any]]:
    """Entries after `after`, decoded; an entry that does not validate is logged and skipped."""
    adapter = registry.resolve(stream).adapter
    entries = await raw.xread(
        raw.raw_reader(redis), stream=stream, after=after, count=count, block_ms=block_ms
    )
    events: list[tuple[str, Any]] = []
    for entry_id, fields in entries:
        try:
            events.append((entry_id, decode(text_fields(fields), adapter)))
        except InvalidEntry as exc:
            log.error("skipped an invalid event", stream=stream, entry_id=entry_id, error=str(exc))
    return events
