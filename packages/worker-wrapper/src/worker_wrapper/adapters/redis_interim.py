"""The interim replies of a PO worker's turn, read back from its own output stream."""

from __future__ import annotations

from typing import cast

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis
from shared.contracts import POWorkerOutput
from shared.streams.consumer import REDIS_UNAVAILABLE
from shared.streams.registry import PO_OUTPUT
from shared.streams.wire import DATA_FIELD

log = structlog.get_logger("worker_wrapper")

START = "0-0"
# A mark taken while Redis was away: nothing is known to have been sent during the turn.
UNKNOWN = ""


class RedisInterimReplies:
    """The `InterimReplies` port. Only the worker's agent publishes interim outputs there (the
    CLI's `respond`), and the worker has one turn at a time: what came after the turn's mark is
    that turn's. Redis being away costs at worst a repeated text, never the answer."""

    def __init__(self, redis: Redis, *, worker_id: str) -> None:
        self._redis = redis
        self._stream = PO_OUTPUT.name(worker_id=worker_id)

    async def mark(self) -> str:
        try:
            last = cast(
                list[tuple[str, object]], await self._redis.xrevrange(self._stream, count=1)
            )
        except REDIS_UNAVAILABLE as exc:
            log.warning("could not mark the output stream", error=str(exc))
            return UNKNOWN
        return str(last[0][0]) if last else START

    async def since(self, mark: str) -> list[str]:
        if mark == UNKNOWN:
            return []
        try:
            entries = cast(
                list[tuple[str, dict[str, str]]], await self._redis.xrange(self._stream, min=mark)
            )
        except REDIS_UNAVAILABLE as exc:
            log.warning("could not read the turn's interim replies", error=str(exc))
            return []
        texts = []
        for entry_id, fields in entries:
            if entry_id == mark:
                continue  # the range includes its start
            try:
                output = POWorkerOutput.model_validate_json(fields[DATA_FIELD])
            except (KeyError, ValidationError):
                continue  # not ours to judge: the reader of the stream dead-letters it
            if not output.is_final:
                texts.append(output.text)
        return texts
