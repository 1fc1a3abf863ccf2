"""Workers' input streams in Redis: whether work waits for a worker, or is held by it, and the
removal of an ended developer worker's stream."""

from __future__ import annotations

from redis.asyncio import Redis
from shared.contracts import WorkerType
from shared.streams import raw
from shared.streams.registry import DEVELOPER_INPUT, PO_INPUT, Group


def input_of(worker_id: str, worker_type: WorkerType) -> tuple[str, str]:
    """The stream a worker reads and its group: every worker has its own stream, which no other
    worker reads (a developer worker is made for one run of one task)."""
    if worker_type is WorkerType.PO:
        return PO_INPUT.name(worker_id=worker_id), Group.PO_WORKER
    return DEVELOPER_INPUT.name(worker_id=worker_id), Group.DEVELOPER_WORKERS


class RedisWorkerInputs:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._reader = raw.raw_reader(redis)

    async def has_work(self, worker_id: str, worker_type: WorkerType) -> bool:
        # A paused worker blocked in XREADGROUP is still handed new entries by Redis: they show
        # as pending to it rather than as undelivered, so both count.
        stream, group = input_of(worker_id, worker_type)
        return await self._holds_input(worker_id, stream, group) or await self._waiting(
            stream, group
        )

    async def remove(self, worker_id: str, worker_type: WorkerType) -> None:
        """Delete an ended developer worker's input stream; a PO worker's is kept."""
        if worker_type is WorkerType.PO:
            return
        stream, _ = input_of(worker_id, worker_type)
        await self._redis.delete(stream)

    async def _holds_input(self, worker_id: str, stream: str, group: str) -> bool:
        """Whether the worker has taken an input it has not acknowledged: it is working."""
        try:
            pending = await self._redis.xpending_range(
                stream, group, min="-", max="+", count=1, consumername=worker_id
            )
        except Exception:
            return False
        return bool(pending)

    async def _waiting(self, stream: str, group: str) -> bool:
        """Entries in the stream that the group has not been given yet."""
        newest = await raw.last_entry_id(self._reader, stream)
        if newest is None:
            return False
        try:
            groups = await self._redis.xinfo_groups(stream)
        except Exception:
            return True
        delivered = next((g["last-delivered-id"] for g in groups if g["name"] == group), "0-0")
        return _id(newest) > _id(str(delivered))


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
